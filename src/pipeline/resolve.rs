//! From the TOML document to a checked [`Pipeline`], reporting every
//! problem in the file at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use toml_edit::{Item, TableLike};

use super::doc::{Doc, join_path, table_span};
use super::{
    Campaign, Dialect, Encoding, Format, Location, Pipeline, Source, SourceKind, Sources,
    default_minimum_units, is_safe_id,
};
use crate::error::{ConfigProblem, Error, Result};
use crate::model::Status;

const TOP_KEYS: &[&str] = &[
    "campaign",
    "catalog",
    "sku_map",
    "stock",
    "shipments",
    "output",
    "notify",
];
const CAMPAIGN_KEYS: &[&str] = &["name", "minimum_units", "timezone", "window"];
const WINDOW_KEYS: &[&str] = &["opens", "closes"];
const DIALECT_KEYS: &[&str] = &[
    "location",
    "format",
    "gzip",
    "encoding",
    "delimiter",
    "quote",
    "skip_lines",
    "decimal",
    "thousands",
    "timestamp_format",
    "date_format",
    "sheet",
    "header_row",
    "columns",
    "headers",
    "connect_timeout_secs",
    "read_timeout_secs",
    "total_timeout_secs",
    "max_attempts",
    "max_bytes",
    "max_record_bytes",
    "allow_redirect_hosts",
    "method",
    "body",
    "records",
    "paginate",
    "on_fetch_failure",
    "sftp",
];

/// Reads and checks a pipeline file.
pub fn load(path: &Path) -> Result<Pipeline> {
    let src = std::fs::read_to_string(path).map_err(|source| Error::PipelineRead {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&src, path)
}

/// Checks a pipeline file's text; `path` names it in messages and anchors
/// relative source paths.
pub fn parse(src: &str, path: &Path) -> Result<Pipeline> {
    let mut doc = Doc::new(src, path);
    let parsed = match toml_edit::Document::parse(src) {
        Ok(d) => d,
        Err(e) => {
            let message = e.message().trim_end().to_string();
            doc.problem(e.span(), format!("invalid TOML: {message}"));
            return Err(Error::Config(doc.problems));
        }
    };
    let root = parsed.as_table();
    doc.check_keys(root, "", TOP_KEYS);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

    let campaign = campaign(&mut doc, root);
    let output = output(&mut doc, root);
    let notify = super::notify::notify(&mut doc, root);
    let catalog = reference(&mut doc, root, &base, SourceKind::Catalog);
    let sku_map = reference(&mut doc, root, &base, SourceKind::SkuMap);
    let mut feeds = Vec::new();
    feeds.extend(feed_list(&mut doc, root, &base, SourceKind::Stock));
    feeds.extend(feed_list(&mut doc, root, &base, SourceKind::Shipments));

    // Ids name files and folders and are how operators pick a source.
    let mut seen = BTreeSet::from(["catalog".to_string(), "sku_map".to_string()]);
    for (feed, span) in &feeds {
        if !seen.insert(feed.id.clone()) {
            doc.problem(
                span.clone(),
                format!("source id `{}` is used more than once", feed.id),
            );
        }
    }

    let mut problems = doc.problems;
    sort_problems(&mut problems);
    match (campaign, catalog, sku_map) {
        (Some(campaign), Some(catalog), Some(sku_map)) if problems.is_empty() => Ok(Pipeline {
            file: path.to_path_buf(),
            campaign,
            sources: Sources {
                catalog,
                sku_map,
                feeds: feeds.into_iter().map(|(f, _)| f).collect(),
            },
            output,
            notify,
        }),
        _ => Err(Error::Config(problems)),
    }
}

fn sort_problems(problems: &mut [ConfigProblem]) {
    problems.sort_by_key(|a| (a.line, a.column));
}

fn campaign(doc: &mut Doc, root: &dyn TableLike) -> Option<Campaign> {
    let Some(item) = root.get("campaign") else {
        doc.problem(Some(0..0), "missing table `[campaign]`");
        return None;
    };
    let span = table_span(item);
    let t = doc.table(root, "", "campaign")?;
    doc.check_keys(t, "campaign", CAMPAIGN_KEYS);

    let name = doc.required_string(t, span.clone(), "campaign", "name");
    let minimum_units = match t.get("minimum_units") {
        None => Some(default_minimum_units()),
        Some(_) => match doc.integer(t, "campaign", "minimum_units") {
            Some(m) if m >= 1 => Some(m),
            Some(_) => {
                doc.problem(
                    Doc::span_of(t, "minimum_units"),
                    "`campaign.minimum_units` must be at least 1",
                );
                None
            }
            None => None,
        },
    };
    let timezone = match doc.required_string(t, span.clone(), "campaign", "timezone") {
        Some(tz) => {
            match tz.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    doc.problem(
                    Doc::span_of(t, "timezone"),
                    format!("`campaign.timezone`: `{tz}` is not an IANA timezone such as `Asia/Jakarta`"),
                );
                    None
                }
            }
        }
        None => None,
    };
    let (opens, closes) = match t.get("window") {
        None => {
            doc.problem(
                span,
                "missing key `campaign.window` (with `opens` and `closes`)",
            );
            (None, None)
        }
        Some(w) => {
            let wspan = table_span(w);
            match doc.table(t, "campaign", "window") {
                Some(w) => {
                    doc.check_keys(w, "campaign.window", WINDOW_KEYS);
                    let mut get = |key: &str| {
                        if w.get(key).is_none() {
                            doc.problem(
                                wspan.clone(),
                                format!("missing key `campaign.window.{key}`"),
                            );
                            None
                        } else {
                            doc.date(w, "campaign.window", key)
                        }
                    };
                    let opens = get("opens");
                    let closes = get("closes");
                    if let (Some(o), Some(c)) = (opens, closes)
                        && o > c
                    {
                        doc.problem(
                            Doc::span_of(w, "closes"),
                            format!(
                                "`campaign.window` is reversed: closes {c} is before opens {o}"
                            ),
                        );
                    }
                    (opens, closes)
                }
                None => (None, None),
            }
        }
    };
    Some(Campaign {
        name: name?,
        minimum_units: minimum_units?,
        opens: opens?,
        closes: closes?,
        timezone: timezone?,
    })
}

