//! Dated and patterned locations: a nightly run finds today's feed without
//! anyone renaming files.
//!
//! - `{date:FORMAT}` in any location (a path or a URL) is the run date in
//!   that strftime format (`stok_{date:%d%m%Y}.xlsx`); `{date}` is
//!   `%Y-%m-%d`.
//! - A local file name may be a glob (`Laporan Stok *.csv`). Which match
//!   is taken is declared, never arbitrary: `pick = "only"` (the default:
//!   exactly one file must match), `"newest-by-name"` (the latest date
//!   found in the names with `name_date_format`, never after the run date)
//!   or `"newest-by-mtime"` (the latest modification time). A tie, or no
//!   match, fails the source, naming the pattern and the files.
//!
//! Patterns are resolved for the run date when a run fetches the source;
//! the manifest records the pattern and the file taken.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Location, Source};
use crate::error::Problem;

/// Which of a glob's matches is taken.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pick {
    /// Exactly one file may match.
    #[default]
    Only,
    /// The newest date in the file names (strftime format), not after the
    /// run date.
    NewestByName(String),
    /// The newest modification time.
    NewestByMtime,
}

/// Whether a location is a pattern: it holds `{date…}` or a glob in its
/// file name (`*`, `?`, `[` for a local path; `*` or `[` for an SFTP or
/// bucket location, where `?` would start a query; never for http(s)).
pub fn is_pattern(location: &str, globs: bool) -> bool {
    location.contains("{date") || (globs && file_name_has_glob(location))
}

/// Whether the file name (the part after the last `/`) holds a glob.
pub fn file_name_has_glob(location: &str) -> bool {
    let name = location.rsplit(['/', '\\']).next().unwrap_or(location);
    if location.contains("://") {
        name.contains(['*', '['])
    } else {
        name.contains(['*', '?', '['])
    }
}

/// A file a remote glob matched: its full location, its name and its
/// modification time.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub location: String,
    pub name: String,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// Checks every `{date…}` of a location: closed, with a valid format.
pub fn check(location: &str) -> Result<(), String> {
    with_date(location, NaiveDate::MIN).map(|_| ())
}

