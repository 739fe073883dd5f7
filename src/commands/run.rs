//! `siap run`: the whole job, phase by phase: fetch → stage → rules →
//! gates → aggregate → publish, in a run folder that becomes visible (and
//! `latest`) only when everything is written.
//!
//! A run stops at the first phase in which a source fails, and reports
//! every source that failed in it: a table silently missing a supplier's
//! rows is worse than yesterday's table.

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;

use crate::aggregate::{self, Tables};
use crate::error::{Error, Result};
use crate::fetch;
use crate::gates::{self, Measures};
use crate::pipeline::{self, Pipeline, SourceKind};
use crate::publish::{self, Publication, manifest};
use crate::rules::{self, Resolved};
use crate::stage::{self, Reference, Staged, StagedFeed};
use crate::sys::tuning::Tuning;
use crate::workdir;
use crate::workdir::manifest::{Manifest, Timings};

/// What `siap run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub pipeline: PathBuf,
    pub work_dir: PathBuf,
    pub date: Option<NaiveDate>,
    /// How many sources are fetched at once.
    pub concurrency: usize,
    /// Refresh only the sources of these suppliers; reuse the rest.
    pub suppliers: Vec<String>,
}

/// What a successful run did.
#[derive(Debug)]
pub struct RunReport {
    pub manifest: Manifest,
    pub run_dir: PathBuf,
    pub latest: PathBuf,
}

pub fn run(args: &RunArgs) -> Result<RunReport> {
    if let Some(url) = crate::split::remote::url_of(&args.work_dir) {
        return super::on_store::run(args, url);
    }
    let started = chrono::Utc::now();
    let mut pipeline = pipeline::load(&args.pipeline)?;
    check_suppliers(&pipeline, &args.suppliers)?;
    let date = run_date(&pipeline, args.date);
    let tuning = Tuning::from_env();
    let work = workdir::open(&args.work_dir)?;
    tracing::info!(campaign = %pipeline.campaign.name, run_date = %date, work_dir = %args.work_dir.display(), "Starting run.");
    let run_id = format!(
        "{}-{}",
        started.format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let run = work.begin(&run_id)?;
    let mut clock = Clock::start();

    // Fetch: every source's raw copy (or an earlier run's, for reruns),
    // dated locations resolved for the run date.
    let plan = fetch::plan(&pipeline.sources, &work.past_runs(), &args.suppliers, date)
        .map_err(Error::SourcesFailed)?;
    pipeline.sources =
        fetch::locate(&pipeline.sources, &plan, date).map_err(Error::SourcesFailed)?;
    let pipeline = pipeline;
    let sources = &pipeline.sources;
    let raw = fetch::fetch(sources, plan, &run.raw()?, args.concurrency)
        .collect_errors()
        .map_err(Error::SourcesFailed)?;
    let fetch_ms = clock.lap();

    // Stage: the reference tables, then every feed, validated, partitioned.
    let reference = stage::reference(sources, &raw.as_ref().map(|r| r.copy.clone()))
        .map_err(Error::SourcesFailed)?;
    let copies: Vec<_> = raw.feeds.iter().map(|r| r.copy.clone()).collect();
    let settings = stage::Settings {
        run_date: date,
        timezone: pipeline.campaign.timezone,
        tuning,
        workers: crate::sys::workers(),
    };
    let outputs = stage::Outputs::new(run.staged()?, &run.scratch());
    let staged = stage::feeds(&sources.feeds, &copies, &reference, &settings, &outputs)
        .map_err(Error::SourcesFailed)?;

    // Rules: the latest row per key, duplicates and conflicts, across feeds.
    let resolved = resolve(&staged, &reference)?;
    let stage_ms = clock.lap();

    let settled = Settled {
        pipeline: &pipeline,
        date,
        run_id: &run_id,
        started,
        suppliers: &args.suppliers,
        raw: &raw,
        reference: &reference,
        feeds: &staged.feeds,
        resolved: &resolved,
        tuning,
    };
    conclude(&settled, run, &args.work_dir, clock, (fetch_ms, stage_ms))
}

/// What a run holds once its rules are applied: `siap run` has it from its
/// own phases, `siap finish` from a flight's files.
pub struct Settled<'a> {
    pub pipeline: &'a Pipeline,
    pub date: NaiveDate,
    pub run_id: &'a str,
    pub started: chrono::DateTime<chrono::Utc>,
    pub suppliers: &'a [String],
    pub raw: &'a pipeline::Sources<fetch::Raw>,
    pub reference: &'a Reference,
    pub feeds: &'a [StagedFeed],
    pub resolved: &'a Resolved,
    pub tuning: Tuning,
}

