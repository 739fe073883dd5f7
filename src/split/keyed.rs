//! The keyed rows: what a stage task writes for the rules
//! (`keyed/<kind>/<id>.parquet`, from the partitions staging filled), and
//! what the rules decided, read back by `finish` as the [`Resolved`] that
//! `siap run`'s own rules give.
//!
//! Keys are written as text (supplier, SKU, warehouse, provider, shipment
//! id), so the SQL needs nothing of siap's numbering; `sku` (the SKU map
//! entry) and `feed` (the pipeline's order) ride along for `finish`.

use std::path::Path;

use polars::prelude::*;

use crate::model::{Status, date_of};
use crate::rules::{Conflict, LatestShipment, Resolved, RuleCounts};
use crate::stage::partition::{Partitions, ShipRec, StockRec};
use crate::stage::{Catalog, SkuMap, Span};

/// Rows per row group of a keyed file.
const ROW_GROUP: usize = 1 << 20;

/// Writes one feed's keyed rows from its partitions (which are consumed),
/// in the order they were read; returns how many rows.
///
/// The order is the feed's, not the partitions': staging numbers
/// warehouses and providers as its threads meet them, so which partition
/// a row lands in varies from one run to the next, and a retried task
/// must write the same bytes. The feed's rows are held at once for the
/// sort (about 40 bytes a row).
pub fn write(
    partitions: &Partitions,
    shipments: bool,
    feed: usize,
    sku_map: &SkuMap,
    names: &[Box<str>],
    path: &Path,
) -> PolarsResult<u64> {
    let mut bytes = Vec::new();
    partitions
        .take_into(shipments, 0..partitions.parts(), &mut bytes)
        .map_err(PolarsError::from)?;
    let rows = if shipments {
        let mut recs = Vec::new();
        ShipRec::decode_into(&bytes, &mut recs);
        recs.sort_unstable_by(|a, b| {
            (a.line, a.span.offset, a.span.len, a.updated_at)
                .cmp(&(b.line, b.span.offset, b.span.len, b.updated_at))
                .then_with(|| a.id.cmp(b.id))
                .then_with(|| names[a.provider as usize].cmp(&names[b.provider as usize]))
        });
        write_groups(&recs, |c| shipment_frame(c, feed, sku_map, names), path)?
    } else {
        let mut recs = Vec::new();
        StockRec::decode_into(&bytes, &mut recs);
        recs.sort_unstable_by(|a, b| {
            let key = |r: &StockRec| {
                (
                    r.line,
                    r.span.offset,
                    r.span.len,
                    r.sku,
                    r.as_of,
                    r.quantity,
                )
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| names[a.warehouse as usize].cmp(&names[b.warehouse as usize]))
        });
        write_groups(&recs, |c| stock_frame(c, feed, sku_map, names), path)?
    };
    Ok(rows)
}

/// Writes `frame` of each [`ROW_GROUP`] of `recs` to `path` as it is made
/// (one row group's frame in memory at a time); a feed without rows still
/// gets its schema (no row group). The rows written.
fn write_groups<R>(
    recs: &[R],
    frame: impl Fn(&[R]) -> PolarsResult<DataFrame>,
    path: &Path,
) -> PolarsResult<u64> {
    let mut groups = recs.chunks(ROW_GROUP);
    let first = frame(groups.next().unwrap_or(&[]))?;
    let file = std::fs::File::create(path)?;
    let mut writer = ParquetWriter::new(&file)
        .with_compression(ParquetCompression::Lz4Raw)
        .batched(&first.schema().clone())?;
    let mut rows = 0u64;
    let mut write = |df: DataFrame| -> PolarsResult<()> {
        if df.height() > 0 {
            rows += df.height() as u64;
            writer.write_batch(&df)?;
        }
        Ok(())
    };
    write(first)?;
    for group in groups {
        write(frame(group)?)?;
    }
    writer.finish()?;
    Ok(rows)
}

/// Where a record's raw text is, as two numbers (`-1`: no offset).
fn span_columns(spans: impl Iterator<Item = Span> + Clone) -> (Vec<i64>, Vec<i64>) {
    (
        spans.clone().map(|s| s.offset as i64).collect(),
        spans.map(|s| i64::from(s.len)).collect(),
    )
}

