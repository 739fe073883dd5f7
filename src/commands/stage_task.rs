//! `siap stage --source ID`: one feed of a planned flight, fetched and
//! staged as `siap run` stages it (the same fetch, dialects, checks and
//! exceptions), with the reference tables the plan fetched. Its files go
//! to the flight, `tasks/<id>.json` last; a retried task writes the same
//! bytes or is refused (see [`crate::split::place`]).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fetch::{self, Origin};
use crate::pipeline::{self, SourceKind, Sources};
use crate::split::record::{Plan, SourceFacts, TaskRecord};
use crate::split::{self, Flight, keyed};
use crate::stage;
use crate::sys::tuning::Tuning;
use crate::workdir;

use super::plan::{check_plan, flight_error};

pub struct StageArgs {
    pub pipeline: PathBuf,
    pub work_dir: PathBuf,
    pub run_id: String,
    pub feed: Feed,
}

/// Which feed of the plan a task stages.
#[derive(Clone)]
pub enum Feed {
    Id(String),
    /// Its place in the plan's feeds.
    Index(usize),
}

pub fn stage(args: &StageArgs) -> Result<TaskRecord> {
    if let Some(url) = split::remote::url_of(&args.work_dir) {
        return super::on_store::stage(args, url);
    }
    let pipeline = pipeline::load(&args.pipeline)?;
    let flight = Flight::new(&args.work_dir, &args.run_id);
    let plan = super::plan::load_plan(&flight, &args.run_id)?;
    check_plan(&plan, &args.pipeline)?;
    let planned = match &args.feed {
        Feed::Id(id) => plan.feed(id),
        Feed::Index(i) => plan.feeds.get(*i),
    }
    .ok_or_else(|| {
        let asked = match &args.feed {
            Feed::Id(id) => format!("feed `{id}`"),
            Feed::Index(i) => format!("feed number {i} (they are numbered from 0)"),
        };
        Error::Usage(format!(
            "run `{}` has no {asked}; its feeds: {}",
            plan.run_id,
            plan.feeds
                .iter()
                .map(|f| format!("`{}`", f.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let source = pipeline
        .sources
        .feeds
        .iter()
        .find(|s| s.id == planned.id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "the pipeline file has no feed `{}`, which run `{}` planned",
                planned.id, plan.run_id
            ))
        })?;
    let scratch = flight.scratch(&format!("stage-{}", source.id));
    let staged = stage_into(args, &plan, planned, source, &pipeline, &flight, &scratch);
    // Whatever happened, this process's scratch files go.
    let _ = std::fs::remove_dir_all(&scratch);
    staged
}

/// Fetches and stages the feed in `scratch`, then places its files.
fn stage_into(
    args: &StageArgs,
    plan: &Plan,
    planned: &crate::split::record::PlannedFeed,
    source: &crate::pipeline::Source,
    pipeline: &crate::pipeline::Pipeline,
    flight: &Flight,
    scratch: &std::path::Path,
) -> Result<TaskRecord> {
    let started = std::time::Instant::now();
    let io = |e: std::io::Error| Error::Publish {
        path: scratch.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(scratch.join("raw")).map_err(io)?;

    // Fetch: this feed, and the plan's copies of the reference tables.
    let sources = Sources {
        catalog: plan.catalog.locate(&pipeline.sources.catalog),
        sku_map: plan.sku_map.locate(&pipeline.sources.sku_map),
        feeds: vec![source.clone()],
    };
    let mut origins = fetch::plan(
        &sources,
        &workdir::list_runs(&args.work_dir),
        &[],
        plan.run_date,
    )
    .map_err(Error::SourcesFailed)?;
    for (origin, id) in [
        (&mut origins.catalog, &sources.catalog.id),
        (&mut origins.sku_map, &sources.sku_map.id),
    ] {
        *origin = Origin::Reuse {
            run: format!("plan {}", plan.run_id),
            age_days: 0,
            raw: flight.raw(id),
        };
    }
    let located = fetch::locate(&sources, &origins, plan.run_date).map_err(Error::SourcesFailed)?;
    let raw = fetch::fetch(&located, origins, &scratch.join("raw"), 2)
        .collect_errors()
        .map_err(Error::SourcesFailed)?;

    // Stage: the reference tables, then the feed alone.
    let reference = stage::reference(&located, &raw.as_ref().map(|r| r.copy.clone()))
        .map_err(Error::SourcesFailed)?;
    let settings = stage::Settings {
        run_date: plan.run_date,
        timezone: pipeline.campaign.timezone,
        tuning: Tuning::from_env(),
        workers: crate::sys::workers(),
    };
    let outputs = stage::Outputs::new(scratch.join("staged"), scratch);
    let copy = raw.feeds[0].copy.clone();
    let staged = stage::feeds(&located.feeds, &[copy], &reference, &settings, &outputs)
        .map_err(Error::SourcesFailed)?;
    let feed = &staged.feeds[0];
    let keyed_tmp = scratch.join("keyed.parquet");
    let keyed_rows = keyed::write(
        &staged.partitions,
        source.kind == SourceKind::Shipments,
        planned.order,
        &reference.sku_map,
        &staged.names.all(),
        &keyed_tmp,
    )
    .map_err(|e| Error::polars("writing the keyed rows")(e))?;
    staged.partitions.remove();

    // Place every file, the task's record last.
    let file = feed.file.clone().unwrap_or_else(|| stage::read::FileRead {
        bytes: raw.feeds[0].copy.bytes,
        sha256: String::new(),
        source: None,
    });
    let record = TaskRecord::of(
        feed,
        planned.order,
        SourceFacts::new(&located.feeds[0], &raw.feeds[0], &file),
        keyed_rows,
    );
    let rejects = feed
        .rejects
        .as_ref()
        .expect("a run's feed has rejected rows' files");
    let placed = [
        (raw.feeds[0].copy.path.clone(), flight.raw(&source.id)),
        (
            outputs.staged_dir.join(format!("{}.parquet", source.id)),
            flight.staged(&source.id),
        ),
        (rejects.staged.clone(), flight.rejected(&source.id)),
        (keyed_tmp, flight.keyed(source.kind, &source.id)),
    ];
    for (from, to) in &placed {
        split::place(from, to).map_err(|e| flight_error(flight, e))?;
    }
    split::write_json(&record, &flight.task(&source.id)).map_err(|e| flight_error(flight, e))?;
    tracing::info!(source = %source.id, records = record.records, rejected = record.rejected, keyed_rows, ms = started.elapsed().as_millis() as u64, "Staged the feed for the flight.");
    Ok(record)
}
