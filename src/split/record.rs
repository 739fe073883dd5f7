//! What the tasks of a flight tell each other, as JSON: the plan, and each
//! stage task's facts (what `siap run` keeps in memory between phases).
//! Locations are kept as shown (credentials and query values masked), so
//! no secret reaches the flight's files.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::fetch::{Raw, Stale};
use crate::model::RawCopy;
use crate::pipeline::{Location, Source, SourceKind};
use crate::stage::StagedFeed;
use crate::stage::read::FileRead;

/// `plan.json`: what every task of the flight works from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub rules_version: u32,
    pub run_id: String,
    pub run_date: NaiveDate,
    /// When the plan was made (RFC 3339): the run's start.
    pub started_at: String,
    pub campaign: String,
    /// The pipeline file's sha256: every task must be given the same file.
    pub pipeline_sha256: String,
    pub catalog: SourceFacts,
    pub sku_map: SourceFacts,
    /// The feeds, in the pipeline's order (a feed's place is its read
    /// order in the rules: earlier feeds' rows are read first).
    pub feeds: Vec<PlannedFeed>,
}

impl Plan {
    /// The place of feed `id` in the pipeline's order.
    pub fn feed(&self, id: &str) -> Option<&PlannedFeed> {
        self.feeds.iter().find(|f| f.id == id)
    }
}

/// One feed of the plan: a stage task to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFeed {
    pub id: String,
    pub kind: String,
    pub owner: Option<String>,
    /// Its place in the pipeline's feeds (0-based).
    pub order: usize,
}

/// A source's fetch and file, as the manifest records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    /// `local`, `http`, `sftp` or `object`.
    pub location_kind: String,
    /// The location as resolved for the run date, as shown.
    pub location: String,
    pub bytes: u64,
    pub sha256: String,
    pub unchanged: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub attempts: u32,
    pub pages: Option<u32>,
    pub reused: Option<(String, i64)>,
    /// The fetch failed (the error, as shown) and `reused` was used.
    pub stale: Option<(String, f64)>,
}

impl SourceFacts {
    pub fn new(source: &Source, raw: &Raw, file: &FileRead) -> Self {
        let location_kind = match source.location {
            Location::Local(_) => "local",
            Location::Http(_) => "http",
            Location::Sftp(_) => "sftp",
            Location::Object(_) => "object",
        };
        SourceFacts {
            location_kind: location_kind.into(),
            location: source.location.display(),
            bytes: file.bytes,
            sha256: file.sha256.clone(),
            unchanged: raw.unchanged,
            etag: raw.etag.clone(),
            last_modified: raw.last_modified.clone(),
            attempts: raw.attempts,
            pages: raw.pages,
            reused: raw.reused.clone(),
            stale: raw.stale.as_ref().map(|s| (s.error.clone(), s.age_hours)),
        }
    }

    /// The source as it was located (shown form; never fetched again).
    pub fn locate(&self, source: &Source) -> Source {
        let shown = self.location.clone();
        let mut s = source.clone();
        s.location = match self.location_kind.as_str() {
            "http" => Location::Http(shown),
            "sftp" => Location::Sftp(shown),
            "object" => Location::Object(shown),
            _ => Location::Local(PathBuf::from(shown)),
        };
        s
    }

    /// The fetch as `siap run` would hold it, the copy at `copy`.
    pub fn raw(&self, copy: &Path) -> Raw {
        Raw {
            copy: RawCopy {
                path: copy.to_path_buf(),
                tee_from: None,
                bytes: self.bytes,
            },
            unchanged: self.unchanged,
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            attempts: self.attempts,
            pages: self.pages,
            reused: self.reused.clone(),
            stale: self.stale.as_ref().map(|(error, age_hours)| Stale {
                error: error.clone(),
                age_hours: *age_hours,
            }),
        }
    }

    pub fn file(&self) -> FileRead {
        FileRead {
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            source: None,
        }
    }
}

/// `tasks/<id>.json`: one staged feed. Written last by its task, so its
/// presence means every other file of the feed is in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub rules_version: u32,
    pub id: String,
    pub kind: String,
    pub order: usize,
    pub fetch: SourceFacts,
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub newest: Option<i64>,
    /// Rejected records per catalog product index, sorted.
    pub product_exceptions: Vec<(u32, u64)>,
    pub extra_columns: Vec<String>,
    /// Rows written for the rules.
    pub keyed_rows: u64,
    pub stage_ms: u64,
}

impl TaskRecord {
    /// The staged feed as `siap run` would hold it, its rejected records
    /// in `rejects`.
    pub fn staged(&self, kind: SourceKind, rejects: crate::stage::RejectFiles) -> StagedFeed {
        StagedFeed {
            source_id: self.id.clone(),
            kind,
            records: self.records,
            accepted: self.accepted,
            newest: self.newest,
            rejected: self.rejected,
            product_exceptions: self.product_exceptions.iter().copied().collect(),
            extra_columns: self.extra_columns.clone(),
            column_map: Vec::new(),
            stage_ms: self.stage_ms,
            file: Some(self.fetch.file()),
            rejects: Some(rejects),
        }
    }

    /// The record of a feed staged by this process; `stage_ms` is left
    /// out (0) so a retried task writes the same bytes.
    pub fn of(feed: &StagedFeed, order: usize, fetch: SourceFacts, keyed_rows: u64) -> Self {
        let mut product_exceptions: Vec<(u32, u64)> = feed
            .product_exceptions
            .iter()
            .map(|(p, n)| (*p, *n))
            .collect();
        product_exceptions.sort_unstable();
        TaskRecord {
            rules_version: super::RULES_VERSION,
            id: feed.source_id.clone(),
            kind: feed.kind.as_str().into(),
            order,
            fetch,
            records: feed.records,
            accepted: feed.accepted,
            rejected: feed.rejected,
            newest: feed.newest,
            product_exceptions,
            extra_columns: feed.extra_columns.clone(),
            keyed_rows,
            stage_ms: 0,
        }
    }
}
