//! SFTP sources, the most common supplier drop, fetched like HTTP ones:
//!
//! - The server's host key must be in the source's known_hosts file
//!   (`sftp.known_hosts`, default `~/.ssh/known_hosts`): an unknown or
//!   changed key fails the source before any credential is sent.
//! - Login with a private key file (`identity_file`, `passphrase`) or a
//!   `password`, both from the environment; never printed.
//! - The file streams to `raw/<id>` under `max_bytes`; its size and
//!   modification time are the validator: when they match the previous
//!   copy's, that copy is used (`unchanged`), as a 304 would.
//! - Connection errors and broken transfers are retried with backoff, up
//!   to `max_attempts` and within `total_timeout_secs`; a refused host key,
//!   a refused login and a missing file are final.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{Fetched, Previous, redact_url};
use crate::error::Problem;
use crate::pipeline::locate::Candidate;
use crate::pipeline::{SftpOptions, Source};

/// Why an attempt failed, and whether another is worth it.
struct Failed {
    retry: bool,
    message: String,
}

fn final_error(message: impl Into<String>) -> Failed {
    Failed {
        retry: false,
        message: message.into(),
    }
}

fn retryable(message: impl Into<String>) -> Failed {
    Failed {
        retry: true,
        message: message.into(),
    }
}

/// Accepts the server only if its host key is in the known_hosts file;
/// says why not.
struct HostKey {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    refused: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refused.lock().unwrap_or_else(|e| e.into_inner()) =
                Some("the server offered a certificate; only known_hosts keys are checked".into());
            return Ok(false);
        };
        let verdict =
            russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts);
        let why = match verdict {
            Ok(true) => return Ok(true),
            Ok(false) => format!(
                "the server's host key ({}) is not in `{}`; add it (ssh-keyscan -p {} {}) after checking it",
                key.algorithm(),
                self.known_hosts.display(),
                self.port,
                self.host
            ),
            Err(russh::keys::Error::KeyChanged { line }) => format!(
                "the server's host key does not match line {line} of `{}`: it changed, or this is not the server",
                self.known_hosts.display()
            ),
            Err(e) => format!("cannot check `{}`: {e}", self.known_hosts.display()),
        };
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        Ok(false)
    }
}

/// The file at `url` to `dest`, with retries until the source's budget.
pub async fn fetch(
    source: &Source,
    url: &str,
    dest: &Path,
    previous: Option<&Previous>,
) -> Result<Fetched, Problem> {
    let shown = redact_url(url);
    let fail = |attempt, message: String| Problem::Transfer {
        url: shown.clone(),
        attempt,
        message,
    };
    let Some(options) = &source.sftp else {
        return Err(fail(0, "no `sftp` login is set".into()));
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(0, format!("not a URL: {e}")))?;
    let o = &source.http;
    let deadline = Instant::now() + o.total_timeout;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let once = attempt_once(source, options, &parsed, dest, previous);
        let err = match tokio::time::timeout_at(deadline, once).await {
            Ok(Ok(mut f)) => {
                f.attempts = attempt;
                tracing::info!(stage = "fetch", source = %source.id, url = %shown, attempt, bytes = f.bytes, unchanged = f.unchanged, "SFTP transfer succeeded.");
                return Ok(f);
            }
            Ok(Err(e)) => e,
            Err(_) => {
                let secs = o.total_timeout.as_secs();
                return Err(fail(attempt, format!("timed out after {secs} s")));
            }
        };
        if !err.retry || attempt >= o.max_attempts {
            tracing::warn!(stage = "fetch", source = %source.id, url = %shown, attempt, outcome = %err.message, "SFTP transfer failed; not retrying.");
            return Err(fail(attempt, err.message));
        }
        let wait = super::http::backoff(attempt);
        if Instant::now() + wait > deadline {
            return Err(fail(attempt, err.message));
        }
        tracing::warn!(stage = "fetch", source = %source.id, url = %shown, attempt, outcome = %err.message, retry_in_ms = wait.as_millis() as u64, "SFTP transfer failed; retrying.");
        tokio::time::sleep(wait).await;
    }
}

/// A logged-in SFTP session: host key checked, then the key or password.
async fn open_session(
    source: &Source,
    options: &SftpOptions,
    url: &reqwest::Url,
) -> Result<russh_sftp::client::SftpSession, Failed> {
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port().unwrap_or(22);
    let user = url.username().to_string();
    let refused = Arc::new(Mutex::new(None));
    let handler = HostKey {
        host: host.clone(),
        port,
        known_hosts: options.known_hosts.clone(),
        refused: refused.clone(),
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(source.http.read_timeout),
        ..client::Config::default()
    });
    let connect = client::connect(config, (host.as_str(), port), handler);
    let mut session = match tokio::time::timeout(source.http.connect_timeout, connect).await {
        Err(_) => return Err(retryable("could not connect: timed out")),
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            if let Some(why) = refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return Err(final_error(why));
            }
            return Err(retryable(format!("could not connect: {e}")));
        }
    };
    login(&mut session, options, &user).await?;
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| retryable(format!("cannot open a channel: {e}")))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| final_error(format!("the server has no sftp subsystem: {e}")))?;
    russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| retryable(format!("the SFTP session failed: {e}")))
}

