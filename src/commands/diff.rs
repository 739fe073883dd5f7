//! `siap diff`: products whose status or flags changed between two runs,
//! read from the runs' readiness tables.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::workdir::{self, PastRun};

#[derive(Debug, Serialize, PartialEq)]
pub struct Change {
    pub product_id: String,
    pub product_name: String,
    pub status: (String, String),
    pub short_of_minimum: (String, String),
    pub misses_window: (String, String),
    pub stock_units: (i64, i64),
    pub window_units: (i64, i64),
    /// The newer run's reason text (empty when the product left the
    /// catalog).
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub changes: Vec<Change>,
}

fn pick(runs: &[PastRun], date: Option<chrono::NaiveDate>, before: Option<usize>) -> Option<usize> {
    let limit = before.unwrap_or(runs.len());
    match date {
        Some(d) => (0..limit).rev().find(|&i| runs[i].date == d),
        None => limit.checked_sub(1),
    }
}

type Table = BTreeMap<String, BTreeMap<String, String>>;

fn readiness(run: &PastRun) -> Result<Table> {
    let path = run.dir.join("readiness.csv");
    let mut r = csv::Reader::from_path(&path)
        .map_err(|e| Error::Internal(format!("cannot read `{}`: {e}", path.display())))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| Error::Internal(format!("`{}`: {e}", path.display())))?
        .iter()
        .map(String::from)
        .collect();
    let mut out = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::Internal(format!("`{}`: {e}", path.display())))?;
        let row: BTreeMap<String, String> = header
            .iter()
            .cloned()
            .zip(rec.iter().map(String::from))
            .collect();
        out.insert(row.get("product_id").cloned().unwrap_or_default(), row);
    }
    Ok(out)
}

/// Products whose status or flags changed between two runs. Defaults: `to`
/// is the newest run, `from` the run before it (which may be an earlier
/// run of the same date).
pub fn diff(
    work: &Path,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<Diff> {
    let runs = workdir::list_runs(work);
    let to_i = pick(&runs, to, None).ok_or_else(|| {
        Error::Usage(match to {
            Some(d) => format!("no run for {d} in `{}`", work.display()),
            None => format!("no runs in `{}`", work.display()),
        })
    })?;
    let from_i = match from {
        Some(d) => pick(&runs, Some(d), None),
        None => pick(&runs, None, Some(to_i)),
    }
    .ok_or_else(|| {
        Error::Usage(match from {
            Some(d) => format!("no run for {d} in `{}`", work.display()),
            None => "only one run: nothing to compare it with".into(),
        })
    })?;
    let (a, b) = (readiness(&runs[from_i])?, readiness(&runs[to_i])?);
    let empty = BTreeMap::new();
    let get = |t: &BTreeMap<String, String>, k: &str| t.get(k).cloned().unwrap_or_default();
    let num = |t: &BTreeMap<String, String>, k: &str| {
        t.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
    };
    let mut changes = Vec::new();
    let ids: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for id in ids {
        let (x, y) = (a.get(id).unwrap_or(&empty), b.get(id).unwrap_or(&empty));
        let changed = ["status", "short_of_minimum", "misses_window"]
            .iter()
            .any(|k| get(x, k) != get(y, k));
        if changed {
            let named = if y.is_empty() { x } else { y };
            changes.push(Change {
                product_id: id.clone(),
                product_name: get(named, "product_name"),
                status: (get(x, "status"), get(y, "status")),
                short_of_minimum: (get(x, "short_of_minimum"), get(y, "short_of_minimum")),
                misses_window: (get(x, "misses_window"), get(y, "misses_window")),
                stock_units: (num(x, "stock_units"), num(y, "stock_units")),
                window_units: (num(x, "window_units"), num(y, "window_units")),
                reason: get(y, "reason"),
            });
        }
    }
    Ok(Diff {
        from: runs[from_i].name(),
        to: runs[to_i].name(),
        changes,
    })
}

fn signed(d: i64) -> String {
    if d >= 0 {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

pub fn render_diff(d: &Diff) -> String {
    let mut out = format!("from {}\nto   {}\n", d.from, d.to);
    if d.changes.is_empty() {
        out.push_str("no product changed status or flags\n");
        return out;
    }
    let arrow = |(a, b): &(String, String)| {
        if a == b {
            a.clone()
        } else {
            format!("{a} -> {b}")
        }
    };
    for c in &d.changes {
        out.push_str(&format!(
            "{}: {}; short_of_minimum {}; misses_window {}; stock_units {} ({}); window_units {} ({})\n",
            c.product_id,
            arrow(&c.status),
            arrow(&c.short_of_minimum),
            arrow(&c.misses_window),
            c.stock_units.1,
            signed(c.stock_units.1 - c.stock_units.0),
            c.window_units.1,
            signed(c.window_units.1 - c.window_units.0),
        ));
    }
    out
}
