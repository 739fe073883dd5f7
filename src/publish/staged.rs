//! Each feed's staged canonical rows as Parquet (`staged/<id>.parquet`):
//! what was accepted, before the latest-row rules, for audits and for
//! loading into other tools. Written a batch (one row group) at a time
//! while the feed is staged, so it never holds the whole feed.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::pipeline::SourceKind;
use crate::stage::{Batch, Context};

fn micros(name: &str, v: Vec<i64>) -> PolarsResult<Column> {
    Ok(Int64Chunked::new(name.into(), &v)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series()
        .into())
}

/// One batch of staged rows as a frame.
pub fn staged_frame(batch: &Batch, kind: SourceKind, ctx: &Context) -> PolarsResult<DataFrame> {
    let map = ctx.sku_map;
    let entry = |i: u32| map.entry(i);
    if kind == SourceKind::Shipments {
        let r = &batch.shipments;
        let d = |x: Option<chrono::NaiveDate>| x.map(crate::aggregate::window::epoch_days);
        let mut df = df! {
            "line" => r.iter().map(|r| r.line).collect::<Vec<_>>(),
            "shipment_id" => r.iter().map(|r| batch.shipment_id(r)).collect::<Vec<_>>(),
            "supplier_id" => r.iter().map(|r| entry(r.sku).supplier_id.as_str()).collect::<Vec<_>>(),
            "supplier_sku" => r.iter().map(|r| entry(r.sku).supplier_sku.as_str()).collect::<Vec<_>>(),
            "quantity" => r.iter().map(|r| r.quantity).collect::<Vec<_>>(),
            "status" => r.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
            "product_id" => r.iter().map(|r| entry(r.sku).product_id.as_str()).collect::<Vec<_>>(),
            "units" => r.iter().map(|r| r.quantity * entry(r.sku).pack_size).collect::<Vec<_>>(),
        }?;
        df.with_column(crate::aggregate::window::date_column(
            "etd",
            r.iter().map(|r| d(r.etd)).collect(),
        ))?;
        df.with_column(crate::aggregate::window::date_column(
            "eta",
            r.iter().map(|r| d(r.eta)).collect(),
        ))?;
        df.with_column(micros(
            "updated_at",
            r.iter().map(|r| r.updated_at).collect(),
        )?)?;
        Ok(df)
    } else {
        let r = &batch.stock;
        let warehouses: Vec<Box<str>> = {
            let mut ids: Vec<u32> = r.iter().map(|r| r.warehouse).collect();
            ids.sort_unstable();
            ids.dedup();
            let names = ctx.names.all_of(&ids);
            let mut by_id = vec![Box::<str>::default(); ids.last().map_or(0, |&i| i as usize + 1)];
            for (id, n) in ids.into_iter().zip(names) {
                by_id[id as usize] = n;
            }
            by_id
        };
        let mut df = df! {
            "line" => r.iter().map(|r| r.line).collect::<Vec<_>>(),
            "supplier_id" => r.iter().map(|r| entry(r.sku).supplier_id.as_str()).collect::<Vec<_>>(),
            "supplier_sku" => r.iter().map(|r| entry(r.sku).supplier_sku.as_str()).collect::<Vec<_>>(),
            "warehouse" => r.iter().map(|r| &*warehouses[r.warehouse as usize]).collect::<Vec<_>>(),
            "quantity" => r.iter().map(|r| r.quantity).collect::<Vec<_>>(),
            "product_id" => r.iter().map(|r| entry(r.sku).product_id.as_str()).collect::<Vec<_>>(),
            "units" => r.iter().map(|r| r.quantity * entry(r.sku).pack_size).collect::<Vec<_>>(),
        }?;
        df.with_column(micros("as_of", r.iter().map(|r| r.as_of).collect())?)?;
        Ok(df)
    }
}

/// Writes `staged/<id>.parquet` a row group per batch.
pub struct StagedWriter {
    path: PathBuf,
    kind: SourceKind,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
}

impl StagedWriter {
    pub fn new(dir: &Path, source_id: &str, kind: SourceKind) -> Self {
        StagedWriter {
            path: dir.join(format!("{source_id}.parquet")),
            kind,
            writer: None,
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> String {
        format!(
            "cannot write the staged copy `{}`: {e}",
            self.path.display()
        )
    }

    pub fn write(&mut self, batch: &Batch, ctx: &Context) -> Result<(), String> {
        let df = staged_frame(batch, self.kind, ctx).map_err(|e| self.err(e))?;
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(|e| self.err(e))?;
            // LZ4: staged copies are large and written on the hot path;
            // the published tables use zstd.
            let w = ParquetWriter::new(file)
                .with_compression(ParquetCompression::Lz4Raw)
                .set_parallel(false)
                .batched(&df.schema().clone())
                .map_err(|e| self.err(e))?;
            self.writer = Some(w);
        }
        if df.height() == 0 {
            return Ok(());
        }
        self.writer
            .as_mut()
            .expect("created above")
            .write_batch(&df)
            .map_err(|e| self.err(e))
    }

    /// Writes the footer (an empty table when no row was accepted).
    pub fn finish(mut self, ctx: &Context) -> Result<(), String> {
        if self.writer.is_none() {
            self.write(&Batch::default(), ctx)?;
        }
        let w = self.writer.take().expect("created above");
        w.finish().map(|_| ()).map_err(|e| self.err(e))
    }
}
