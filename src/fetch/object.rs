//! Bucket sources (`s3://`, `gs://`, `az://`) through the `object_store`
//! crate, the one DataFusion and Ballista build on.
//!
//! - Credentials and endpoints come from the standard environment
//!   variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`,
//!   `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …); never
//!   printed.
//! - The object streams to `raw/<id>` under `max_bytes`; a body shorter
//!   than the object's size fails.
//! - The previous copy's ETag is sent (`If-None-Match`): an unchanged
//!   object is not read again.
//! - Retries with backoff are object_store's own (up to 10, within 3
//!   minutes); the source's `connect_timeout_secs` and
//!   `read_timeout_secs` are passed on.

use std::path::Path;

use futures_util::StreamExt;
use object_store::{GetOptions, ObjectStore};
use tokio::io::AsyncWriteExt;

use super::{Fetched, Previous, redact_url};
use crate::error::Problem;
use crate::pipeline::Source;
use crate::pipeline::locate::Candidate;

/// The environment variables object_store reads, as its option keys
/// (credentials among them: never printed).
pub fn env_options() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// A source's options: the environment's, and its timeouts.
fn options(source: &Source) -> Vec<(String, String)> {
    let mut out = env_options();
    let secs = |d: std::time::Duration| format!("{} seconds", d.as_secs());
    out.push(("connect_timeout".into(), secs(source.http.connect_timeout)));
    out.push(("timeout".into(), secs(source.http.total_timeout)));
    out
}

pub async fn fetch(
    source: &Source,
    url: &str,
    dest: &Path,
    previous: Option<&Previous>,
) -> Result<Fetched, Problem> {
    let shown = redact_url(url);
    let fail = super::transfer_failed(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("not a URL: {e}")))?;
    let (store, key) = bucket(source, &parsed).map_err(&fail)?;
    let asked = GetOptions {
        if_none_match: previous.and_then(|p| p.etag.clone()),
        ..GetOptions::default()
    };
    let result = match store.get_opts(&key, asked).await {
        Ok(r) => r,
        Err(object_store::Error::NotModified { .. }) => {
            let p = previous.ok_or_else(|| fail("not modified, but nothing was asked".into()))?;
            let bytes = std::fs::copy(&p.raw, dest)
                .map_err(|e| fail(format!("cannot copy the previous copy: {e}")))?;
            return Ok(Fetched {
                path: dest.to_path_buf(),
                bytes,
                unchanged: true,
                etag: p.etag.clone(),
                attempts: 1,
                ..Fetched::default()
            });
        }
        Err(object_store::Error::NotFound { .. }) => {
            return Err(fail(format!("no object `{key}` in the bucket")));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let meta = result.meta.clone();
    let limit = source.http.max_bytes;
    if meta.size > limit {
        return Err(fail(format!(
            "the object is {} bytes, more than max_bytes = {limit}",
            meta.size
        )));
    }
    let write = |e: std::io::Error| fail(format!("cannot write `{}`: {e}", dest.display()));
    let mut out = tokio::fs::File::create(dest).await.map_err(write)?;
    let bar = crate::sys::progress::bytes(&source.id, Some(meta.size));
    let mut stream = result.into_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| fail(format!("the body broke off after {got} bytes: {e}")))?;
        got += chunk.len() as u64;
        if got > limit {
            bar.finish_and_clear();
            return Err(fail(format!(
                "the object is more than max_bytes = {limit} bytes"
            )));
        }
        out.write_all(&chunk).await.map_err(write)?;
        bar.set_position(got);
    }
    bar.finish_and_clear();
    if got != meta.size {
        return Err(fail(format!("got {got} of {} bytes", meta.size)));
    }
    out.sync_all().await.map_err(write)?;
    tracing::info!(stage = "fetch", source = %source.id, url = %shown, bytes = got, "Object fetched.");
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: got,
        etag: meta.e_tag,
        last_modified: Some(meta.last_modified.to_rfc2822()),
        attempts: 1,
        ..Fetched::default()
    })
}

/// The objects directly under the prefix of `url` whose names match its
/// last segment's glob (`stok_*.csv`), for
/// [`crate::pipeline::locate::choose`].
pub async fn list(source: &Source, url: &str) -> Result<Vec<Candidate>, Problem> {
    let fail = super::transfer_failed(url);
    let glob = super::RemoteGlob::parse(url).map_err(&fail)?;
    let (store, prefix) = bucket(source, &glob.folder()).map_err(&fail)?;
    let listed = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| fail(format!("cannot list `{prefix}/`: {e}")))?;
    Ok(listed
        .objects
        .into_iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?.to_string();
            glob.candidate(name, Some(meta.last_modified))
        })
        .collect())
}

/// The store `url` names, and the key (or prefix) in it.
fn bucket(
    source: &Source,
    url: &reqwest::Url,
) -> Result<(Box<dyn ObjectStore>, object_store::path::Path), String> {
    object_store::parse_url_opts(url, options(source))
        .map_err(|e| format!("cannot reach the bucket: {e}"))
}
