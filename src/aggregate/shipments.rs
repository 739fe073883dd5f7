//! The shipments table: every latest shipment with its bucket, built a
//! range of rows at a time as it is written.

use polars::prelude::*;

use super::bucket::Bucket;
use super::local_time::LocalTime;
use crate::error::{Error, Result};
use crate::model::epoch_days;
use crate::pipeline::Campaign;
use crate::rules::{LatestShipment, Resolved};
use crate::stage::{Catalog, SkuMap};

/// A polars `Date` column from days since the epoch.
pub fn date_column(name: &str, days: Vec<Option<i32>>) -> Column {
    Int32Chunked::new(name.into(), &days)
        .into_date()
        .into_series()
        .into()
}

/// Rows of the Shipments table: every latest shipment, its bucket, and
/// whether it counts toward the window.
pub fn shipments_table(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    campaign: &Campaign,
    range: std::ops::Range<usize>,
) -> Result<DataFrame> {
    let err = |e| Error::polars("building the shipments table")(e);
    let tz = campaign.timezone;
    // Already sorted by product, supplier, provider and shipment id. The
    // table is built a range of rows at a time, as it is written.
    let rows = &resolved.shipments[range];
    let names = &resolved.names;
    let entry = |s: &LatestShipment| sku_map.entry(s.sku);
    let mut df = df! {
        "product_id" => rows.iter().map(|s| catalog.products[s.product as usize].id.as_str()).collect::<Vec<_>>(),
        "supplier_id" => rows.iter().map(|s| entry(s).supplier_id.as_str()).collect::<Vec<_>>(),
        "provider" => rows.iter().map(|s| &*names[s.provider as usize]).collect::<Vec<_>>(),
        "shipment_id" => rows.iter().map(|s| resolved.shipment_id(s)).collect::<Vec<_>>(),
        "supplier_sku" => rows.iter().map(|s| entry(s).supplier_sku.as_str()).collect::<Vec<_>>(),
        "quantity" => rows.iter().map(|s| s.quantity).collect::<Vec<_>>(),
        "units" => rows.iter().map(|s| s.units(sku_map)).collect::<Vec<_>>(),
        "status" => rows.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
    }
    .map_err(err)?;
    df.with_column(date_column(
        "etd",
        rows.iter().map(|s| s.etd.map(epoch_days)).collect(),
    ))
    .map_err(err)?;
    df.with_column(date_column(
        "eta",
        rows.iter().map(|s| s.eta.map(epoch_days)).collect(),
    ))
    .map_err(err)?;
    // Formatted by lookup into one reused buffer (a chrono-tz search and a
    // `String` per row cost about as much as the rest of the table).
    let clock = LocalTime::new(tz);
    let mut updated = StringChunkedBuilder::new("updated_at".into(), rows.len());
    let mut text = String::with_capacity(40);
    for s in rows {
        text.clear();
        clock.push_rfc3339(s.updated_at, &mut text);
        updated.append_value(&text);
    }
    let buckets: Vec<Bucket> = rows
        .iter()
        .map(|s| Bucket::of(s.status, s.eta, campaign))
        .collect();
    let counts: Vec<bool> = buckets.iter().map(|b| *b == Bucket::InWindow).collect();
    let buckets: Vec<&str> = buckets.iter().map(|b| b.as_str()).collect();
    df.with_column(updated.finish().into_column())
        .map_err(err)?;
    df.with_column(Column::new("bucket".into(), buckets))
        .map_err(err)?;
    df.with_column(Column::new("counts_in_window".into(), counts))
        .map_err(err)?;
    Ok(df)
}
