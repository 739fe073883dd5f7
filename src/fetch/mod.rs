//! Fetch: each source's location → a raw copy in the run folder. Parses
//! nothing.
//!
//! [`plan`] decides, per source, whether it is fetched now or reuses an
//! earlier run's copy (`--supplier` reruns); [`fetch`] carries the plan
//! out. All sources are fetched concurrently on a tokio runtime, at most
//! `concurrency` at a time; bodies stream to disk, never whole into memory.
//! The polars work of the later phases runs on plain threads after the
//! runtime is done (polars inside an async task can panic, polars issue
//! #26902). A local CSV feed is not copied here: staging copies it as it
//! reads it (see [`Source::copied_while_staged`]). Checksums are the
//! staging phase's too: it reads every byte of every source.

pub mod http;
pub mod local;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Action, Error, Problem};
use crate::model::RawCopy;
pub use crate::pipeline::redact_url;
use crate::pipeline::{Location, Source, SourceKind, Sources};
use crate::workdir::{self, PastRun};

/// What a transfer left besides the bytes (local files and HTTP alike).
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub path: PathBuf,
    pub bytes: u64,
    /// The server answered 304 Not Modified: the copy is the previous run's.
    pub unchanged: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// HTTP attempts made (1 for local files).
    pub attempts: u32,
    /// A local file that staging copies to `path` as it reads it; until
    /// then `bytes` is the file's size.
    pub copy_from: Option<PathBuf>,
}

/// The previous copy of a source, for a conditional GET.
#[derive(Debug, Clone)]
pub struct Previous {
    pub raw: PathBuf,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Where a source's bytes come from in this run.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Fetched from its location now (conditionally, given an earlier
    /// copy with a validator).
    Fetch { previous: Option<Previous> },
    /// The raw copy of an earlier run (a `--supplier` rerun).
    Reuse {
        /// `<date>/<run-id>`.
        run: String,
        age_days: i64,
        raw: PathBuf,
    },
}

/// A source fetched: its raw copy, and what the manifest records of the
/// transfer.
#[derive(Debug, Clone)]
pub struct Raw {
    pub copy: RawCopy,
    pub unchanged: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// HTTP attempts (1 for local files, 0 when reused).
    pub attempts: u32,
    /// The earlier run whose copy was reused, and how many days older
    /// than this run's date it is.
    pub reused: Option<(String, i64)>,
}

/// Which sources to fetch and which to reuse: with `suppliers`, only the
/// stock feeds of those suppliers are fetched; every other source reuses
/// its copy from the most recent run of `date` (or else of the latest
/// earlier date). A source with no copy to reuse is an error.
pub fn plan(
    sources: &Sources<Source>,
    past: &[PastRun],
    suppliers: &[String],
    date: NaiveDate,
) -> Result<Sources<Origin>, Vec<Error>> {
    sources
        .as_ref()
        .map(|s| {
            let refresh = suppliers.is_empty()
                || (s.kind == SourceKind::Stock
                    && s.owner.as_ref().is_some_and(|o| suppliers.contains(o)));
            if refresh {
                return Ok(Origin::Fetch {
                    previous: conditional(past, s, date),
                });
            }
            match workdir::find_copy(past, &s.id, date, |_| true) {
                Some((run, _, raw)) => Ok(Origin::Reuse {
                    run: run.name(),
                    age_days: (date - run.date).num_days(),
                    raw,
                }),
                None => Err(s.fails(Problem::NoCopyToReuse { date })),
            }
        })
        .collect_errors()
}

/// The sources with the dated and patterned locations of those this run
/// fetches resolved for `date` (a reused source keeps its pattern: its
/// copy is already there). No single file for a pattern fails its source.
pub fn locate(
    sources: &Sources<Source>,
    plan: &Sources<Origin>,
    date: NaiveDate,
) -> Result<Sources<Source>, Vec<Error>> {
    sources
        .as_ref()
        .zip(plan.as_ref())
        .map(|(s, origin)| match origin {
            Origin::Fetch { .. } => {
                let located = crate::pipeline::locate::resolve(s, date).map_err(|p| s.fails(p))?;
                if located.pattern.is_some() {
                    tracing::info!(stage = "fetch", source = %s.id, file = %located.location.display(), "Resolved the dated location.");
                }
                Ok(located)
            }
            Origin::Reuse { .. } => Ok(s.clone()),
        })
        .collect_errors()
}