fn stock_frame(
    r: &[StockRec],
    feed: usize,
    map: &SkuMap,
    names: &[Box<str>],
) -> PolarsResult<DataFrame> {
    let (offset, len) = span_columns(r.iter().map(|s| s.span));
    df! {
        "feed" => vec![feed as i64; r.len()],
        "line" => r.iter().map(|s| s.line as i64).collect::<Vec<_>>(),
        "span_offset" => offset,
        "span_len" => len,
        "sku" => r.iter().map(|s| i64::from(s.sku)).collect::<Vec<_>>(),
        "supplier_id" => r.iter().map(|s| map.entry(s.sku).supplier_id.as_str()).collect::<Vec<_>>(),
        "supplier_sku" => r.iter().map(|s| map.entry(s.sku).supplier_sku.as_str()).collect::<Vec<_>>(),
        "warehouse" => r.iter().map(|s| &*names[s.warehouse as usize]).collect::<Vec<_>>(),
        "product_id" => r.iter().map(|s| map.entry(s.sku).product_id.as_str()).collect::<Vec<_>>(),
        "pack_size" => r.iter().map(|s| map.hot(s.sku).pack_size).collect::<Vec<_>>(),
        "quantity" => r.iter().map(|s| s.quantity).collect::<Vec<_>>(),
        "as_of" => r.iter().map(|s| s.as_of).collect::<Vec<_>>(),
    }
}

fn shipment_frame(
    r: &[ShipRec],
    feed: usize,
    map: &SkuMap,
    names: &[Box<str>],
) -> PolarsResult<DataFrame> {
    let (offset, len) = span_columns(r.iter().map(|s| s.span));
    df! {
        "feed" => vec![feed as i64; r.len()],
        "line" => r.iter().map(|s| s.line as i64).collect::<Vec<_>>(),
        "span_offset" => offset,
        "span_len" => len,
        "sku" => r.iter().map(|s| i64::from(s.sku)).collect::<Vec<_>>(),
        "supplier_id" => r.iter().map(|s| map.entry(s.sku).supplier_id.as_str()).collect::<Vec<_>>(),
        "product_id" => r.iter().map(|s| map.entry(s.sku).product_id.as_str()).collect::<Vec<_>>(),
        "pack_size" => r.iter().map(|s| map.hot(s.sku).pack_size).collect::<Vec<_>>(),
        "provider" => r.iter().map(|s| &*names[s.provider as usize]).collect::<Vec<_>>(),
        "shipment_id" => r.iter().map(|s| String::from_utf8_lossy(s.id).into_owned()).collect::<Vec<_>>(),
        "quantity" => r.iter().map(|s| s.quantity).collect::<Vec<_>>(),
        "status" => r.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
        "etd_day" => r.iter().map(|s| s.etd.map(i64::from)).collect::<Vec<_>>(),
        "eta_day" => r.iter().map(|s| s.eta.map(i64::from)).collect::<Vec<_>>(),
        "updated_at" => r.iter().map(|s| s.updated_at).collect::<Vec<_>>(),
    }
}

/// The rules' outputs, as `rules.sql` names them (in its order).
pub const OUTPUTS: [&str; 2] = ["shipment_decided", "stock_decided"];

fn read(dir_of: &dyn Fn(&str) -> std::path::PathBuf, name: &str) -> PolarsResult<DataFrame> {
    let path = dir_of(name);
    let file = std::fs::File::open(&path)
        .map_err(|e| polars_err!(ComputeError: "cannot open {}: {e}", path.display()))?;
    ParquetReader::new(file).finish()
}

fn i64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().collect())
}

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect())
}

fn bad(what: impl std::fmt::Display) -> PolarsError {
    polars_err!(ComputeError: "the resolved tables do not fit the reference tables: {what}")
}

/// What the rules decided (the files `path_of(name)` for each of
/// [`OUTPUTS`]), as `siap run`'s rules would hand it on.
pub fn resolved(
    path_of: &dyn Fn(&str) -> std::path::PathBuf,
    feeds: usize,
    catalog: &Catalog,
    sku_map: &SkuMap,
) -> PolarsResult<Resolved> {
    let mut out = Resolved {
        counts: vec![RuleCounts::default(); feeds],
        ..Default::default()
    };
    stock_decided(&read(path_of, "stock_decided")?, catalog, sku_map, &mut out)?;
    let ships = read(path_of, "shipment_decided")?;
    let counted = tally(&ships, &mut out)?;
    let mask = BooleanChunked::from_slice("counted".into(), &counted);
    latest_shipments(&ships.filter(&mask)?, sku_map, &mut out)?;
    out.conflicts.sort();
    Ok(out)
}

