-- siap's keyed rules (rules version 2), run by `siap resolve` on DataFusion,
-- in-process or on a Ballista cluster. The same rules as `siap run`'s own
-- (src/rules/), written in a plain, portable subset of SQL: window
-- functions in subqueries, GROUP BY, CASE; no set operations, no LIMIT.
--
-- Input tables (one Parquet file per feed, written by `siap stage`):
--   stock_rows(feed, line, span_offset, span_len, sku, supplier_id,
--              supplier_sku, warehouse, product_id, pack_size, quantity, as_of)
--   shipment_rows(feed, line, span_offset, span_len, sku, supplier_id,
--              product_id, pack_size, provider, shipment_id, quantity, status,
--              etd_day, eta_day, updated_at)
-- `feed` is the feed's place in the pipeline and `line` the record's line:
-- together, the order rows were read in.
--
-- Per key, for each timestamp: the first row read with each distinct value
-- is kept and its repeats are exact duplicates; when a timestamp has more
-- than one distinct value, its kept rows are all conflicting duplicates.
-- Of the timestamps without a conflict, the latest row counts and the
-- older ones are superseded.
--
-- A statement after `-- output: NAME` is one of the results `siap finish`
-- reads; the others define views.

-- Every window is partitioned by the key alone, so the rows are shuffled
-- once, by key (windows partitioned by finer keys, one inside another,
-- gave wrong results on Ballista 55 at some partition counts).
CREATE VIEW stock_outcomes AS
SELECT v.*,
       CASE WHEN NOT is_first THEN 'duplicate'
            WHEN values_at > 1 THEN 'conflicting'
            WHEN as_of = newest_valid THEN 'counted'
            ELSE 'superseded' END AS outcome
FROM (
    SELECT c.*,
           MAX(CASE WHEN values_at = 1 THEN as_of END) OVER (
               PARTITION BY supplier_id, supplier_sku, warehouse) AS newest_valid
    FROM (
        SELECT d.*,
               SUM(CASE WHEN is_first THEN 1 ELSE 0 END) OVER (
                   PARTITION BY supplier_id, supplier_sku, warehouse ORDER BY as_of
                   RANGE BETWEEN CURRENT ROW AND CURRENT ROW) AS values_at
        FROM (
            SELECT s.*,
                   ((LAG(as_of) OVER (PARTITION BY supplier_id, supplier_sku, warehouse ORDER BY as_of, quantity, feed, line) IS DISTINCT FROM as_of)
                   OR (LAG(quantity) OVER (PARTITION BY supplier_id, supplier_sku, warehouse ORDER BY as_of, quantity, feed, line) IS DISTINCT FROM quantity)) AS is_first
            FROM stock_rows s
        ) d
    ) c
) v;

CREATE VIEW shipment_outcomes AS
SELECT v.*,
       CASE WHEN NOT is_first THEN 'duplicate'
            WHEN values_at > 1 THEN 'conflicting'
            WHEN updated_at = newest_valid THEN 'counted'
            ELSE 'superseded' END AS outcome
FROM (
    SELECT c.*,
           MAX(CASE WHEN values_at = 1 THEN updated_at END) OVER (
               PARTITION BY provider, shipment_id) AS newest_valid
    FROM (
        SELECT d.*,
               SUM(CASE WHEN is_first THEN 1 ELSE 0 END) OVER (
                   PARTITION BY provider, shipment_id ORDER BY updated_at
                   RANGE BETWEEN CURRENT ROW AND CURRENT ROW) AS values_at
        FROM (
            SELECT s.*,
                   ((LAG(updated_at) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM updated_at)
                   OR (LAG(sku) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM sku)
                   OR (LAG(quantity) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM quantity)
                   OR (LAG(status) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM status)
                   OR (LAG(etd_day) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM etd_day)
                   OR (LAG(eta_day) OVER (PARTITION BY provider, shipment_id ORDER BY updated_at, sku, quantity, status, etd_day, eta_day, feed, line) IS DISTINCT FROM eta_day)) AS is_first
            FROM shipment_rows s
        ) d
    ) c
) v;

-- Two outputs, one per kind, so each kind's windows are computed once: a
-- row per (feed, outcome) for duplicates and superseded rows, per (feed,
-- product, supplier) for counted stock, per counted shipment, and per
-- conflicting row. Columns that do not apply to an outcome are NULL.

-- output: shipment_decided
SELECT feed, outcome, provider, shipment_id, sku, quantity, status,
       etd_day, eta_day, updated_at, line, span_offset, span_len,
       COUNT(*) AS rows
FROM (
    SELECT feed, outcome,
           CASE WHEN outcome = 'counted' THEN provider END AS provider,
           CASE WHEN outcome = 'counted' THEN shipment_id END AS shipment_id,
           CASE WHEN outcome IN ('counted', 'conflicting') THEN sku END AS sku,
           CASE WHEN outcome = 'counted' THEN quantity END AS quantity,
           CASE WHEN outcome = 'counted' THEN status END AS status,
           CASE WHEN outcome = 'counted' THEN etd_day END AS etd_day,
           CASE WHEN outcome = 'counted' THEN eta_day END AS eta_day,
           CASE WHEN outcome = 'counted' THEN updated_at END AS updated_at,
           CASE WHEN outcome = 'conflicting' THEN line END AS line,
           CASE WHEN outcome = 'conflicting' THEN span_offset END AS span_offset,
           CASE WHEN outcome = 'conflicting' THEN span_len END AS span_len
    FROM shipment_outcomes
) o
GROUP BY feed, outcome, provider, shipment_id, sku, quantity, status,
         etd_day, eta_day, updated_at, line, span_offset, span_len;

-- Units as text: a sum of up to 38 digits, exact, whatever reads it.
-- output: stock_decided
SELECT feed, outcome, product_id, supplier_id, sku, line, span_offset, span_len,
       COUNT(*) AS rows,
       CAST(SUM(units) AS VARCHAR) AS units,
       MIN(as_of) AS oldest_as_of
FROM (
    SELECT feed, outcome,
           CASE WHEN outcome = 'counted' THEN product_id END AS product_id,
           CASE WHEN outcome = 'counted' THEN supplier_id END AS supplier_id,
           CASE WHEN outcome = 'conflicting' THEN sku END AS sku,
           CASE WHEN outcome = 'conflicting' THEN line END AS line,
           CASE WHEN outcome = 'conflicting' THEN span_offset END AS span_offset,
           CASE WHEN outcome = 'conflicting' THEN span_len END AS span_len,
           CASE WHEN outcome = 'counted'
                THEN CAST(quantity AS DECIMAL(38, 0)) * CAST(pack_size AS DECIMAL(38, 0)) END AS units,
           CASE WHEN outcome = 'counted' THEN as_of END AS as_of
    FROM stock_outcomes
) o
GROUP BY feed, outcome, product_id, supplier_id, sku, line, span_offset, span_len;
