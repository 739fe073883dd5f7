//! The staged copy written the plain way, through a polars frame and
//! polars' own Parquet writer: the reference the hand-encoded pages are
//! checked against (same rows and types), and measured against
//! (docs/performance.md, "The staged copy's pages").

use std::path::Path;

use polars::prelude::*;

use crate::pipeline::SourceKind;
use crate::stage::{Batch, Context};

/// One batch's rows as the staged copy's frame (its columns, in order).
pub fn frame(batch: &Batch, ctx: &Context, kind: SourceKind) -> PolarsResult<DataFrame> {
    let map = ctx.sku_map;
    let days = |d: &Option<chrono::NaiveDate>| d.map(crate::model::epoch_days);
    let mut df = if kind == SourceKind::Shipments {
        let r = &batch.shipments;
        df! {
            "line" => r.iter().map(|s| s.line).collect::<Vec<_>>(),
            "shipment_id" => r.iter().map(|s| batch.shipment_id(s)).collect::<Vec<_>>(),
            "supplier_id" => r.iter().map(|s| map.suppliers[s.supplier as usize].as_str()).collect::<Vec<_>>(),
            "supplier_sku" => r.iter().map(|s| map.entry(s.sku).supplier_sku.as_str()).collect::<Vec<_>>(),
            "quantity" => r.iter().map(|s| s.quantity).collect::<Vec<_>>(),
            "status" => r.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
            "product_id" => r.iter().map(|s| map.entry(s.sku).product_id.as_str()).collect::<Vec<_>>(),
            "units" => r.iter().map(|s| s.units).collect::<Vec<_>>(),
            "etd" => r.iter().map(|s| days(&s.etd)).collect::<Vec<_>>(),
            "eta" => r.iter().map(|s| days(&s.eta)).collect::<Vec<_>>(),
            "updated_at" => r.iter().map(|s| s.updated_at).collect::<Vec<_>>(),
        }?
    } else {
        let names = ctx.names.all();
        let r = &batch.stock;
        df! {
            "line" => r.iter().map(|s| s.line).collect::<Vec<_>>(),
            "supplier_id" => r.iter().map(|s| map.suppliers[s.supplier as usize].as_str()).collect::<Vec<_>>(),
            "supplier_sku" => r.iter().map(|s| map.entry(s.sku).supplier_sku.as_str()).collect::<Vec<_>>(),
            "warehouse" => r.iter().map(|s| &*names[s.warehouse as usize]).collect::<Vec<_>>(),
            "quantity" => r.iter().map(|s| s.quantity).collect::<Vec<_>>(),
            "product_id" => r.iter().map(|s| map.entry(s.sku).product_id.as_str()).collect::<Vec<_>>(),
            "units" => r.iter().map(|s| s.units).collect::<Vec<_>>(),
            "as_of" => r.iter().map(|s| s.as_of).collect::<Vec<_>>(),
        }?
    };
    for c in ["etd", "eta"] {
        if let Ok(col) = df.column(c) {
            let col = col.cast(&DataType::Date)?;
            df.with_column(col)?;
        }
    }
    let time = if kind == SourceKind::Shipments {
        "updated_at"
    } else {
        "as_of"
    };
    let micros = df.column(time)?.i64()?.clone();
    let instants = micros.into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    df.with_column(Column::from(instants.into_series().with_name(time.into())))?;
    Ok(df)
}

/// Writes batches as a staged copy with polars' writer (LZ4, statistics),
/// a row group per batch.
pub fn write(path: &Path, batches: &[Batch], ctx: &Context, kind: SourceKind) -> PolarsResult<()> {
    let file = std::fs::File::create(path)?;
    let empty = Batch::default();
    let first = frame(batches.first().unwrap_or(&empty), ctx, kind)?;
    let mut w = ParquetWriter::new(file)
        .with_compression(ParquetCompression::Lz4Raw)
        .batched(&first.schema().clone())?;
    for b in batches {
        w.write_batch(&frame(b, ctx, kind)?)?;
    }
    w.finish().map(|_| ())
}