/// Adds an output's rows to the per-feed counts and its conflicting rows
/// to the conflicts; which rows are counted ones.
fn tally(df: &DataFrame, out: &mut Resolved) -> PolarsResult<Vec<bool>> {
    let (feed, rows, outcome) = (i64s(df, "feed")?, i64s(df, "rows")?, strs(df, "outcome")?);
    let cols = ["line", "span_offset", "span_len", "sku"].map(|c| i64s(df, c));
    let [line, offset, len, sku] = cols;
    let (line, offset, len, sku) = (line?, offset?, len?, sku?);
    let mut counted = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let f = feed[i].unwrap_or(-1);
        let c = usize::try_from(f)
            .ok()
            .and_then(|f| out.counts.get_mut(f))
            .ok_or_else(|| bad(format!("feed {f}")))?;
        let n = rows[i].unwrap_or_default() as u64;
        match outcome[i].as_str() {
            "counted" => c.counted += n,
            "superseded" => c.superseded += n,
            "duplicate" => c.duplicates += n,
            "conflicting" => {
                c.conflicting += n;
                let v = |v: &Vec<Option<i64>>| v[i].unwrap_or_default();
                out.conflicts.push(Conflict {
                    feed: f as usize,
                    line: v(&line) as u64,
                    span: Span {
                        offset: v(&offset) as u64,
                        len: v(&len) as u32,
                    },
                    sku: v(&sku) as u32,
                });
            }
            other => return Err(bad(format!("outcome `{other}`"))),
        }
        counted.push(outcome[i] == "counted");
    }
    Ok(counted)
}

/// The stock sums per (product, supplier), from each feed's share.
fn stock_decided(
    df: &DataFrame,
    catalog: &Catalog,
    map: &SkuMap,
    out: &mut Resolved,
) -> PolarsResult<()> {
    let counted = tally(df, out)?;
    let (products, suppliers) = (strs(df, "product_id")?, strs(df, "supplier_id")?);
    let (units, oldest) = (strs(df, "units")?, i64s(df, "oldest_as_of")?);
    let mut shares = Vec::new();
    for i in (0..df.height()).filter(|&i| counted[i]) {
        let product = catalog
            .index(&products[i])
            .ok_or_else(|| bad(format!("product `{}`", products[i])))?;
        let supplier = map
            .suppliers
            .binary_search(&suppliers[i])
            .map_err(|_| bad(format!("supplier `{}`", suppliers[i])))?;
        let sum: i128 = units[i]
            .parse()
            .map_err(|_| bad(format!("units `{}`", units[i])))?;
        shares.push((
            (product, supplier as u32),
            sum,
            oldest[i].unwrap_or(i64::MAX),
        ));
    }
    out.total_units += shares.iter().map(|s| s.1).sum::<i128>();
    out.stock = crate::rules::stock_sums(shares.into_iter());
    Ok(())
}

fn latest_shipments(df: &DataFrame, map: &SkuMap, out: &mut Resolved) -> PolarsResult<()> {
    let (providers, ids, statuses) = (
        strs(df, "provider")?,
        strs(df, "shipment_id")?,
        strs(df, "status")?,
    );
    let cols = ["sku", "quantity", "etd_day", "eta_day", "updated_at"].map(|c| i64s(df, c));
    let [sku, quantity, etd, eta, updated] = cols;
    let (sku, quantity, etd, eta, updated) = (sku?, quantity?, etd?, eta?, updated?);
    // Providers numbered by name: the table orders by name anyway.
    let mut names: Vec<&str> = providers.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let day = |d: Option<i64>| d.and_then(|d| i32::try_from(d).ok()).and_then(date_of);
    let mut rows = Vec::with_capacity(df.height());
    let mut arena = String::new();
    for i in 0..df.height() {
        let s = sku[i].unwrap_or(-1);
        let entry = u32::try_from(s)
            .ok()
            .filter(|&s| (s as usize) < map.len())
            .ok_or_else(|| bad(format!("SKU map entry {s}")))?;
        let status =
            Status::exact(&statuses[i]).ok_or_else(|| bad(format!("status `{}`", statuses[i])))?;
        let shipment = LatestShipment {
            product: map
                .hot(entry)
                .product()
                .ok_or_else(|| bad(format!("SKU map entry {s} has no product")))?,
            sku: entry,
            provider: names
                .binary_search(&providers[i].as_str())
                .expect("named above") as u32,
            id_start: arena.len() as u32,
            id_len: ids[i].len() as u32,
            quantity: quantity[i].unwrap_or_default(),
            status,
            etd: day(etd[i]),
            eta: day(eta[i]),
            updated_at: updated[i].unwrap_or_default(),
        };
        arena.push_str(&ids[i]);
        out.total_units += i128::from(shipment.units(map));
        rows.push(shipment);
    }
    // The shipments table's order: product, supplier, provider, id.
    rows.sort_unstable_by(|a, b| {
        let id = |s: &LatestShipment| &arena[s.id_start as usize..(s.id_start + s.id_len) as usize];
        (a.product, a.supplier(map), a.provider, id(a)).cmp(&(
            b.product,
            b.supplier(map),
            b.provider,
            id(b),
        ))
    });
    out.names = names.into_iter().map(Into::into).collect();
    out.shipments = rows;
    out.ids = arena;
    Ok(())
}
