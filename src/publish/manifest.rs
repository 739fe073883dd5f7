//! `manifest.json` put together from what each phase did: per source, what
//! fetch transferred, what staging read and counted, what the rules
//! decided and what the gates found; per output, what was written.

use chrono_tz::Tz;

use crate::aggregate::Tables;
use crate::error::{Error, Result};
use crate::fetch::Raw;
use crate::model::GateResult;
use crate::pipeline::{Pipeline, Source, Sources};
use crate::rules::RuleCounts;
use crate::stage::read::FileRead;
use crate::stage::{Reference, StagedFeed};
use crate::workdir::manifest::{Manifest, Rules, SourceRecord, Summary, Timings};

/// A source's record before its counts: where it came from and what was
/// read of it.
fn base(source: &Source, raw: &Raw, file: &FileRead) -> SourceRecord {
    SourceRecord {
        id: source.id.clone(),
        kind: source.kind.as_str().to_string(),
        owner: source.owner.clone(),
        location: source.location.display(),
        pattern: source.pattern.as_ref().map(|p| p.shown.clone()),
        format: format!(
            "{}{}",
            source.dialect.format.as_str(),
            if source.dialect.gzip { "+gzip" } else { "" }
        ),
        bytes: file.bytes,
        sha256: file.sha256.clone(),
        unchanged: raw.unchanged,
        etag: raw.etag.clone(),
        last_modified: raw.last_modified.clone(),
        attempts: raw.attempts,
        pages: raw.pages,
        records_read: 0,
        accepted: 0,
        counted: 0,
        superseded: 0,
        rejected: 0,
        duplicates: 0,
        extra_columns: Vec::new(),
        header_only: false,
        refreshed: raw.reused.is_none(),
        reused_from: raw.reused.as_ref().map(|(run, _)| run.clone()),
        reused_age_days: raw.reused.as_ref().map(|(_, age)| *age),
        fetch_failed: raw.stale.as_ref().map(|s| s.error.clone()),
        copy_age_hours: raw
            .stale
            .as_ref()
            .map(|s| (s.age_hours * 10.0).round() / 10.0),
        raw_copy: format!("raw/{}", source.id),
        stage_ms: 0,
        newest_timestamp: None,
        gates: Vec::new(),
    }
}

/// A reference table's record: every distinct row counts.
fn reference(base: SourceRecord, records: u64, duplicates: u64, extra: &[String]) -> SourceRecord {
    SourceRecord {
        records_read: records,
        accepted: records - duplicates,
        counted: records - duplicates,
        duplicates,
        extra_columns: extra.to_vec(),
        header_only: records == 0,
        ..base
    }
}

/// What each phase did with one feed.
pub struct FeedFacts<'a> {
    pub raw: &'a Raw,
    pub staged: &'a StagedFeed,
    pub counts: RuleCounts,
    pub gates: Vec<GateResult>,
}

/// Every source's record, in the pipeline's order (catalog, SKU map,
/// feeds). The counts balance: records read = counted + superseded +
/// rejected + duplicates.
pub fn sources(
    pipeline: &Pipeline,
    raw: &Sources<Raw>,
    reference_tables: &Reference,
    feeds: Vec<FeedFacts>,
) -> Vec<SourceRecord> {
    let r = reference_tables;
    let s = &pipeline.sources;
    let tz = pipeline.campaign.timezone;
    let mut out = vec![
        reference(
            base(&s.catalog, &raw.catalog, &r.catalog_file),
            r.catalog.records,
            r.catalog.duplicates,
            &r.catalog.extra_columns,
        ),
        reference(
            base(&s.sku_map, &raw.sku_map, &r.sku_map_file),
            r.sku_map.records,
            r.sku_map.duplicates,
            &r.sku_map.extra_columns,
        ),
    ];
    for (source, f) in s.feeds.iter().zip(feeds) {
        let c = f.counts;
        let file = f.staged.file.clone().unwrap_or(FileRead {
            bytes: 0,
            sha256: String::new(),
            source: None,
        });
        out.push(SourceRecord {
            records_read: f.staged.records,
            accepted: c.counted + c.superseded,
            counted: c.counted,
            superseded: c.superseded,
            rejected: f.staged.rejected + c.conflicting,
            duplicates: c.duplicates,
            extra_columns: f.staged.extra_columns.clone(),
            header_only: f.staged.records == 0,
            stage_ms: f.staged.stage_ms,
            newest_timestamp: newest(f.staged.newest, tz),
            gates: f.gates,
            ..base(source, f.raw, &file)
        });
    }
    out
}

/// The newest timestamp of a feed's accepted rows, in the campaign's
/// timezone.
fn newest(micros: Option<i64>, tz: Tz) -> Option<String> {
    micros.and_then(|n| {
        chrono::DateTime::from_timestamp_micros(n).map(|d| d.with_timezone(&tz).to_rfc3339())
    })
}

/// READY and NOT_READY products, and the rejected rows.
pub fn summary(tables: &Tables, exceptions: u64) -> Result<Summary> {
    let status = tables
        .readiness
        .column("status")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::polars("reading statuses")(e))?;
    let ready = status.iter().filter(|s| *s == Some("READY")).count() as u64;
    let products = tables.readiness.height() as u64;
    Ok(Summary {
        products,
        ready,
        not_ready: products - ready,
        exceptions,
    })
}

/// A run's identity and settings: what the manifest says before the
/// phases' results.
pub struct Run<'a> {
    pub pipeline: &'a Pipeline,
    pub run_date: chrono::NaiveDate,
    pub run_id: &'a str,
    pub started: chrono::DateTime<chrono::Utc>,
    /// `--supplier` ids of a partial rerun.
    pub suppliers: &'a [String],
    pub warnings: Vec<String>,
}

impl Run<'_> {
    /// The manifest, finished now.
    pub fn manifest(
        self,
        sources: Vec<SourceRecord>,
        outputs: Vec<crate::workdir::manifest::OutputRecord>,
        summary: Summary,
        timings_ms: Timings,
    ) -> Manifest {
        let p = self.pipeline;
        let millis = chrono::SecondsFormat::Millis;
        Manifest {
            siap_version: env!("CARGO_PKG_VERSION").to_string(),
            campaign: p.campaign.name.clone(),
            pipeline: p.file.display().to_string(),
            run_date: self.run_date.to_string(),
            run_id: self.run_id.to_string(),
            started_at: self.started.to_rfc3339_opts(millis, true),
            finished_at: chrono::Utc::now().to_rfc3339_opts(millis, true),
            status: if self.warnings.is_empty() {
                "success"
            } else {
                "success_with_warnings"
            }
            .into(),
            suppliers: self.suppliers.to_vec(),
            warnings: self.warnings,
            rules: Rules {
                minimum_units: p.campaign.minimum_units,
                window_opens: p.campaign.opens.to_string(),
                window_closes: p.campaign.closes.to_string(),
                timezone: p.campaign.timezone.name().to_string(),
            },
            sources,
            outputs,
            summary,
            timings_ms,
            peak_memory_mib: crate::sys::memory::peak_mib(),
        }
    }
}
