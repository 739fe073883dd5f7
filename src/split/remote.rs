//! A work directory on object storage (`s3://bucket/prefix`, `gs://…`,
//! `az://…`), through the `object_store` crate DataFusion and Ballista
//! build on. Credentials come from the standard environment variables or
//! the instance's role, as for bucket sources, and are never printed.
//!
//! An object store has no rename, so nothing is written beside its place
//! and moved in. Instead:
//! - every file is written with a **conditional create** (`If-None-Match:
//!   *`): a file that is already there is kept when its bytes are the
//!   same, and refused when they differ, as [`super::place`] does on disk;
//! - each step writes its **commit point last** (`plan.json`,
//!   `tasks/<id>.json`, `resolved/done.json`, a run's `manifest.json`);
//! - `latest` is a small object holding `runs/<date>/<run-id>`, swapped by
//!   **compare-and-swap** (`If-Match` on its ETag).
//!
//! A store that silently ignores those conditions would make all of that
//! a lie, so [`Remote::check_conditions`] asks it to refuse (412) before a
//! run writes there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use crate::error::{Error, Result};

/// The URL in `work_dir`, when it names an object store rather than a
/// folder.
pub fn url_of(work_dir: &Path) -> Option<&str> {
    let s = work_dir.to_str()?;
    let (scheme, _) = s.split_once("://")?;
    ["s3", "s3a", "gs", "az", "abfs", "abfss", "azure"]
        .contains(&scheme)
        .then_some(s)
}

/// The object store a work directory URL names, and its prefix there.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    /// The URL as given, without a trailing `/`: a bucket and a prefix.
    url: String,
    runtime: tokio::runtime::Runtime,
}

/// What a conditional create found.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// The object was there already with the same bytes.
    Same,
    /// The object was there already with other bytes (its ETag).
    Differs(Option<String>),
}