/// The location with each `{date:FORMAT}` (or `{date}`) replaced by the
/// date.
pub fn with_date(location: &str, date: NaiveDate) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = location;
    while let Some(start) = rest.find("{date") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(format!("`{location}`: `{{date` without a closing `}}`"));
        };
        let inner = &rest[start + 5..start + end];
        let format = match inner.strip_prefix(':') {
            Some(f) if !f.is_empty() => f,
            None if inner.is_empty() => "%Y-%m-%d",
            _ => {
                return Err(format!(
                    "`{location}`: write `{{date}}` or `{{date:%d%m%Y}}`"
                ));
            }
        };
        if chrono::format::StrftimeItems::new(format)
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            return Err(format!(
                "`{location}`: `{format}` is not a valid strftime format"
            ));
        }
        out.push_str(&date.format(format).to_string());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The source with its location (and an API body's `{date…}`) resolved
/// for `date` (unchanged when it is not a pattern).
pub fn resolve(source: &Source, date: NaiveDate) -> Result<Source, Problem> {
    let mut source = source.clone();
    if let Some(body) = source.api.as_mut().and_then(|a| a.body.as_mut()) {
        *body = body.with_date(date).map_err(|_| Problem::Pattern {
            message: "`body`: cannot fill in the date".into(),
        })?;
    }
    let Some(pattern) = &source.pattern else {
        return Ok(source);
    };
    let bad = |m: String| Problem::Pattern { message: m };
    let dated = with_date(&pattern.text, date)
        .map_err(|_| bad(format!("`{}`: cannot fill in the date", pattern.shown)))?;
    let location = match &source.location {
        Location::Http(_) => Location::Http(dated),
        Location::Sftp(_) => Location::Sftp(dated),
        Location::Object(_) => Location::Object(dated),
        Location::Local(_) => {
            let full = pattern.base.join(&dated);
            Location::Local(if file_name_has_glob(&dated) {
                pick(&full, &pattern.pick, date).map_err(bad)?
            } else {
                full
            })
        }
    };
    Ok(Source { location, ..source })
}

/// The match a local glob's rule takes.
fn pick(glob_path: &Path, rule: &Pick, date: NaiveDate) -> Result<PathBuf, String> {
    let shown = glob_path.display().to_string();
    let matches: Vec<Candidate> = glob::glob(&shown)
        .map_err(|e| format!("`{shown}` is not a valid pattern: {e}"))?
        .filter_map(|m| m.ok())
        .filter(|p| p.is_file())
        .map(|p| Candidate {
            location: p.display().to_string(),
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            modified: std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .ok()
                .map(chrono::DateTime::<chrono::Utc>::from),
        })
        .collect();
    choose(&shown, matches, rule, date).map(PathBuf::from)
}

/// The location of the one match `rule` takes among a glob's matches
/// (local files, or files listed on an SFTP server or in a bucket);
/// never an arbitrary one.
pub fn choose(
    shown: &str,
    matches: Vec<Candidate>,
    rule: &Pick,
    date: NaiveDate,
) -> Result<String, String> {
    let names = |list: &[&Candidate]| {
        list.iter()
            .map(|c| format!("`{}`", c.location))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if matches.is_empty() {
        return Err(format!("no file matches `{shown}`"));
    }
    let newest = |keyed: Vec<(&Candidate, Option<String>)>, what: &str| {
        let best = keyed.iter().filter_map(|(_, k)| k.clone()).max();
        let Some(best) = best else {
            return Err(format!(
                "none of the {} file(s) matching `{shown}` has {what}",
                keyed.len()
            ));
        };
        let top: Vec<&Candidate> = keyed
            .iter()
            .filter(|(_, k)| k.as_ref() == Some(&best))
            .map(|(c, _)| *c)
            .collect();
        match top.as_slice() {
            [one] => Ok(one.location.clone()),
            several => Err(format!(
                "{} files matching `{shown}` are equally new ({what} {best}): {}; siap will not pick one",
                several.len(),
                names(several)
            )),
        }
    };
    match rule {
        Pick::Only => match matches.as_slice() {
            [one] => Ok(one.location.clone()),
            several => Err(format!(
                "{} files match `{shown}`: {}; set `pick` (\"newest-by-name\" or \"newest-by-mtime\") to say which is taken",
                several.len(),
                names(&several.iter().collect::<Vec<_>>())
            )),
        },
        Pick::NewestByName(format) => {
            let keyed = matches
                .iter()
                .map(|c| {
                    let d = name_date(&c.name, format).filter(|d| *d <= date);
                    (c, d.map(|d| d.to_string()))
                })
                .collect();
            newest(
                keyed,
                &format!("a date ({format}) on or before {date} in its name"),
            )
        }
        Pick::NewestByMtime => {
            let keyed = matches
                .iter()
                .map(|c| (c, c.modified.map(|t| t.to_rfc3339())))
                .collect();
            newest(keyed, "a modification time")
        }
    }
}

/// The first date written with `format` in a file's name.
fn name_date(name: &str, format: &str) -> Option<NaiveDate> {
    name.char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .find_map(|(i, _)| {
            NaiveDate::parse_and_remainder(&name[i..], format)
                .ok()
                .map(|(d, _)| d)
        })
}

/// How a source's location was written, when it is a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The location, `${VAR}`s replaced.
    pub text: String,
    /// The location as written (`${VAR}`s kept: what logs and the manifest
    /// may show).
    pub shown: String,
    /// The pipeline file's folder (a local pattern is relative to it).
    pub base: PathBuf,
    pub pick: Pick,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_run_date_fills_each_placeholder() {
        let date = d("2026-11-27");
        assert_eq!(
            with_date("drop/stok_{date:%d%m%Y}.xlsx", date).unwrap(),
            "drop/stok_27112026.xlsx"
        );
        assert_eq!(
            with_date("https://x/api?day={date}", date).unwrap(),
            "https://x/api?day=2026-11-27"
        );
        assert!(with_date("stok_{date:%Q}.csv", date).is_err());
        assert!(with_date("stok_{date.csv", date).is_err());
        assert!(is_pattern("drop/Laporan Stok *.csv", true));
        assert!(!is_pattern("https://x/a?b=*", false));
    }

    #[test]
    fn picks_the_newest_by_name_never_after_the_run_date() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "Laporan 2026-11-25.csv",
            "Laporan 2026-11-26.csv",
            "Laporan 2026-11-28.csv",
            "Laporan lama.csv",
        ] {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        let glob = dir.path().join("Laporan *.csv");
        let rule = Pick::NewestByName("%Y-%m-%d".into());
        let p = pick(&glob, &rule, d("2026-11-27")).unwrap();
        assert!(p.ends_with("Laporan 2026-11-26.csv"), "{p:?}");
        let p = pick(&glob, &rule, d("2026-11-30")).unwrap();
        assert!(p.ends_with("Laporan 2026-11-28.csv"), "{p:?}");
        let e = pick(&glob, &Pick::Only, d("2026-11-27")).unwrap_err();
        assert!(
            e.contains("4 files match") && e.contains("set `pick`"),
            "{e}"
        );
        let e = pick(&dir.path().join("nope_*.csv"), &Pick::Only, d("2026-11-27")).unwrap_err();
        assert!(e.starts_with("no file matches"), "{e}");
    }
}
