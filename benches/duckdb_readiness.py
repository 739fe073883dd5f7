"""An independent DuckDB implementation of the SPEC's readiness computation
over a campaign written by `siap generate` in any of its shapes: stock as
CSV, NDJSON or Parquet; timestamps with an offset, without one (wall time
in the campaign's timezone) or in a declared strftime format.

Usage: duckdb_readiness.py <generated dir> <run date> <out.csv>

It applies the same rules as siap: validation first (missing fields,
whole non-negative quantities up to 10^15, parsable timestamps, as_of not
after the run date, known shipment statuses, SKUs mapped to catalog
products), exact duplicates collapsed, conflicting duplicates (same key and
timestamp, different values) dropped with fallback to the latest older
row, the latest row per key, then the per-product sums and flags.
"""

import sys
import tomllib

import duckdb

src, run_date, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(f"{src}/pipeline.toml", "rb") as f:
    p = tomllib.load(f)
c = p["campaign"]
M = c.get("minimum_units", 1_000_000)
opens, closes = str(c["window"]["opens"]), str(c["window"]["closes"])

con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(f"SET TimeZone = '{c.get('timezone', 'Asia/Jakarta')}'")
stock = p.get("stock", [])
ship = p.get("shipments", [])


def stamp(col, source):
    """A timestamp column as an instant: a naive one is wall time in the
    session's timezone (the campaign's)."""
    fmt = source.get("timestamp_format")
    if fmt:
        return f"try_strptime({col}, '{fmt}')::TIMESTAMPTZ"
    return f"try_cast({col} AS TIMESTAMPTZ)"


STOCK_COLUMNS = ["supplier_id", "supplier_sku", "warehouse", "quantity", "as_of"]


def read_stock(s):
    path = f"{src}/{s['location']}"
    text = ", ".join(f"CAST({k} AS VARCHAR) AS {k}" for k in STOCK_COLUMNS)
    if path.endswith(".parquet"):
        rel = f"read_parquet('{path}')"
    elif path.endswith(".ndjson"):
        cols = ", ".join(f"'{k}': 'VARCHAR'" for k in STOCK_COLUMNS)
        rel = f"read_json('{path}', format='newline_delimited', columns={{{cols}}})"
    else:
        rel = f"read_csv('{path}', all_varchar=true, header=true, null_padding=true, ignore_errors=false, strict_mode=false)"
    return f"SELECT {text}, {stamp('as_of', s)} AS ts FROM {rel}"

con.execute(f"""
CREATE TEMP TABLE catalog AS SELECT * FROM read_csv('{src}/{p['catalog']['location']}', all_varchar=true, header=true);
CREATE TEMP TABLE skumap AS
  SELECT supplier_id, supplier_sku, s.product_id,
         coalesce(try_cast(nullif(trim(pack_size), '') AS BIGINT), 1) AS pack
  FROM read_csv('{src}/{p['sku_map']['location']}', all_varchar=true, header=true) s
  JOIN catalog c ON c.product_id = s.product_id;
""")

stock_union = " UNION ALL ".join(read_stock(s) for s in stock)
ship_union = " UNION ALL ".join(
    f"SELECT '{s['provider']}' AS provider, *, {stamp('updated_at', s)} AS ts FROM read_csv('{src}/{s['location']}', all_varchar=true, header=true, strict_mode=false)"
    for s in ship
)
limit = f"((TIMESTAMP '{run_date}' + INTERVAL 1 DAY)::TIMESTAMPTZ)"

con.execute(f"""
CREATE TEMP TABLE stock AS
WITH raw AS ({stock_union}),
valid AS (
  SELECT r.supplier_id, r.supplier_sku, r.warehouse,
         try_cast(r.quantity AS BIGINT) AS q, r.ts, m.product_id, m.pack
  FROM raw r JOIN skumap m USING (supplier_id, supplier_sku)
  WHERE coalesce(r.supplier_id, '') <> '' AND coalesce(r.supplier_sku, '') <> '' AND coalesce(r.warehouse, '') <> ''
),
checked AS (
  SELECT * FROM valid
  WHERE q IS NOT NULL AND q >= 0 AND q <= 1000000000000000 AND q * pack <= 1000000000000000
    AND ts IS NOT NULL AND ts < {limit}
),
distinct_rows AS (SELECT DISTINCT * FROM checked),
clean AS (
  SELECT * FROM distinct_rows
  QUALIFY count(*) OVER (PARTITION BY supplier_id, supplier_sku, warehouse, ts) = 1
)
SELECT product_id, supplier_id, arg_max(q * pack, ts) AS units
FROM clean GROUP BY product_id, supplier_id, supplier_sku, warehouse;
""")

