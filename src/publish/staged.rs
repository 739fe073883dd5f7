//! Each feed's staged canonical rows as Parquet (`staged/<id>.parquet`):
//! what was accepted, before the latest-row rules, for audits and for
//! loading into other tools. Written a batch (one row group) at a time
//! while the feed is staged, so it never holds the whole feed.
//!
//! The file is what polars would write for the same frame (same schema,
//! same Arrow schema metadata, LZ4 pages, statistics), but the string
//! columns are dictionary-encoded straight from the numbers staging
//! already has (SKU-map entry, supplier, product, warehouse, status): a
//! batch's dictionary is the values it uses, in order of first use, and no
//! string is hashed. Integers and timestamps are delta-encoded, shipment
//! ids written plain.

use crate::workdir::direct::DirectFile;
use std::path::{Path, PathBuf};

use polars::prelude::{CompatLevel, DataType, PolarsError, TimeUnit, TimeZone};
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, IntegerType};
use polars_parquet::parquet::FallibleStreamingIterator;
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::write::{
    CompressionOptions, Compressor, DynIter, DynStreamingIterator, Encoding, FileWriter,
    ParquetType, StatisticsOptions, Version, WriteOptions, array_to_columns, to_parquet_schema,
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

    /// A dictionary column: `keys` (from [`Remap::key`]) over the text of
    /// each used number (given its key and number).
    fn column<'s>(&self, keys: Vec<u32>, text: impl Fn(usize, u32) -> &'s str) -> Box<dyn Array> {
        let values: Vec<&str> = self
            .used
            .iter()
            .enumerate()
            .map(|(k, &i)| text(k, i))
            .collect();
        let values = Utf8ViewArray::from_slice_values(values);
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        Box::new(
            DictionaryArray::<u32>::try_new(dtype, PrimitiveArray::from_vec(keys), values.boxed())
                .expect("every key indexes the values"),
        )
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

    fn dtype(&self, i: usize) -> ArrowDataType {
        self.arrow
            .get_at_index(i)
            .expect("column in the schema")
            .1
            .dtype
            .clone()
    }

    fn plain<T: polars_arrow::types::NativeType>(&self, i: usize, v: Vec<T>) -> Box<dyn Array> {
        Box::new(PrimitiveArray::from_vec(v).to(self.dtype(i)))
    }

    fn dates(
        &self,
        i: usize,
        v: impl Iterator<Item = Option<chrono::NaiveDate>>,
    ) -> Box<dyn Array> {
        let (days, valid): (Vec<i32>, Vec<bool>) = v
            .map(|d| {
                (
                    d.map_or(0, crate::aggregate::window::epoch_days),
                    d.is_some(),
                )
            })
            .unzip();
        let validity = valid
            .contains(&false)
            .then(|| Bitmap::from_iter(valid.iter().copied()));
        Box::new(PrimitiveArray::new(self.dtype(i), days.into(), validity))
    }

    /// The columns of one batch, in schema order.
    fn columns(&mut self, batch: &Batch, ctx: &Context) -> Vec<Box<dyn Array>> {
        let map = ctx.sku_map;
        self.entries.start();
        self.suppliers.start();
        self.products.start();
        self.others.start();
        // (entry, quantity, units, supplier, product), as the row's lookup
        // found them.
        let rows: Vec<(u32, i64, i64, u32, u32)> = if self.kind == SourceKind::Shipments {
            batch
                .shipments
                .iter()
                .map(|r| (r.sku, r.quantity, r.units, r.supplier, r.product))
                .collect()
        } else {
            batch
                .stock
                .iter()
                .map(|r| (r.sku, r.quantity, r.units, r.supplier, r.product))
                .collect()
        };
        let mut sku_keys = Vec::with_capacity(rows.len());
        let mut supplier_keys = Vec::with_capacity(rows.len());
        let mut product_keys = Vec::with_capacity(rows.len());
        let mut quantities = Vec::with_capacity(rows.len());
        let mut units = Vec::with_capacity(rows.len());
        // An entry of each product, by product key, for its id.
        let mut product_entry = Vec::new();
        for (j, &(sku, quantity, u, supplier, product)) in rows.iter().enumerate() {
            if let Some(&(ahead, ..)) = rows.get(j + 16) {
                self.entries.prefetch(ahead);
            }
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
        let supplier_id = self
            .suppliers
            .column(supplier_keys, |_, s| map.suppliers[s as usize].as_str());
        let supplier_sku = self
            .entries
            .column(sku_keys, |_, s| map.entry(s).supplier_sku.as_str());
        let product_id = self.products.column(product_keys, |k, _| {
            map.entry(product_entry[k]).product_id.as_str()
        });
        if self.kind == SourceKind::Shipments {
            let r = &batch.shipments;
            let ids = Utf8ViewArray::from_slice_values(
                r.iter().map(|r| batch.shipment_id(r)).collect::<Vec<_>>(),
            );
            let status_keys: Vec<u32> =
                r.iter().map(|r| self.others.key(r.status as u32)).collect();
            let status = self
                .others
                .column(status_keys, |_, s| Status::ALL[s as usize].as_str());
            vec![
                self.plain(0, r.iter().map(|r| r.line).collect()),
                ids.boxed(),
                supplier_id,
                supplier_sku,
                self.plain(4, quantities),
                status,
                product_id,
                self.plain(7, units),
                self.dates(8, r.iter().map(|r| r.etd)),
                self.dates(9, r.iter().map(|r| r.eta)),
                self.plain(10, r.iter().map(|r| r.updated_at).collect()),
            ]
        } else {
            let r = &batch.stock;
            let warehouse_keys: Vec<u32> = r.iter().map(|r| self.others.key(r.warehouse)).collect();
            let names = ctx.names.all_of(&self.others.used);
            let warehouse = self.others.column(warehouse_keys, |k, _| &names[k]);
            vec![
                self.plain(0, r.iter().map(|r| r.line).collect()),
                supplier_id,
                supplier_sku,
                warehouse,
                self.plain(4, quantities),
                product_id,
                self.plain(6, units),
                self.plain(7, r.iter().map(|r| r.as_of).collect()),
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
        let mut pages = Vec::new();
        for (array, type_) in columns.into_iter().zip(self.fields.iter().cloned()) {
            let encoding = match array.dtype() {
                ArrowDataType::Dictionary(..) => Encoding::RleDictionary,
                ArrowDataType::Utf8View => Encoding::Plain,
                // Lines and timestamps climb or cluster: their deltas
                // pack into a few bits (and leave LZ4 little to do).
                _ => Encoding::DeltaBinaryPacked,
            };
            pages.extend(
                array_to_columns(array, type_, OPTIONS, &[encoding]).map_err(|e| self.err(e))?,
            );
        }
        let group = DynIter::new(pages.into_iter().map(|column| {
            let column = DynIter::new(
                column
                    .into_iter()
                    .map(|p| p.map_err(|e| ParquetError::OutOfSpec(e.to_string()))),
            );
            let compressed = Compressor::new(column, OPTIONS.compression, vec![])
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()));
            Ok(DynStreamingIterator::new(compressed))
        }));
        let rows = batch.len() as u64;
        let result = self
            .writer
            .as_mut()
            .expect("opened above")
            .write(rows, group);
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