impl Remote {
    pub fn open(url: &str) -> Result<Remote> {
        let url = url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| Error::Usage(format!("`{url}` is not a work directory URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::Usage(
                "a work directory URL carries no credentials: they come from the environment \
                 (AWS_*, GOOGLE_*, AZURE_*) or the instance's role"
                    .into(),
            ));
        }
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, crate::fetch::object::env_options()).map_err(
                |e| Error::Usage(format!("cannot use `{url}` as a work directory: {e}")),
            )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start a runtime for `{url}`: {e}")))?;
        Ok(Remote {
            store: Arc::from(store),
            prefix,
            url,
            runtime,
        })
    }

    /// The URL of `rel` (a `/`-separated path in the work directory).
    pub fn url(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    fn key(&self, rel: &str) -> Key {
        let mut key = self.prefix.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            key = key.join(part);
        }
        key
    }

    fn failed(&self, rel: &str, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Publish {
            path: PathBuf::from(self.url(rel)),
            message: format!("{what}: {e}"),
        }
    }

    /// Writes `bytes` to `rel` unless an object is there already.
    pub fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<Created> {
        let key = self.key(rel);
        let put = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let len = bytes.len();
        // Sent whole (one PUT: a conditional create cannot be multipart),
        // so kept only as a digest meanwhile.
        let digest = sha256(&bytes);
        let sent = self
            .runtime
            .block_on(self.store.put_opts(&key, PutPayload::from(bytes), put));
        match sent {
            Ok(_) => {
                tracing::debug!(object = %self.url(rel), bytes = len, "Created an object.");
                Ok(Created::New)
            }
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                let (there, e_tag) = self
                    .read(rel)?
                    .ok_or_else(|| self.failed(rel, "cannot create", "refused, but not there"))?;
                Ok(if sha256(&there) == digest {
                    Created::Same
                } else {
                    Created::Differs(e_tag)
                })
            }
            Err(e) => Err(self.failed(rel, "cannot create", e)),
        }
    }

    /// Writes `bytes` to `rel` over the version `e_tag` only: `false` when
    /// the object changed meanwhile.
    pub fn update(&self, rel: &str, bytes: Vec<u8>, e_tag: Option<String>) -> Result<bool> {
        let put = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag,
                version: None,
            }),
            ..PutOptions::default()
        };
        let sent = self.runtime.block_on(self.store.put_opts(
            &self.key(rel),
            PutPayload::from(bytes),
            put,
        ));
        match sent {
            Ok(_) => Ok(true),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed(rel, "cannot update", e)),
        }
    }

    /// Writes `bytes` to `rel`, whatever was there: for files no one reads
    /// before a commit point written after them.
    pub fn replace(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.runtime
            .block_on(self.store.put(&self.key(rel), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.failed(rel, "cannot write", e))
    }

    /// The bytes of `rel` and their ETag; `None` when there is no object.
    pub fn read(&self, rel: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let key = self.key(rel);
        self.runtime.block_on(async {
            match self.store.get_opts(&key, GetOptions::default()).await {
                Ok(got) => {
                    let e_tag = got.meta.e_tag.clone();
                    let bytes = got
                        .bytes()
                        .await
                        .map_err(|e| self.failed(rel, "cannot read", e))?;
                    Ok(Some((bytes.to_vec(), e_tag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.failed(rel, "cannot read", e)),
            }
        })
    }

    /// Streams `rel` into the file `to`; `false` when there is no object.
    pub fn download(&self, rel: &str, to: &Path) -> Result<bool> {
        use tokio::io::AsyncWriteExt;
        let key = self.key(rel);
        let local = |e: std::io::Error| Error::Publish {
            path: to.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(local)?;
        }
        self.runtime.block_on(async {
            let got = match self.store.get(&key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(self.failed(rel, "cannot read", e)),
            };
            let mut out = tokio::fs::File::create(to).await.map_err(local)?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.failed(rel, "the body broke off", e))?;
                out.write_all(&chunk).await.map_err(local)?;
            }
            out.flush().await.map_err(local)?;
            Ok(true)
        })
    }

    /// Every object under the folder `rel`, as paths relative to the work
    /// directory, sorted.
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        let prefix = self.key(rel);
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| self.failed(rel, "cannot list", e))?;
        let base = self.prefix.as_ref();
        let mut rels: Vec<String> = listed
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                full.strip_prefix(base)
                    .unwrap_or(full)
                    .trim_start_matches('/')
                    .to_string()
            })
            .collect();
        rels.sort();
        Ok(rels)
    }

    /// Removes every object under the folder `rel`.
    pub fn remove_all(&self, rel: &str) -> Result<()> {
        for r in self.list(rel)? {
            self.runtime
                .block_on(self.store.delete(&self.key(&r)))
                .map_err(|e| self.failed(&r, "cannot remove", e))?;
        }
        Ok(())
    }

    /// Asks the store to refuse a second create of one object and an
    /// update of a version that is not there (both 412 on S3): the
    /// conditions everything written here relies on.
    pub fn check_conditions(&self) -> Result<()> {
        let rel = format!(
            ".siap/conditions-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let refuses = |what: &str| {
            Error::Usage(format!(
                "{} {what}: it does not honour conditional writes, so siap cannot commit runs \
                 there safely (on MinIO or Ceph, a recent release; on S3-compatible stores, \
                 If-None-Match and If-Match on PUT)",
                self.url
            ))
        };
        let checked = (|| {
            // A client that cannot send the condition says so; any other
            // failure (no bucket, no access) is what it is.
            let put = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let first = self.runtime.block_on(self.store.put_opts(
                &self.key(&rel),
                PutPayload::from_static(b"one"),
                put,
            ));
            match first {
                Ok(_) => {}
                Err(e @ object_store::Error::NotImplemented { .. }) => {
                    return Err(refuses(&format!("cannot take a conditional create ({e})")));
                }
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    return Err(refuses("had an object siap had just named"));
                }
                Err(e) => return Err(self.failed("", "cannot write", e)),
            }
            if self.create(&rel, b"two".to_vec())? != Created::Differs(self.e_tag(&rel)?) {
                return Err(refuses("accepted a second create of one object"));
            }
            if self.update(&rel, b"three".to_vec(), Some("\"not-its-etag\"".into()))? {
                return Err(refuses("accepted an update of a version it does not have"));
            }
            Ok(())
        })();
        let _ = self.runtime.block_on(self.store.delete(&self.key(&rel)));
        checked?;
        tracing::debug!(work_dir = %self.url, "The store refuses conflicting writes (412).");
        Ok(())
    }

    fn e_tag(&self, rel: &str) -> Result<Option<String>> {
        Ok(self.read(rel)?.and_then(|(_, e)| e))
    }

    /// The run `latest` points at (`runs/<date>/<run-id>`) and its ETag.
    pub fn latest(&self) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .read(LATEST)?
            .map(|(bytes, e_tag)| (String::from_utf8_lossy(&bytes).trim().to_string(), e_tag)))
    }

    /// Points `latest` at `run` (`runs/<date>/<run-id>`) by compare-and-swap,
    /// as a commit on disk swaps it (an ad-hoc rerun of an older date takes
    /// it too). When another commit swaps it between this one's read and
    /// write, the newer run of the two keeps it (run ids begin with their
    /// start time).
    pub fn swap_latest(&self, run: &str) -> Result<()> {
        let body = format!("{run}\n").into_bytes();
        for attempt in 0..10 {
            let swapped = match self.latest()? {
                None => self.create(LATEST, body.clone())? == Created::New,
                Some((now, _)) if now.as_str() == run => return Ok(()),
                Some((now, _)) if attempt > 0 && now.as_str() > run => {
                    tracing::warn!(latest = %now, run, "A newer run took `latest` meanwhile; it stays.");
                    return Ok(());
                }
                Some((_, e_tag)) => self.update(LATEST, body.clone(), e_tag)?,
            };
            if swapped {
                tracing::info!(latest = %self.url(run), "Swapped `latest`.");
                return Ok(());
            }
        }
        Err(self.failed(LATEST, "cannot swap", "it kept changing under ten attempts"))
    }
}

