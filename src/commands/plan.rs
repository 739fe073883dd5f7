//! `siap plan`: the first step of the distributed path. Fetches and checks
//! the reference tables (the catalog and the SKU map, which every stage
//! task judges its rows by) into a new flight, and writes `plan.json`: the
//! run's date and id, the feeds in order (one `siap stage` task each) and
//! the rules' version. See [`crate::split`].

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::fetch;
use crate::pipeline::{self, Pipeline, Sources};
use crate::split::record::{Plan, PlannedFeed, SourceFacts, TaskRecord};
use crate::split::{self, Flight};
use crate::stage;
use crate::workdir;

#[derive(Clone)]
pub struct PlanArgs {
    pub pipeline: PathBuf,
    pub work_dir: PathBuf,
    pub date: Option<NaiveDate>,
    /// The run's id; default: the time and this process's id, as `run`.
    pub run_id: Option<String>,
}

/// Makes the flight and its plan; planning again with the same run id,
/// pipeline and date gives the same plan back (the reference tables are
/// not fetched again).
pub fn plan(args: &PlanArgs) -> Result<Plan> {
    if let Some(url) = split::remote::url_of(&args.work_dir) {
        return super::on_store::plan(args, url);
    }
    let pipeline = pipeline::load(&args.pipeline)?;
    let date = super::run::run_date(&pipeline, args.date);
    let started = chrono::Utc::now();
    let run_id = match &args.run_id {
        Some(id) if pipeline::is_safe_id(id) => id.clone(),
        Some(id) => {
            return Err(Error::Usage(format!(
                "`{id}` cannot be a run id: letters, digits, `-`, `_` and `.` only, not first"
            )));
        }
        None => format!(
            "{}-{}",
            started.format("%Y%m%dT%H%M%S%.3fZ"),
            std::process::id()
        ),
    };
    let flight = Flight::new(&args.work_dir, &run_id);
    if flight.plan().exists() {
        return again(&flight, &pipeline, date);
    }
    let (catalog, sku_map) = reference(&pipeline, &flight, &args.work_dir, date)?;
    let plan = Plan {
        rules_version: split::RULES_VERSION,
        run_id,
        run_date: date,
        started_at: started.to_rfc3339(),
        campaign: pipeline.campaign.name.clone(),
        pipeline_sha256: digest(&args.pipeline)?,
        catalog,
        sku_map,
        feeds: pipeline
            .sources
            .feeds
            .iter()
            .enumerate()
            .map(|(order, s)| PlannedFeed {
                id: s.id.clone(),
                kind: s.kind.as_str().into(),
                owner: s.owner.clone(),
                order,
            })
            .collect(),
    };
    split::write_json(&plan, &flight.plan()).map_err(|e| flight_error(&flight, e))?;
    tracing::info!(run_id = %plan.run_id, feeds = plan.feeds.len(), flight = %flight.dir().display(), "Planned the run.");
    Ok(plan)
}

/// A plan already made for this run id: the same, if it is for the same
/// campaign and date.
fn again(flight: &Flight, pipeline: &Pipeline, date: NaiveDate) -> Result<Plan> {
    let plan: Plan = split::read_json(&flight.plan()).map_err(|e| flight_error(flight, e))?;
    if plan.campaign != pipeline.campaign.name || plan.run_date != date {
        return Err(Error::Usage(format!(
            "run `{}` is already planned for campaign `{}` on {}; choose another run id",
            plan.run_id, plan.campaign, plan.run_date
        )));
    }
    Ok(plan)
}

/// Fetches, checks and places the reference tables: their facts.
fn reference(
    pipeline: &Pipeline,
    flight: &Flight,
    work_dir: &Path,
    date: NaiveDate,
) -> Result<(SourceFacts, SourceFacts)> {
    let sources = Sources {
        catalog: pipeline.sources.catalog.clone(),
        sku_map: pipeline.sources.sku_map.clone(),
        feeds: Vec::new(),
    };
    let origins = fetch::plan(&sources, &workdir::list_runs(work_dir), &[], date)
        .map_err(Error::SourcesFailed)?;
    let sources = fetch::locate(&sources, &origins, date).map_err(Error::SourcesFailed)?;
    let scratch = flight.scratch("plan");
    let raw_dir = scratch.join("raw");
    std::fs::create_dir_all(&raw_dir).map_err(|e| Error::Publish {
        path: raw_dir.clone(),
        message: e.to_string(),
    })?;
    let raw = fetch::fetch(&sources, origins, &raw_dir, 2)
        .collect_errors()
        .map_err(Error::SourcesFailed)?;
    let tables = stage::reference(&sources, &raw.as_ref().map(|r| r.copy.clone()))
        .map_err(Error::SourcesFailed)?;
    let facts = (
        SourceFacts::new(&sources.catalog, &raw.catalog, &tables.catalog_file),
        SourceFacts::new(&sources.sku_map, &raw.sku_map, &tables.sku_map_file),
    );
    for (s, r) in [
        (&sources.catalog, &raw.catalog),
        (&sources.sku_map, &raw.sku_map),
    ] {
        split::place(&r.copy.path, &flight.raw(&s.id)).map_err(|e| flight_error(flight, e))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(facts)
}

/// The plan of run `run_id` in its flight; no such run is a usage error.
pub fn load_plan(flight: &Flight, run_id: &str) -> Result<Plan> {
    if !flight.plan().exists() {
        return Err(Error::Usage(format!(
            "no run `{run_id}` is planned in this work directory (no {}); start with `siap plan`",
            flight.plan().display()
        )));
    }
    split::read_json(&flight.plan()).map_err(|e| flight_error(flight, e))
}

/// Every planned feed's task record, in the plan's order; the feeds not
/// staged yet are a usage error naming them.
pub fn task_records(flight: &Flight, plan: &Plan) -> Result<Vec<TaskRecord>> {
    let mut missing = Vec::new();
    let mut out = Vec::new();
    for f in &plan.feeds {
        match split::read_json::<TaskRecord>(&flight.task(&f.id)) {
            Ok(t) => out.push(t),
            Err(_) => missing.push(format!("`{}`", f.id)),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "run `{}` is not staged yet: no `siap stage` has finished for {}",
            plan.run_id,
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// The pipeline file's sha256.
fn digest(path: &Path) -> Result<String> {
    crate::sys::files::hash_file(path)
        .map(|(_, hex)| hex)
        .map_err(|source| Error::PipelineRead {
            path: path.to_path_buf(),
            source,
        })
}

/// Refuses a plan made by other rules or with another pipeline file.
pub fn check_plan(plan: &Plan, pipeline: &Path) -> Result<()> {
    check_rules(plan)?;
    if digest(pipeline)? != plan.pipeline_sha256 {
        return Err(Error::Usage(format!(
            "`{}` is not the pipeline file run `{}` was planned with (its sha256 differs); \
             every task of a run takes the same file",
            pipeline.display(),
            plan.run_id
        )));
    }
    Ok(())
}

/// A flight planned by another version of the rules is refused.
pub fn check_rules(plan: &Plan) -> Result<()> {
    if plan.rules_version != split::RULES_VERSION {
        return Err(Error::Usage(format!(
            "run `{}` was planned for rules version {}, and this siap has version {}; plan a new run",
            plan.run_id,
            plan.rules_version,
            split::RULES_VERSION
        )));
    }
    Ok(())
}

/// A flight that cannot be read or written.
pub fn flight_error(flight: &Flight, problem: crate::error::Problem) -> Error {
    Error::Publish {
        path: flight.dir().to_path_buf(),
        message: problem.to_string(),
    }
}
