//! `manifest.json`: what a run read and wrote.

use serde::{Deserialize, Serialize};

use super::OutputRecord;

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
    pub rules: Rules,
    pub sources: Vec<SourceRecord>,
    pub outputs: Vec<OutputRecord>,
    pub summary: Summary,
    pub timings_ms: Timings,
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRecord {
    pub id: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Path, or URL with credentials and query values masked.
    pub location: String,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
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
