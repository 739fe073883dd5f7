//! `siap runs`: past runs as their manifests tell them.

use std::path::Path;

use serde::Serialize;

use crate::workdir;

#[derive(Debug, Serialize)]
pub struct RunLine {
    pub run_date: String,
    pub run_id: String,
    pub latest: bool,
    pub status: String,
    pub ready: u64,
    pub not_ready: u64,
    pub rejected: u64,
    pub refreshed: usize,
    pub reused: usize,
    /// `--supplier` ids of a partial rerun; empty for a full run.
    pub suppliers: Vec<String>,
}

pub fn runs(work: &Path) -> crate::error::Result<Vec<RunLine>> {
    let (runs, latest) = match crate::split::remote::url_of(work) {
        Some(url) => super::on_store::past_runs(url)?,
        None => (workdir::list_runs(work), workdir::latest(work)),
    };
    Ok(runs
        .into_iter()
        .map(|r| {
            let m = &r.manifest;
            RunLine {
                latest: latest.as_deref() == Some(r.name().as_str()),
                run_date: m.run_date.clone(),
                run_id: r.run_id.clone(),
                status: m.status.clone(),
                ready: m.summary.ready,
                not_ready: m.summary.not_ready,
                rejected: m.sources.iter().map(|s| s.rejected).sum(),
                refreshed: m.sources.len() - m.reused(),
                reused: m.reused(),
                suppliers: m.suppliers.clone(),
            }
        })
        .collect())
}

pub fn render_runs(lines: &[RunLine]) -> String {
    if lines.is_empty() {
        return "no runs yet\n".into();
    }
    let mut out = format!(
        "{:<10}  {:<32}  {:<22}  {:>5}  {:>9}  {:>8}  {:>9}  {:>6}  {}\n",
        "date",
        "run",
        "status",
        "ready",
        "not_ready",
        "rejected",
        "refreshed",
        "reused",
        "suppliers"
    );
    for l in lines {
        out.push_str(&format!(
            "{:<10}  {:<32}  {:<22}  {:>5}  {:>9}  {:>8}  {:>9}  {:>6}  {}\n",
            l.run_date,
            format!("{}{}", l.run_id, if l.latest { " *" } else { "" }),
            l.status,
            l.ready,
            l.not_ready,
            l.rejected,
            l.refreshed,
            l.reused,
            if l.suppliers.is_empty() {
                "all".to_string()
            } else {
                l.suppliers.join(",")
            }
        ));
    }
    out.push_str("* latest\n");
    out
}
