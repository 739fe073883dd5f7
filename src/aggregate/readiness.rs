//! The readiness tables: per (product, supplier) the unit sums, and per
//! catalog product the SPEC's columns: `suppliers`, the unit sums,
//! `stock_shortfall`, `window_shortfall`, `short_of_minimum`,
//! `misses_window`, `status`, then `reason` and the informational columns.

use polars::prelude::*;

use super::{Tables, informational, reason};
use crate::error::{Error, Result};
use crate::pipeline::Campaign;
use crate::rules::Resolved;
use crate::stage::{Catalog, SkuMap};

fn polars_err(context: &str) -> impl FnOnce(PolarsError) -> Error + '_ {
    move |e| Error::polars(context)(e)
}

/// Fails when the units of all counted rows together could overflow `i64`.
pub fn check_overflow(resolved: &Resolved) -> Result<()> {
    let total = resolved.total_units;
    if total > i128::from(i64::MAX) {
        return Err(Error::Internal(format!(
            "the counted units add up to {total}, beyond what a 64-bit sum holds; check the feeds for absurd quantities"
        )));
    }
    Ok(())
}

/// Counted stock and latest shipments, both already summed per product and
/// supplier, as one frame.
fn unit_rows(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    campaign: &Campaign,
) -> Result<LazyFrame> {
    let pid = |p: u32| catalog.products[p as usize].id.as_str();
    let sid = |s: u32| sku_map.suppliers[s as usize].as_str();
    let stock = df! {
        "product_id" => resolved.stock.iter().map(|s| pid(s.product)).collect::<Vec<_>>(),
        "supplier_id" => resolved.stock.iter().map(|s| sid(s.supplier)).collect::<Vec<_>>(),
        "stock_units" => resolved.stock.iter().map(|s| s.units).collect::<Vec<_>>(),
    }
    .map_err(polars_err("building stock rows"))?
    .lazy()
    .with_columns([
        lit(0i64).cast(DataType::Int64).alias("window_units"),
        lit(0i64).cast(DataType::Int64).alias("early_units"),
        lit(0i64).cast(DataType::Int64).alias("late_units"),
    ]);
    let sums = super::bucket::shipment_sums(sku_map, resolved, campaign);
    let ships = df! {
        "product_id" => sums.iter().map(|((p, _), _)| pid(*p)).collect::<Vec<_>>(),
        "supplier_id" => sums.iter().map(|((_, s), _)| sid(*s)).collect::<Vec<_>>(),
        "window_units" => sums.iter().map(|(_, u)| u[0]).collect::<Vec<_>>(),
        "early_units" => sums.iter().map(|(_, u)| u[1]).collect::<Vec<_>>(),
        "late_units" => sums.iter().map(|(_, u)| u[2]).collect::<Vec<_>>(),
    }
    .map_err(polars_err("building shipment rows"))?
    .lazy()
    .select([
        col("product_id"),
        col("supplier_id"),
        lit(0i64).cast(DataType::Int64).alias("stock_units"),
        col("window_units"),
        col("early_units"),
        col("late_units"),
    ]);
    concat([stock, ships], UnionArgs::default())
        .map_err(polars_err("combining stock and shipments"))
}

const UNIT_COLUMNS: [&str; 4] = ["stock_units", "window_units", "early_units", "late_units"];

pub fn tables(
    catalog: &Catalog,
    sku_map: &SkuMap,
    resolved: &Resolved,
    exceptions_per_product: &[u64],
    stale: &[super::StaleFeed],
    campaign: &Campaign,
) -> Result<Tables> {
    check_overflow(resolved)?;
    let rows = unit_rows(catalog, sku_map, resolved, campaign)?;
    let supplier_readiness = rows
        .group_by([col("product_id"), col("supplier_id")])
        .agg(UNIT_COLUMNS.map(|c| col(c).sum()))
        .sort(
            ["product_id", "supplier_id"],
            SortMultipleOptions::default(),
        )
        .with_columns(UNIT_COLUMNS.map(|c| col(c).cast(DataType::Int64)))
        .collect()
        .map_err(polars_err("computing supplier_readiness"))?;

    let per_product = supplier_readiness
        .clone()
        .lazy()
        .group_by([col("product_id")])
        .agg([
            // One row per supplier with a counted row for the product.
            col("supplier_id")
                .count()
                .cast(DataType::Int64)
                .alias("suppliers"),
            col("stock_units").sum(),
            col("window_units").sum(),
            col("early_units").sum(),
            col("late_units").sum(),
        ]);

    let catalog_df = df! {
        "product_id" => catalog.products.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        "product_name" => catalog.products.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        "category" => catalog.products.iter().map(|p| p.category.as_str()).collect::<Vec<_>>(),
    }
    .map_err(polars_err("building the catalog"))?;

    let extras =
        informational::extras(catalog, sku_map, resolved, exceptions_per_product, campaign)?
            .hstack(&[informational::stale_feeds(
                catalog, sku_map, resolved, stale,
            )])
            .map_err(polars_err("naming the stale feeds"))?;
    let m = campaign.minimum_units;
    let zero_if_null: Vec<Expr> = std::iter::once("suppliers")
        .chain(UNIT_COLUMNS)
        .map(|c| {
            col(c)
                .fill_null(lit(0i64).cast(DataType::Int64))
                .cast(DataType::Int64)
        })
        .collect();
    let readiness = catalog_df
        .lazy()
        // Every catalog product gets a row, supplied or not.
        .left_join(per_product, col("product_id"), col("product_id"))
        .with_columns(zero_if_null)
        .with_columns([
            shortfall(m, "stock_units").alias("stock_shortfall"),
            shortfall(m, "window_units").alias("window_shortfall"),
            col("stock_units").lt(lit(m)).alias("short_of_minimum"),
            col("window_units").lt(lit(m)).alias("misses_window"),
        ])
        .with_column(
            when(col("short_of_minimum").or(col("misses_window")))
                .then(lit("NOT_READY"))
                .otherwise(lit("READY"))
                .alias("status"),
        )
        .select([
            col("product_id"),
            col("product_name"),
            col("category"),
            col("suppliers"),
            col("stock_units"),
            col("window_units"),
            col("early_units"),
            col("late_units"),
            col("stock_shortfall"),
            col("window_shortfall"),
            col("short_of_minimum"),
            col("misses_window"),
            col("status"),
            coverage("stock_units", m).alias("stock_coverage"),
            coverage("window_units", m).alias("window_coverage"),
        ])
        .left_join(extras.lazy(), col("product_id"), col("product_id"))
        .sort(["product_id"], SortMultipleOptions::default())
        .collect()
        .map_err(polars_err("computing readiness"))?;
    let reasons = reason::reasons(&readiness, campaign, crate::pipeline::Language::En)?;
    // `reason` sits right after `status`, before the informational columns.
    let mut readiness = readiness;
    let at = readiness.get_column_index("status").map_or(0, |i| i + 1);
    readiness
        .insert_column(at, Column::new("reason".into(), reasons))
        .map_err(polars_err("adding reasons"))?;

    Ok(Tables {
        readiness,
        supplier_readiness,
    })
}

/// `units / minimum`, rounded to four decimals.
fn coverage(units: &str, m: i64) -> Expr {
    (col(units).cast(DataType::Float64) / lit(m as f64)).round(4, RoundMode::default())
}

/// `max(0, M − units)`.
fn shortfall(m: i64, units: &str) -> Expr {
    when(col(units).lt(lit(m)))
        .then(lit(m) - col(units))
        .otherwise(lit(0i64).cast(DataType::Int64))
        .cast(DataType::Int64)
}
