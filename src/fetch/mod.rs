//! Fetch: a source's location → its bytes, size and sha256. Parses nothing.
//!
//! All sources are fetched concurrently on a tokio runtime; the polars work
//! of the later stages runs on plain threads after the runtime is done
//! (polars inside an async task can panic, polars issue #26902).

pub mod http;
pub mod local;

use sha2::{Digest, Sha256};

use crate::pipeline::{Location, Source};

/// The bytes of one source and what the manifest records about them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Fetched {
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Fetched { bytes, sha256 }
    }
}

/// Fetches every source, at most `concurrency` at a time. Results are in
/// the order of `sources`; an `Err` carries a message naming no secret.
pub fn fetch_all(sources: &[&Source], concurrency: usize) -> Vec<Result<Fetched, String>> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return sources
                .iter()
                .map(|_| Err(format!("cannot start the fetch runtime: {e}")))
                .collect();
        }
    };
    runtime.block_on(async {
        let client = http::client();
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let tasks: Vec<_> = sources
            .iter()
            .map(|s| {
                let location = s.location.clone();
                let client = client.clone();
                let limit = limit.clone();
                tokio::spawn(async move {
                    let _permit = limit.acquire().await.map_err(|e| e.to_string())?;
                    match &location {
                        Location::Local(path) => local::fetch(path).await,
                        Location::Http(url) => match &client {
                            Ok(c) => http::fetch(c, url).await,
                            Err(e) => Err(e.clone()),
                        },
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

/// A URL as it may be shown: user and password removed, every query value
/// masked (API keys often travel as `?token=`).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, _)| (k.into_owned(), "***".to_string()))
                .collect();
            if !pairs.is_empty() {
                let q = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                u.set_query(Some(&q));
            }
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials_and_query_values() {
        let r = redact_url("https://user:s3cret@feeds.example/stok.csv?token=abc123&day=1");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(!r.contains("abc123"), "{r}");
        assert!(r.contains("token=***"), "{r}");
    }
}
