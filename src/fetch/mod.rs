//! Fetch: each source's location → a raw copy in the run folder. Parses
//! nothing.
//!
//! [`plan`] decides, per source, whether it is fetched now or reuses an
//! earlier run's copy (`--supplier` reruns); [`fetch`] carries the plan
//! out. All sources are fetched concurrently on a tokio runtime, at most
//! `concurrency` at a time; bodies stream to disk, never whole into memory.
//! The polars work of the later phases runs on plain threads after the
//! runtime is done (polars inside an async task can panic, polars issue
//! #26902). A local stock or shipments feed is not copied here: staging
//! copies it as it reads it (see [`Source::copied_while_staged`]). Checksums are the
//! staging phase's too: it reads every byte of every source.

pub mod api;
pub mod http;
pub mod local;
pub mod object;
pub mod sftp;

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
    /// Pages read from an API source.
    pub pages: Option<u32>,
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
    /// copy with a validator); if that fails, `fallback` (the last good
    /// copy, for `on_fetch_failure = "reuse"`) is used instead.
    Fetch {
        previous: Option<Previous>,
        fallback: Option<Fallback>,
    },
    /// The raw copy of an earlier run (a `--supplier` rerun).
    Reuse {
        /// `<date>/<run-id>`.
        run: String,
        age_days: i64,
        raw: PathBuf,
    },
}

/// The last good copy of a source: the raw copy of the newest earlier
/// run that fetched it.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// `<date>/<run-id>`.
    pub run: String,
    pub age_days: i64,
    pub raw: PathBuf,
    /// When that run started (RFC 3339).
    pub fetched_at: String,
}

/// A fetch that failed and the last good copy used instead.
#[derive(Debug, Clone)]
pub struct Stale {
    /// Why the fetch failed (no secrets: a source's problem never holds
    /// one).
    pub error: String,
    /// How old the copy is: hours since its run started.
    pub age_hours: f64,
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
    /// Pages read from an API source.
    pub pages: Option<u32>,
    /// The earlier run whose copy was reused, and how many days older
    /// than this run's date it is.
    pub reused: Option<(String, i64)>,
    /// The fetch failed and `reused` is the last good copy.
    pub stale: Option<Stale>,
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
                    fallback: fallback(past, s, date),
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
                let mut located =
                    crate::pipeline::locate::resolve(s, date).map_err(|p| s.fails(p))?;
                located.location =
                    remote_glob(&located, date).map_err(|p| located.fails(p))?;
                if located.pattern.is_some() {
                    tracing::info!(stage = "fetch", source = %s.id, file = %located.location.display(), "Resolved the dated location.");
                }
                Ok(located)
            }
            Origin::Reuse { .. } => Ok(s.clone()),
        })
        .collect_errors()
}

