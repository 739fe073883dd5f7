//! HTTP API sources: a request (GET or POST, with a JSON or form body),
//! its records found at a path of each page, and the pages followed
//! (next link, page number or cursor) up to a cap.
//!
//! Every page is kept as sent in `raw/<id>.pages/0001.json`, …; the raw
//! copy staging reads, `raw/<id>`, holds the records one per line, each
//! the record's text as the provider sent it (its line breaks, which JSON
//! allows only between tokens, written as spaces). So an exception's
//! `raw` is the provider's record, and its `line` the record's position
//! across all pages. A page that fails, a record path that is missing or
//! a page cap reached fails the source: nothing half-read is staged.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use tokio::time::Instant;

use super::http::{self, Ask};
use super::{Fetched, redact_url};
use crate::error::{Action, Problem};
use crate::pipeline::Source;
use crate::pipeline::api::{ApiOptions, Body, Method, Paginate, Place};

/// The largest page read into memory, whatever `max_bytes` allows.
const MAX_PAGE_BYTES: u64 = 256 << 20;

/// What to ask for next.
struct Next {
    url: reqwest::Url,
    /// A page number or cursor, and its parameter name.
    param: Option<(String, String)>,
}

/// Where the pages of the raw copy `dest` are kept.
pub fn pages_dir(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".pages");
    dest.with_file_name(name)
}

pub async fn fetch(
    source: &Source,
    api: &ApiOptions,
    url: &str,
    dest: &Path,
) -> Result<Fetched, Problem> {
    let shown = redact_url(url);
    let first = reqwest::Url::parse(url)
        .map_err(|e| http::unusable(&shown, format!("`{shown}` is not a valid URL: {e}")))?;
    let client =
        http::client(source, &first, api.body.is_some()).map_err(|e| http::unusable(&shown, e))?;
    let pages = pages_dir(dest);
    std::fs::create_dir_all(&pages).map_err(Problem::io(Action::Write, &pages))?;
    let file = std::fs::File::create(dest).map_err(Problem::io(Action::Write, dest))?;
    let mut out = std::io::BufWriter::new(file);
    let deadline = Instant::now() + source.http.total_timeout;
    let mut next = Some(Next {
        url: first.clone(),
        param: match &api.paginate {
            Paginate::Page { param, first, .. } => Some((param.clone(), first.to_string())),
            _ => None,
        },
    });
    // Next links and cursors already followed, and the last page's hash.
    let mut seen: HashSet<String> = HashSet::new();
    let mut last_page: Option<[u8; 32]> = None;
    let (mut page, mut bytes, mut attempts, mut records) = (0u32, 0u64, 0u32, 0u64);
    while let Some(ask_for) = next.take() {
        page += 1;
        let fail = |message: String| Problem::Api { page, message };
        if page > api.max_pages {
            return Err(fail(format!(
                "more than max_pages = {} pages: the paging loops or the feed is far longer than expected (raise `paginate.max_pages` if it really is)",
                api.max_pages
            )));
        }
        let ask = request(source, api, &ask_for)?;
        let page_file = pages.join(format!("{page:04}.json"));
        let got = http::send(source, &client, &ask, &page_file, deadline).await?;
        attempts += got.attempts;
        let text = std::fs::read(&page_file).map_err(Problem::io(Action::ReadCopy, &page_file))?;
        let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&text).into();
        if last_page == Some(hash) && !matches!(api.paginate, Paginate::None) {
            return Err(fail(format!(
                "the page is the same as page {}: the server ignores the paging (a loop)",
                page - 1
            )));
        }
        last_page = Some(hash);
        let text = std::str::from_utf8(&text)
            .map_err(|e| fail(format!("the page is not UTF-8 (byte {})", e.valid_up_to())))?;
        let found = Page::read(text).map_err(|e| fail(format!("not JSON: {e}")))?;
        let items = found.records(&api.records).map_err(fail)?;
        for r in &items {
            let line = r.get().replace(['\n', '\r'], " ");
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(Problem::io(Action::Write, dest))?;
            bytes += line.len() as u64 + 1;
        }
        records += items.len() as u64;
        if bytes > source.http.max_bytes {
            return Err(Problem::TooLarge {
                what: "the records".into(),
                size: None,
                limit: source.http.max_bytes,
            });
        }
        next = following(api, &found, &ask_for, items.is_empty()).map_err(fail)?;
        if let Some(n) = &next {
            let key = match &n.param {
                Some((_, v)) if !matches!(api.paginate, Paginate::Page { .. }) => v.clone(),
                _ => n.url.to_string(),
            };
            if !matches!(api.paginate, Paginate::Page { .. }) && !seen.insert(key) {
                return Err(fail(
                    "the next page's link or cursor repeats an earlier one (a loop)".into(),
                ));
            }
            check_host(source, api, &first, &n.url).map_err(fail)?;
        }
    }
    out.flush().map_err(Problem::io(Action::Write, dest))?;
    out.get_ref()
        .sync_all()
        .map_err(Problem::io(Action::Write, dest))?;
    tracing::info!(stage = "fetch", source = %source.id, url = %shown, pages = page, records, "API pages read.");
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes,
        attempts,
        pages: Some(page),
        ..Fetched::default()
    })
}

