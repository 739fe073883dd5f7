//! `manifest.json`: what a run read and wrote.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub siap_version: String,
    pub campaign: String,
    pub pipeline: String,
    pub run_date: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
    /// `--supplier` ids of a partial rerun (empty: a full run).
    #[serde(default)]
    pub suppliers: Vec<String>,
    /// Warnings (gates at level `warn`) that did not stop the run.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub rules: Rules,
    pub sources: Vec<SourceRecord>,
    pub outputs: Vec<OutputRecord>,
    pub summary: Summary,
    pub timings_ms: Timings,
    /// The run's peak resident memory when the manifest was written, in
    /// MiB (absent where the system does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rules {
    pub minimum_units: i64,
    pub window_opens: String,
    pub window_closes: String,
    pub timezone: String,
}

/// Per source. The counts balance:
/// `records_read = counted + superseded + rejected + duplicates`, and
/// `accepted = counted + superseded` (the SPEC's "accepted" includes rows
/// later superseded by a newer snapshot or update).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceRecord {
    pub id: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Path, or URL with credentials and query values masked: for a
    /// dated or patterned location, the file this run took.
    pub location: String,
    /// The location as written, when dated (`{date:%d%m%Y}`) or a glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    /// The server answered 304 Not Modified; the previous copy was used.
    #[serde(default)]
    pub unchanged: bool,
    /// Validators for the next run's conditional GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// HTTP attempts (1 for local files, 0 when reused).
    #[serde(default)]
    pub attempts: u32,
    /// Pages read from an API source (kept in `raw/<id>.pages/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    pub records_read: u64,
    pub accepted: u64,
    pub counted: u64,
    pub superseded: u64,
    pub rejected: u64,
    pub duplicates: u64,
    /// Feed columns that map to nothing canonical (ignored).
    pub extra_columns: Vec<String>,
    /// A feed with a header and no records.
    pub header_only: bool,
    /// Fetched in this run (false: reused from an earlier run).
    #[serde(default = "yes")]
    pub refreshed: bool,
    /// `<date>/<run-id>` of the run whose raw copy was reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// How many days older than this run's date the reused copy is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_age_days: Option<i64>,
    /// The fetch failed (why), and the last good copy `reused_from` was
    /// used (`on_fetch_failure = "reuse"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_failed: Option<String>,
    /// Hours between the reused copy's run and this run's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_age_hours: Option<f64>,
    /// The raw copy inside the run folder.
    #[serde(default)]
    pub raw_copy: String,
    /// Newest `as_of` / `updated_at` among accepted rows (feeds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::model::GateResult>,
    /// Wall time staging this source (feeds only), in milliseconds.
    #[serde(default)]
    pub stage_ms: u64,
}

fn yes() -> bool {
    true
}

impl Manifest {
    /// Sources reused from an earlier run (a `--supplier` rerun).
    pub fn reused(&self) -> usize {
        self.sources.iter().filter(|s| !s.refreshed).count()
    }

    /// Rows sent to the exceptions table, over every source.
    pub fn rejected(&self) -> u64 {
        self.sources.iter().map(|s| s.rejected).sum()
    }
}

impl SourceRecord {
    pub fn balances(&self) -> bool {
        self.records_read == self.counted + self.superseded + self.rejected + self.duplicates
            && self.accepted == self.counted + self.superseded
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub products: u64,
    pub ready: u64,
    pub not_ready: u64,
    pub exceptions: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub fetch: u64,
    pub stage: u64,
    pub aggregate: u64,
    pub publish: u64,
}

impl Timings {
    pub fn total(&self) -> u64 {
        self.fetch + self.stage + self.aggregate + self.publish
    }
}

/// One written file, as the manifest lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct OutputRecord {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}