fn reference(doc: &mut Doc, root: &dyn TableLike, base: &Path, kind: SourceKind) -> Option<Source> {
    let key = kind.as_str();
    if root.get(key).is_none() {
        doc.problem(
            Some(0..0),
            format!("missing table `[{key}]` (with `location = \"...\"`)"),
        );
        return None;
    }
    let span = table_span(root.get(key)?);
    let t = doc.table(root, "", key)?;
    source(doc, t, span, key, base, kind, Some(key.to_string()))
}

fn feed_list(
    doc: &mut Doc,
    root: &dyn TableLike,
    base: &Path,
    kind: SourceKind,
) -> Vec<(Source, Option<std::ops::Range<usize>>)> {
    let key = kind.as_str();
    let mut out = Vec::new();
    let Some(item) = root.get(key) else {
        return out;
    };
    let Item::ArrayOfTables(arr) = item else {
        doc.problem(
            Doc::span_of(root, key),
            format!("`{key}` must be written as `[[{key}]]` tables"),
        );
        return out;
    };
    for (i, t) in arr.iter().enumerate() {
        let path = format!("{key}[{i}]");
        if let Some(s) = source(doc, t, t.span(), &path, base, kind, None) {
            out.push((s, t.span()));
        }
    }
    out
}

fn source(
    doc: &mut Doc,
    t: &dyn TableLike,
    span: Option<std::ops::Range<usize>>,
    path: &str,
    base: &Path,
    kind: SourceKind,
    fixed_id: Option<String>,
) -> Option<Source> {
    let mut allowed: Vec<&str> = DIALECT_KEYS.to_vec();
    allowed.extend(["pick", "name_date_format"]);
    match kind {
        SourceKind::Stock => allowed.extend(["id", "supplier", "default_warehouse", "gates"]),
        SourceKind::Shipments => allowed.extend(["id", "provider", "statuses", "gates"]),
        _ => {}
    }
    doc.check_keys(t, path, &allowed);

    let id = match fixed_id {
        Some(id) => Some(id),
        None => match doc.required_string(t, span.clone(), path, "id") {
            Some(id) if is_safe_id(&id) => Some(id),
            Some(id) => {
                doc.problem(
                    Doc::span_of(t, "id"),
                    format!("`{path}.id` `{id}` may only use letters, digits, `.`, `_` and `-` (it names files)"),
                );
                None
            }
            None => None,
        },
    };
    let owner_key = match kind {
        SourceKind::Stock => Some("supplier"),
        SourceKind::Shipments => Some("provider"),
        _ => None,
    };
    let owner = owner_key.and_then(|k| match doc.string(t, path, k) {
        Some(o) if is_safe_id(&o) => Some(o),
        Some(o) => {
            doc.problem(
                Doc::span_of(t, k),
                format!("`{path}.{k}` `{o}` may only use letters, digits, `.`, `_` and `-`"),
            );
            None
        }
        None => None,
    });
    if kind == SourceKind::Shipments && owner.is_none() && t.get("provider").is_none() {
        doc.problem(span.clone(), format!("missing key `{path}.provider`"));
    }

    let as_written = doc.required_string(t, span.clone(), path, "location");
    let written = as_written
        .as_ref()
        .and_then(|loc| expand_env(doc, t, "location", path, loc));
    let location = written
        .as_ref()
        .and_then(|loc| resolve_location(doc, t, path, loc, base));
    let pattern = match (&as_written, &written, &location) {
        (Some(a), Some(w), Some(l)) => pattern(doc, t, path, (a, w), l, base),
        _ => Some(None),
    };
    let http = http_options(doc, t, path);
    let is_http = matches!(location, Some(Location::Http(_)));
    let api = super::api::parse(doc, t, path, is_http);
    let is_sftp = matches!(location, Some(Location::Sftp(_)));
    let sftp = super::sftp::parse(doc, t, path, is_sftp, base);
    let is_api = super::api::KEYS.iter().any(|k| t.get(k).is_some());

    let mut dialect = location
        .as_ref()
        .and_then(|loc| dialect(doc, t, path, loc, is_api));
    // A gzip body may inflate: the same limit applies after decompression.
    if let (Some(d), Some(h)) = (dialect.as_mut(), http.as_ref()) {
        d.max_bytes = h.max_bytes;
    }
    if t.get("max_record_bytes").is_some()
        && let Some(d) = dialect.as_mut()
    {
        match doc.integer(t, path, "max_record_bytes") {
            Some(n) if n >= 64 => d.max_record_bytes = n as u64,
            _ => doc.problem(
                Doc::span_of(t, "max_record_bytes"),
                format!("`{path}.max_record_bytes` must be at least 64"),
            ),
        }
    }

    let columns = columns(doc, t, path, kind);
    let statuses = if kind == SourceKind::Shipments {
        statuses(doc, t, path)
    } else {
        BTreeMap::new()
    };
    let default_warehouse = if kind == SourceKind::Stock {
        doc.string(t, path, "default_warehouse")
    } else {
        None
    };
    // Without `supplier`, a stock feed must carry a supplier_id column; the
    // header is checked when the feed is read.
    let position = doc.position(Doc::span_of(t, "location").map_or(0, |s| s.start));
    let gates = gates(doc, t, path);

    Some(Source {
        id: id?,
        kind,
        owner,
        location: location?,
        dialect: dialect?,
        columns: columns?,
        statuses,
        default_warehouse,
        position,
        gates,
        http: http?,
        pattern: pattern?,
        api: api?,
        on_fetch_failure: on_fetch_failure(doc, t, path)?,
        sftp: sftp?,
    })
}

