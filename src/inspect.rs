//! `siap inspect`: how one feed parses, without writing anything.
//!
//! Shows the column mapping found in the header, the first staged rows in
//! canonical form, and every row that would be rejected, with its reason.
//! It runs the same fetch and stage code as `siap run`.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fetch;
use crate::pipeline::{self, Source, SourceKind};
use crate::stage::{self, Context, Rows, latest};

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub source: String,
    pub kind: String,
    pub location: String,
    pub format: String,
    pub run_date: String,
    /// canonical column → the feed's header name (null when absent).
    pub columns: Vec<(String, Option<String>)>,
    pub extra_columns: Vec<String>,
    pub records_read: u64,
    pub rows_staged: u64,
    /// The first `--rows` staged rows, canonical.
    pub rows: Vec<serde_json::Value>,
    /// Every rejected row.
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub line: u64,
    pub supplier_id: String,
    pub field: String,
    pub reason: String,
    pub detail: String,
    pub raw: String,
}

pub fn inspect(
    path: &Path,
    source_id: &str,
    rows: usize,
    date: Option<chrono::NaiveDate>,
) -> Result<Inspection> {
    let pipeline = pipeline::load(path)?;
    let Some(source) = pipeline.source(source_id) else {
        let known: Vec<String> = pipeline
            .all_sources()
            .map(|s| format!("`{}`", s.id))
            .collect();
        return Err(Error::Usage(format!(
            "the pipeline has no source `{source_id}`; it has {}",
            known.join(", ")
        )));
    };
    let date = crate::run::run_date(&pipeline, date);
    let wanted: Vec<&Source> = vec![&pipeline.catalog, &pipeline.sku_map, source];
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Internal(format!("cannot make a temporary folder: {e}")))?;
    let jobs = wanted
        .iter()
        .map(|s| fetch::Job {
            source: s,
            dest: tmp.path().join(&s.id),
            previous: None,
        })
        .collect();
    let fetched = fetch::fetch_all(jobs, 3);
    let mut bytes = Vec::new();
    for (s, f) in wanted.iter().zip(fetched) {
        let f = f.map_err(|e| Error::source(&s.id, &s.location.display(), e))?;
        bytes.push(
            std::fs::read(&f.path)
                .map_err(|e| Error::source(&s.id, &s.location.display(), e.to_string()))?,
        );
    }
    let catalog = stage::reference::stage_catalog(&pipeline.catalog, &bytes[0])
        .map_err(|e| Error::source("catalog", &pipeline.catalog.location.display(), e))?;
    let sku_map = stage::reference::stage_sku_map(&pipeline.sku_map, &bytes[1])
        .map_err(|e| Error::source("sku_map", &pipeline.sku_map.location.display(), e))?;
    let fail = |e: String| Error::source(&source.id, &source.location.display(), e);

    let mut inspection = Inspection {
        source: source.id.clone(),
        kind: source.kind.as_str().to_string(),
        location: source.location.display(),
        format: source.dialect.format.as_str().to_string(),
        run_date: date.to_string(),
        columns: Vec::new(),
        extra_columns: Vec::new(),
        records_read: 0,
        rows_staged: 0,
        rows: Vec::new(),
        rejected: Vec::new(),
    };
    let tz = pipeline.campaign.timezone;
    let ts = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .map(|d| d.with_timezone(&tz).to_rfc3339())
            .unwrap_or_default()
    };
    match source.kind {
        SourceKind::Catalog => {
            inspection.records_read = catalog.records;
            inspection.rows_staged = catalog.products.len() as u64;
            inspection.extra_columns = catalog.extra_columns.clone();
            inspection.rows = catalog
                .products
                .iter()
                .take(rows)
                .map(|p| serde_json::json!({"product_id": p.id, "product_name": p.name, "category": p.category}))
                .collect();
        }
        SourceKind::SkuMap => {
            inspection.records_read = sku_map.records;
            inspection.rows_staged = sku_map.len() as u64;
            inspection.extra_columns = sku_map.extra_columns.clone();
        }
        SourceKind::Stock | SourceKind::Shipments => {
            let ctx = Context {
                run_date: date,
                timezone: tz,
                catalog: &catalog,
                sku_map: &sku_map,
            };
            let feed = stage::stage_feed(source, &bytes[2], &ctx).map_err(fail)?;
            let mut resolved = latest::resolve(
                std::slice::from_ref(&feed),
                std::slice::from_ref(&source.owner),
                &catalog,
            );
            stage::fill_raw(
                &mut resolved.exceptions,
                std::slice::from_ref(source),
                |_| Some(&bytes[2]),
            );
            inspection.columns = feed
                .column_map
                .iter()
                .map(|(c, f)| (c.to_string(), f.clone()))
                .collect();
            inspection.extra_columns = feed.extra_columns.clone();
            inspection.records_read = feed.records;
            let s = |id: u32| feed.strings.get(id).to_string();
            let product = |p: u32| catalog.products[p as usize].id.clone();
            match &feed.rows {
                Rows::Stock(r) => {
                    inspection.rows_staged = r.len() as u64;
                    inspection.rows = r
                        .iter()
                        .take(rows)
                        .map(|r| {
                            serde_json::json!({
                                "line": r.line,
                                "supplier_id": s(r.supplier),
                                "supplier_sku": s(r.sku),
                                "warehouse": s(r.warehouse),
                                "quantity": r.quantity,
                                "as_of": ts(r.as_of),
                                "product_id": product(r.product),
                                "units": r.units,
                            })
                        })
                        .collect();
                }
                Rows::Shipments(r) => {
                    inspection.rows_staged = r.len() as u64;
                    inspection.rows = r
                        .iter()
                        .take(rows)
                        .map(|r| {
                            serde_json::json!({
                                "line": r.line,
                                "shipment_id": s(r.shipment),
                                "supplier_id": s(r.supplier),
                                "supplier_sku": s(r.sku),
                                "quantity": r.quantity,
                                "status": r.status.as_str(),
                                "etd": r.etd.map(|d| d.to_string()),
                                "eta": r.eta.map(|d| d.to_string()),
                                "updated_at": ts(r.updated_at),
                                "product_id": product(r.product),
                                "units": r.units,
                            })
                        })
                        .collect();
                }
            }
            let mut rejected: Vec<stage::Exception> = feed
                .exceptions
                .iter()
                .chain(&resolved.exceptions)
                .cloned()
                .collect();
            rejected.sort();
            inspection.rejected = rejected
                .into_iter()
                .map(|e| Rejected {
                    line: e.line,
                    supplier_id: e.supplier_id,
                    field: e.field,
                    reason: e.reason.as_str().to_string(),
                    detail: e.detail,
                    raw: e.raw,
                })
                .collect();
        }
    }
    Ok(inspection)
}