/// The rest of a run, the same for `siap run` and `siap finish`: gates →
/// aggregate → publish, then the commit (the run folder renamed into
/// place, `latest` swapped). `(fetch_ms, stage_ms)` as measured before.
pub fn conclude(
    s: &Settled,
    run: workdir::RunDir,
    work_dir: &std::path::Path,
    mut clock: Clock,
    (fetch_ms, stage_ms): (u64, u64),
) -> Result<RunReport> {
    let (pipeline, sources, date) = (s.pipeline, &s.pipeline.sources, s.date);
    // Gates: per-source quality checks; `error` gates fail their source.
    let measures: Vec<Measures> = s
        .feeds
        .iter()
        .zip(&s.resolved.counts)
        .map(|(f, c)| Measures {
            records: f.records,
            rejected: f.rejected + c.conflicting,
            newest: f.newest,
            reference: gates::reference_time(pipeline.campaign.timezone, date),
        })
        .collect();
    let mut verdict = gates::judge(&sources.feeds, &measures);
    if !verdict.failures.is_empty() {
        return Err(Error::SourcesFailed(verdict.failures));
    }
    // A failed fetch whose last good copy was used publishes with warnings.
    let stale = stale_feeds(sources, s.raw);
    verdict.warnings.extend(
        stale
            .iter()
            .map(|f| format!("source `{}`: {}", f.source_id, f.warning)),
    );

    // Aggregate: per-product and per-supplier totals, flags and reasons;
    // meanwhile, the conflicting rows' raw text is read back.
    let tables = aggregate_and_keep_conflicts(s, &stale)?;
    let aggregate_ms = clock.lap();

    // Publish: the tables, the workbook, then the manifest; then commit.
    let records = manifest::sources(
        pipeline,
        s.raw,
        s.reference,
        s.feeds
            .iter()
            .zip(&s.raw.feeds)
            .zip(&s.resolved.counts)
            .zip(verdict.results)
            .map(|(((staged, raw), counts), gates)| manifest::FeedFacts {
                raw,
                staged,
                counts: *counts,
                gates,
            })
            .collect(),
    );
    let exceptions = records.iter().map(|r| r.rejected).sum();
    let rejects: Vec<_> = s.feeds.iter().filter_map(|f| f.rejects.as_ref()).collect();
    let publication = Publication {
        dir: run.dir(),
        tables: &tables,
        reference: s.reference,
        resolved: s.resolved,
        campaign: &pipeline.campaign,
        run_date: date,
        rejected: Publication::rejected_of(sources.feeds.iter().map(|f| f.id.as_str()), &rejects),
        exceptions,
        sources: &records,
        options: &pipeline.output,
        tuning: s.tuning,
    };
    let outputs = publish::outputs(&publication)?;
    let summary = manifest::summary(&tables, exceptions)?;
    let timings = Timings {
        fetch: fetch_ms,
        stage: stage_ms,
        aggregate: aggregate_ms,
        publish: clock.lap(),
    };
    let manifest = manifest::Run {
        pipeline,
        run_date: date,
        run_id: s.run_id,
        started: s.started,
        suppliers: s.suppliers,
        warnings: verdict.warnings,
    }
    .manifest(records, outputs, summary, timings);
    publish::manifest(run.dir(), &manifest)?;
    let run_dir = run.commit(&date.to_string(), s.run_id)?;
    Ok(RunReport {
        manifest,
        run_dir,
        latest: work_dir.join("latest"),
    })
}