/// `on_fetch_failure = "fail" | "reuse"`.
fn on_fetch_failure(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
) -> Option<crate::pipeline::OnFetchFailure> {
    use crate::pipeline::OnFetchFailure;
    match doc.string(t, path, "on_fetch_failure").as_deref() {
        None if t.get("on_fetch_failure").is_some() => None,
        None | Some("fail") => Some(OnFetchFailure::Fail),
        Some("reuse") => Some(OnFetchFailure::Reuse),
        Some(other) => {
            doc.problem(
                Doc::span_of(t, "on_fetch_failure"),
                format!("`{path}.on_fetch_failure` `{other}`: use \"fail\" or \"reuse\""),
            );
            None
        }
    }
}

/// The format: written, or inferred from the location's name. An API
/// source's records are staged as NDJSON, one record per line, whatever
/// its pages look like.
fn format(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    loc: &Location,
    api: bool,
) -> Option<Format> {
    let written = doc.string(t, path, "format");
    let format = match written.clone() {
        _ if api => {
            if written.is_some_and(|f| !f.eq_ignore_ascii_case("json")) {
                doc.problem(
                    Doc::span_of(t, "format"),
                    format!("`{path}.format`: an API source's records are JSON; write `format = \"json\"` or leave it out"),
                );
                return None;
            }
            Some(Format::Ndjson)
        }
        Some(f) => match Format::parse(&f.to_ascii_lowercase()) {
            Some(f) => Some(f),
            None => {
                doc.problem(
                    Doc::span_of(t, "format"),
                    format!("`{path}.format` `{f}` is not one of csv, json, ndjson, parquet, xlsx"),
                );
                return None;
            }
        },
        None => Format::infer(&loc.file_name()).map(|(f, _)| f),
    };
    if format.is_none() {
        doc.problem(
            Doc::span_of(t, "location"),
            format!(
                "`{path}`: cannot tell the format of `{}` from its name; set `format`",
                loc.file_name()
            ),
        );
    }
    format
}

