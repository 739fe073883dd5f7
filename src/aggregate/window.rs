//! Where each latest shipment lands relative to the delivery window.
//!
//! The ETA's *date as written* is compared with the window's calendar days,
//! both ends inclusive. Cancelled shipments land nowhere. An arrived
//! shipment without an ETA lands nowhere either (we cannot say when it
//! arrived); any other shipment without an ETA is late: nobody has
//! promised it inside the window.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Status, epoch_days};
use crate::pipeline::Campaign;
use crate::rules::{LatestShipment, Resolved};
use crate::stage::{Catalog, SkuMap};

pub const EARLY: &str = "early";
pub const WINDOW: &str = "in_window";
pub const LATE: &str = "late";
pub const NO_ETA: &str = "no_eta";
pub const NO_ETA_ARRIVED: &str = "arrived_no_eta";
pub const CANCELLED: &str = "cancelled";

/// The bucket of one shipment (also used for the Shipments sheet).
pub fn bucket(status: Status, eta: Option<chrono::NaiveDate>, campaign: &Campaign) -> &'static str {
    match (status, eta) {
        (Status::Cancelled, _) => CANCELLED,
        (Status::Arrived, None) => NO_ETA_ARRIVED,
        (_, None) => NO_ETA,
        (_, Some(d)) if d < campaign.opens => EARLY,
        (_, Some(d)) if d > campaign.closes => LATE,
        _ => WINDOW,
    }
}

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
    let updated: Vec<String> = rows
        .iter()
        .map(|s| {
            chrono::DateTime::from_timestamp_micros(s.updated_at)
                .map(|d| d.with_timezone(&tz).to_rfc3339())
                .unwrap_or_default()
        })
        .collect();
    let buckets: Vec<&str> = rows
        .iter()
        .map(|s| bucket(s.status, s.eta, campaign))
        .collect();
    let counts: Vec<bool> = buckets.iter().map(|b| *b == WINDOW).collect();
    df.with_column(Column::new("updated_at".into(), updated))
        .map_err(err)?;
    df.with_column(Column::new("bucket".into(), buckets))
        .map_err(err)?;
    df.with_column(Column::new("counts_in_window".into(), counts))
        .map_err(err)?;
    Ok(df)
}

/// Per (product, supplier) with a non-cancelled latest shipment: the units
/// in the window, before it and after it (no ETA counts as after). Sorted.
pub fn shipment_sums(
    sku_map: &SkuMap,
    resolved: &Resolved,
    campaign: &Campaign,
) -> Vec<((u32, u32), [i64; 3])> {
    // The shipments are in (product, supplier) order: one pass, a row per
    // run of equal keys.
    let mut sums: Vec<((u32, u32), [i64; 3])> = Vec::new();
    for s in &resolved.shipments {
        let b = bucket(s.status, s.eta, campaign);
        if b == CANCELLED {
            // Cancelled shipments deliver nothing and do not make a supplier count.
            continue;
        }
        let key = (s.product, s.supplier(sku_map));
        if sums.last().is_none_or(|(k, _)| *k != key) {
            debug_assert!(sums.last().is_none_or(|(k, _)| *k < key));
            sums.push((key, [0; 3]));
        }
        let e = &mut sums.last_mut().expect("pushed above").1;
        match b {
            WINDOW => e[0] += s.units(sku_map),
            EARLY => e[1] += s.units(sku_map),
            LATE | NO_ETA => e[2] += s.units(sku_map),
            _ => {}
        }
    }
    sums
}
