//! HTTP(S) sources, fetched the way a nightly job must.
//!
//! - Timeouts: connect, idle read (a body that stalls) and a total budget
//!   per source covering every attempt and wait.
//! - Retries with exponential backoff and jitter on connection errors,
//!   timeouts, broken bodies, 429 and 5xx (not 501); `Retry-After` honoured
//!   in seconds or as an HTTP date when it fits the remaining budget. Other
//!   4xx are final. Every attempt is logged with its outcome.
//! - Integrity: a body shorter than its Content-Length, larger than
//!   `max_bytes`, or an HTML page where a feed was expected fails.
//! - Conditional GET: the previous copy's ETag / Last-Modified are sent; a
//!   304 reuses the previous raw copy.
//! - Redirects: at most 5; never from HTTPS to HTTP; never to another host
//!   or port when the source carries credentials (headers, user info or a
//!   query).
//! - Secrets: header values and URLs are never printed; URLs are shown
//!   through [`redact_url`].

use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{Fetched, Previous, redact_url};
use crate::error::{End, Failure, Http, Problem};
use crate::pipeline::Source;

/// Whether an attempt's failure is worth another try.
enum Retry {
    No,
    /// Yes, after the server's `Retry-After` if it sent one.
    Yes(Option<Duration>),
}

struct AttemptError {
    retry: Retry,
    failure: Failure,
}

fn final_error(failure: Failure) -> AttemptError {
    AttemptError {
        retry: Retry::No,
        failure,
    }
}

fn retryable(failure: Failure, after: Option<Duration>) -> AttemptError {
    AttemptError {
        retry: Retry::Yes(after),
        failure,
    }
}

/// A failure to write the body to `path`.
fn write_failed(path: &Path, e: impl std::fmt::Display) -> AttemptError {
    final_error(Failure::Write {
        path: path.to_path_buf(),
        error: e.to_string(),
    })
}

/// One request as a source asks it: the method, the URL, the body, the
/// previous copy (for a conditional GET) and how large the answer may be.
pub struct Ask<'a> {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    /// The body's content type and bytes (a secret: never printed).
    pub body: Option<(&'static str, Vec<u8>)>,
    pub previous: Option<&'a Previous>,
    pub limit: u64,
}

/// The client for one source: its timeouts, and a redirect policy that
/// keeps its credentials (headers, user info, a query or a `body`) on the
/// host they belong to.
pub fn client(source: &Source, url: &reqwest::Url, body: bool) -> Result<reqwest::Client, String> {
    let o = &source.http;
    let credentials = body
        || !o.headers.is_empty()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some();
    // The origin credentials belong to: the host and the port (reqwest
    // strips only `Authorization` when either changes; custom headers
    // such as `X-Api-Key` would follow the redirect).
    let origin = |u: &reqwest::Url| (u.host_str().map(str::to_string), u.port_or_known_default());
    let home = origin(url);
    let allowed = o.allow_redirect_hosts.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("more than 5 redirects");
        }
        let from_https = attempt
            .previous()
            .last()
            .is_some_and(|u| u.scheme() == "https");
        if from_https && attempt.url().scheme() == "http" {
            return attempt.error("refusing to follow a redirect from HTTPS to HTTP");
        }
        let named = attempt.url().host_str().is_some_and(|h| {
            crate::pipeline::host_allowed(&allowed, h, attempt.url().port_or_known_default())
        });
        if credentials && origin(attempt.url()) != home && !named {
            let to = origin(attempt.url());
            let host = to.0.as_deref().unwrap_or("?");
            return attempt.error(if to.0 == home.0 {
                format!(
                    "refusing to follow a redirect to another port (`{host}:{}`) with this source's credentials (name it in `allow_redirect_hosts` to allow it)",
                    to.1.unwrap_or(0)
                )
            } else {
                format!(
                    "refusing to follow a redirect to another host (`{host}`) with this source's credentials (name it in `allow_redirect_hosts` to allow it)"
                )
            });
        }
        attempt.follow()
    });
    reqwest::Client::builder()
        .connect_timeout(o.connect_timeout)
        .read_timeout(o.read_timeout)
        .redirect(policy)
        .user_agent(concat!("siap/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A reqwest error without its URL (which may hold a secret): the kind,
/// and the innermost cause.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "bad redirect"
    } else if e.is_body() || e.is_decode() {
        "the body broke off"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_millis(ms.max(0) as u64))
}