/// A dated or globbed location (`{date:%d%m%Y}`, `stok_*.csv`) and the
/// rule that picks among a glob's matches (`pick`, `name_date_format`).
fn pattern(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    (as_written, written): (&str, &str),
    location: &Location,
    base: &Path,
) -> Option<Option<super::locate::Pattern>> {
    use super::locate::{self, Pick};
    let globs = !matches!(location, Location::Http(_));
    let span = || Doc::span_of(t, "location");
    if !locate::is_pattern(written, globs) {
        for key in ["pick", "name_date_format"] {
            if t.get(key).is_some() {
                doc.problem(
                    Doc::span_of(t, key),
                    format!("`{path}.{key}` applies only to a location with a glob (`*`, `?`, `[`) or `{{date}}`"),
                );
            }
        }
        return Some(None);
    }
    // Checked as written: a `${VAR}`'s value (maybe a token) is never
    // quoted in a message.
    if let Err(e) = locate::check(as_written) {
        doc.problem(span(), format!("`{path}.location`: {e}"));
        return None;
    }
    let name_format = doc.string(t, path, "name_date_format");
    let pick = match doc.string(t, path, "pick").as_deref() {
        None | Some("only") => Pick::Only,
        Some("newest-by-mtime") => Pick::NewestByMtime,
        Some("newest-by-name") => match name_format {
            Some(f) if check_format(&f).is_ok() && f.contains('%') => Pick::NewestByName(f),
            _ => {
                doc.problem(
                    Doc::span_of(t, "pick"),
                    format!("`{path}.pick = \"newest-by-name\"` needs `name_date_format`, the strftime format of the date in the file names (e.g. \"%d%m%Y\")"),
                );
                return None;
            }
        },
        Some(other) => {
            doc.problem(
                Doc::span_of(t, "pick"),
                format!("`{path}.pick` `{other}`: use \"only\", \"newest-by-name\" or \"newest-by-mtime\""),
            );
            return None;
        }
    };
    Some(Some(locate::Pattern {
        text: written.to_string(),
        shown: as_written.to_string(),
        base: base.to_path_buf(),
        pick,
    }))
}

/// A `${VAR}` that cannot be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvProblem {
    /// `${` without a closing `}`.
    Unclosed,
    /// The variable (named, never its value) is not set.
    Unset(String),
}

