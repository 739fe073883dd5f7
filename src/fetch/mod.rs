//! Fetch: a source's location → a raw copy on disk with its size and
//! sha256. Parses nothing.
//!
//! All sources are fetched concurrently on a tokio runtime, at most
//! `concurrency` at a time; bodies stream to disk, never whole into memory.
//! The polars work of the later stages runs on plain threads after the
//! runtime is done (polars inside an async task can panic, polars issue
//! #26902).

pub mod http;
pub mod local;

use std::path::PathBuf;

pub use crate::pipeline::redact_url;
use crate::pipeline::{Location, Source};

/// A raw copy on disk and what the manifest records about it.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// The server answered 304 Not Modified: the copy is the previous run's.
    pub unchanged: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// HTTP attempts made (1 for local files).
    pub attempts: u32,
    /// A local file that staging copies to `path` as it reads it (see
    /// `stage::read::Input::Tee`); until then `bytes` is the file's size
    /// and `sha256` is empty.
    pub copy_from: Option<PathBuf>,
}

/// The previous copy of a source, for a conditional GET.
#[derive(Debug, Clone)]
pub struct Previous {
    pub raw: PathBuf,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// One source to fetch into `dest`.
pub struct Job<'a> {
    pub source: &'a Source,
    pub dest: PathBuf,
    pub previous: Option<Previous>,
    /// For a local file: leave the copy to staging, which reads every byte
    /// anyway (a feed it streams).
    pub copy_while_staging: bool,
}

/// Fetches every job. Results are in job order; an `Err` carries a message
/// naming no secret.
pub fn fetch_all(jobs: Vec<Job<'_>>, concurrency: usize) -> Vec<Result<Fetched, String>> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return jobs
                .iter()
                .map(|_| Err(format!("cannot start the fetch runtime: {e}")))
                .collect();
        }
    };
    runtime.block_on(async {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let source = job.source.clone();
                let limit = limit.clone();
                let defer = job.copy_while_staging;
                tokio::spawn(async move {
                    let _permit = limit.acquire().await.map_err(|e| e.to_string())?;
                    match &source.location {
                        Location::Local(path) => {
                            local::fetch(path, &job.dest, defer, source.http.max_bytes).await
                        }
                        Location::Http(url) => {
                            http::fetch(&source, url, &job.dest, job.previous.as_ref()).await
                        }
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(match t.await {
                Ok(r) => r,
                Err(e) => Err(format!("fetch task failed: {e}")),
            });
        }
        out
    })
}