/// A number in [0.5, 1.0) that differs from call to call (jitter spreads
/// retries of many sources hitting one server).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    0.5 + (h.finish() % 1000) as f64 / 2000.0
}

pub(super) fn backoff(attempt: u32) -> Duration {
    let base = 0.5 * 2f64.powi(attempt.saturating_sub(1) as i32);
    Duration::from_secs_f64(base.min(30.0) * jitter())
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers().get(name)?.to_str().ok().map(str::to_string)
}

fn looks_like_html(first: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&first[..first.len().min(512)]).to_ascii_lowercase();
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with("<!doctype html") || t.starts_with("<html")
}

/// The request `ask` describes, with the source's headers and the
/// previous copy's validators.
fn request(client: &reqwest::Client, source: &Source, ask: &Ask<'_>) -> reqwest::RequestBuilder {
    let mut req = client.request(ask.method.clone(), ask.url.clone());
    for (k, v) in &source.http.headers {
        req = req.header(k, v);
    }
    if let Some((content_type, bytes)) = &ask.body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, *content_type)
            .body(bytes.clone());
    }
    if let Some(p) = ask.previous {
        if let Some(e) = &p.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &p.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
    }
    req
}

async fn attempt_once(
    client: &reqwest::Client,
    source: &Source,
    ask: &Ask<'_>,
    dest: &Path,
) -> Result<Fetched, AttemptError> {
    let o = &source.http;
    let previous = ask.previous;
    let mut resp = match request(client, source, ask).send().await {
        Ok(r) => r,
        Err(e) if e.is_redirect() || e.is_builder() => {
            return Err(final_error(Failure::Request(describe(&e))));
        }
        Err(e) => return Err(retryable(Failure::Request(describe(&e)), None)),
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        if let Some(p) = previous {
            let bytes = std::fs::copy(&p.raw, dest)
                .map_err(|e| write_failed(dest, format!("cannot copy the previous copy: {e}")))?;
            return Ok(Fetched {
                path: dest.to_path_buf(),
                bytes,
                unchanged: true,
                etag: p.etag.clone(),
                last_modified: p.last_modified.clone(),
                attempts: 0,
                copy_from: None,
                pages: None,
            });
        }
        return Err(final_error(Failure::UnaskedNotModified));
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != reqwest::StatusCode::NOT_IMPLEMENTED)
    {
        return Err(retryable(
            Failure::Status(status.to_string()),
            retry_after(&resp),
        ));
    }
    if !status.is_success() {
        return Err(final_error(Failure::Status(status.to_string())));
    }
    let content_type = header(&resp, reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let expected = source.dialect.format.as_str();
    if content_type.to_ascii_lowercase().starts_with("text/html") {
        return Err(final_error(Failure::Html {
            content_type: Some(content_type),
            expected,
        }));
    }
    let length = resp.content_length();
    if let Some(n) = length
        && n > ask.limit
    {
        return Err(final_error(Failure::TooLarge {
            size: Some(n),
            limit: ask.limit,
        }));
    }
    let etag = header(&resp, reqwest::header::ETAG);
    let last_modified = header(&resp, reqwest::header::LAST_MODIFIED);
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| write_failed(dest, e))?;
    let bar = crate::sys::progress::bytes(&source.id, length);
    // Bytes received so far.
    let mut got = 0u64;
    let mut first = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                bar.finish_and_clear();
                return Err(retryable(
                    Failure::Stalled {
                        secs: o.read_timeout.as_secs(),
                        after: got,
                    },
                    None,
                ));
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(retryable(
                    Failure::BrokeOff {
                        detail: describe(&e),
                        after: got,
                    },
                    None,
                ));
            }
        };
        if first.len() < 512 {
            first.extend_from_slice(&chunk[..chunk.len().min(512 - first.len())]);
            if looks_like_html(&first) {
                bar.finish_and_clear();
                return Err(final_error(Failure::Html {
                    content_type: None,
                    expected,
                }));
            }
        }
        got += chunk.len() as u64;
        bar.set_position(got);
        if got > ask.limit {
            bar.finish_and_clear();
            return Err(final_error(Failure::TooLarge {
                size: None,
                limit: ask.limit,
            }));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| write_failed(dest, e))?;
    }
    bar.finish_and_clear();
    if let Some(n) = length
        && got != n
    {
        return Err(retryable(Failure::Short { got, expected: n }, None));
    }
    file.sync_all().await.map_err(|e| write_failed(dest, e))?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: got,
        unchanged: false,
        etag,
        last_modified,
        attempts: 0,
        copy_from: None,
        pages: None,
    })
}

