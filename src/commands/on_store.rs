//! The commands over a work directory on object storage (`--work-dir
//! s3://bucket/prefix`; see [`crate::split::remote`]): the distributed
//! path's, and `siap run` and `siap runs`.
//! Each step pulls what it reads into a local mirror, runs there as on a
//! local work directory (the very code), and pushes what it wrote with
//! conditional creates, its commit point last:
//!
//! | step | pulls | pushes, in order |
//! |---|---|---|
//! | plan | `plan.json`, if the run id is planned already; earlier runs' manifests and copies of the reference tables | the reference tables' raw copies, `plan.json` |
//! | stage | `plan.json`, the reference tables' raw copies; earlier runs' manifests and copies of the feed | the feed's files, `tasks/<id>.json` |
//! | resolve | `plan.json`, `tasks/` (the engine reads `keyed/` from the store) | `resolved/*.parquet`, `resolved/done.json` (replaced on a rerun) |
//! | finish | the flight (not `keyed/`), past runs' manifests, `latest` | `runs/<date>/<id>/…`, its `manifest.json`, then `latest` by compare-and-swap |

use crate::error::{Error, Result};
use crate::split::Flight;
use crate::split::record::{Plan, TaskRecord};
use crate::split::remote::{Created, Mirror};

use super::finish::FinishArgs;
use super::plan::PlanArgs;
use super::resolve::{Resolution, ResolveArgs};
use super::run::{RunArgs, RunReport};
use super::stage_task::StageArgs;
use crate::workdir::PastRun;

fn flight(run_id: &str) -> String {
    format!("flights/{run_id}")
}

pub fn plan(args: &PlanArgs, url: &str) -> Result<Plan> {
    let m = Mirror::open(url)?;
    m.remote.check_conditions()?;
    // Planned again with the same run id: the plan stands (see
    // `plan::again`); nothing else of the flight is read.
    let mut pulled = Vec::new();
    if let Some(id) = &args.run_id {
        let rel = format!("{}/plan.json", flight(id));
        if m.pull(&rel)? {
            pulled.push(rel);
        }
    }
    let pipeline = crate::pipeline::load(&args.pipeline)?;
    let date = super::run::run_date(&pipeline, args.date);
    let reference = [&pipeline.sources.catalog.id, &pipeline.sources.sku_map.id];
    pull_past(&m, &reference, date)?;
    let plan = super::plan::plan(&PlanArgs {
        work_dir: m.dir().to_path_buf(),
        ..args.clone()
    })?;
    let last = [format!("{}/plan.json", flight(&plan.run_id))];
    m.push_all(&flight(&plan.run_id), &pulled, &last)?;
    Ok(plan)
}

/// Pulls what a fetch of `ids` may take from earlier runs, as it would
/// find them in a local work directory: every run's manifest (see
/// [`pull_runs`]), and each source's raw copy from the newest run on or
/// before `date` that has it (an unchanged source's previous copy) and
/// from the newest that fetched it itself (a failed fetch's fallback,
/// `on_fetch_failure = "reuse"`). Returns what `latest` named.
fn pull_past(
    m: &Mirror,
    ids: &[&String],
    date: chrono::NaiveDate,
) -> Result<Option<(String, Option<String>)>> {
    let latest = pull_runs(m)?;
    let runs = crate::workdir::list_runs(m.dir());
    for id in ids {
        let listed = |refreshed_only: bool| {
            runs.iter().rev().filter(|r| r.date <= date).find(|r| {
                r.manifest
                    .sources
                    .iter()
                    .any(|s| &&s.id == id && (s.refreshed || !refreshed_only))
            })
        };
        for run in [listed(false), listed(true)].into_iter().flatten() {
            m.pull(&format!("runs/{}/raw/{id}", run.name()))?;
        }
    }
    Ok(latest)
}

/// Pulls the flight's plan, or says no such run is planned there.
fn pull_plan(m: &Mirror, run_id: &str) -> Result<()> {
    if m.pull(&format!("{}/plan.json", flight(run_id)))? {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "no run `{run_id}` is planned in {} (no plan.json); start with `siap plan`",
        m.remote.url(&flight(run_id))
    )))
}