/// Replaces every `${VAR}` in `text` with the environment variable's value.
pub fn substitute_env(text: &str) -> Result<String, EnvProblem> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(EnvProblem::Unclosed);
        };
        let var = &rest[start + 2..start + end];
        match std::env::var(var) {
            Ok(v) => out.push_str(&v),
            Err(_) => return Err(EnvProblem::Unset(var.to_string())),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`substitute_env`] for a value of the file: a variable that is not set
/// is a configuration problem.
pub(super) fn expand_env(
    doc: &mut Doc,
    t: &dyn TableLike,
    key: &str,
    path: &str,
    text: &str,
) -> Option<String> {
    let message = match substitute_env(text) {
        Ok(v) => return Some(v),
        Err(EnvProblem::Unclosed) => format!("`{path}.{key}`: `${{` without a closing `}}`"),
        Err(EnvProblem::Unset(var)) => {
            format!("`{path}.{key}` uses the environment variable `{var}`, which is not set")
        }
    };
    doc.problem(Doc::span_of(t, key), message);
    None
}

fn http_options(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
) -> Option<crate::pipeline::HttpOptions> {
    use std::time::Duration;
    let mut o = crate::pipeline::HttpOptions::default();
    let mut ok = true;
    if t.get("headers").is_some()
        && let Some(h) = doc.table(t, path, "headers")
    {
        let hpath = format!("{path}.headers");
        let keys: Vec<String> = h.iter().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            let Some(v) = doc.string(h, &hpath, &k) else {
                ok = false;
                continue;
            };
            match expand_env(doc, h, &k, &hpath, &v) {
                Some(v) => o.headers.push((k, v)),
                None => ok = false,
            }
        }
    }
    let mut secs = |key: &str, slot: &mut Duration| {
        if t.get(key).is_some() {
            match doc.integer(t, path, key) {
                Some(n) if n >= 1 => *slot = Duration::from_secs(n as u64),
                _ => {
                    doc.problem(
                        Doc::span_of(t, key),
                        format!("`{path}.{key}` must be a whole number of seconds, at least 1"),
                    );
                    ok = false;
                }
            }
        }
    };
    secs("connect_timeout_secs", &mut o.connect_timeout);
    secs("read_timeout_secs", &mut o.read_timeout);
    secs("total_timeout_secs", &mut o.total_timeout);
    if t.get("max_attempts").is_some() {
        match doc.integer(t, path, "max_attempts") {
            Some(n) if (1..=20).contains(&n) => o.max_attempts = n as u32,
            _ => {
                doc.problem(
                    Doc::span_of(t, "max_attempts"),
                    format!("`{path}.max_attempts` must be between 1 and 20"),
                );
                ok = false;
            }
        }
    }
    if t.get("max_bytes").is_some() {
        match doc.integer(t, path, "max_bytes") {
            Some(n) if n >= 1 => o.max_bytes = n as u64,
            _ => {
                doc.problem(
                    Doc::span_of(t, "max_bytes"),
                    format!("`{path}.max_bytes` must be at least 1"),
                );
                ok = false;
            }
        }
    }
    if t.get("allow_redirect_hosts").is_some() {
        match doc.strings(t, path, "allow_redirect_hosts") {
            Some(hosts)
                if hosts
                    .iter()
                    .all(|h| !h.is_empty() && !h.contains(['/', ' '])) =>
            {
                o.allow_redirect_hosts = hosts
            }
            _ => {
                doc.problem(
                    Doc::span_of(t, "allow_redirect_hosts"),
                    format!("`{path}.allow_redirect_hosts` must list host names (`host`, `host:port` or `*.domain`)"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(o)
}

/// `gates = { max_rejected_share = { max = 0.05, level = "error" },
/// max_age_hours = { max = 36, level = "warn" } }`; `level` defaults to
/// `error`.
fn gates(doc: &mut Doc, t: &dyn TableLike, path: &str) -> crate::model::Gates {
    use crate::model::{Gates, Level};
    let mut out = Gates::default();
    if t.get("gates").is_none() {
        return out;
    }
    let Some(g) = doc.table(t, path, "gates") else {
        return out;
    };
    let gpath = format!("{path}.gates");
    doc.check_keys(g, &gpath, &["max_rejected_share", "max_age_hours"]);
    for key in ["max_rejected_share", "max_age_hours"] {
        if g.get(key).is_none() {
            continue;
        }
        let Some(gate) = doc.table(g, &gpath, key) else {
            continue;
        };
        let kpath = format!("{gpath}.{key}");
        doc.check_keys(gate, &kpath, &["max", "level"]);
        let level = match doc.string(gate, &kpath, "level") {
            None => Some(Level::Error),
            Some(l) => match Level::parse(&l) {
                Some(l) => Some(l),
                None => {
                    doc.problem(
                        Doc::span_of(gate, "level"),
                        format!("`{kpath}.level` must be \"warn\" or \"error\""),
                    );
                    None
                }
            },
        };
        let max = match gate.get("max") {
            None => {
                doc.problem(Doc::span_of(g, key), format!("missing key `{kpath}.max`"));
                None
            }
            Some(v) => {
                let v = v.as_value();
                let n = v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
                if n.is_none() {
                    doc.problem(
                        Doc::span_of(gate, "max"),
                        format!("`{kpath}.max` must be a number"),
                    );
                }
                n
            }
        };
        match (key, max, level) {
            ("max_rejected_share", Some(m), Some(l)) if (0.0..=1.0).contains(&m) => {
                out.max_rejected_share = Some((m, l))
            }
            ("max_rejected_share", Some(_), Some(_)) => doc.problem(
                Doc::span_of(gate, "max"),
                format!("`{kpath}.max` is a share between 0 and 1"),
            ),
            ("max_age_hours", Some(m), Some(l)) if m >= 0.0 => {
                out.max_age_hours = Some((m.round() as i64, l))
            }
            ("max_age_hours", Some(_), Some(_)) => doc.problem(
                Doc::span_of(gate, "max"),
                format!("`{kpath}.max` must be 0 or more"),
            ),
            _ => {}
        }
    }
    out
}

fn resolve_location(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    loc: &str,
    base: &Path,
) -> Option<Location> {
    let lower = loc.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(Location::Http(loc.to_string()));
    }
    if lower.starts_with("sftp://") {
        return match reqwest::Url::parse(loc) {
            Ok(u) if !u.username().is_empty() && u.host_str().is_some() && u.path().len() > 1 => {
                Some(Location::Sftp(loc.to_string()))
            }
            _ => {
                doc.problem(
                    Doc::span_of(t, "location"),
                    format!("`{path}.location`: write an SFTP location as `sftp://user@host[:port]/path/file`"),
                );
                None
            }
        };
    }
    if ["s3://", "gs://", "az://"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        return match reqwest::Url::parse(loc) {
            Ok(u) if u.host_str().is_some() && u.path().len() > 1 => {
                Some(Location::Object(loc.to_string()))
            }
            _ => {
                doc.problem(
                    Doc::span_of(t, "location"),
                    format!("`{path}.location`: write a bucket location as `s3://bucket/key` (or gs://, az://)"),
                );
                None
            }
        };
    }
    if lower.contains("://") {
        doc.problem(
            Doc::span_of(t, "location"),
            format!("`{path}.location`: only local paths, http(s), sftp, s3, gs and az URLs are supported"),
        );
        return None;
    }
    if loc.trim().is_empty() {
        doc.problem(
            Doc::span_of(t, "location"),
            format!("`{path}.location` is empty"),
        );
        return None;
    }
    let p = PathBuf::from(loc);
    Some(Location::Local(if p.is_absolute() {
        p
    } else {
        base.join(p)
    }))
}

fn single_char(doc: &mut Doc, t: &dyn TableLike, path: &str, key: &str) -> Option<Option<char>> {
    let s = doc.string(t, path, key)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Some(None),
        (Some(c), None) => Some(Some(c)),
        _ => {
            doc.problem(
                Doc::span_of(t, key),
                format!("`{}` must be a single character", join_path(path, key)),
            );
            None
        }
    }
}

/// How a feed is read.
fn dialect(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    loc: &Location,
    api: bool,
) -> Option<Dialect> {
    let inferred = Format::infer(&loc.file_name());
    let format = format(doc, t, path, loc, api)?;
    let gzip = match t.get("gzip") {
        Some(Item::Value(v)) if v.as_bool().is_some() => v.as_bool().unwrap_or(false),
        Some(_) => {
            doc.problem(
                Doc::span_of(t, "gzip"),
                format!("`{path}.gzip` must be true or false"),
            );
            false
        }
        None => inferred.map(|(_, gz)| gz).unwrap_or(false),
    };
    let mut d = Dialect::default_for(format, gzip);
    let mut ok = true;

    if let Some(e) = doc.string(t, path, "encoding") {
        match Encoding::parse(&e) {
            Some(e) => d.encoding = e,
            None => {
                doc.problem(
                    Doc::span_of(t, "encoding"),
                    format!("`{path}.encoding` `{e}` is not one of utf-8, windows-1252, iso-8859-1, utf-16"),
                );
                ok = false;
            }
        }
    }
    for (key, slot) in [("delimiter", &mut d.delimiter), ("quote", &mut d.quote)] {
        if t.get(key).is_none() {
            continue;
        }
        match single_char(doc, t, path, key) {
            Some(Some(c)) if c.is_ascii() && c != '\n' && c != '\r' => *slot = c as u8,
            Some(Some(c)) if key == "delimiter" && c == '\t' => *slot = b'\t',
            _ => {
                doc.problem(
                    Doc::span_of(t, key),
                    format!("`{path}.{key}` must be one ASCII character (use \"\\t\" for tab)"),
                );
                ok = false;
            }
        }
    }
    if t.get("skip_lines").is_some() {
        match doc.integer(t, path, "skip_lines") {
            Some(n) if n >= 0 => d.skip_lines = n as usize,
            _ => {
                doc.problem(
                    Doc::span_of(t, "skip_lines"),
                    format!("`{path}.skip_lines` must be 0 or more"),
                );
                ok = false;
            }
        }
    }
    if t.get("header_row").is_some() {
        match doc.integer(t, path, "header_row") {
            Some(n) if n >= 1 => d.header_row = n as usize,
            _ => {
                doc.problem(
                    Doc::span_of(t, "header_row"),
                    format!("`{path}.header_row` must be 1 or more"),
                );
                ok = false;
            }
        }
    }
    if t.get("decimal").is_some() {
        match single_char(doc, t, path, "decimal") {
            Some(Some(c)) if c == '.' || c == ',' => d.decimal = c,
            _ => {
                doc.problem(
                    Doc::span_of(t, "decimal"),
                    format!("`{path}.decimal` must be \".\" or \",\""),
                );
                ok = false;
            }
        }
    }
    if t.get("thousands").is_some() {
        match single_char(doc, t, path, "thousands") {
            Some(c @ (None | Some('.' | ',' | ' ' | '\'' | '_'))) => d.thousands = c,
            _ => {
                doc.problem(
                    Doc::span_of(t, "thousands"),
                    format!("`{path}.thousands` must be one of \".\", \",\", \" \", \"'\", \"_\" or \"\""),
                );
                ok = false;
            }
        }
    }
    if d.thousands == Some(d.decimal) {
        doc.problem(
            Doc::span_of(t, "thousands"),
            format!(
                "`{path}`: `thousands` and `decimal` are both `{}`",
                d.decimal
            ),
        );
        ok = false;
    }
    for (key, slot) in [
        ("timestamp_format", &mut d.timestamp_formats),
        ("date_format", &mut d.date_formats),
    ] {
        if let Some(formats) = doc.strings(t, path, key) {
            for f in &formats {
                if let Err(e) = check_format(f) {
                    doc.problem(Doc::span_of(t, key), format!("`{path}.{key}` `{f}`: {e}"));
                    ok = false;
                }
            }
            *slot = formats;
        }
    }
    d.sheet = doc.string(t, path, "sheet");
    ok.then_some(d)
}

fn columns(
    doc: &mut Doc,
    t: &dyn TableLike,
    path: &str,
    kind: SourceKind,
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if t.get("columns").is_none() {
        return Some(out);
    }
    let cols = doc.table(t, path, "columns")?;
    let canonical: Vec<&str> = kind.canonical_columns().iter().map(|(c, _)| *c).collect();
    let cpath = format!("{path}.columns");
    doc.check_keys(cols, &cpath, &canonical);
    let keys: Vec<String> = cols.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        if canonical.contains(&key.as_str())
            && let Some(v) = doc.string(cols, &cpath, &key)
        {
            out.insert(key, v);
        }
    }
    Some(out)
}

fn statuses(doc: &mut Doc, t: &dyn TableLike, path: &str) -> BTreeMap<String, Status> {
    let mut out = BTreeMap::new();
    let Some(_) = t.get("statuses") else {
        return out;
    };
    let Some(st) = doc.table(t, path, "statuses") else {
        return out;
    };
    let spath = format!("{path}.statuses");
    let keys: Vec<String> = st.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        if let Some(v) = doc.string(st, &spath, &key) {
            match Status::parse(&v) {
                Some(s) => {
                    out.insert(crate::model::fold(&key), s);
                }
                None => doc.problem(
                    Doc::span_of(st, &key),
                    format!(
                        "`{}`: `{v}` is not a status (booked, departed, in_transit, customs_hold, arrived, cancelled)",
                        join_path(&spath, &key)
                    ),
                ),
            }
        }
    }
    out
}

