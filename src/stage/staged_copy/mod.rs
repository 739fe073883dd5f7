//! Each feed's staged canonical rows as Parquet (`staged/<id>.parquet`):
//! what was accepted, before the latest-row rules, for audits and for
//! loading into other tools. Written a batch (one row group) at a time
//! while the feed is staged, so it never holds the whole feed.
//!
//! The file has the schema polars would write for the same frame (same
//! Arrow schema metadata, statistics; LZ4 for its text columns), but its
//! pages are encoded here straight from the numbers staging already has
//! ([`pages`]): the string columns dictionary-encoded from the SKU-map
//! entry, supplier, product, warehouse and status numbers (a batch's
//! dictionary is the values it uses, in order of first use; no string is
//! hashed), integers and timestamps delta-encoded, shipment ids plain.
//! No Arrow arrays are built in between: the copy is written on staging's
//! hot path.

#[cfg(test)]
mod reference;

use crate::error::{Action, Problem};
use crate::sys::direct::DirectFile;
use crate::sys::parquet_pages::{self as pages, Remap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use polars::prelude::{CompatLevel, DataType, TimeUnit, TimeZone};
use polars_arrow::datatypes::ArrowSchema;
use polars_parquet::parquet::page::{CompressedPage, Page};
use polars_parquet::parquet::schema::types::{PhysicalType, PrimitiveType};
use polars_parquet::write::{
    CompressionOptions, FileWriter, StatisticsOptions, Version, WriteOptions,
};

use crate::pipeline::SourceKind;
use crate::stage::{Batch, Context, Status};

/// The staged columns of a kind, in file order, with the Arrow types
/// polars gives them.
fn schema(kind: SourceKind) -> ArrowSchema {
    let utc = || DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let cols: Vec<(&str, DataType)> = if kind == SourceKind::Shipments {
        vec![
            ("line", DataType::UInt64),
            ("shipment_id", DataType::String),
            ("supplier_id", DataType::String),
            ("supplier_sku", DataType::String),
            ("quantity", DataType::Int64),
            ("status", DataType::String),
            ("product_id", DataType::String),
            ("units", DataType::Int64),
            ("etd", DataType::Date),
            ("eta", DataType::Date),
            ("updated_at", utc()),
        ]
    } else {
        vec![
            ("line", DataType::UInt64),
            ("supplier_id", DataType::String),
            ("supplier_sku", DataType::String),
            ("warehouse", DataType::String),
            ("quantity", DataType::Int64),
            ("product_id", DataType::String),
            ("units", DataType::Int64),
            ("as_of", utc()),
        ]
    };
    cols.into_iter()
        .map(|(n, t)| {
            let f = t.to_arrow_field(n.into(), CompatLevel::newest());
            (f.name.clone(), f)
        })
        .collect()
}

/// Strings back to back in one block, each found by its index.
struct Arena {
    bytes: Vec<u8>,
    /// Where each string starts in `bytes`, and where the last ends.
    bounds: Vec<usize>,
}

impl Arena {
    fn new<'s>(strings: impl Iterator<Item = &'s str>) -> Arena {
        let (mut bytes, mut bounds) = (Vec::new(), vec![0]);
        for s in strings {
            bytes.extend_from_slice(s.as_bytes());
            bounds.push(bytes.len());
        }
        Arena { bytes, bounds }
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.bounds[i]..self.bounds[i + 1]]
    }
}

/// The SKU map entries' strings that the dictionaries of a staged copy
/// hold, by entry, each kind in one block: a row group's dictionary is
/// then gathered from a few hundred kilobytes, not from strings all over
/// the heap (a cache miss each at tens of thousands of entries). Made once
/// per feed, by whichever encoder needs it first.
struct EntryStrings {
    supplier_sku: Arena,
    product_id: Arena,
}

impl EntryStrings {
    fn of(map: &crate::stage::SkuMap) -> EntryStrings {
        EntryStrings {
            supplier_sku: Arena::new(map.entries.iter().map(|e| e.supplier_sku.as_str())),
            product_id: Arena::new(map.entries.iter().map(|e| e.product_id.as_str())),
        }
    }
}