pub fn stage(args: &StageArgs, url: &str) -> Result<TaskRecord> {
    let m = Mirror::open(url)?;
    pull_plan(&m, &args.run_id)?;
    let pipeline = crate::pipeline::load(&args.pipeline)?;
    let fl = flight(&args.run_id);
    let mut pulled = vec![format!("{fl}/plan.json")];
    for id in [&pipeline.sources.catalog.id, &pipeline.sources.sku_map.id] {
        let rel = format!("{fl}/raw/{id}");
        if m.pull(&rel)? {
            pulled.push(rel);
        }
    }
    let plan: Plan = crate::split::read_json(&m.path(&format!("{fl}/plan.json"))).map_err(|e| {
        Error::Publish {
            path: m.remote.url(&fl).into(),
            message: e.to_string(),
        }
    })?;
    let feeds: Vec<&String> = match &args.feed {
        super::stage_task::Feed::Id(id) => vec![id],
        super::stage_task::Feed::Index(i) => {
            plan.feeds.get(*i).map(|f| &f.id).into_iter().collect()
        }
    };
    pull_past(&m, &feeds, plan.run_date)?;
    let task = super::stage_task::stage(&StageArgs {
        pipeline: args.pipeline.clone(),
        work_dir: m.dir().to_path_buf(),
        run_id: args.run_id.clone(),
        feed: args.feed.clone(),
    })?;
    let last = m.local_files(&format!("{fl}/tasks"));
    m.push_all(&fl, &pulled, &last)?;
    Ok(task)
}

pub fn resolve(args: &ResolveArgs, url: &str) -> Result<Resolution> {
    let m = Mirror::open(url)?;
    let fl = flight(&args.run_id);
    pull_plan(&m, &args.run_id)?;
    m.pull_all(&format!("{fl}/tasks"), |_| true)?;
    let on_store = Flight::new(m.dir(), &args.run_id).reading_from(m.remote.url(&fl));
    let done = super::resolve::resolve_flight(&on_store, args)?;
    // Read by nobody before `done.json` names them: replaced on a rerun.
    let outputs = m.local_files(&format!("{fl}/resolved"));
    let done_json = format!("{fl}/resolved/done.json");
    for rel in outputs
        .iter()
        .filter(|r| **r != done_json)
        .chain([&done_json])
    {
        let bytes = std::fs::read(m.path(rel)).map_err(|e| Error::Publish {
            path: m.path(rel),
            message: e.to_string(),
        })?;
        m.remote.replace(rel, bytes)?;
    }
    Ok(done)
}

pub fn finish(args: &FinishArgs, url: &str) -> Result<RunReport> {
    let m = Mirror::open(url)?;
    m.remote.check_conditions()?;
    let fl = flight(&args.run_id);
    let keyed = format!("{fl}/keyed/");
    m.pull_all(&fl, |r| !r.starts_with(&keyed))?;
    let latest = pull_runs(&m)?;
    let report = super::finish::finish(&FinishArgs {
        pipeline: args.pipeline.clone(),
        work_dir: m.dir().to_path_buf(),
        run_id: args.run_id.clone(),
    })?;
    let report = commit(&m, report, latest)?;
    m.remote.remove_all(&fl)?;
    Ok(report)
}

/// `siap run` into a bucket: on the mirror, with what a run reads of the
/// earlier runs (their manifests; the copies a fetch may reuse or fall
/// back to, or a `--supplier` rerun reuses), then committed as `finish`
/// commits. No lock: overlapping runs each commit their own folder, and
/// `latest` is swapped by compare-and-swap.
pub fn run(args: &RunArgs, url: &str) -> Result<RunReport> {
    let m = Mirror::open(url)?;
    m.remote.check_conditions()?;
    let pipeline = crate::pipeline::load(&args.pipeline)?;
    let date = super::run::run_date(&pipeline, args.date);
    let s = &pipeline.sources;
    let ids: Vec<&String> = [&s.catalog, &s.sku_map]
        .into_iter()
        .chain(&s.feeds)
        .map(|s| &s.id)
        .collect();
    let latest = pull_past(&m, &ids, date)?;
    let report = super::run::run(&RunArgs {
        work_dir: m.dir().to_path_buf(),
        ..args.clone()
    })?;
    commit(&m, report, latest)
}

