//! `siap inspect`: how one feed parses, without writing to the work
//! directory.
//!
//! Shows the column mapping found in the header, the first staged rows in
//! canonical form, and every row that would be rejected, with its reason.
//! It runs `siap run`'s own phases (fetch, stage, the rules, the
//! conflicting rows read back) on the reference tables and the one feed,
//! in a temporary folder, and reads what they wrote.

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fetch::{self, Origin};
use crate::pipeline::{self, Source, SourceKind, Sources};
use crate::publish::exceptions::{Rejected as RejectedRows, exception_rows};
use crate::rules;
use crate::stage::{self, Reference};
use crate::sys::tuning::Tuning;

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
    let Some(source) = pipeline.sources.get(source_id) else {
        let known: Vec<String> = pipeline
            .sources
            .iter()
            .map(|s| format!("`{}`", s.id))
            .collect();
        return Err(Error::Usage(format!(
            "the pipeline has no source `{source_id}`; it has {}",
            known.join(", ")
        )));
    };
    let date = super::run::run_date(&pipeline, date);
    let tmp = tempfile::tempdir()
        .map_err(|e| Error::Internal(format!("cannot make a temporary folder: {e}")))?;
    // The reference tables and this feed, as a run fetches them.
    let sources = pipeline.sources.only(source_id);
    let plan = sources.as_ref().map(|_| Origin::Fetch {
        previous: None,
        fallback: None,
    });
    // Dated and patterned locations, as a run of that date finds them.
    let sources = fetch::locate(&sources, &plan, date).map_err(first)?;
    let raw = fetch::fetch(&sources, plan, tmp.path(), 3)
        .collect_errors()
        .map_err(first)?
        .map(|r| r.copy);
    let reference = stage::reference(&sources, &raw).map_err(first)?;
    let mut inspection = Inspection {
        source: source.id.clone(),
        kind: source.kind.as_str().to_string(),
        location: sources
            .iter()
            .find(|s| s.id == source.id)
            .map_or_else(|| source.location.display(), |s| s.location.display()),
        format: source.dialect.format.as_str().to_string(),
        run_date: date.to_string(),
        columns: Vec::new(),
        extra_columns: Vec::new(),
        records_read: 0,
        rows_staged: 0,
        rows: Vec::new(),
        rejected: Vec::new(),
    };
    match source.kind {
        SourceKind::Catalog => {
            let c = &reference.catalog;
            inspection.records_read = c.records;
            inspection.rows_staged = c.products.len() as u64;
            inspection.extra_columns = c.extra_columns.clone();
            inspection.rows = c
                .products
                .iter()
                .take(rows)
                .map(|p| serde_json::json!({"product_id": p.id, "product_name": p.name, "category": p.category}))
                .collect();
        }
        SourceKind::SkuMap => {
            let m = &reference.sku_map;
            inspection.records_read = m.records;
            inspection.rows_staged = m.len() as u64;
            inspection.extra_columns = m.extra_columns.clone();
        }
        SourceKind::Stock | SourceKind::Shipments => {
            let settings = stage::Settings {
                run_date: date,
                timezone: pipeline.campaign.timezone,
                tuning: Tuning::default(),
                workers: 1,
            };
            feed(
                &mut inspection,
                &settings,
                &sources,
                &raw,
                &reference,
                tmp.path(),
                rows,
            )?;
        }
    }
    Ok(inspection)
}

/// A failed source: the first (inspect has one feed).
fn first(mut errors: Vec<Error>) -> Error {
    errors.remove(0)
}

/// Stages the feed, applies the rules, and reads back what they wrote.
fn feed(
    inspection: &mut Inspection,
    settings: &stage::Settings,
    sources: &Sources<Source>,
    raw: &Sources<crate::model::RawCopy>,
    reference: &Reference,
    tmp: &Path,
    rows: usize,
) -> Result<()> {
    let out = stage::Outputs::new(tmp.join("staged"), &tmp.join("scratch"));
    let staged =
        stage::feeds(&sources.feeds, &raw.feeds, reference, settings, &out).map_err(first)?;
    let sku_map = &reference.sku_map;
    let internal =
        |e: std::io::Error| Error::Internal(format!("cannot read a temporary file: {e}"));
    let resolved =
        rules::resolve(&staged.partitions, 1, sku_map, staged.names.all(), 1).map_err(internal)?;
    let f = &staged.feeds[0];
    let rejects = f.rejects.clone().expect("a staged feed's rejects");
    let texts = [f.text_path(&raw.feeds[0])];
    rules::conflicts::keep(
        &resolved.conflicts,
        &sources.feeds,
        &texts,
        &[&rejects],
        sku_map,
        1,
    )?;
    inspection.columns = f
        .column_map
        .iter()
        .map(|(c, name)| (c.to_string(), name.clone()))
        .collect();
    inspection.extra_columns = f.extra_columns.clone();
    inspection.records_read = f.records;
    inspection.rows_staged = f.accepted;
    let copy = out.staged_dir.join(format!("{}.parquet", f.source_id));
    inspection.rows = staged_rows(&copy, rows, settings.timezone)?;
    let files = [RejectedRows {
        source: f.source_id.clone(),
        staged: rejects.staged,
        conflicts: rejects.conflicts,
    }];
    let mut next = exception_rows(&files);
    while let Some(e) = next()? {
        inspection.rejected.push(Rejected {
            line: e.line,
            supplier_id: e.supplier_id,
            field: e.field,
            reason: e.reason.as_str().to_string(),
            detail: e.detail,
            raw: e.raw,
        });
    }
    Ok(())
}

/// The first `n` rows of a staged copy as JSON objects: dates as written,
/// instants in the campaign's timezone.
fn staged_rows(path: &Path, n: usize, tz: chrono_tz::Tz) -> Result<Vec<serde_json::Value>> {
    let err = |e: PolarsError| Error::polars("reading the staged copy")(e);
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Internal(format!("cannot read `{}`: {e}", path.display())))?;
    let df = ParquetReader::new(file)
        .with_slice(Some((0, n)))
        .finish()
        .map_err(err)?;
    let mut out = vec![serde_json::Map::new(); df.height()];
    for col in df.columns() {
        let s = col.as_materialized_series();
        let name = s.name().to_string();
        for (i, row) in out.iter_mut().enumerate() {
            let v = match s.get(i).map_err(err)? {
                AnyValue::Null => serde_json::Value::Null,
                AnyValue::String(t) => t.into(),
                AnyValue::Int64(v) => v.into(),
                AnyValue::UInt64(v) => v.into(),
                AnyValue::Date(d) => crate::model::date_of(d)
                    .map_or(serde_json::Value::Null, |d| d.to_string().into()),
                AnyValue::Datetime(us, _, _) => chrono::DateTime::from_timestamp_micros(us)
                    .map_or(serde_json::Value::Null, |d| {
                        d.with_timezone(&tz).to_rfc3339().into()
                    }),
                other => other.to_string().into(),
            };
            row.insert(name.clone(), v);
        }
    }
    Ok(out.into_iter().map(serde_json::Value::Object).collect())
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