impl Inspection {
    /// A readable report for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "source `{}` ({} feed, {}) at {}\n",
            self.source, self.kind, self.format, self.location
        ));
        if !self.columns.is_empty() {
            out.push_str("columns:\n");
            for (c, f) in &self.columns {
                out.push_str(&format!(
                    "  {c:<14} <- {}\n",
                    f.as_deref()
                        .map_or("(not in the feed)".to_string(), |f| format!("`{f}`"))
                ));
            }
        }
        if !self.extra_columns.is_empty() {
            out.push_str(&format!(
                "ignored columns: {}\n",
                self.extra_columns.join(", ")
            ));
        }
        out.push_str(&format!(
            "{} record(s) read, {} staged, {} rejected\n",
            self.records_read,
            self.rows_staged,
            self.rejected.len()
        ));
        if !self.rows.is_empty() {
            out.push_str(&format!("first {} staged row(s):\n", self.rows.len()));
            for r in &self.rows {
                out.push_str(&format!("  {r}\n"));
            }
        }
        if !self.rejected.is_empty() {
            out.push_str("rejected:\n");
            for r in &self.rejected {
                out.push_str(&format!(
                    "  line {}: {}{}: {}\n    {}\n",
                    r.line,
                    r.reason,
                    if r.field.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", r.field)
                    },
                    r.detail,
                    r.raw
                ));
            }
        }
        out
    }
}