/// The runs in the bucket, for `siap runs` and a run's outcome: their
/// manifests (read from a mirror that is then removed).
pub fn past_runs(url: &str) -> Result<(Vec<PastRun>, Option<String>)> {
    let m = Mirror::open(url)?;
    pull_runs(&m)?;
    Ok((
        crate::workdir::list_runs(m.dir()),
        crate::workdir::latest(m.dir()),
    ))
}

/// Every run's manifest, and `latest` linked in the mirror as on disk;
/// what `latest` named, and its ETag.
fn pull_runs(m: &Mirror) -> Result<Option<(String, Option<String>)>> {
    m.pull_all("runs", |r| r.ends_with("/manifest.json"))?;
    let latest = m.remote.latest()?;
    if let Some((target, _)) = &latest {
        link_latest(m, target)?;
    }
    Ok(latest)
}

/// A run committed in the mirror, committed to the bucket: its folder
/// pushed, `manifest.json` last, then `latest` swapped. A run already
/// there (a retried finish) is not pushed again; `latest` is swapped to
/// it unless it names a newer run. The report names the bucket's URLs.
fn commit(
    m: &Mirror,
    mut report: RunReport,
    latest: Option<(String, Option<String>)>,
) -> Result<RunReport> {
    let run = report
        .run_dir
        .strip_prefix(m.dir())
        .map_err(|_| Error::Internal("the run folder is outside the mirror".into()))?
        .to_string_lossy()
        .into_owned();
    let manifest = format!("{run}/manifest.json");
    if m.remote.read(&manifest)?.is_none() {
        publish(m, &run, &manifest)?;
        m.remote.swap_latest(&run)?;
    } else if !committed_after_it(m, &run, latest.as_ref().map(|(t, _)| t.as_str())) {
        // Committed by a finish killed before its swap: swapped now,
        // unless `latest` names a run committed after it.
        m.remote.swap_latest(&run)?;
    }
    report.run_dir = m.remote.url(&run).into();
    report.latest = m.remote.url("latest").into();
    Ok(report)
}

/// Whether `latest` (`runs/<date>/<id>` in the bucket) names a run
/// committed after `run`, by the manifests pulled into the mirror.
fn committed_after_it(m: &Mirror, run: &str, latest: Option<&str>) -> bool {
    let runs = crate::workdir::list_runs(m.dir());
    let name = |r: &str| r.strip_prefix("runs/").unwrap_or(r).to_string();
    let this = name(run);
    runs.iter().find(|r| r.name() == this).is_some_and(|this| {
        crate::workdir::committed_after(&runs, latest.map(name).as_deref(), this)
    })
}

/// Pushes a run folder, `manifest.json` last: the commit point. A file a
/// killed finish left with other bytes (nobody reads a run before its
/// manifest) is updated over the version found.
fn publish(m: &Mirror, run: &str, manifest: &str) -> Result<()> {
    let files = m.local_files(run);
    for rel in files.iter().filter(|r| r.as_str() != manifest) {
        if let Created::Differs(e_tag) = m.push_as_is(rel)? {
            let bytes = std::fs::read(m.path(rel)).map_err(|e| Error::Publish {
                path: m.path(rel),
                message: e.to_string(),
            })?;
            if !m.remote.update(rel, bytes, e_tag)? {
                return Err(Error::Publish {
                    path: m.remote.url(rel).into(),
                    message: "another finish of this run is writing it".into(),
                });
            }
        }
    }
    if let Created::Differs(_) = m.push_as_is(manifest)? {
        tracing::warn!(
            run,
            "Another finish of this run committed it first; its manifest stays."
        );
    }
    tracing::info!(run = %m.remote.url(run), files = files.len(), "Published the run to the store.");
    Ok(())
}

/// `latest` in the mirror, as on disk, so finish sees what it points at.
fn link_latest(m: &Mirror, target: &str) -> Result<()> {
    if !crate::split::remote::is_run_path(target) {
        return Err(Error::Publish {
            path: m.remote.url("latest").into(),
            message: format!("`{target}` is not a run (runs/<date>/<run-id>)"),
        });
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, m.path("latest")).map_err(|e| Error::Publish {
        path: m.path("latest"),
        message: e.to_string(),
    })?;
    Ok(())
}