fn output(doc: &mut Doc, root: &dyn TableLike) -> crate::pipeline::OutputOptions {
    let mut o = crate::pipeline::OutputOptions::default();
    if root.get("output").is_none() {
        return o;
    }
    let Some(t) = doc.table(root, "", "output") else {
        return o;
    };
    doc.check_keys(
        t,
        "output",
        &[
            "csv_bom",
            "csv_delimiter",
            "csv_decimal_comma",
            "language",
            "detail_sheet_rows",
        ],
    );
    if t.get("detail_sheet_rows").is_some() {
        let max = crate::pipeline::MAX_DETAIL_SHEET_ROWS;
        match doc.integer(t, "output", "detail_sheet_rows") {
            Some(n) if (0..=max as i64).contains(&n) => o.detail_sheet_rows = n as usize,
            Some(_) => doc.problem(
                Doc::span_of(t, "detail_sheet_rows"),
                format!("`output.detail_sheet_rows` must be from 0 to {max}"),
            ),
            None => {}
        }
    }
    if t.get("language").is_some() {
        match doc.string(t, "output", "language").as_deref() {
            Some("en") => o.language = crate::pipeline::Language::En,
            Some("id") => o.language = crate::pipeline::Language::Id,
            Some(_) => doc.problem(
                Doc::span_of(t, "language"),
                "`output.language` must be \"en\" (English) or \"id\" (Bahasa Indonesia)",
            ),
            None => {}
        }
    }
    for key in ["csv_bom", "csv_decimal_comma"] {
        if let Some(v) = t.get(key) {
            match v.as_bool() {
                Some(b) if key == "csv_bom" => o.csv_bom = b,
                Some(b) => o.csv_decimal_comma = b,
                None => doc.problem(
                    Doc::span_of(t, key),
                    format!("`output.{key}` must be true or false"),
                ),
            }
        }
    }
    if t.get("csv_delimiter").is_some() {
        match single_char(doc, t, "output", "csv_delimiter") {
            Some(Some(c @ (',' | ';' | '\t' | '|'))) => o.csv_delimiter = c as u8,
            _ => doc.problem(
                Doc::span_of(t, "csv_delimiter"),
                "`output.csv_delimiter` must be \",\", \";\", \"\\t\" or \"|\"",
            ),
        }
    }
    if o.csv_decimal_comma && o.csv_delimiter == b',' {
        doc.problem(
            Doc::span_of(t, "csv_decimal_comma"),
            "`output.csv_decimal_comma` needs `csv_delimiter` other than \",\"",
        );
    }
    o
}

/// Checks that a strftime format is well formed.
fn check_format(f: &str) -> Result<(), String> {
    if chrono::format::StrftimeItems::new(f).any(|i| matches!(i, chrono::format::Item::Error)) {
        return Err("not a valid strftime format".into());
    }
    Ok(())
}
