//! Each feed's staged canonical rows as Parquet (`staged/<id>.parquet`):
//! what was accepted, before the latest-row rules, for audits and for
//! loading into other tools. Written a batch (one row group) at a time
//! while the feed is staged, so it never holds the whole feed.
//!
//! The file has the schema polars would write for the same frame (same
//! Arrow schema metadata, LZ4 pages, statistics), but its pages are
//! encoded here straight from the numbers staging already has
//! ([`pages`]): the string columns dictionary-encoded from the SKU-map
//! entry, supplier, product, warehouse and status numbers (a batch's
//! dictionary is the values it uses, in order of first use; no string is
//! hashed), integers and timestamps delta-encoded, shipment ids plain.
//! No Arrow arrays are built in between: the copy is written on staging's
//! hot path.

mod pages;

use crate::workdir::direct::DirectFile;
use std::path::{Path, PathBuf};

use polars::prelude::{CompatLevel, DataType, TimeUnit, TimeZone};
use polars_arrow::datatypes::ArrowSchema;
use polars_parquet::parquet::page::Page;
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::write::{
    CompressionOptions, FileWriter, ParquetType, StatisticsOptions, Version, WriteOptions,
    to_parquet_schema,
};

use crate::pipeline::SourceKind;
use crate::stage::{Batch, Context, ShipmentRow, Status};

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

/// Numbers of one kind (entries, suppliers, ...) renumbered 0.. in order
/// of first use within a batch: the keys of a batch's dictionary.
#[derive(Default)]
struct Remap {
    /// Per number: (the batch generation it was last seen in, its key then),
    /// side by side so a lookup touches one place in memory.
    slots: Vec<(u32, u32)>,
    generation: u32,
    /// The original numbers, by new number.
    used: Vec<u32>,
}

impl Remap {
    fn start(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| s.0 = 0);
            self.generation = 1;
        }
        self.used.clear();
    }

    /// Starts fetching the slot of `id` into the cache, for a row a few
    /// rows on (the slots of a large SKU map do not stay in cache).
    fn prefetch(&self, id: u32) {
        if let Some(slot) = self.slots.get(id as usize) {
            crate::stage::reference::prefetch(slot);
        }
    }

    fn key(&mut self, id: u32) -> u32 {
        let i = id as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (0, 0));
        }
        let slot = &mut self.slots[i];
        if slot.0 != self.generation {
            *slot = (self.generation, self.used.len() as u32);
            self.used.push(id);
        }
        slot.1
    }
}

