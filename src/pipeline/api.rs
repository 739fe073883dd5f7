//! How an HTTP API is asked for its records: `method`, `body`, `records`
//! and `[paginate]` of a source. Read here; carried out by
//! `fetch::api`.
//!
//! ```toml
//! [[shipments]]
//! id = "lincah"
//! provider = "lincah"
//! location = "https://api.lincah.example/v2/shipments"
//! method = "POST"
//! body = { json = { api_key = "${LINCAH_KEY}", date = "{date:%Y-%m-%d}" } }
//! records = "data.items"
//! paginate = { page_param = "page", first_page = 1, max_pages = 500 }
//! ```

use toml_edit::{TableLike, Value};

use super::doc::Doc;
use super::resolve::{EnvProblem, substitute_env};

/// The request method of an API source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request body, `${VAR}`s already expanded; `{date…}` is filled in for
/// each run. A secret: never printed.
#[derive(Clone, PartialEq)]
pub enum Body {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Body::Json(_) => "Json(***)",
            Body::Form(_) => "Form(***)",
        })
    }
}

/// Where a page number or cursor is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Query,
    Body,
}

/// How the next page is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Paginate {
    /// One request.
    None,
    /// The URL at this path of each page (absolute or relative); missing,
    /// null or empty ends the feed.
    NextLink(Vec<String>),
    /// A page number from `first`, sent as `param`; a page without records
    /// ends the feed.
    Page {
        param: String,
        first: i64,
        place: Place,
    },
    /// The cursor at `path` of each page, sent as `param` with the next
    /// request; missing, null or empty ends the feed.
    Cursor {
        path: Vec<String>,
        param: String,
        place: Place,
    },
}

/// An API source's request and paging.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiOptions {
    pub method: Method,
    pub body: Option<Body>,
    /// Path to the records array in each page (`data.items`); empty: the
    /// page is the array.
    pub records: Vec<String>,
    pub paginate: Paginate,
    /// Pages read at most; one more is a failure (a loop, or a feed far
    /// longer than expected).
    pub max_pages: u32,
}

/// The default `max_pages`.
pub const DEFAULT_MAX_PAGES: u32 = 1000;

/// The keys of a source that make it an API source.
pub const KEYS: &[&str] = &["method", "body", "records", "paginate"];
const PAGINATE_KEYS: &[&str] = &[
    "next_link",
    "page_param",
    "first_page",
    "cursor",
    "cursor_param",
    "param_in",
    "max_pages",
];

