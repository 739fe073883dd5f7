//! The work directory: every run on disk, and how to find past ones.
//!
//! ```text
//! <work-dir>/
//!   .lock                         held by the running siap (OS-level lock)
//!   .tmp/<run-id>/                a run being written; never read
//!   latest -> runs/<date>/<run-id>   swapped atomically after a good run
//!   runs/<date>/<run-id>/         one folder per successful run of a date
//!     raw/<source-id>             the bytes each source had
//!     staged/<source-id>.parquet  each feed's validated canonical rows
//!     readiness.{csv,parquet}  supplier_readiness.{csv,parquet}
//!     exceptions.{csv,parquet}  manifest.json
//! ```
//!
//! Only complete runs ever appear under `runs/`: a run is assembled in
//! `.tmp/` and renamed into place in one step. Source ids and dates are the
//! only names that come from outside, and both are checked to be plain file
//! names (see [`crate::pipeline::is_safe_id`]), so nothing lands outside
//! this folder.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

pub mod lock;
pub mod manifest;
pub mod run_dir;

pub use lock::{Lock, lock};
pub use run_dir::{RunDir, clean_leftovers, point_latest};

/// A work directory held by this run: its lock taken, what killed runs
/// left in `.tmp/` removed.
pub struct WorkDir {
    path: PathBuf,
    _lock: Lock,
}

/// Locks the work directory (exit 5 when another run holds it) and clears
/// what interrupted runs left.
pub fn open(path: &Path) -> crate::error::Result<WorkDir> {
    let lock = lock(path)?;
    clean_leftovers(path);
    Ok(WorkDir {
        path: path.to_path_buf(),
        _lock: lock,
    })
}

impl WorkDir {
    /// Every earlier run with a readable manifest, oldest first.
    pub fn past_runs(&self) -> Vec<PastRun> {
        list_runs(&self.path)
    }

    /// A new run's folder, under `.tmp/` until committed.
    pub fn begin(&self, run_id: &str) -> crate::error::Result<RunDir> {
        RunDir::new(&self.path, run_id)
    }
}

use manifest::{Manifest, SourceRecord};

/// One successful run found on disk.
#[derive(Debug, Clone)]
pub struct PastRun {
    pub date: NaiveDate,
    pub run_id: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl PastRun {
    /// `<date>/<run-id>`, as manifests refer to runs.
    pub fn name(&self) -> String {
        format!("{}/{}", self.date, self.run_id)
    }
}

/// Every run with a readable manifest, oldest first.
pub fn list_runs(work: &Path) -> Vec<PastRun> {
    let mut runs = Vec::new();
    let Ok(dates) = std::fs::read_dir(work.join("runs")) else {
        return runs;
    };
    for d in dates.flatten() {
        let Some(date) = d
            .file_name()
            .to_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let Ok(ids) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for r in ids.flatten() {
            let dir = r.path();
            let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_str::<Manifest>(&text) else {
                tracing::warn!(path = %dir.display(), "Skipping a run whose manifest cannot be read.");
                continue;
            };
            runs.push(PastRun {
                date,
                run_id: r.file_name().to_string_lossy().into_owned(),
                dir,
                manifest,
            });
        }
    }
    // Run ids start with the UTC start time, so they sort in time order.
    runs.sort_by(|a, b| (a.date, &a.run_id).cmp(&(b.date, &b.run_id)));
    runs
}

/// The run `latest` points at, if any.
pub fn latest(work: &Path) -> Option<String> {
    let target = std::fs::read_link(work.join("latest")).ok()?;
    let mut parts = target.components().rev();
    let id = parts.next()?.as_os_str().to_string_lossy().into_owned();
    let date = parts.next()?.as_os_str().to_string_lossy().into_owned();
    Some(format!("{date}/{id}"))
}

/// Whether `latest` (`<date>/<run-id>`) names a run committed after
/// `this` one (its manifest finished later): a retried finish, whose first
/// try was killed between its commit and the swap, swaps `latest` only
/// when not. An unreadable time counts as the earliest.
pub fn committed_after(runs: &[PastRun], latest: Option<&str>, this: &PastRun) -> bool {
    let finished = |r: &PastRun| {
        chrono::DateTime::parse_from_rfc3339(&r.manifest.finished_at)
            .map(|t| t.to_utc())
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    };
    runs.iter()
        .find(|r| Some(r.name().as_str()) == latest)
        .is_some_and(|current| finished(current) > finished(this))
}

/// The most recent run on or before `date` that holds a raw copy of
/// `source_id` and whose manifest record for it passes `accept`: that
/// date's newest such run if there is one, else the latest earlier one.
pub fn find_copy<'r>(
    runs: &'r [PastRun],
    source_id: &str,
    date: NaiveDate,
    accept: impl Fn(&SourceRecord) -> bool,
) -> Option<(&'r PastRun, &'r SourceRecord, PathBuf)> {
    runs.iter().rev().filter(|r| r.date <= date).find_map(|r| {
        let rec = r
            .manifest
            .sources
            .iter()
            .find(|s| s.id == source_id && accept(s))?;
        let raw = r.dir.join("raw").join(source_id);
        raw.is_file().then_some((r, rec, raw))
    })
}
