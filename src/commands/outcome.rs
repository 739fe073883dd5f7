//! What a run came to, once it is over, for whoever reads it afterwards:
//! the summary line on stdout (`--summary json`), the metrics file and the
//! webhooks all render this one value, whether the run published or
//! failed.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::diff::{self, Change};
use super::run::{RunArgs, RunReport};
use crate::error::{Error, ExitCode};
use crate::pipeline::notify::Event;
use crate::workdir::{self, manifest::Manifest};

/// A finished run, published or not.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The pipeline file's name without `.toml` (a stable label, known
    /// even when the file cannot be read).
    pub pipeline: String,
    /// Absent when the pipeline file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_date: Option<String>,
    /// `published`, `published_with_warnings` or `failed`.
    pub status: &'static str,
    pub exit_code: i32,
    pub finished_at: String,
    /// The published run's manifest (absent when nothing was published).
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
    /// Why nothing was published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each failed source's message, when sources failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_sources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// When the newest published run of this work directory finished
    /// (this run's, when it published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(skip)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Products that changed status or flags against the run before this
    /// one (published runs with an earlier run only).
    #[serde(skip)]
    pub changes: Option<Changes>,
}

/// The counts and places of a published run.
#[derive(Debug, Serialize)]
pub struct Published {
    pub ready: u64,
    pub not_ready: u64,
    pub products: u64,
    pub rejected: u64,
    pub refreshed: usize,
    pub reused: usize,
    pub run_dir: String,
    pub latest: String,
    pub manifest: String,
    /// How many products changed status or flags (absent on a first run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<usize>,
    pub timings_ms: crate::workdir::manifest::Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
}

/// The products that flipped, and the run they are compared with.
#[derive(Debug)]
pub struct Changes {
    pub previous: String,
    pub list: Vec<Change>,
}

impl Outcome {
    /// Builds the outcome of `siap run` from its result and its pipeline
    /// (None when it cannot be read); reads the work directory for the
    /// previous run and the last success.
    pub fn of(
        args: &RunArgs,
        loaded: Option<&crate::pipeline::Pipeline>,
        result: &Result<RunReport, Error>,
    ) -> Outcome {
        let pipeline_name = args
            .pipeline
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let runs = match crate::split::remote::url_of(&args.work_dir) {
            Some(url) => super::on_store::past_runs(url)
                .map(|(runs, _)| runs)
                .unwrap_or_default(),
            None => workdir::list_runs(&args.work_dir),
        };
        let last_success_at = runs
            .iter()
            .filter_map(|r| DateTime::parse_from_rfc3339(&r.manifest.finished_at).ok())
            .map(|t| t.with_timezone(&Utc))
            .max();
        let mut o = Outcome {
            pipeline: pipeline_name,
            campaign: loaded.map(|p| p.campaign.name.clone()),
            run_date: loaded.map(|p| super::run::run_date(p, args.date).to_string()),
            status: "failed",
            exit_code: 0,
            finished_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            manifest: None,
            published: None,
            error: None,
            failed_sources: Vec::new(),
            warnings: Vec::new(),
            last_success: last_success_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            last_success_at,
            changes: None,
        };
        match result {
            Ok(r) => o.published(r, &args.work_dir),
            Err(e) => o.failed(e),
        }
        o
    }

    fn published(&mut self, r: &RunReport, work: &Path) {
        let m = &r.manifest;
        self.exit_code = if m.warnings.is_empty() {
            ExitCode::Success
        } else {
            ExitCode::Warnings
        }
        .code();
        self.status = if m.warnings.is_empty() {
            "published"
        } else {
            "published_with_warnings"
        };
        self.campaign = Some(m.campaign.clone());
        self.run_date = Some(m.run_date.clone());
        self.warnings = m.warnings.clone();
        self.changes = m.run_date.parse().ok().and_then(|date| {
            diff::diff(work, None, Some(date)).ok().map(|d| Changes {
                previous: d.from,
                list: d.changes,
            })
        });
        self.published = Some(Published {
            ready: m.summary.ready,
            not_ready: m.summary.not_ready,
            products: m.summary.products,
            rejected: m.rejected(),
            refreshed: m.sources.len() - m.reused(),
            reused: m.reused(),
            run_dir: r.run_dir.display().to_string(),
            latest: r.latest.display().to_string(),
            manifest: r.run_dir.join("manifest.json").display().to_string(),
            changed: self.changes.as_ref().map(|c| c.list.len()),
            timings_ms: m.timings_ms.clone(),
            peak_memory_mib: m.peak_memory_mib,
        });
        self.manifest = Some(m.clone());
    }

    fn failed(&mut self, e: &Error) {
        self.exit_code = e.exit_code().code();
        self.error = Some(e.to_string());
        if let Error::SourcesFailed(list) = e {
            self.failed_sources = list.iter().map(|s| s.to_string()).collect();
        }
    }

    /// The events this run is, for the webhooks subscribed to them.
    pub fn events(&self) -> Vec<Event> {
        if self.published.is_none() {
            return vec![Event::Failed];
        }
        let mut out = vec![Event::Published];
        if self.changes.as_ref().is_some_and(|c| !c.list.is_empty()) {
            out.push(Event::Changed);
        }
        if !self.warnings.is_empty() {
            out.push(Event::Warned);
        }
        out
    }

    /// One line of JSON (`--summary json`).
    pub fn summary_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
