//! Aggregate: the latest rows → the readiness tables. Polars lazy frames
//! only; no I/O here.
//!
//! - [`bucket`]: where each latest shipment lands against the window, and
//!   the unit sums per (product, supplier);
//! - [`readiness`]: the SPEC's columns (sums, shortfalls, flags, status)
//!   per product and per (product, supplier);
//! - [`informational`]: columns that explain a status without changing it;
//! - [`reason`]: the `reason` column, in plain words;
//! - [`shipments`]: the shipments table, a range of rows at a time
//!   (its `updated_at` text written by `local_time`, by lookup);
//!
//! Every unit column is a sum of `quantity × pack_size` over the latest
//! rows. Sums are `Int64`; [`readiness::check_overflow`] proves before
//! summing that no sum can exceed it, so nothing ever wraps.

pub mod bucket;
pub mod informational;
pub mod local_time;
pub mod readiness;
pub mod reason;
pub mod shipments;

use polars::prelude::*;

use crate::error::Result;
use crate::pipeline::Campaign;
use crate::rules::Resolved;
use crate::stage::{Catalog, SkuMap};

/// The tables a run publishes whole. The shipments table (one row per
/// latest shipment) is built by [`shipments::shipments_table`] a batch of
/// rows at a time, as it is written.
pub struct Tables {
    pub readiness: DataFrame,
    pub supplier_readiness: DataFrame,
}

/// A feed whose fetch failed and whose last good copy was used: named in
/// the `stale_feeds` column of the products it touches.
#[derive(Debug, Clone)]
pub struct StaleFeed {
    pub source_id: String,
    pub kind: crate::pipeline::SourceKind,
    /// A stock feed's supplier (none: a multi-supplier feed) or a
    /// shipment feed's provider.
    pub owner: Option<String>,
    /// As the readiness table shows it: `cepat-express: copy of
    /// 2026-11-26/…, 26 h old`.
    pub note: String,
    /// As the run's warnings say it.
    pub warning: String,
}

/// The readiness tables of a run.
pub fn aggregate(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    exceptions_per_product: &[u64],
    stale: &[StaleFeed],
    campaign: &Campaign,
) -> Result<Tables> {
    readiness::tables(
        catalog,
        sku_map,
        resolved,
        exceptions_per_product,
        stale,
        campaign,
    )
}

/// Rejected rows per catalog product: those staging rejected whose
/// supplier and SKU still name the product, and the conflicting rows the
/// rules rejected.
pub fn exceptions_per_product(
    products: usize,
    staged: &[crate::stage::StagedFeed],
    resolved: &Resolved,
    sku_map: &SkuMap,
) -> Vec<u64> {
    let mut per_product = vec![0u64; products];
    for f in staged {
        for (&p, &n) in &f.product_exceptions {
            per_product[p as usize] += n;
        }
    }
    for c in &resolved.conflicts {
        if let Some(p) = sku_map.hot(c.sku).product() {
            per_product[p as usize] += 1;
        }
    }
    per_product
}
