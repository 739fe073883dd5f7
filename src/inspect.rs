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
use crate::rules;
use crate::stage::{self, Context};

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
            copy_while_staging: false,
        })
        .collect();
    let fetched = fetch::fetch_all(jobs, 3);
    let mut paths = Vec::new();
    for (s, f) in wanted.iter().zip(fetched) {
        let f = f.map_err(|e| Error::source(&s.id, &s.location.display(), e))?;
        paths.push(f.path);
    }
    let read = |i: usize, s: &Source| {
        std::fs::read(&paths[i])
            .map_err(|e| Error::source(&s.id, &s.location.display(), e.to_string()))
    };
    let catalog = stage::reference::stage_catalog(&pipeline.catalog, &read(0, &pipeline.catalog)?)
        .map_err(|e| Error::source("catalog", &pipeline.catalog.location.display(), e))?;
    let mut sku_map =
        stage::reference::stage_sku_map(&pipeline.sku_map, &read(1, &pipeline.sku_map)?)
            .map_err(|e| Error::source("sku_map", &pipeline.sku_map.location.display(), e))?;
    sku_map.link(&catalog);
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
            let names = stage::Names::default();
            let ctx = Context {
                run_date: date,
                timezone: tz,
                catalog: &catalog,
                sku_map: &sku_map,
                names: &names,
            };
            let spill = stage::partition::Partitions::create(&tmp.path().join("spill"), 1)
                .map_err(|e| Error::Internal(format!("cannot make a temporary folder: {e}")))?;
            let provider = source.owner.as_deref().map_or(0, |o| names.id(o));
            let mut sink = Preview {
                ctx: &ctx,
                ts: &ts,
                limit: rows,
                rows: Vec::new(),
                rejected: Vec::new(),
                spill: spill.writer(0, provider),
            };
            let feed =
                stage::stage_file(source, stage::read::Input::Copy(&paths[2]), &ctx, &mut sink)
                    .map_err(fail)?;
            inspection.rows = std::mem::take(&mut sink.rows);
            sink.spill
                .finish(source.kind == SourceKind::Shipments)
                .map_err(|e| Error::Internal(format!("cannot write a temporary file: {e}")))?;
            let resolved = rules::resolve(&spill, 1, &sku_map, names.all(), 1)
                .map_err(|e| Error::Internal(format!("cannot read a temporary file: {e}")))?;
            let conflicts = std::sync::Mutex::new(Vec::new());
            crate::rules::conflicts::conflict_exceptions(
                &resolved.conflicts,
                &[source],
                std::slice::from_ref(&paths[2]),
                &sku_map,
                1,
                |_, list| {
                    conflicts.lock().expect("no poisoned list").extend(list);
                    Ok::<(), ()>(())
                },
            )
            .expect("keeping the rows in memory cannot fail");
            let conflicts = conflicts.into_inner().expect("no poisoned list");
            inspection.columns = feed
                .column_map
                .iter()
                .map(|(c, f)| (c.to_string(), f.clone()))
                .collect();
            inspection.extra_columns = feed.extra_columns.clone();
            inspection.records_read = feed.records;
            inspection.rows_staged = feed.accepted;
            let mut rejected: Vec<stage::Exception> = std::mem::take(&mut sink.rejected)
                .into_iter()
                .chain(conflicts)
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

/// Keeps the first staged rows in canonical form, and sends every row to
/// the rules' partition so conflicting duplicates are found as in a run.
struct Preview<'a, F: Fn(i64) -> String> {
    ctx: &'a Context<'a>,
    ts: &'a F,
    limit: usize,
    rows: Vec<serde_json::Value>,
    rejected: Vec<stage::Exception>,
    spill: stage::partition::PartitionWriter<'a>,
}

impl<F: Fn(i64) -> String> stage::Sink for Preview<'_, F> {
    fn batch(&mut self, batch: &stage::Batch) -> std::result::Result<(), String> {
        let map = self.ctx.sku_map;
        let take = self.limit.saturating_sub(self.rows.len());
        let names = if take > 0 && !batch.stock.is_empty() {
            self.ctx.names.all()
        } else {
            Vec::new()
        };
        for r in batch.stock.iter().take(take) {
            let e = map.entry(r.sku);
            self.rows.push(serde_json::json!({
                "line": r.line,
                "supplier_id": e.supplier_id,
                "supplier_sku": e.supplier_sku,
                "warehouse": &*names[r.warehouse as usize],
                "quantity": r.quantity,
                "as_of": (self.ts)(r.as_of),
                "product_id": e.product_id,
                "units": r.quantity * e.pack_size,
            }));
        }
        for r in batch.shipments.iter().take(take) {
            let e = map.entry(r.sku);
            self.rows.push(serde_json::json!({
                "line": r.line,
                "shipment_id": batch.shipment_id(r),
                "supplier_id": e.supplier_id,
                "supplier_sku": e.supplier_sku,
                "quantity": r.quantity,
                "status": r.status.as_str(),
                "etd": r.etd.map(|d| d.to_string()),
                "eta": r.eta.map(|d| d.to_string()),
                "updated_at": (self.ts)(r.updated_at),
                "product_id": e.product_id,
                "units": r.quantity * e.pack_size,
            }));
        }
        self.spill
            .add(batch)
            .map_err(|e| format!("cannot write a temporary file: {e}"))
    }

    fn exception(&mut self, e: stage::Exception) -> std::result::Result<(), String> {
        self.rejected.push(e);
        Ok(())
    }
}
