//! `siap finish`: the last step of the distributed path. Takes a resolved
//! flight's files (raw and staged copies, each task's facts, the rules'
//! results), and runs the rest of `siap run` on them, through the same
//! code ([`super::run::conclude`]): gates, aggregate, publish, and the
//! commit that swaps `latest`. The work directory's lock is held
//! meanwhile, as a run holds it; a finish that dies before the commit
//! leaves `latest` as it was. A finish retried after its run was
//! committed (killed between the commit and removing the flight) reports
//! that run again and succeeds, so an orchestrator may always retry it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fetch::Raw;
use crate::pipeline::{self, Source, Sources};
use crate::split::record::{Plan, TaskRecord};
use crate::split::{Flight, keyed};
use crate::stage::{self, RejectFiles, StagedFeed};
use crate::sys::tuning::Tuning;
use crate::workdir;

use super::run::{Clock, RunReport, Settled, conclude};

pub struct FinishArgs {
    pub pipeline: PathBuf,
    pub work_dir: PathBuf,
    pub run_id: String,
}

pub fn finish(args: &FinishArgs) -> Result<RunReport> {
    if let Some(url) = crate::split::remote::url_of(&args.work_dir) {
        return super::on_store::finish(args, url);
    }
    let clock = Clock::start();
    let mut pipeline = pipeline::load(&args.pipeline)?;
    let flight = Flight::new(&args.work_dir, &args.run_id);
    let work = workdir::open(&args.work_dir)?;
    if let Some(done) = already_published(&work, &args.work_dir, &args.run_id)? {
        let _ = std::fs::remove_dir_all(flight.dir());
        return Ok(done);
    }
    let plan = super::plan::load_plan(&flight, &args.run_id)?;
    super::plan::check_plan(&plan, &args.pipeline)?;
    if plan.campaign != pipeline.campaign.name {
        return Err(Error::Usage(format!(
            "run `{}` is of campaign `{}`, not `{}`",
            plan.run_id, plan.campaign, pipeline.campaign.name
        )));
    }
    let tasks = tasks(&flight, &plan, &pipeline.sources.feeds)?;
    if !flight.resolved_done().exists() {
        return Err(Error::Usage(format!(
            "run `{}` is not resolved yet: run `siap resolve --run {}` first",
            plan.run_id, plan.run_id
        )));
    }

    let run = work.begin(&plan.run_id)?;
    let raw_dir = run.raw()?;
    let staged_dir = run.staged()?;
    let rejected_dir = run.scratch().join("rejected");
    std::fs::create_dir_all(&rejected_dir).map_err(|e| Error::Publish {
        path: rejected_dir.clone(),
        message: e.to_string(),
    })?;

    // The sources as located and fetched by the plan and the tasks, their
    // copies linked into the run folder.
    let facts = Sources {
        catalog: &plan.catalog,
        sku_map: &plan.sku_map,
        feeds: tasks.iter().map(|t| &t.fetch).collect(),
    };
    let located = pipeline
        .sources
        .as_ref()
        .zip(facts.as_ref())
        .map(|(s, f)| f.locate(s));
    let raw: Sources<Raw> = located
        .as_ref()
        .zip(facts)
        .map(|(s, f)| {
            let to = raw_dir.join(&s.id);
            link(&flight.raw(&s.id), &to).map(|()| f.raw(&to))
        })
        .collect_errors()
        .map_err(Error::SourcesFailed)?;
    for s in &located.feeds {
        link(
            &flight.staged(&s.id),
            &staged_dir.join(format!("{}.parquet", s.id)),
        )?;
    }
    let reference = stage::reference(&located, &raw.as_ref().map(|r| r.copy.clone()))
        .map_err(Error::SourcesFailed)?;
    let feeds: Vec<StagedFeed> = tasks
        .iter()
        .zip(&located.feeds)
        .enumerate()
        .map(|(i, (t, s))| {
            let rejects = RejectFiles {
                staged: flight.rejected(&s.id),
                conflicts: rejected_dir.join(format!("{i}.conflicts.bin")),
            };
            t.staged(s.kind, rejects)
        })
        .collect();
    let resolved = keyed::resolved(
        &|name| flight.resolved(name),
        feeds.len(),
        &reference.catalog,
        &reference.sku_map,
    )
    .map_err(|e| Error::polars("reading the resolved tables")(e))?;

    pipeline.sources = located;
    let started = chrono::DateTime::parse_from_rfc3339(&plan.started_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    let settled = Settled {
        pipeline: &pipeline,
        date: plan.run_date,
        run_id: &plan.run_id,
        started,
        suppliers: &[],
        raw: &raw,
        reference: &reference,
        feeds: &feeds,
        resolved: &resolved,
        tuning: Tuning::from_env(),
    };
    let report = conclude(&settled, run, &args.work_dir, clock, (0, 0))?;
    // Published: the flight is done with.
    let _ = std::fs::remove_dir_all(flight.dir());
    Ok(report)
}

/// The date run `args.run_id` was planned for, when its plan (or its
/// published run) can be read: what a failed finish is reported under.
pub fn planned_date(args: &FinishArgs) -> Option<chrono::NaiveDate> {
    if let Some(url) = crate::split::remote::url_of(&args.work_dir) {
        let remote = crate::split::remote::Remote::open(url).ok()?;
        let (plan, _) = remote
            .read(&format!("flights/{}/plan.json", args.run_id))
            .ok()??;
        return serde_json::from_slice::<Plan>(&plan)
            .ok()
            .map(|p| p.run_date);
    }
    let flight = Flight::new(&args.work_dir, &args.run_id);
    super::plan::load_plan(&flight, &args.run_id)
        .ok()
        .map(|p| p.run_date)
        .or_else(|| {
            workdir::list_runs(&args.work_dir)
                .into_iter()
                .find(|r| r.run_id == args.run_id)
                .map(|r| r.date)
        })
}

/// The run `run_id`, when it is already committed: what its manifest
/// says, as the finish that committed it reported. A finish killed
/// between its commit (the rename into `runs/`) and the swap of `latest`
/// left `latest` on the run before: the swap is done now, unless `latest`
/// names a run committed after this one (it finished later).
fn already_published(
    work: &workdir::WorkDir,
    dir: &Path,
    run_id: &str,
) -> Result<Option<RunReport>> {
    let past = work.past_runs();
    let Some(this) = past.iter().find(|r| r.run_id == run_id) else {
        return Ok(None);
    };
    let name = this.name();
    let latest = workdir::latest(dir);
    if latest.as_deref() != Some(name.as_str()) {
        if workdir::committed_after(&past, latest.as_deref(), this) {
            tracing::warn!(run = %name, latest = ?latest, "Run was published, but `latest` points at a run committed after it; left so.");
        } else {
            workdir::point_latest(dir, &this.date.to_string(), run_id)?;
            tracing::info!(run = %name, before = ?latest, "Run was committed by a finish killed before it swapped `latest`; `latest` now points at it.");
        }
    }
    tracing::info!(run = %name, "Run was already published; nothing to finish.");
    Ok(Some(RunReport {
        manifest: this.manifest.clone(),
        run_dir: this.dir.clone(),
        latest: dir.join("latest"),
    }))
}

/// Every feed's task record, in the pipeline's order; a feed not staged
/// yet (or staged for another plan) is an error naming it.
fn tasks(flight: &Flight, plan: &Plan, feeds: &[Source]) -> Result<Vec<TaskRecord>> {
    let planned: Vec<&str> = plan.feeds.iter().map(|f| f.id.as_str()).collect();
    let ids: Vec<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
    if planned != ids {
        return Err(Error::Usage(format!(
            "run `{}` planned the feeds {planned:?}, and the pipeline file now has {ids:?}",
            plan.run_id
        )));
    }
    super::plan::task_records(flight, plan)
}

/// A flight's file linked (or copied) into the run folder.
fn link(from: &Path, to: &Path) -> Result<()> {
    std::fs::hard_link(from, to)
        .or_else(|_| std::fs::copy(from, to).map(|_| ()))
        .map_err(|e| Error::Publish {
            path: to.to_path_buf(),
            message: format!("cannot take {} from the flight: {e}", from.display()),
        })
}