impl Body {
    /// The body with each string's `{date…}` filled in.
    pub fn with_date(&self, date: chrono::NaiveDate) -> Result<Body, String> {
        let fill = |s: &str| super::locate::with_date(s, date);
        Ok(match self {
            Body::Json(v) => Body::Json(json_with_date(v, &fill)?),
            Body::Form(pairs) => Body::Form(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), fill(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

fn json_with_date(
    v: &serde_json::Value,
    fill: &dyn Fn(&str) -> Result<String, String>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::String(s) => J::String(fill(s)?),
        J::Array(a) => J::Array(
            a.iter()
                .map(|x| json_with_date(x, fill))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(o) => J::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), json_with_date(x, fill)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A dotted path (`data.items`); `""` is the document itself.
pub fn split_path(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<String> = path.split('.').map(str::to_string).collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

/// The source's API options, when it has any of [`KEYS`]: `Some(None)`
/// when it has none, `None` after a problem.
pub fn parse(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    is_http: bool,
) -> Option<Option<ApiOptions>> {
    if KEYS.iter().all(|k| t.get(k).is_none()) {
        return Some(None);
    }
    if !is_http {
        let key = KEYS
            .iter()
            .find(|k| t.get(k).is_some())
            .unwrap_or(&"method");
        doc.problem(
            Doc::span_of(t, key),
            format!("`{path}.{key}` applies only to an `http(s)://` location"),
        );
        return None;
    }
    let method = match doc.string(t, path, "method").as_deref() {
        None => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("get") => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("post") => Method::Post,
        Some(other) => {
            doc.problem(
                Doc::span_of(t, "method"),
                format!("`{path}.method` `{other}`: use \"GET\" or \"POST\""),
            );
            return None;
        }
    };
    let body = match t.get("body") {
        None => None,
        Some(_) => Some(body(doc, t, path)?),
    };
    if body.is_some() && method == Method::Get {
        doc.problem(
            Doc::span_of(t, "body"),
            format!("`{path}.body` needs `method = \"POST\"`"),
        );
        return None;
    }
    let records = match doc.string(t, path, "records") {
        None if t.get("records").is_some() => None,
        None => Some(Vec::new()),
        Some(r) => {
            let p = split_path(&r);
            if p.is_none() {
                doc.problem(
                    Doc::span_of(t, "records"),
                    format!("`{path}.records` `{r}` must be a dotted path such as \"data.items\""),
                );
            }
            p
        }
    };
    let (paginate, max_pages) = match t.get("paginate") {
        None => (Paginate::None, DEFAULT_MAX_PAGES),
        Some(_) => paginate(doc, t, path, method, body.is_some())?,
    };
    let records = records?;
    Some(Some(ApiOptions {
        method,
        body,
        records,
        paginate,
        max_pages,
    }))
}

/// `body = { json = { … } }` or `body = { form = { … } }`.
fn body(doc: &mut Doc, t: &dyn TableLike, path: &str) -> Option<Body> {
    let b = doc.table(t, path, "body")?;
    let bpath = format!("{path}.body");
    let keys: Vec<String> = b.iter().map(|(k, _)| k.to_string()).collect();
    let bad = |doc: &mut Doc| {
        doc.problem(
            Doc::span_of(t, "body"),
            format!("`{bpath}` must be `{{ json = {{ … }} }}` or `{{ form = {{ … }} }}`"),
        );
    };
    let [key] = keys.as_slice() else {
        bad(doc);
        return None;
    };
    let inner = doc.table(b, &bpath, key)?;
    let ipath = format!("{bpath}.{key}");
    match key.as_str() {
        "json" => {
            let mut o = serde_json::Map::new();
            for (k, item) in inner.iter() {
                let Some(v) = item.as_value() else {
                    doc.problem(
                        Doc::span_of(inner, k),
                        format!("`{ipath}.{k}`: write nested objects inline (`{{ … }}`)"),
                    );
                    return None;
                };
                o.insert(k.to_string(), json(doc, inner, &ipath, k, v)?);
            }
            Some(Body::Json(serde_json::Value::Object(o)))
        }
        "form" => {
            let mut pairs = Vec::new();
            for (k, item) in inner.iter() {
                let text = match item.as_value() {
                    Some(Value::String(s)) => s.value().to_string(),
                    Some(Value::Integer(i)) => i.value().to_string(),
                    Some(Value::Boolean(b)) => b.value().to_string(),
                    _ => {
                        doc.problem(
                            Doc::span_of(inner, k),
                            format!("`{ipath}.{k}` must be a string, integer or boolean"),
                        );
                        return None;
                    }
                };
                pairs.push((k.to_string(), expand(doc, inner, &ipath, k, &text)?));
            }
            Some(Body::Form(pairs))
        }
        _ => {
            bad(doc);
            None
        }
    }
}

/// A TOML value as JSON, `${VAR}` expanded in strings.
fn json(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    key: &str,
    v: &Value,
) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        Value::String(s) => J::String(expand(doc, t, path, key, s.value())?),
        Value::Integer(i) => J::from(*i.value()),
        Value::Float(f) => J::from(*f.value()),
        Value::Boolean(b) => J::Bool(*b.value()),
        Value::Datetime(d) => J::String(d.value().to_string()),
        Value::Array(a) => J::Array(
            a.iter()
                .map(|x| json(doc, t, path, key, x))
                .collect::<Option<_>>()?,
        ),
        Value::InlineTable(it) => {
            let mut o = serde_json::Map::new();
            for (k, x) in it.iter() {
                o.insert(k.to_string(), json(doc, t, path, key, x)?);
            }
            J::Object(o)
        }
    })
}

/// `${VAR}` expanded; `{date…}` checked (it is filled in for each run).
fn expand(doc: &mut Doc, t: &dyn TableLike, path: &str, key: &str, text: &str) -> Option<String> {
    if let Err(e) = super::locate::check(text) {
        doc.problem(Doc::span_of(t, key), format!("`{path}.{key}`: {e}"));
        return None;
    }
    match substitute_env(text) {
        Ok(v) => Some(v),
        Err(EnvProblem::Unclosed) => {
            doc.problem(
                Doc::span_of(t, key),
                format!("`{path}.{key}`: `${{` without a closing `}}`"),
            );
            None
        }
        Err(EnvProblem::Unset(var)) => {
            doc.problem(
                Doc::span_of(t, key),
                format!("`{path}.{key}` uses the environment variable `{var}`, which is not set"),
            );
            None
        }
    }
}

fn paginate(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    method: Method,
    has_body: bool,
) -> Option<(Paginate, u32)> {
    let p = doc.table(t, path, "paginate")?;
    let ppath = format!("{path}.paginate");
    doc.check_keys(p, &ppath, PAGINATE_KEYS);
    let max_pages = match p.get("max_pages") {
        None => DEFAULT_MAX_PAGES,
        Some(_) => match doc.integer(p, &ppath, "max_pages") {
            Some(n) if (1..=1_000_000).contains(&n) => n as u32,
            _ => {
                doc.problem(
                    Doc::span_of(p, "max_pages"),
                    format!("`{ppath}.max_pages` must be between 1 and 1000000"),
                );
                return None;
            }
        },
    };
    let place = match doc.string(p, &ppath, "param_in").as_deref() {
        None if method == Method::Post && has_body => Place::Body,
        None | Some("query") => Place::Query,
        Some("body") if has_body => Place::Body,
        Some(other) => {
            doc.problem(
                Doc::span_of(p, "param_in"),
                format!("`{ppath}.param_in` `{other}`: use \"query\", or \"body\" with a `body`"),
            );
            return None;
        }
    };
    let styles: Vec<&str> = ["next_link", "page_param", "cursor"]
        .into_iter()
        .filter(|k| p.get(k).is_some())
        .collect();
    let dotted = |doc: &mut Doc, key: &str| -> Option<Vec<String>> {
        let text = doc.string(p, &ppath, key)?;
        match split_path(&text).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                doc.problem(
                    Doc::span_of(p, key),
                    format!("`{ppath}.{key}` must be a dotted path such as \"links.next\""),
                );
                None
            }
        }
    };
    let paginate = match styles.as_slice() {
        ["next_link"] => Paginate::NextLink(dotted(doc, "next_link")?),
        ["page_param"] => Paginate::Page {
            param: doc.string(p, &ppath, "page_param")?,
            first: match p.get("first_page") {
                None => 1,
                Some(_) => doc.integer(p, &ppath, "first_page")?,
            },
            place,
        },
        ["cursor"] => Paginate::Cursor {
            path: dotted(doc, "cursor")?,
            param: match doc.string(p, &ppath, "cursor_param") {
                Some(c) => c,
                None => {
                    doc.problem(
                        Doc::span_of(t, "paginate"),
                        format!("`{ppath}` with `cursor` needs `cursor_param`, the name the cursor is sent under"),
                    );
                    return None;
                }
            },
            place,
        },
        _ => {
            doc.problem(
                Doc::span_of(t, "paginate"),
                format!("`{ppath}` needs exactly one of `next_link`, `page_param` or `cursor`"),
            );
            return None;
        }
    };
    Some((paginate, max_pages))
}