/// The latest-row rules over the staged partitions (removed once read).
fn resolve(staged: &Staged, reference: &Reference) -> Result<Resolved> {
    let t = Instant::now();
    // Staging's buffers, given back before the rules fill memory.
    crate::sys::memory::release_freed();
    let workers = crate::sys::workers();
    let resolved = rules::resolve(
        &staged.partitions,
        staged.feeds.len(),
        &reference.sku_map,
        staged.names.all(),
        workers,
    )
    .map_err(|e| Error::Publish {
        path: staged.partitions.dir().to_path_buf(),
        message: format!("cannot read back the staged partitions: {e}"),
    })?;
    tracing::debug!(
        stage = "rules",
        ms = t.elapsed().as_millis() as u64,
        partitions = staged.partitions.parts(),
        "Applied the latest-row rules."
    );
    staged.partitions.remove();
    Ok(resolved)
}

/// The tables, computed while the rows the rules rejected are read back
/// from their feeds on the other cores (beside each feed's staging
/// rejects, on disk).
fn aggregate_and_keep_conflicts(s: &Settled, stale: &[aggregate::StaleFeed]) -> Result<Tables> {
    let texts: Vec<PathBuf> = s
        .feeds
        .iter()
        .zip(&s.raw.feeds)
        .map(|(f, r)| f.text_path(&r.copy))
        .collect();
    let rejects: Vec<_> = s.feeds.iter().filter_map(|f| f.rejects.as_ref()).collect();
    let per_product = aggregate::exceptions_per_product(
        s.reference.catalog.products.len(),
        s.feeds,
        s.resolved,
        &s.reference.sku_map,
    );
    let (kept, tables) = std::thread::scope(|scope| {
        let kept = scope.spawn(|| {
            rules::conflicts::keep(
                &s.resolved.conflicts,
                &s.pipeline.sources.feeds,
                &texts,
                &rejects,
                &s.reference.sku_map,
                crate::sys::workers().saturating_sub(1).max(1),
            )
        });
        let tables = aggregate::aggregate(
            &s.reference.catalog,
            &s.reference.sku_map,
            s.resolved,
            &per_product,
            stale,
            &s.pipeline.campaign,
        );
        (kept.join(), tables)
    });
    kept.map_err(|_| Error::Internal("reading back the conflicting rows panicked".into()))??;
    tables
}

/// The feeds whose fetch failed and whose last good copy was used
/// (`on_fetch_failure = "reuse"`).
fn stale_feeds(
    sources: &pipeline::Sources<pipeline::Source>,
    raw: &pipeline::Sources<fetch::Raw>,
) -> Vec<aggregate::StaleFeed> {
    sources
        .iter()
        .zip(raw.iter())
        .filter_map(|(s, r)| {
            let stale = r.stale.as_ref()?;
            let (run, _) = r.reused.as_ref()?;
            Some(aggregate::StaleFeed {
                source_id: s.id.clone(),
                kind: s.kind,
                owner: s.owner.clone(),
                note: format!("{}: copy of {run}, {:.0} h old", s.id, stale.age_hours),
                warning: format!(
                    "fetch failed ({}); used the last good copy, of run {run} ({:.1} h old)",
                    stale.error, stale.age_hours
                ),
            })
        })
        .collect()
}

/// Times the phases.
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Self {
        Clock(Instant::now())
    }

    /// Milliseconds since the last lap.
    pub fn lap(&mut self) -> u64 {
        let ms = self.0.elapsed().as_millis() as u64;
        self.0 = Instant::now();
        ms
    }
}

/// The run date: given, or today in the campaign's timezone.
pub fn run_date(pipeline: &Pipeline, date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| {
        chrono::Utc::now()
            .with_timezone(&pipeline.campaign.timezone)
            .date_naive()
    })
}

/// Checks `--supplier` ids against the pipeline's stock feeds.
fn check_suppliers(pipeline: &Pipeline, suppliers: &[String]) -> Result<()> {
    let known: std::collections::BTreeSet<&str> = pipeline
        .sources
        .feeds
        .iter()
        .filter(|s| s.kind == SourceKind::Stock)
        .filter_map(|s| s.owner.as_deref())
        .collect();
    for s in suppliers {
        if !known.contains(s.as_str()) {
            return Err(Error::Usage(format!(
                "the pipeline has no stock feed owned by supplier `{s}`; known suppliers: {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}