/// The previous copy of an HTTP source, for a conditional GET: from the
/// newest run on or before `date` that fetched the same location and kept a
/// validator.
fn conditional(past: &[PastRun], source: &Source, date: NaiveDate) -> Option<Previous> {
    if !matches!(source.location, Location::Http(_)) {
        return None;
    }
    let location = source.location.display();
    let (_, rec, raw) = workdir::find_copy(past, &source.id, date, |rec| {
        rec.location == location && (rec.etag.is_some() || rec.last_modified.is_some())
    })?;
    Some(Previous {
        raw,
        etag: rec.etag.clone(),
        last_modified: rec.last_modified.clone(),
    })
}

/// Carries out `plan`: each source's raw copy in `raw_dir/<id>`, fetched
/// (every source at once, at most `concurrency` at a time) or linked from
/// an earlier run. A failure names its source and never a secret.
pub fn fetch(
    sources: &Sources<Source>,
    plan: Sources<Origin>,
    raw_dir: &Path,
    concurrency: usize,
) -> Sources<Result<Raw, Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            return sources.as_ref().map(|s| {
                Err(s.fails(Problem::Internal(format!(
                    "cannot start the fetch runtime: {e}"
                ))))
            });
        }
    };
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    // Every transfer started before the first is awaited.
    let tasks = sources.as_ref().zip(plan).map(|(source, origin)| {
        let (source, dest, limit) = (source.clone(), raw_dir.join(&source.id), limit.clone());
        runtime.spawn(async move {
            let _permit = limit
                .acquire()
                .await
                .map_err(|e| Problem::Internal(e.to_string()))?;
            one(&source, origin, &dest).await
        })
    });
    // All transfers run on the runtime while the first is awaited.
    let results = tasks.map(|t| {
        runtime
            .block_on(t)
            .unwrap_or_else(|e| Err(Problem::Internal(format!("fetch task failed: {e}"))))
    });
    sources.as_ref().zip(results).map(|(s, r)| match r {
        Ok(raw) => {
            tracing::info!(stage = "fetch", source = %s.id, bytes = raw.copy.bytes, "Fetched source.");
            Ok(raw)
        }
        Err(e) => {
            tracing::error!(stage = "fetch", source = %s.id, location = %s.location.display(), error = %e, "Source failed.");
            Err(s.fails(e))
        }
    })
}

/// One source, as its origin says.
async fn one(source: &Source, origin: Origin, dest: &Path) -> Result<Raw, Problem> {
    let fetched = match origin {
        Origin::Reuse { run, age_days, raw } => {
            tracing::info!(stage = "fetch", source = %source.id, from_run = %run, age_days, "Reusing an earlier copy.");
            let bytes = std::fs::hard_link(&raw, dest)
                .or_else(|_| std::fs::copy(&raw, dest).map(|_| ()))
                .and_then(|()| std::fs::metadata(dest))
                .map_err(Problem::io(Action::Reuse, &raw))?
                .len();
            return Ok(Raw {
                copy: RawCopy {
                    path: dest.to_path_buf(),
                    tee_from: None,
                    bytes,
                },
                unchanged: false,
                etag: None,
                last_modified: None,
                attempts: 0,
                reused: Some((run, age_days)),
            });
        }
        Origin::Fetch { previous } => match &source.location {
            Location::Local(path) => {
                let defer = source.copied_while_staged();
                local::fetch(path, dest, defer, source.http.max_bytes).await?
            }
            Location::Http(url) => http::fetch(source, url, dest, previous.as_ref()).await?,
        },
    };
    Ok(Raw {
        copy: RawCopy {
            path: fetched.path,
            tee_from: fetched.copy_from,
            bytes: fetched.bytes,
        },
        unchanged: fetched.unchanged,
        etag: fetched.etag,
        last_modified: fetched.last_modified,
        attempts: fetched.attempts,
        reused: None,
    })
}