const LATEST: &str = "latest";

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Whether `rel` is a run's folder, `runs/<date>/<run-id>`, as `latest`
/// holds (read from the store: nothing else may be linked to).
pub fn is_run_path(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    matches!(parts.as_slice(), ["runs", date, id]
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
            && crate::pipeline::is_safe_id(id))
}

/// A local folder standing for a remote work directory while one command
/// runs: what the command reads is pulled into it, the command runs on it
/// as on any work directory, and what it wrote is pushed back with
/// conditional creates, its commit point last. Removed when dropped.
pub struct Mirror {
    pub remote: Remote,
    local: tempfile::TempDir,
}

impl Mirror {
    /// Opens the store at `url`, with an empty mirror in the temporary
    /// folder (`TMPDIR`: it holds the files one step reads and writes).
    pub fn open(url: &str) -> Result<Mirror> {
        let remote = Remote::open(url)?;
        let local = tempfile::Builder::new()
            .prefix("siap-mirror-")
            .tempdir()
            .map_err(|e| Error::Internal(format!("cannot make a temporary folder: {e}")))?;
        Ok(Mirror { remote, local })
    }

    /// The mirror: the work directory the command runs on.
    pub fn dir(&self) -> &Path {
        self.local.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// Pulls `rel`; `false` when the store has no such object.
    pub fn pull(&self, rel: &str) -> Result<bool> {
        self.remote.download(rel, &self.path(rel))
    }

    /// Pulls every object under the folder `rel` that `keep` keeps; returns
    /// them.
    pub fn pull_all(&self, rel: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut pulled = Vec::new();
        for r in self.remote.list(rel)?.into_iter().filter(|r| keep(r)) {
            self.pull(&r)?;
            pulled.push(r);
        }
        Ok(pulled)
    }

    /// Pushes the local file `rel` with a conditional create: kept when
    /// the store has the same bytes; refused when it has others.
    pub fn push(&self, rel: &str) -> Result<()> {
        match self.push_as_is(rel)? {
            Created::New | Created::Same => Ok(()),
            Created::Differs(_) => Err(self.remote.failed(
                rel,
                "refused",
                "it is already written with other bytes; a retried task must write the same \
                 bytes (start a new run with `siap plan` to stage changed inputs)",
            )),
        }
    }

    /// Pushes the local file `rel` with a conditional create, and says what
    /// the store had.
    pub fn push_as_is(&self, rel: &str) -> Result<Created> {
        let bytes = std::fs::read(self.path(rel)).map_err(|e| Error::Publish {
            path: self.path(rel),
            message: e.to_string(),
        })?;
        self.remote.create(rel, bytes)
    }

    /// Pushes every local file under the folder `rel` but those in
    /// `except` (pulled, not written here), the ones in `last` after all
    /// others and in their order.
    pub fn push_all(&self, rel: &str, except: &[String], last: &[String]) -> Result<Vec<String>> {
        let files: Vec<String> = self
            .local_files(rel)
            .into_iter()
            .filter(|f| !except.contains(f) && !last.contains(f))
            .collect();
        for f in files.iter().chain(last) {
            self.push(f)?;
        }
        Ok(files)
    }

    /// Every file under the local folder `rel` (not hidden ones: scratch
    /// and temporary files), as paths relative to the mirror, sorted.
    pub fn local_files(&self, rel: &str) -> Vec<String> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let r = format!("{rel}/{name}");
                if e.path().is_dir() {
                    walk(&e.path(), &r, out);
                } else {
                    out.push(r);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path(rel), rel, &mut out);
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_dir_is_a_url_only_for_an_object_store() {
        assert_eq!(
            url_of(Path::new("s3://runs/harbolnas")),
            Some("s3://runs/harbolnas")
        );
        assert!(url_of(Path::new("gs://b/p")).is_some());
        assert!(url_of(Path::new("az://c/p")).is_some());
        assert_eq!(url_of(Path::new("siap-work/harbolnas")), None);
        assert_eq!(url_of(Path::new("/srv/siap")), None);
        assert_eq!(url_of(Path::new("https://example.com/x")), None);
    }

    #[test]
    fn latest_may_name_a_run_folder_and_nothing_else() {
        assert!(is_run_path("runs/2026-11-27/20261127T010203.004Z-77"));
        for bad in [
            "runs/2026-11-27",
            "runs/2026-13-27/x",
            "runs/2026-11-27/../../etc",
            "/etc/passwd",
            "runs/2026-11-27/a/b",
            "flights/2026-11-27/x",
        ] {
            assert!(!is_run_path(bad), "{bad}");
        }
    }
}