/// Writes `staged/<id>.parquet` a row group per batch.
pub struct StagedWriter {
    path: PathBuf,
    writer: Option<FileWriter<DirectFile>>,
    arrow: ArrowSchema,
    /// Encodes the batches [`StagedWriter::write`] is given.
    encoder: Encoder,
}

/// Turns batches into their row groups' compressed pages, on whichever
/// thread has one (a feed staged on every core encodes its batches on the
/// pool and writes them in order: [`StagedWriter::encoder`],
/// [`StagedWriter::write_encoded`]). Its dictionaries' scratch is kept
/// from batch to batch.
pub struct Encoder {
    path: PathBuf,
    kind: SourceKind,
    /// The Parquet type of each column, in schema order.
    fields: Vec<PrimitiveType>,
    entries: Remap,
    suppliers: Remap,
    products: Remap,
    others: Remap,
    scratch: Columns,
    /// Shared by the feed's encoders.
    strings: Arc<OnceLock<EntryStrings>>,
}

/// One batch as its row group: each column chunk's compressed pages.
pub struct Encoded {
    rows: usize,
    columns: Vec<Vec<CompressedPage>>,
}

/// A batch's columns before they are encoded, kept from batch to batch.
#[derive(Default)]
struct Columns {
    sku_keys: Vec<u32>,
    supplier_keys: Vec<u32>,
    product_keys: Vec<u32>,
    /// Warehouse (stock) or status (shipments) keys.
    other_keys: Vec<u32>,
    /// An entry of each product, by product key, for its id.
    product_entry: Vec<u32>,
    lines: Vec<i64>,
    quantities: Vec<i64>,
    units: Vec<i64>,
    /// `as_of` (stock) or `updated_at` (shipments).
    time: Vec<i64>,
    etd: Vec<i64>,
    etd_present: Vec<bool>,
    eta: Vec<i64>,
    eta_present: Vec<bool>,
}

impl Columns {
    fn clear(&mut self) {
        for v in [
            &mut self.sku_keys,
            &mut self.supplier_keys,
            &mut self.product_keys,
            &mut self.other_keys,
            &mut self.product_entry,
        ] {
            v.clear();
        }
        for v in [
            &mut self.lines,
            &mut self.quantities,
            &mut self.units,
            &mut self.time,
            &mut self.etd,
            &mut self.eta,
        ] {
            v.clear();
        }
        self.etd_present.clear();
        self.eta_present.clear();
    }
}

/// The dictionaries every staged row has a key in.
struct Row<'a> {
    entries: &'a mut Remap,
    suppliers: &'a mut Remap,
    products: &'a mut Remap,
}

impl Row<'_> {
    /// The columns both kinds share, as the row's lookup found them.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn add(
        &mut self,
        c: &mut Columns,
        sku: u32,
        supplier: u32,
        product: u32,
        quantity: i64,
        units: i64,
        line: u64,
    ) {
        c.sku_keys.push(self.entries.key(sku));
        c.supplier_keys.push(self.suppliers.key(supplier));
        // Only rows of catalog products are staged.
        let known = self.products.used.len();
        c.product_keys.push(self.products.key(product));
        if self.products.used.len() > known {
            c.product_entry.push(sku);
        }
        c.quantities.push(quantity);
        c.units.push(units);
        c.lines.push(line as i64);
    }
}

const OPTIONS: WriteOptions = WriteOptions {
    statistics: StatisticsOptions {
        min_value: true,
        max_value: true,
        distinct_count: false,
        null_count: true,
        binary_statistics_truncate_length: None,
    },
    version: Version::V1,
    // LZ4: staged copies are large and written on the hot path; the
    // published tables use zstd.
    compression: CompressionOptions::Lz4Raw,
    data_page_size: None,
};

/// A column's codec: LZ4 for text (dictionary pages of SKUs and product
/// ids, shipment ids: about half their size), none for numbers and times,
/// whose delta-packed pages LZ4 does not shrink (it only costs the time).
fn codec(field: &PrimitiveType) -> CompressionOptions {
    match field.physical_type {
        PhysicalType::ByteArray => OPTIONS.compression,
        _ => CompressionOptions::Uncompressed,
    }
}

