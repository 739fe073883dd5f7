//! Informational columns beside the SPEC's readiness columns:
//! in-transit, customs-hold and no-ETA units, ETAs, the oldest stock, the
//! stale feeds a product's figures come from.
//!
//! These explain a status; they never change it. Each is documented in the
//! README and the workbook's About sheet.

use chrono::NaiveDate;
use polars::prelude::*;

use super::bucket::Bucket;
use super::shipments::date_column;
use crate::error::{Error, Result};
use crate::model::epoch_days;
use crate::pipeline::Campaign;
use crate::rules::Resolved;
use crate::stage::{Catalog, SkuMap, Status};

#[derive(Default)]
struct Extra {
    in_transit: i64,
    customs_hold: i64,
    no_eta: i64,
    earliest_eta: Option<NaiveDate>,
    latest_eta: Option<NaiveDate>,
    /// (eta, units) of in-window shipments.
    in_window: Vec<(NaiveDate, i64)>,
    oldest_as_of: Option<i64>,
}

/// Per-product informational columns, keyed by `product_id`.
pub fn extras(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    exceptions_per_product: &[u64],
    campaign: &Campaign,
) -> Result<DataFrame> {
    let mut by: Vec<Extra> = Vec::new();
    by.resize_with(catalog.products.len(), Extra::default);
    for s in &resolved.stock {
        let e = &mut by[s.product as usize];
        let t = s.oldest_as_of;
        e.oldest_as_of = Some(e.oldest_as_of.map_or(t, |o| o.min(t)));
    }
    for s in resolved
        .shipments
        .iter()
        .filter(|s| s.status != Status::Cancelled)
    {
        let e = &mut by[s.product as usize];
        match s.status {
            Status::Departed | Status::InTransit => e.in_transit += s.units(sku_map),
            Status::CustomsHold => e.customs_hold += s.units(sku_map),
            _ => {}
        }
        match s.eta {
            None => e.no_eta += s.units(sku_map),
            Some(d) => {
                e.earliest_eta = Some(e.earliest_eta.map_or(d, |x| x.min(d)));
                e.latest_eta = Some(e.latest_eta.map_or(d, |x| x.max(d)));
                if Bucket::of(s.status, Some(d), campaign) == Bucket::InWindow {
                    e.in_window.push((d, s.units(sku_map)));
                }
            }
        }
    }
    let n = catalog.products.len();
    let (mut ids, mut transit, mut hold, mut no_eta) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut first, mut last, mut reached, mut oldest, mut exc) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let tz = campaign.timezone;
    for (i, p) in catalog.products.iter().enumerate() {
        let mut e = std::mem::take(&mut by[i]);
        ids.push(p.id.as_str());
        transit.push(e.in_transit);
        hold.push(e.customs_hold);
        no_eta.push(e.no_eta);
        first.push(e.earliest_eta.map(epoch_days));
        last.push(e.latest_eta.map(epoch_days));
        // The first ETA at which cumulative in-window units reach the minimum.
        e.in_window.sort();
        let mut total = 0i64;
        let day = e.in_window.iter().find_map(|(d, u)| {
            total += u;
            (total >= campaign.minimum_units).then_some(*d)
        });
        reached.push(day.map(epoch_days));
        oldest.push(e.oldest_as_of.and_then(|t| {
            chrono::DateTime::from_timestamp_micros(t).map(|d| d.with_timezone(&tz).to_rfc3339())
        }));
        exc.push(exceptions_per_product.get(i).map_or(0, |&n| n as i64));
    }
    let mut df = df! {
        "product_id" => ids,
        "in_transit_units" => transit,
        "customs_hold_units" => hold,
        "no_eta_units" => no_eta,
        "oldest_stock_as_of" => oldest,
        "exceptions" => exc,
    }
    .map_err(|e| Error::polars("building informational columns")(e))?;
    for (name, v) in [
        ("earliest_eta", first),
        ("latest_eta", last),
        ("minimum_reached_on", reached),
    ] {
        df.with_column(date_column(name, v))
            .map_err(|e| Error::polars("building informational columns")(e))?;
    }
    Ok(df)
}

/// `stale_feeds`: per product, the feeds whose fetch failed and whose last
/// good copy was used, among those it has rows from (`; `-joined; null
/// when none). A stock feed touches its supplier's products (a
/// multi-supplier feed, every product with stock), a shipment feed its
/// provider's, a reference table every product.
pub fn stale_feeds(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    stale: &[super::StaleFeed],
) -> Column {
    use crate::pipeline::SourceKind;
    let n = catalog.products.len();
    let mut notes: Vec<Vec<&str>> = vec![Vec::new(); n];
    for f in stale {
        let mut touched = vec![false; n];
        let owner = f.owner.as_deref();
        match f.kind {
            SourceKind::Stock => {
                for s in &resolved.stock {
                    if owner.is_none_or(|o| sku_map.suppliers[s.supplier as usize] == o) {
                        touched[s.product as usize] = true;
                    }
                }
            }
            SourceKind::Shipments => {
                for s in &resolved.shipments {
                    if owner == Some(&*resolved.names[s.provider as usize]) {
                        touched[s.product as usize] = true;
                    }
                }
            }
            SourceKind::Catalog | SourceKind::SkuMap => touched.fill(true),
        }
        for (i, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
            notes[i].push(&f.note);
        }
    }
    let values: Vec<Option<String>> = notes
        .into_iter()
        .map(|v| (!v.is_empty()).then(|| v.join("; ")))
        .collect();
    Column::new("stale_feeds".into(), values)
}