/// The regular files of the folder of `url` whose names match its file
/// name's glob (`stok_*.csv`), for [`crate::pipeline::locate::choose`].
pub async fn list(source: &Source, url: &str) -> Result<Vec<Candidate>, Problem> {
    let fail = super::transfer_failed(url);
    let options = source
        .sftp
        .as_ref()
        .ok_or_else(|| fail("no `sftp` login is set".into()))?;
    let glob = super::RemoteGlob::parse(url).map_err(&fail)?;
    let sftp = open_session(source, options, &glob.url)
        .await
        .map_err(|e| fail(e.message))?;
    let dir = percent_decoded(glob.folder().path());
    let entries = sftp
        .read_dir(if dir.is_empty() { "/" } else { dir.as_str() })
        .await
        .map_err(|e| fail(format!("cannot list `{dir}/`: {e}")))?;
    let out = entries
        .filter(|e| e.file_type() == russh_sftp::protocol::FileType::File)
        .filter_map(|e| {
            let modified = e
                .metadata()
                .mtime
                .and_then(|t| chrono::DateTime::from_timestamp(i64::from(t), 0));
            glob.candidate(e.file_name(), modified)
        })
        .collect();
    let _ = sftp.close().await;
    Ok(out)
}

/// One connection: host key, login, stat, then the file (or the previous
/// copy when the size and modification time are the same).
async fn attempt_once(
    source: &Source,
    options: &SftpOptions,
    url: &reqwest::Url,
    dest: &Path,
    previous: Option<&Previous>,
) -> Result<Fetched, Failed> {
    let path = percent_decoded(url.path());
    let sftp = open_session(source, options, url).await?;
    let meta = sftp
        .metadata(path.as_str())
        .await
        .map_err(|e| final_error(format!("cannot stat `{path}`: {e}")))?;
    let size = meta.len();
    let limit = source.http.max_bytes;
    if size > limit {
        return Err(final_error(format!(
            "the file is {size} bytes, more than max_bytes = {limit}"
        )));
    }
    let validator = meta.mtime.map(|m| format!("mtime={m} size={size}"));
    if let (Some(v), Some(p)) = (&validator, previous)
        && p.last_modified.as_ref() == Some(v)
    {
        let bytes = std::fs::copy(&p.raw, dest)
            .map_err(|e| final_error(format!("cannot copy the previous copy: {e}")))?;
        return Ok(Fetched {
            path: dest.to_path_buf(),
            bytes,
            unchanged: true,
            last_modified: validator,
            ..Fetched::default()
        });
    }
    let mut file = sftp
        .open(path.as_str())
        .await
        .map_err(|e| final_error(format!("cannot open `{path}`: {e}")))?;
    let got = copy(&source.id, &mut file, dest, size, limit).await?;
    let _ = sftp.close().await;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: got,
        last_modified: validator,
        ..Fetched::default()
    })
}

/// Logs in with the key, else the password.
async fn login(
    session: &mut client::Handle<HostKey>,
    options: &SftpOptions,
    user: &str,
) -> Result<(), Failed> {
    let result = if let Some(file) = &options.identity_file {
        let key = russh::keys::load_secret_key(file, options.passphrase.as_deref())
            .map_err(|e| final_error(format!("cannot load the key `{}`: {e}", file.display())))?;
        let hash = session
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        session
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
    } else {
        let password = options.password.clone().unwrap_or_default();
        session.authenticate_password(user, password).await
    };
    match result {
        Ok(r) if r.success() => Ok(()),
        Ok(_) => Err(final_error(format!(
            "the server refused the login of `{user}` ({})",
            if options.identity_file.is_some() {
                "key"
            } else {
                "password"
            }
        ))),
        Err(e) => Err(retryable(format!("the login broke off: {e}"))),
    }
}

/// Streams the open file to `dest`, at most `limit` bytes; a transfer
/// shorter than the size the server stated is retried.
async fn copy(
    id: &str,
    file: &mut russh_sftp::client::fs::File,
    dest: &Path,
    size: u64,
    limit: u64,
) -> Result<u64, Failed> {
    let write = |e: std::io::Error| final_error(format!("cannot write `{}`: {e}", dest.display()));
    let mut out = tokio::fs::File::create(dest).await.map_err(write)?;
    let bar = crate::sys::progress::bytes(id, Some(size));
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| retryable(format!("the transfer broke off after {got} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > limit {
            bar.finish_and_clear();
            return Err(final_error(format!(
                "the file is more than max_bytes = {limit} bytes"
            )));
        }
        out.write_all(&buf[..n]).await.map_err(write)?;
        bar.set_position(got);
    }
    bar.finish_and_clear();
    if got < size {
        return Err(retryable(format!(
            "the transfer ended after {got} of {size} bytes"
        )));
    }
    out.sync_all().await.map_err(write)?;
    Ok(got)
}

/// A URL path as the server names the file (`%20` → space).
fn percent_decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}