/// Writes `staged/<id>.parquet` a row group per batch.
pub struct StagedWriter {
    path: PathBuf,
    kind: SourceKind,
    writer: Option<FileWriter<DirectFile>>,
    arrow: ArrowSchema,
    fields: Vec<ParquetType>,
    entries: Remap,
    suppliers: Remap,
    products: Remap,
    others: Remap,
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

impl StagedWriter {
    pub fn new(dir: &Path, source_id: &str, kind: SourceKind) -> Self {
        let arrow = schema(kind);
        let fields = to_parquet_schema(&arrow)
            .expect("the staged schema has a Parquet form")
            .fields()
            .to_vec();
        StagedWriter {
            path: dir.join(format!("{source_id}.parquet")),
            kind,
            writer: None,
            arrow,
            fields,
            entries: Remap::default(),
            suppliers: Remap::default(),
            products: Remap::default(),
            others: Remap::default(),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> String {
        format!(
            "cannot write the staged copy `{}`: {e}",
            self.path.display()
        )
    }

    fn field(&self, i: usize) -> &PrimitiveType {
        match &self.fields[i] {
            ParquetType::PrimitiveType(p) => p,
            ParquetType::GroupType { .. } => unreachable!("the staged columns are flat"),
        }
    }

    /// The pages of one batch, a column chunk's in each, in schema order.
    fn columns(&mut self, batch: &Batch, ctx: &Context) -> Vec<Vec<Page>> {
        let map = ctx.sku_map;
        self.entries.start();
        self.suppliers.start();
        self.products.start();
        self.others.start();
        let shipments = self.kind == SourceKind::Shipments;
        let rows = batch.len();
        // (entry, quantity, units, supplier, product), as the row's lookup
        // found them.
        let row = |j: usize| -> (u32, i64, i64, u32, u32) {
            if shipments {
                let r = &batch.shipments[j];
                (r.sku, r.quantity, r.units, r.supplier, r.product)
            } else {
                let r = &batch.stock[j];
                (r.sku, r.quantity, r.units, r.supplier, r.product)
            }
        };
        let mut sku_keys = Vec::with_capacity(rows);
        let mut supplier_keys = Vec::with_capacity(rows);
        let mut product_keys = Vec::with_capacity(rows);
        let mut quantities = Vec::with_capacity(rows);
        let mut units = Vec::with_capacity(rows);
        // An entry of each product, by product key, for its id.
        let mut product_entry = Vec::new();
        for j in 0..rows {
            if j + 16 < rows {
                self.entries.prefetch(row(j + 16).0);
            }
            let (sku, quantity, u, supplier, product) = row(j);
            sku_keys.push(self.entries.key(sku));
            supplier_keys.push(self.suppliers.key(supplier));
            // Only rows of catalog products are staged.
            let known = self.products.used.len();
            product_keys.push(self.products.key(product));
            if self.products.used.len() > known {
                product_entry.push(sku);
            }
            quantities.push(quantity);
            units.push(u);
        }
        let used = |r: &Remap| r.used.clone();
        let (suppliers, entries) = (used(&self.suppliers), used(&self.entries));
        let supplier_id = |f| {
            let names = suppliers
                .iter()
                .map(|&s| map.suppliers[s as usize].as_str());
            pages::dictionary(f, &supplier_keys, names).into()
        };
        let supplier_sku = |f| {
            let skus = entries.iter().map(|&e| map.entry(e).supplier_sku.as_str());
            pages::dictionary(f, &sku_keys, skus).into()
        };
        let product_id = |f| {
            let ids = product_entry
                .iter()
                .map(|&e| map.entry(e).product_id.as_str());
            pages::dictionary(f, &product_keys, ids).into()
        };
        let ints = |f, v: &[i64]| vec![pages::integers(f, v, None)];
        if shipments {
            let r = &batch.shipments;
            let lines: Vec<i64> = r.iter().map(|r| r.line as i64).collect();
            let status_keys: Vec<u32> =
                r.iter().map(|r| self.others.key(r.status as u32)).collect();
            let status = {
                let names = self.others.used.iter();
                pages::dictionary(
                    self.field(5),
                    &status_keys,
                    names.map(|&s| Status::ALL[s as usize].as_str()),
                )
            };
            let dates = |f, get: fn(&ShipmentRow) -> Option<chrono::NaiveDate>| {
                let days: Vec<i64> = r
                    .iter()
                    .filter_map(get)
                    .map(|d| crate::aggregate::window::epoch_days(d) as i64)
                    .collect();
                let present: Vec<bool> = r.iter().map(|r| get(r).is_some()).collect();
                let present = (days.len() < r.len()).then_some(&present[..]);
                vec![pages::integers(f, &days, present)]
            };
            let updated: Vec<i64> = r.iter().map(|r| r.updated_at).collect();
            vec![
                ints(self.field(0), &lines),
                vec![pages::strings(
                    self.field(1),
                    r.len(),
                    r.iter().map(|r| batch.shipment_id(r)),
                )],
                supplier_id(self.field(2)),
                supplier_sku(self.field(3)),
                ints(self.field(4), &quantities),
                status.into(),
                product_id(self.field(6)),
                ints(self.field(7), &units),
                dates(self.field(8), |r| r.etd),
                dates(self.field(9), |r| r.eta),
                ints(self.field(10), &updated),
            ]
        } else {
            let r = &batch.stock;
            let lines: Vec<i64> = r.iter().map(|r| r.line as i64).collect();
            let warehouse_keys: Vec<u32> = r.iter().map(|r| self.others.key(r.warehouse)).collect();
            let names = ctx.names.all_of(&self.others.used);
            let warehouse = pages::dictionary(
                self.field(3),
                &warehouse_keys,
                names.iter().map(|n| n.as_ref()),
            );
            let as_of: Vec<i64> = r.iter().map(|r| r.as_of).collect();
            vec![
                ints(self.field(0), &lines),
                supplier_id(self.field(1)),
                supplier_sku(self.field(2)),
                warehouse.into(),
                ints(self.field(4), &quantities),
                product_id(self.field(5)),
                ints(self.field(6), &units),
                ints(self.field(7), &as_of),
            ]
        }
    }

    fn open(&mut self) -> Result<(), String> {
        if self.writer.is_none() {
            // Written once and not read back by this run: past the page
            // cache.
            let file = DirectFile::create(&self.path).map_err(|e| self.err(e))?;
            let w =
                FileWriter::try_new(file, self.arrow.clone(), OPTIONS).map_err(|e| self.err(e))?;
            self.writer = Some(w);
        }
        Ok(())
    }

    pub fn write(&mut self, batch: &Batch, ctx: &Context) -> Result<(), String> {
        self.open()?;
        if batch.is_empty() {
            return Ok(());
        }
        let columns = self.columns(batch, ctx);
        let writer = self.writer.as_mut().expect("opened above");
        let result = pages::write_row_group(writer, batch.len(), columns);
        result.map_err(|e| self.err(e))
    }

    /// Writes the footer (an empty table when no row was accepted).
    pub fn finish(mut self) -> Result<(), String> {
        self.open()?;
        let mut w = self.writer.take().expect("opened above");
        w.end(None).map_err(|e| self.err(e))?;
        w.into_inner().finish().map(|_| ()).map_err(|e| self.err(e))
    }
}