/// The location of an SFTP or bucket source whose file name is a glob
/// (`stok_*.csv`): the folder or prefix listed, and the match its `pick`
/// rule takes (any other location as it is).
fn remote_glob(source: &Source, date: NaiveDate) -> Result<Location, Problem> {
    let (Some(pattern), Location::Sftp(url) | Location::Object(url)) =
        (&source.pattern, &source.location)
    else {
        return Ok(source.location.clone());
    };
    if !crate::pipeline::locate::file_name_has_glob(url) {
        return Ok(source.location.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::Internal(format!("cannot start the listing runtime: {e}")))?;
    let matches = runtime.block_on(async {
        match &source.location {
            Location::Sftp(_) => sftp::list(source, url).await,
            _ => object::list(source, url).await,
        }
    })?;
    let chosen = crate::pipeline::locate::choose(&redact_url(url), matches, &pattern.pick, date)
        .map_err(|message| Problem::Pattern { message })?;
    Ok(match &source.location {
        Location::Sftp(_) => Location::Sftp(chosen),
        _ => Location::Object(chosen),
    })
}

/// A failure of a first (or only) SFTP or bucket attempt on `url`, shown
/// redacted.
fn transfer_failed(url: &str) -> impl Fn(String) -> Problem + use<> {
    let shown = redact_url(url);
    move |message| Problem::Transfer {
        url: shown.clone(),
        attempt: 1,
        message,
    }
}

/// An SFTP or bucket location whose last segment is a glob: the folder
/// (or prefix) to list, the pattern, and where a listed name is.
struct RemoteGlob {
    url: reqwest::Url,
    pattern: glob::Pattern,
}

impl RemoteGlob {
    fn parse(url: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let last = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("");
        let last = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
        let pattern = glob::Pattern::new(&last).map_err(|e| format!("not a valid pattern: {e}"))?;
        Ok(RemoteGlob { url, pattern })
    }

    /// The location with its last segment removed: the folder or prefix.
    fn folder(&self) -> reqwest::Url {
        let mut folder = self.url.clone();
        if let Ok(mut segments) = folder.path_segments_mut() {
            segments.pop();
        }
        folder
    }

    /// The listed file `name` as a candidate, if it matches.
    fn candidate(
        &self,
        name: String,
        modified: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<crate::pipeline::locate::Candidate> {
        if !self.pattern.matches(&name) {
            return None;
        }
        let mut location = self.url.clone();
        if let Ok(mut segments) = location.path_segments_mut() {
            segments.pop().push(&name);
        }
        Some(crate::pipeline::locate::Candidate {
            location: location.to_string(),
            name,
            modified,
        })
    }
}

/// The last good copy, for a source with `on_fetch_failure = "reuse"`:
/// the newest run on or before `date` that fetched it (not one that
/// reused it in turn, so its age is the data's).
fn fallback(past: &[PastRun], source: &Source, date: NaiveDate) -> Option<Fallback> {
    if source.on_fetch_failure != crate::pipeline::OnFetchFailure::Reuse {
        return None;
    }
    let (run, _, raw) = workdir::find_copy(past, &source.id, date, |rec| rec.refreshed)?;
    Some(Fallback {
        run: run.name(),
        age_days: (date - run.date).num_days(),
        raw,
        fetched_at: run.manifest.started_at.clone(),
    })
}

/// The previous copy of an HTTP or SFTP source, for a conditional GET
/// (or an unchanged size and modification time): from the
/// newest run on or before `date` that fetched the same location and kept a
/// validator.
fn conditional(past: &[PastRun], source: &Source, date: NaiveDate) -> Option<Previous> {
    if matches!(source.location, Location::Local(_)) {
        return None;
    }
    // A dated URL is compared as this run resolves it.
    let location = crate::pipeline::locate::resolve(source, date)
        .ok()?
        .location
        .display();
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

/// The copy at `raw` linked (or copied) to `dest`: its size.
fn link_copy(raw: &Path, dest: &Path) -> Result<u64, Problem> {
    // A failed fetch may have left part of a body behind.
    let _ = std::fs::remove_file(dest);
    std::fs::hard_link(raw, dest)
        .or_else(|_| std::fs::copy(raw, dest).map(|_| ()))
        .and_then(|()| std::fs::metadata(dest))
        .map_err(Problem::io(Action::Reuse, raw))
        .map(|m| m.len())
}

/// An earlier run's copy as this run's raw copy.
fn reused(dest: &Path, bytes: u64, run: String, age_days: i64, stale: Option<Stale>) -> Raw {
    Raw {
        copy: RawCopy {
            path: dest.to_path_buf(),
            tee_from: None,
            bytes,
        },
        unchanged: false,
        etag: None,
        last_modified: None,
        attempts: 0,
        pages: None,
        reused: Some((run, age_days)),
        stale,
    }
}

/// One source, as its origin says.
async fn one(source: &Source, origin: Origin, dest: &Path) -> Result<Raw, Problem> {
    let (previous, fallback) = match origin {
        Origin::Reuse { run, age_days, raw } => {
            tracing::info!(stage = "fetch", source = %source.id, from_run = %run, age_days, "Reusing an earlier copy.");
            let bytes = link_copy(&raw, dest)?;
            return Ok(reused(dest, bytes, run, age_days, None));
        }
        Origin::Fetch { previous, fallback } => (previous, fallback),
    };
    let fetched = match &source.location {
        Location::Local(path) => {
            let defer = source.copied_while_staged();
            local::fetch(path, dest, defer, source.http.max_bytes).await
        }
        Location::Http(url) => match &source.api {
            Some(api) => api::fetch(source, api, url, dest).await,
            None => http::fetch(source, url, dest, previous.as_ref()).await,
        },
        Location::Sftp(url) => sftp::fetch(source, url, dest, previous.as_ref()).await,
        Location::Object(url) => object::fetch(source, url, dest, previous.as_ref()).await,
    };
    let fetched = match (fetched, fallback) {
        (Ok(f), _) => f,
        (Err(e), None) => return Err(e),
        (Err(e), Some(f)) => {
            let age_hours = chrono::DateTime::parse_from_rfc3339(&f.fetched_at)
                .map(|t| {
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_minutes() as f64 / 60.0
                })
                .unwrap_or(f.age_days as f64 * 24.0);
            tracing::warn!(stage = "fetch", source = %source.id, error = %e, from_run = %f.run, age_hours = format!("{age_hours:.1}"), "Fetch failed; using the last good copy (on_fetch_failure = \"reuse\").");
            let bytes = link_copy(&f.raw, dest)?;
            let stale = Stale {
                error: e.to_string(),
                age_hours,
            };
            return Ok(reused(dest, bytes, f.run, f.age_days, Some(stale)));
        }
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
        pages: fetched.pages,
        reused: None,
        stale: None,
    })
}