impl StagedWriter {
    pub fn new(dir: &Path, source_id: &str, kind: SourceKind) -> Self {
        let arrow = schema(kind);
        let fields = pages::fields(&arrow);
        let path = dir.join(format!("{source_id}.parquet"));
        StagedWriter {
            encoder: Encoder::new(path.clone(), kind, fields, Arc::default()),
            path,
            writer: None,
            arrow,
        }
    }

    /// Another encoder of this file's batches, for another thread.
    pub fn encoder(&self) -> Encoder {
        let e = &self.encoder;
        let strings = Arc::clone(&e.strings);
        Encoder::new(e.path.clone(), e.kind, e.fields.clone(), strings)
    }

    fn open(&mut self) -> Result<(), Problem> {
        if self.writer.is_none() {
            // Written once and not read back by this run: past the page
            // cache.
            let file = DirectFile::create(&self.path).map_err(|e| err(&self.path, e))?;
            let w = FileWriter::try_new(file, self.arrow.clone(), OPTIONS)
                .map_err(|e| err(&self.path, e))?;
            self.writer = Some(w);
        }
        Ok(())
    }

    /// Encodes and writes one batch as the next row group (nothing for an
    /// empty batch).
    pub fn write(&mut self, batch: &Batch, ctx: &Context) -> Result<(), Problem> {
        self.open()?;
        if batch.is_empty() {
            return Ok(());
        }
        let encoded = self.encoder.encode(batch, ctx)?;
        self.write_encoded(encoded)
    }

    /// Writes a batch encoded elsewhere as the next row group.
    pub fn write_encoded(&mut self, e: Encoded) -> Result<(), Problem> {
        self.open()?;
        let writer = self.writer.as_mut().expect("opened above");
        let result = pages::write_compressed(writer, e.rows, e.columns);
        result.map_err(|e| err(&self.path, e))
    }

    /// Writes the footer (an empty table when no row was accepted).
    pub fn finish(mut self) -> Result<(), Problem> {
        self.open()?;
        let mut w = self.writer.take().expect("opened above");
        w.end(None).map_err(|e| err(&self.path, e))?;
        w.into_inner()
            .finish()
            .map(|_| ())
            .map_err(|e| err(&self.path, e))
    }
}

fn err(path: &Path, e: impl std::fmt::Display) -> Problem {
    Problem::Io {
        action: Action::Write,
        path: path.to_path_buf(),
        error: std::io::Error::other(e.to_string()),
    }
}

impl Encoder {
    fn new(
        path: PathBuf,
        kind: SourceKind,
        fields: Vec<PrimitiveType>,
        strings: Arc<OnceLock<EntryStrings>>,
    ) -> Encoder {
        Encoder {
            strings,
            path,
            kind,
            fields,
            entries: Remap::default(),
            suppliers: Remap::default(),
            products: Remap::default(),
            others: Remap::default(),
            scratch: Columns::default(),
        }
    }

    /// A non-empty batch as its row group.
    pub fn encode(&mut self, batch: &Batch, ctx: &Context) -> Result<Encoded, Problem> {
        let columns = self.columns(batch, ctx);
        let codec = |i: usize| codec(&self.fields[i]);
        let columns = pages::compress_each(columns, codec).map_err(|e| err(&self.path, e))?;
        Ok(Encoded {
            rows: batch.len(),
            columns,
        })
    }