/// A GET of `url` to `dest` (conditional, given the previous copy).
pub async fn fetch(
    source: &Source,
    url: &str,
    dest: &Path,
    previous: Option<&Previous>,
) -> Result<Fetched, Problem> {
    let shown = redact_url(url);
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| unusable(&shown, format!("`{shown}` is not a valid URL: {e}")))?;
    let client = client(source, &parsed, false).map_err(|e| unusable(&shown, e))?;
    let ask = Ask {
        method: reqwest::Method::GET,
        url: parsed,
        body: None,
        previous,
        limit: source.http.max_bytes,
    };
    let deadline = Instant::now() + source.http.total_timeout;
    send(source, &client, &ask, dest, deadline).await
}

/// A request that could not be made: no attempt.
pub fn unusable(shown: &str, detail: String) -> Problem {
    Problem::Http(Http {
        url: shown.to_string(),
        attempt: 0,
        failure: Failure::Request(detail),
        end: End::Unusable,
    })
}

/// Sends `ask`, its answer to `dest`, with retries until `deadline`.
pub async fn send(
    source: &Source,
    client: &reqwest::Client,
    ask: &Ask<'_>,
    dest: &Path,
    deadline: Instant,
) -> Result<Fetched, Problem> {
    let shown = redact_url(ask.url.as_str());
    let method = ask.method.as_str();
    let o = &source.http;
    let total_secs = o.total_timeout.as_secs();
    let failed = |attempt, failure, end| {
        Problem::Http(Http {
            url: shown.clone(),
            attempt,
            failure,
            end,
        })
    };
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result =
            tokio::time::timeout_at(deadline, attempt_once(client, source, ask, dest)).await;
        let err = match result {
            Ok(Ok(mut f)) => {
                f.attempts = attempt;
                tracing::info!(stage = "fetch", source = %source.id, url = %shown, method, attempt, bytes = f.bytes, unchanged = f.unchanged, "Request succeeded.");
                return Ok(f);
            }
            Ok(Err(e)) => e,
            Err(_) => {
                let why = Failure::Request("timed out".into());
                return Err(failed(attempt, why, End::TimedOut { total_secs }));
            }
        };
        let outcome = err.failure.to_string();
        let wait = match err.retry {
            Retry::No => {
                tracing::warn!(stage = "fetch", source = %source.id, url = %shown, method, attempt, outcome = %outcome, "Request failed; not retrying.");
                return Err(failed(attempt, err.failure, End::NotRetried));
            }
            Retry::Yes(after) => after.unwrap_or_else(|| backoff(attempt)),
        };
        if attempt >= o.max_attempts {
            tracing::warn!(stage = "fetch", source = %source.id, url = %shown, method, attempt, outcome = %outcome, "Request failed; no attempts left.");
            return Err(failed(attempt, err.failure, End::GaveUp));
        }
        if Instant::now() + wait > deadline {
            let end = End::WouldOverrun {
                wait_secs: wait.as_secs_f64(),
                total_secs,
            };
            return Err(failed(attempt, err.failure, end));
        }
        tracing::warn!(stage = "fetch", source = %source.id, url = %shown, method, attempt, outcome = %outcome, retry_in_ms = wait.as_millis() as u64, "Request failed; retrying.");
        tokio::time::sleep(wait).await;
    }
}