/// The request for one page.
fn request<'a>(source: &Source, api: &ApiOptions, next: &Next) -> Result<Ask<'a>, Problem> {
    let mut url = next.url.clone();
    let mut body = api.body.clone();
    if let Some((name, value)) = &next.param {
        let place = match &api.paginate {
            Paginate::Page { place, .. } | Paginate::Cursor { place, .. } => *place,
            _ => Place::Query,
        };
        match (place, body.as_mut()) {
            (Place::Body, Some(Body::Json(serde_json::Value::Object(o)))) => {
                let v = value
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
                o.insert(name.clone(), v);
            }
            (Place::Body, Some(Body::Form(pairs))) => {
                pairs.retain(|(k, _)| k != name);
                pairs.push((name.clone(), value.clone()));
            }
            _ => {
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != name)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair(name, value);
            }
        }
    }
    let body = match body {
        None => None,
        Some(Body::Json(v)) => Some((
            "application/json",
            serde_json::to_vec(&v).map_err(|e| Problem::Internal(e.to_string()))?,
        )),
        Some(Body::Form(pairs)) => Some((
            "application/x-www-form-urlencoded",
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes(),
        )),
    };
    Ok(Ask {
        method: match api.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        },
        url,
        body,
        previous: None,
        limit: source.http.max_bytes.min(MAX_PAGE_BYTES),
    })
}

/// What comes after a page: `None` when the feed is done.
fn following(
    api: &ApiOptions,
    page: &Page<'_>,
    asked: &Next,
    empty: bool,
) -> Result<Option<Next>, String> {
    Ok(match &api.paginate {
        Paginate::None => None,
        Paginate::Page { param, .. } => {
            if empty {
                return Ok(None);
            }
            let n: i64 = asked
                .param
                .as_ref()
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            Some(Next {
                url: asked.url.clone(),
                param: Some((param.clone(), (n + 1).to_string())),
            })
        }
        Paginate::NextLink(path) => match page.scalar(path)? {
            None => None,
            Some(link) => Some(Next {
                url: asked
                    .url
                    .join(&link)
                    .map_err(|e| format!("the next link is not a URL: {e}"))?,
                param: None,
            }),
        },
        Paginate::Cursor { path, param, .. } => page.scalar(path)?.map(|c| Next {
            url: asked.url.clone(),
            param: Some((param.clone(), c)),
        }),
    })
}

/// A next link may lead only where the source's credentials may go: the
/// first URL's host and port, or a host of `allow_redirect_hosts`.
fn check_host(
    source: &Source,
    api: &ApiOptions,
    first: &reqwest::Url,
    next: &reqwest::Url,
) -> Result<(), String> {
    let origin = |u: &reqwest::Url| (u.host_str().map(str::to_string), u.port_or_known_default());
    if origin(next) == origin(first) {
        return Ok(());
    }
    if first.scheme() == "https" && next.scheme() == "http" {
        return Err("the next link leads from HTTPS to HTTP".into());
    }
    let credentials = api.body.is_some()
        || !source.http.headers.is_empty()
        || !first.username().is_empty()
        || first.query().is_some();
    let host = next.host_str().unwrap_or("?");
    let named = crate::pipeline::host_allowed(
        &source.http.allow_redirect_hosts,
        host,
        next.port_or_known_default(),
    );
    if credentials && !named {
        return Err(format!(
            "the next link leads to another host (`{host}`) and this source has credentials; name it in `allow_redirect_hosts` to allow it"
        ));
    }
    Ok(())
}

/// One page's JSON, its values unparsed.
struct Page<'a>(&'a RawValue);

impl<'a> Page<'a> {
    fn read(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text).map(Page)
    }

    /// The value at a dotted path: `None` when a step is missing or not
    /// an object.
    fn at(&self, path: &[String]) -> Option<&'a RawValue> {
        let mut here = self.0;
        for step in path {
            let fields: HashMap<String, &'a RawValue> = serde_json::from_str(here.get()).ok()?;
            here = *fields.get(step)?;
        }
        Some(here)
    }

    /// The records array at `path` (null: no records).
    fn records(&self, path: &[String]) -> Result<Vec<&'a RawValue>, String> {
        let shown = if path.is_empty() {
            "the page".to_string()
        } else {
            format!("`{}`", path.join("."))
        };
        let Some(v) = self.at(path) else {
            return Err(format!(
                "the page has no {shown} (set `records` to the path of the records array)"
            ));
        };
        if v.get().trim() == "null" {
            return Ok(Vec::new());
        }
        serde_json::from_str(v.get()).map_err(|_| format!("{shown} is not an array of records"))
    }

    /// A string or number at `path`; missing, null, false or `""` is
    /// `None`.
    fn scalar(&self, path: &[String]) -> Result<Option<String>, String> {
        let Some(v) = self.at(path) else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(v.get()) {
            Ok(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Ok(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
            Ok(serde_json::Value::Null | serde_json::Value::Bool(false)) => Ok(None),
            Ok(serde_json::Value::String(_)) => Ok(None),
            _ => Err(format!("`{}` is not a string or a number", path.join("."))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    fn path(p: &str) -> Vec<String> {
        crate::pipeline::api::split_path(p).unwrap()
    }

    #[test]
    fn records_are_found_by_path_and_kept_as_sent() {
        let text = r#"{"status": true, "data": {"items": [ {"id" : 1,
            "x": "a"}, {"id": 2} ], "next": null}, "meta": {"cursor": 42}}"#;
        let page = Page::read(text).unwrap();
        let items = page.records(&path("data.items")).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[0].get().starts_with(r#"{"id" : 1,"#));
        assert!(page.records(&path("data.missing")).is_err());
        assert!(page.records(&path("status")).is_err());
        assert_eq!(page.scalar(&path("data.next")).unwrap(), None);
        assert_eq!(
            page.scalar(&path("meta.cursor")).unwrap().as_deref(),
            Some("42")
        );
        assert!(page.records(&path("data.next")).unwrap().is_empty());
    }
}
