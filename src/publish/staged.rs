//! Each feed's staged canonical rows as Parquet (`staged/<id>.parquet`):
//! what was accepted, before the latest-row rules, for audits and for
//! loading into other tools.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stage::{Catalog, Rows, StagedFeed};

fn err(e: PolarsError) -> Error {
    Error::polars("building a staged table")(e)
}

fn micros(name: &str, v: Vec<i64>) -> Result<Column> {
    Ok(Int64Chunked::new(name.into(), &v)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series()
        .into())
}

pub fn staged_frame(feed: &StagedFeed, catalog: &Catalog) -> Result<DataFrame> {
    let s = |id: u32| feed.strings.get(id);
    let p = |i: u32| catalog.products[i as usize].id.as_str();
    let df = match &feed.rows {
        Rows::Stock(r) => {
            let mut df = df! {
                "line" => r.iter().map(|r| r.line).collect::<Vec<_>>(),
                "supplier_id" => r.iter().map(|r| s(r.supplier)).collect::<Vec<_>>(),
                "supplier_sku" => r.iter().map(|r| s(r.sku)).collect::<Vec<_>>(),
                "warehouse" => r.iter().map(|r| s(r.warehouse)).collect::<Vec<_>>(),
                "quantity" => r.iter().map(|r| r.quantity).collect::<Vec<_>>(),
                "product_id" => r.iter().map(|r| p(r.product)).collect::<Vec<_>>(),
                "units" => r.iter().map(|r| r.units).collect::<Vec<_>>(),
            }
            .map_err(err)?;
            df.with_column(micros("as_of", r.iter().map(|r| r.as_of).collect())?)
                .map_err(err)?;
            df
        }
        Rows::Shipments(r) => {
            let d = |x: Option<chrono::NaiveDate>| x.map(crate::aggregate::window::epoch_days);
            let mut df = df! {
                "line" => r.iter().map(|r| r.line).collect::<Vec<_>>(),
                "shipment_id" => r.iter().map(|r| s(r.shipment)).collect::<Vec<_>>(),
                "supplier_id" => r.iter().map(|r| s(r.supplier)).collect::<Vec<_>>(),
                "supplier_sku" => r.iter().map(|r| s(r.sku)).collect::<Vec<_>>(),
                "quantity" => r.iter().map(|r| r.quantity).collect::<Vec<_>>(),
                "status" => r.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
                "product_id" => r.iter().map(|r| p(r.product)).collect::<Vec<_>>(),
                "units" => r.iter().map(|r| r.units).collect::<Vec<_>>(),
            }
            .map_err(err)?;
            df.with_column(crate::aggregate::window::date_column(
                "etd",
                r.iter().map(|r| d(r.etd)).collect(),
            ))
            .map_err(err)?;
            df.with_column(crate::aggregate::window::date_column(
                "eta",
                r.iter().map(|r| d(r.eta)).collect(),
            ))
            .map_err(err)?;
            df.with_column(micros(
                "updated_at",
                r.iter().map(|r| r.updated_at).collect(),
            )?)
            .map_err(err)?;
            df
        }
    };
    Ok(df)
}

pub fn write_staged(dir: &Path, feed: &StagedFeed, catalog: &Catalog) -> Result<()> {
    let df = staged_frame(feed, catalog)?;
    // Snappy: staged copies are large and written on the hot path; the
    // published tables use zstd.
    super::write_parquet_with(
        dir,
        &format!("{}.parquet", feed.source_id),
        &df,
        ParquetCompression::Snappy,
    )
    .map(|_| ())
}