    /// The pages of one batch, a column chunk's in each, in schema order.
    fn columns(&mut self, batch: &Batch, ctx: &Context) -> Vec<Vec<Page>> {
        let map = ctx.sku_map;
        self.entries.start();
        self.suppliers.start();
        self.products.start();
        self.others.start();
        // One pass over the batch's rows (which do not stay in cache)
        // fills every column.
        let c = &mut self.scratch;
        c.clear();
        let mut row = Row {
            entries: &mut self.entries,
            suppliers: &mut self.suppliers,
            products: &mut self.products,
        };
        let shipments = self.kind == SourceKind::Shipments;
        if shipments {
            let r = &batch.shipments;
            for (j, s) in r.iter().enumerate() {
                if let Some(ahead) = r.get(j + 16) {
                    row.entries.prefetch(ahead.sku);
                }
                row.add(c, s.sku, s.supplier, s.product, s.quantity, s.units, s.line);
                c.other_keys.push(self.others.key(s.status as u32));
                c.time.push(s.updated_at);
                for (date, days, present) in [
                    (s.etd, &mut c.etd, &mut c.etd_present),
                    (s.eta, &mut c.eta, &mut c.eta_present),
                ] {
                    if let Some(d) = date {
                        days.push(crate::model::epoch_days(d) as i64);
                    }
                    present.push(date.is_some());
                }
            }
        } else {
            let r = &batch.stock;
            for (j, s) in r.iter().enumerate() {
                if let Some(ahead) = r.get(j + 16) {
                    row.entries.prefetch(ahead.sku);
                }
                row.add(c, s.sku, s.supplier, s.product, s.quantity, s.units, s.line);
                c.other_keys.push(self.others.key(s.warehouse));
                c.time.push(s.as_of);
            }
        }
        let c = &self.scratch;
        let ranks = map.ranks();
        let strings = self.strings.get_or_init(|| EntryStrings::of(map));
        let field = |i: usize| &self.fields[i];
        let supplier_id = |i| {
            let names = self.suppliers.used.iter();
            let names = names.map(|&s| map.suppliers[s as usize].as_bytes());
            pages::dictionary(field(i), &c.supplier_keys, names, None).into()
        };
        let supplier_sku = |i| {
            let skus = self.entries.used.iter();
            let skus = skus.map(|&e| strings.supplier_sku.get(e as usize));
            // Smallest and largest by rank: no string comparisons.
            let order = |k: usize| ranks.supplier_sku[self.entries.used[k] as usize];
            pages::dictionary(field(i), &c.sku_keys, skus, Some(&order)).into()
        };
        let product_id = |i| {
            let ids = c.product_entry.iter();
            let ids = ids.map(|&e| strings.product_id.get(e as usize));
            let order = |k: usize| ranks.product_id[c.product_entry[k] as usize];
            pages::dictionary(field(i), &c.product_keys, ids, Some(&order)).into()
        };
        let ints = |i, v: &[i64]| vec![pages::integers(field(i), v, None)];
        let dates = |i, days: &[i64], present: &[bool]| {
            vec![pages::nullable_integers(field(i), days, present)]
        };
        if shipments {
            let status = self.others.used.iter();
            let status = status.map(|&s| Status::ALL[s as usize].as_str().as_bytes());
            let r = &batch.shipments;
            vec![
                ints(0, &c.lines),
                vec![pages::strings(
                    field(1),
                    r.len(),
                    batch.ids.len(),
                    r.iter().map(|r| batch.shipment_id(r).as_bytes()),
                )],
                supplier_id(2),
                supplier_sku(3),
                ints(4, &c.quantities),
                pages::dictionary(field(5), &c.other_keys, status, None).into(),
                product_id(6),
                ints(7, &c.units),
                dates(8, &c.etd, &c.etd_present),
                dates(9, &c.eta, &c.eta_present),
                ints(10, &c.time),
            ]
        } else {
            let names = ctx.names.all_of(&self.others.used);
            let names = names.iter().map(|n| n.as_bytes());
            vec![
                ints(0, &c.lines),
                supplier_id(1),
                supplier_sku(2),
                pages::dictionary(field(3), &c.other_keys, names, None).into(),
                ints(4, &c.quantities),
                product_id(5),
                ints(6, &c.units),
                ints(7, &c.time),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::stage::{Names, ShipmentRow, Span, StockRow, reference};
    use polars::prelude::{ParquetReader, SerReader};
    use polars_parquet::parquet::compression::Compression;

    const PIPELINE: &str = "[campaign]\nname = \"t\"\ntimezone = \"Asia/Jakarta\"\nwindow = { opens = 2026-11-03, closes = 2026-11-05 }\n\
        [catalog]\nlocation = \"c.csv\"\n[sku_map]\nlocation = \"m.csv\"\n";

    fn read(path: &Path) -> polars::prelude::DataFrame {
        ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap()
    }

    /// Random batches of both kinds written with the hand-encoded pages
    /// and with polars' own writer: the same rows, columns and types.
    #[test]
    fn pages_write_what_polars_writes() {
        let p = crate::pipeline::resolve::parse(PIPELINE, Path::new("p.toml")).unwrap();
        let mut catalog = String::from("product_id,product_name,category\n");
        let mut map = String::from("supplier_id,supplier_sku,product_id,pack_size\n");
        for i in 0..40 {
            catalog.push_str(&format!("P{i:02},n{i},c\n"));
            map.push_str(&format!(
                "S{},K-{i:03},P{:02},{}\n",
                i % 3,
                (i * 7) % 40,
                1 + i % 5
            ));
        }
        let catalog = reference::stage_catalog(&p.sources.catalog, catalog.as_bytes()).unwrap();
        let mut sku_map = reference::stage_sku_map(&p.sources.sku_map, map.as_bytes()).unwrap();
        sku_map.link(&catalog);
        let names = Names::default();
        for w in ["WH A", "Gudang B", "WH-C"] {
            names.id(w);
        }
        let ctx = Context {
            run_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            timezone: chrono_tz::Asia::Jakarta,
            catalog: &catalog,
            sku_map: &sku_map,
            names: &names,
            batch_rows: 1000,
            chunk_bytes: 1 << 20,
            guess_bytes: 8 << 20,
        };
        let mut rng = fastrand::Rng::with_seed(9);
        let dir = tempfile::tempdir().unwrap();
        for kind in [SourceKind::Stock, SourceKind::Shipments] {
            let batches: Vec<Batch> = (0..3)
                .map(|_| {
                    let mut b = Batch::default();
                    for line in 0..rng.u64(1..300) {
                        let sku = rng.u32(0..40);
                        let hot = sku_map.hot(sku);
                        let quantity = rng.i64(0..1_000_000);
                        let units = quantity * hot.pack_size;
                        let time = 1_790_000_000_000_000 + rng.i64(0..1_000_000_000_000);
                        let span = Span { offset: 0, len: 0 };
                        if kind == SourceKind::Stock {
                            b.stock.push(StockRow {
                                sku,
                                warehouse: rng.u32(0..3),
                                product: hot.product,
                                supplier: hot.supplier,
                                units,
                                quantity,
                                as_of: time,
                                line,
                                span,
                            });
                        } else {
                            let id = format!("SH{}", rng.u32(0..100_000));
                            let day = |r: &mut fastrand::Rng| {
                                (r.u8(0..4) > 0).then(|| {
                                    chrono::NaiveDate::from_ymd_opt(2026, 11, r.u32(1..30)).unwrap()
                                })
                            };
                            b.shipments.push(ShipmentRow {
                                id_start: b.ids.len() as u32,
                                id_len: id.len() as u32,
                                sku,
                                product: hot.product,
                                supplier: hot.supplier,
                                units,
                                quantity,
                                status: Status::ALL[rng.usize(0..6)],
                                etd: day(&mut rng),
                                eta: day(&mut rng),
                                updated_at: time,
                                line,
                                span,
                            });
                            b.ids.push_str(&id);
                        }
                    }
                    b
                })
                .collect();
            let mut w = StagedWriter::new(dir.path(), "hand", kind);
            for b in &batches {
                w.write(b, &ctx).unwrap();
            }
            w.finish().unwrap();
            let plain = dir.path().join("plain.parquet");
            super::reference::write(&plain, &batches, &ctx, kind).unwrap();
            let (hand, plain) = (read(&dir.path().join("hand.parquet")), read(&plain));
            assert_eq!(hand.schema(), plain.schema(), "{kind:?}");
            assert!(hand.equals_missing(&plain), "{kind:?}:\n{hand}\n{plain}");
            // Text columns in LZ4, numbers and times as they are.
            let mut file = std::fs::File::open(dir.path().join("hand.parquet")).unwrap();
            let meta = polars_parquet::read::read_metadata(&mut file).unwrap();
            for group in &meta.row_groups {
                for c in group.parquet_columns() {
                    let text = c.physical_type() == PhysicalType::ByteArray;
                    let want = if text {
                        Compression::Lz4Raw
                    } else {
                        Compression::Uncompressed
                    };
                    assert_eq!(c.compression(), want, "{kind:?} {:?}", c.descriptor());
                }
            }
        }
    }
}
