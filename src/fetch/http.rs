//! HTTP(S) sources.

use std::time::Duration;

use super::{Fetched, redact_url};

pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let shown = redact_url(url);
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {shown} failed: {}", describe(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {shown} answered {status}"));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("GET {shown}: reading the body failed: {}", describe(&e)))?;
    Ok(Fetched::new(bytes.to_vec()))
}

/// A reqwest error without its URL (which may hold a secret).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "request error"
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