con.execute(f"""
CREATE TEMP TABLE ships AS
WITH raw AS ({ship_union}),
valid AS (
  SELECT r.provider, r.shipment_id, r.supplier_id, r.supplier_sku,
         try_cast(r.quantity AS BIGINT) AS q, lower(trim(r.status)) AS status,
         CASE WHEN coalesce(r.etd, '') = '' THEN NULL ELSE try_cast(r.etd AS DATE) END AS etd,
         CASE WHEN coalesce(r.eta, '') = '' THEN NULL ELSE try_cast(r.eta AS DATE) END AS eta,
         coalesce(r.eta, '') = '' AS no_eta, coalesce(r.etd, '') = '' AS no_etd,
         r.ts, m.product_id, m.pack
  FROM raw r JOIN skumap m USING (supplier_id, supplier_sku)
  WHERE coalesce(r.shipment_id, '') <> '' AND coalesce(r.supplier_id, '') <> '' AND coalesce(r.supplier_sku, '') <> ''
),
checked AS (
  SELECT * EXCLUDE (no_eta, no_etd) FROM valid
  WHERE q IS NOT NULL AND q >= 0 AND q <= 1000000000000000 AND q * pack <= 1000000000000000 AND ts IS NOT NULL
    AND status IN ('booked', 'departed', 'in_transit', 'customs_hold', 'arrived', 'cancelled')
    AND (no_eta OR eta IS NOT NULL) AND (no_etd OR etd IS NOT NULL)
),
distinct_rows AS (SELECT DISTINCT * FROM checked),
clean AS (
  SELECT * FROM distinct_rows
  QUALIFY count(*) OVER (PARTITION BY provider, shipment_id, ts) = 1
),
latest AS (
  -- Not arg_max: it skips NULLs, and a latest update may have no ETA.
  SELECT product_id, supplier_id, q * pack AS units, status, eta
  FROM clean QUALIFY row_number() OVER (PARTITION BY provider, shipment_id ORDER BY ts DESC) = 1
)
SELECT product_id, supplier_id,
  CASE WHEN eta >= DATE '{opens}' AND eta <= DATE '{closes}' THEN units ELSE 0 END AS window_units,
  CASE WHEN eta < DATE '{opens}' THEN units ELSE 0 END AS early_units,
  CASE WHEN eta > DATE '{closes}' OR (eta IS NULL AND status <> 'arrived') THEN units ELSE 0 END AS late_units
FROM latest WHERE status <> 'cancelled';
""")

con.execute(f"""
COPY (
WITH per_supplier AS (
  SELECT product_id, supplier_id, sum(stock) AS stock_units, sum(w) AS window_units, sum(e) AS early_units, sum(l) AS late_units
  FROM (
    SELECT product_id, supplier_id, units AS stock, 0 AS w, 0 AS e, 0 AS l FROM stock
    UNION ALL
    SELECT product_id, supplier_id, 0, window_units, early_units, late_units FROM ships
  ) GROUP BY product_id, supplier_id
),
per_product AS (
  SELECT product_id, count(*) AS suppliers, sum(stock_units) AS stock_units, sum(window_units) AS window_units,
         sum(early_units) AS early_units, sum(late_units) AS late_units
  FROM per_supplier GROUP BY product_id
)
SELECT c.product_id, coalesce(suppliers, 0) AS suppliers,
  coalesce(stock_units, 0)::BIGINT AS stock_units, coalesce(window_units, 0)::BIGINT AS window_units,
  coalesce(early_units, 0)::BIGINT AS early_units, coalesce(late_units, 0)::BIGINT AS late_units,
  greatest(0, {M} - coalesce(stock_units, 0))::BIGINT AS stock_shortfall,
  greatest(0, {M} - coalesce(window_units, 0))::BIGINT AS window_shortfall,
  coalesce(stock_units, 0) < {M} AS short_of_minimum,
  coalesce(window_units, 0) < {M} AS misses_window,
  CASE WHEN coalesce(stock_units, 0) < {M} OR coalesce(window_units, 0) < {M} THEN 'NOT_READY' ELSE 'READY' END AS status
FROM catalog c LEFT JOIN per_product USING (product_id)
ORDER BY c.product_id
) TO '{out}' (HEADER, DELIMITER ',');
""")
