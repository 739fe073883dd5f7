//! Walks every source through the stages: fetch → stage → aggregate →
//! publish. A failed source is recorded, not fatal to the others; but if any
//! source failed, nothing is published (a table silently missing a
//! supplier's rows is worse than yesterday's table).

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, TimeZone};

use crate::aggregate;
use crate::error::{Error, Result};
use crate::fetch::{self, Fetched};
use crate::gates::{self, Level};
use crate::pipeline::{self, Pipeline, Source, SourceKind};
use crate::publish::{self, tables};
use crate::rules as latest;
use crate::stage::staged_copy as staged;
use crate::stage::{self, Context, StagedFeed};
use crate::workdir;
use crate::workdir::manifest::{Manifest, Rules, SourceRecord, Summary, Timings};

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

/// The run date: given, or today in the campaign's timezone.
pub fn run_date(pipeline: &Pipeline, date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| {
        chrono::Utc::now()
            .with_timezone(&pipeline.campaign.timezone)
            .date_naive()
    })
}

/// Where a source's bytes come from in this run.
enum Origin {
    /// Fetched from its location now.
    Fetch,
    /// The raw copy of an earlier run.
    Reuse {
        run: String,
        age_days: i64,
        raw: PathBuf,
    },
}

/// Checks `--supplier` ids against the pipeline's stock feeds.
fn check_suppliers(pipeline: &Pipeline, suppliers: &[String]) -> Result<()> {
    let known: std::collections::BTreeSet<&str> = pipeline
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

pub fn run(args: &RunArgs) -> Result<RunReport> {
    let started = chrono::Utc::now();
    let pipeline = pipeline::load(&args.pipeline)?;
    check_suppliers(&pipeline, &args.suppliers)?;
    let date = run_date(&pipeline, args.date);
    let work = &args.work_dir;
    let _lock = workdir::lock(work)?;
    workdir::clean_leftovers(work);
    tracing::info!(campaign = %pipeline.campaign.name, run_date = %date, work_dir = %work.display(), "Starting run.");

    let run_id = format!(
        "{}-{}",
        started.format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let staging = workdir::RunDir::new(work, &run_id)?;
    let raw_dir = staging.dir.join("raw");
    let staged_dir = staging.dir.join("staged");
    for d in [&raw_dir, &staged_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::Publish {
            path: d.clone(),
            message: e.to_string(),
        })?;
    }

    // ---- which sources to fetch ----
    let sources: Vec<&Source> = pipeline.all_sources().collect();
    // Past runs: copies to reuse for `--supplier`, validators for
    // conditional GETs.
    let past = workdir::list_runs(work);
    let mut failures: Vec<Error> = Vec::new();
    let origins: Vec<Option<Origin>> = sources
        .iter()
        .map(|s| {
            let refresh = args.suppliers.is_empty()
                || (s.kind == SourceKind::Stock && s.owner.as_ref().is_some_and(|o| args.suppliers.contains(o)));
            if refresh {
                return Some(Origin::Fetch);
            }
            match workdir::find_copy(&past, &s.id, date, |_| true) {
                Some((run, _, raw)) => Some(Origin::Reuse { run: run.name(), age_days: (date - run.date).num_days(), raw }),
                None => {
                    failures.push(Error::source(
                        &s.id,
                        &s.location.display(),
                        format!("no earlier run on or before {date} has a copy to reuse; run without --supplier first"),
                    ));
                    None
                }
            }
        })
        .collect();
    if !failures.is_empty() {
        return Err(Error::SourcesFailed(failures));
    }

    // ---- fetch ----
    let t = Instant::now();
    let jobs: Vec<fetch::Job> = sources
        .iter()
        .zip(&origins)
        .filter(|(_, o)| matches!(o, Some(Origin::Fetch)))
        .map(|(s, _)| fetch::Job {
            source: s,
            dest: raw_dir.join(&s.id),
            previous: conditional(&past, s, date),
            // Feeds staging streams are copied by staging as it reads them
            // (one read of each byte; the reference tables are read whole
            // before staging starts).
            copy_while_staging: !matches!(s.kind, SourceKind::Catalog | SourceKind::SkuMap)
                && stage::read::streams(&s.dialect),
        })
        .collect();
    let mut fetched_iter = fetch::fetch_all(jobs, args.concurrency).into_iter();
    let mut fetched: Vec<std::result::Result<Fetched, String>> = Vec::with_capacity(sources.len());
    for (s, o) in sources.iter().zip(&origins) {
        let r = match o {
            Some(Origin::Fetch) => fetched_iter.next().expect("one result per fetched source"),
            Some(Origin::Reuse { raw, run, age_days }) => {
                tracing::info!(stage = "fetch", source = %s.id, from_run = %run, age_days, "Reusing an earlier copy.");
                let dest = raw_dir.join(&s.id);
                std::fs::hard_link(raw, &dest)
                    .or_else(|_| std::fs::copy(raw, &dest).map(|_| ()))
                    .and_then(|_| crate::sys::files::hash_file(&dest))
                    .map(|(bytes, sha256)| Fetched {
                        path: dest.clone(),
                        bytes,
                        sha256,
                        ..Default::default()
                    })
                    .map_err(|e| format!("cannot reuse the copy `{}`: {e}", raw.display()))
            }
            None => unreachable!("sources without an origin failed above"),
        };
        match &r {
            Ok(f) => {
                tracing::info!(stage = "fetch", source = %s.id, bytes = f.bytes, "Fetched source.")
            }
            Err(e) => {
                tracing::error!(stage = "fetch", source = %s.id, location = %s.location.display(), error = %e, "Source failed.");
                failures.push(Error::source(&s.id, &s.location.display(), e.clone()));
            }
        }
        fetched.push(r);
    }
    // Staging reads each raw copy back from disk: the reference tables now,
    // each feed in its staging worker (so only the feeds being staged are
    // in memory at once).
    let read_copy = |f: &std::result::Result<Fetched, String>| match f {
        Ok(f) => std::fs::read(&f.path)
            .map_err(|e| format!("cannot read the raw copy `{}`: {e}", f.path.display())),
        Err(e) => Err(e.clone()),
    };
    let contents: Vec<std::result::Result<Vec<u8>, String>> =
        fetched[..2].iter().map(read_copy).collect();
    let fetch_ms = t.elapsed().as_millis() as u64;

    // ---- stage ----
    let t = Instant::now();
    let get = |i: usize| contents[i].as_ref().ok();
    let catalog = get(0).map(|b| stage::reference::stage_catalog(&pipeline.catalog, b));
    let sku_map = get(1).map(|b| stage::reference::stage_sku_map(&pipeline.sku_map, b));
    let (catalog, mut sku_map) = match (catalog, sku_map) {
        (Some(Ok(c)), Some(Ok(m))) => (c, m),
        (c, m) => {
            for (src, r) in [
                (&pipeline.catalog, c.and_then(|r| r.err())),
                (&pipeline.sku_map, m.and_then(|r| r.err())),
            ] {
                if let Some(e) = r {
                    tracing::error!(stage = "stage", source = %src.id, error = %e, "Source failed.");
                    failures.push(Error::source(&src.id, &src.location.display(), e));
                }
            }
            return Err(Error::SourcesFailed(failures));
        }
    };
    sku_map.link(&catalog);
    let names = stage::Names::default();
    let ctx = Context {
        run_date: date,
        timezone: pipeline.campaign.timezone,
        catalog: &catalog,
        sku_map: &sku_map,
        names: &names,
    };
    let feed_bytes: u64 = fetched[2..]
        .iter()
        .filter_map(|f| f.as_ref().ok())
        .map(|f| f.bytes)
        .sum();
    let spill_dir = staging.dir.join("spill");
    let spill = stage::partition::Partitions::create(
        &spill_dir,
        stage::partition::partitions_for(feed_bytes),
    )
    .map_err(|e| Error::Publish {
        path: spill_dir.clone(),
        message: e.to_string(),
    })?;
    let rejected_dir = staging.dir.join("rejected");
    std::fs::create_dir_all(&rejected_dir).map_err(|e| Error::Publish {
        path: rejected_dir.clone(),
        message: e.to_string(),
    })?;
    let staged_results = stage_feeds(
        &pipeline.feeds,
        &fetched[2..],
        &ctx,
        &staged_dir,
        &spill,
        &rejected_dir,
    );
    let mut feeds: Vec<StagedFeed> = Vec::new();
    for (s, r) in pipeline.feeds.iter().zip(staged_results) {
        match r {
            Some(Ok(f)) => {
                tracing::info!(stage = "stage", source = %s.id, records = f.records, rejected = f.rejected, "Staged source.");
                if f.records == 0 {
                    tracing::warn!(stage = "stage", source = %s.id, "Source has a header and no records.");
                }
                feeds.push(f);
            }
            Some(Err(e)) => {
                tracing::error!(stage = "stage", source = %s.id, location = %s.location.display(), error = %e, "Source failed.");
                failures.push(Error::source(&s.id, &s.location.display(), e));
            }
            None => {}
        }
    }
    if !failures.is_empty() {
        return Err(Error::SourcesFailed(failures));
    }
    // Local copies are hashed by staging, which reads every byte anyway
    // (and copies the feeds it streams).
    for (i, f) in fetched.iter_mut().enumerate() {
        if let Ok(f) = f
            && f.sha256.is_empty()
        {
            if i >= 2 && f.copy_from.is_some() {
                f.bytes = feeds[i - 2].bytes;
            }
            f.sha256 = match i {
                0 | 1 => contents[i]
                    .as_ref()
                    .map(|b| {
                        let mut h = crate::sys::files::Hasher::default();
                        h.update(b);
                        h.hex()
                    })
                    .unwrap_or_default(),
                _ => feeds[i - 2].sha256.clone(),
            };
        }
    }
    let t_rules = Instant::now();
    // Staging's buffers, given back before the rules fill memory.
    crate::sys::memory::release_freed();
    let resolved =
        latest::resolve(&spill, feeds.len(), &sku_map, names.all(), workers()).map_err(|e| {
            Error::Publish {
                path: spill_dir.clone(),
                message: format!("cannot read back the staged partitions: {e}"),
            }
        })?;
    tracing::debug!(
        stage = "stage",
        ms = t_rules.elapsed().as_millis() as u64,
        partitions = spill.parts(),
        "Applied the latest-row rules."
    );
    spill.remove();
    let stage_ms = t.elapsed().as_millis() as u64;

    let mut sources_rec =
        source_records(&pipeline, &fetched, &catalog, &sku_map, &feeds, &resolved);
    for (rec, o) in sources_rec.iter_mut().zip(&origins) {
        if let Some(Origin::Reuse { run, age_days, .. }) = o {
            rec.refreshed = false;
            rec.reused_from = Some(run.clone());
            rec.reused_age_days = Some(*age_days);
        }
    }

    // ---- quality gates ----
    let reference = gate_reference(&pipeline, date);
    let mut warnings = Vec::new();
    for (fi, s) in pipeline.feeds.iter().enumerate() {
        let rec = &mut sources_rec[fi + 2];
        let newest = feeds[fi].newest;
        rec.newest_timestamp = newest.and_then(|n| {
            chrono::DateTime::from_timestamp_micros(n)
                .map(|d| d.with_timezone(&pipeline.campaign.timezone).to_rfc3339())
        });
        let results = gates::evaluate(
            &s.gates,
            &gates::Measures {
                records: rec.records_read,
                rejected: rec.rejected,
                newest,
                reference,
            },
        );
        for g in results.iter().filter(|g| !g.passed) {
            let msg = format!("gate `{}` failed: {}", g.gate, g.message);
            match g.level {
                Level::Error => {
                    tracing::error!(stage = "gates", source = %s.id, gate = %g.gate, "{msg}");
                    failures.push(Error::source(&s.id, &s.location.display(), msg));
                }
                Level::Warn => {
                    tracing::warn!(stage = "gates", source = %s.id, gate = %g.gate, "{msg}");
                    warnings.push(format!("source `{}`: {msg}", s.id));
                }
            }
        }
        rec.gates = results;
    }
    if !failures.is_empty() {
        return Err(Error::SourcesFailed(failures));
    }

    // ---- aggregate ----
    let t = Instant::now();
    // Exception rows stay on disk until the table is written; the
    // aggregate needs only their count per product.
    let mut per_product = vec![0u64; catalog.products.len()];
    for f in &feeds {
        for (&p, &n) in &f.product_exceptions {
            per_product[p as usize] += n;
        }
    }
    for c in &resolved.conflicts {
        if let Some(p) = sku_map.hot(c.sku).product() {
            per_product[p as usize] += 1;
        }
    }
    let exception_count =
        feeds.iter().map(|f| f.rejected).sum::<u64>() + resolved.conflicts.len() as u64;
    // The rows the rules rejected are read back from the raw copies on the
    // other cores while the tables are computed.
    let feed_sources: Vec<&Source> = pipeline.feeds.iter().collect();
    // The raw copies of local feeds were written past the page cache; the
    // source, while it is still the file that was read (same identity,
    // size and modification time), has the same bytes in the cache.
    let raw_paths: Vec<PathBuf> = pipeline
        .feeds
        .iter()
        .zip(&feeds)
        .zip(&fetched[2..])
        .map(|((s, f), fe)| {
            let from = fe.as_ref().ok().and_then(|fe| fe.copy_from.as_ref());
            match (from, &f.source) {
                (Some(from), Some(stamp)) if stamp.matches(from) => from.clone(),
                _ => raw_dir.join(&s.id),
            }
        })
        .collect();
    let (conflicts, tables) = std::thread::scope(|scope| {
        let conflicts = scope.spawn(|| {
            crate::rules::conflicts::conflict_exceptions(
                &resolved.conflicts,
                &feed_sources,
                &raw_paths,
                &sku_map,
                workers().saturating_sub(1).max(1),
                // Beside the feed's staging exceptions, on disk: at scale
                // the conflicting rows are hundreds of megabytes.
                |i, list| {
                    let path = rejected_dir.join(format!("{i}.conflicts.bin"));
                    let keep = || -> std::io::Result<()> {
                        let mut f = stage::rejects::ExceptionFile::append(&path)?;
                        for e in &list {
                            f.write(e)?;
                        }
                        f.finish().map(|_| ())
                    };
                    keep().map_err(|e| Error::Publish {
                        message: format!("cannot keep the conflicting rows: {e}"),
                        path,
                    })
                },
            )
        });
        let tables = aggregate::aggregate(
            &catalog,
            &sku_map,
            &resolved,
            &per_product,
            &pipeline.campaign,
        );
        (conflicts.join(), tables)
    });
    conflicts
        .map_err(|_| Error::Internal("reading back the conflicting rows panicked".into()))??;
    let tables = tables?;
    let rejected: Vec<tables::Rejected> = pipeline
        .feeds
        .iter()
        .enumerate()
        .map(|(i, s)| tables::Rejected {
            source: s.id.clone(),
            staged: rejected_dir.join(format!("{i}.bin")),
            conflicts: rejected_dir.join(format!("{i}.conflicts.bin")),
        })
        .collect();
    // The workbook shows the first rows; the table is written in batches.
    // At most a sheet's rows and 64 MiB of their text (rows of hostile
    // length would otherwise fill memory).
    let preview = tables::exception_batches(
        &rejected,
        publish::xlsx::MAX_SHEET_ROWS,
        64 << 20,
        publish::xlsx::MAX_SHEET_ROWS,
    )()?
    .unwrap_or_default();
    let exceptions_df = tables::exceptions_frame(&preview)?;
    drop(preview);
    let aggregate_ms = t.elapsed().as_millis() as u64;

    // ---- publish ----
    let t = Instant::now();
    // The rules' and the tables' scratch, given back before publishing.
    crate::sys::memory::release_freed();
    let mut outputs = Vec::new();
    let o = &pipeline.output;
    let write = |name: &str| {
        let t = Instant::now();
        let r = match name {
            "readiness" => publish::write_table(&staging.dir, name, &tables.readiness, o),
            "supplier_readiness" => {
                publish::write_table(&staging.dir, name, &tables.supplier_readiness, o)
            }
            "exceptions" => {
                let mut next = tables::exception_batches(
                    &rejected,
                    publish::batch_rows(),
                    32 << 20,
                    usize::MAX,
                );
                publish::write_table_stream(&staging.dir, name, exception_count, o, || {
                    next()?.map(|b| tables::exceptions_frame(&b)).transpose()
                })
            }
            _ => publish::write_table_batched(
                &staging.dir,
                name,
                resolved.shipments.len(),
                |r| {
                    aggregate::window::shipments_table(
                        &catalog,
                        &sku_map,
                        &resolved,
                        &pipeline.campaign,
                        r,
                    )
                },
                o,
            ),
        };
        tracing::debug!(
            stage = "publish",
            table = name,
            ms = t.elapsed().as_millis() as u64,
            "Wrote table."
        );
        r
    };
    let build_book = || {
        let t = Instant::now();
        let b = publish::xlsx::workbook(
            &tables,
            &exceptions_df,
            &sources_rec,
            &pipeline.campaign,
            date,
            &staging.dir,
        )
        .map_err(|e| Error::Publish {
            path: staging.dir.join("readiness.xlsx"),
            message: e.to_string(),
        })?;
        tracing::debug!(
            stage = "publish",
            ms = t.elapsed().as_millis() as u64,
            "Built the workbook."
        );
        Ok(vec![publish::write_workbook(
            &staging.dir,
            "readiness.xlsx",
            &b,
            tables.readiness.height() as u64,
        )?])
    };
    // The outputs, in the manifest's order, are shared among (at most) two
    // threads, largest first: the shipments table (one row per shipment),
    // the workbook (whose sheets are written on two threads of its own,
    // row by row to temporary files), then the others. At most two large
    // outputs are in memory at once. Once one fails the rest are skipped; the first
    // failure in the manifest's order is the run's error.
    let jobs = [
        "readiness",
        "supplier_readiness",
        "exceptions",
        "shipments",
        "workbook",
    ];
    let failed = std::sync::atomic::AtomicBool::new(false);
    let publish_one = |i: usize| {
        use std::sync::atomic::Ordering::Relaxed;
        if failed.load(Relaxed) {
            return Ok(Vec::new());
        }
        // A writer that panics (rust_xlsxwriter does on a full disk) fails
        // this output like any other error: exit 6, `latest` untouched.
        let file = match jobs[i] {
            "workbook" => "readiness.xlsx".to_string(),
            name => format!("{name}.csv"),
        };
        let r = crate::error::catch_panic(
            || match jobs[i] {
                "workbook" => build_book(),
                name => write(name),
            },
            |message| Error::Publish {
                path: staging.dir.join(&file),
                message: format!("the writer stopped: {}", crate::error::io_words(&message)),
            },
        );
        failed.fetch_or(r.is_err(), Relaxed);
        r
    };
    for r in crate::sys::queue::run(jobs.len(), &[3, 4, 2, 0, 1], workers().min(2), publish_one) {
        outputs.extend(r.expect("every output is listed")?);
    }

    let summary = summarize(&tables, exception_count)?;
    let mut manifest = Manifest {
        siap_version: env!("CARGO_PKG_VERSION").to_string(),
        campaign: pipeline.campaign.name.clone(),
        pipeline: pipeline.file.display().to_string(),
        run_date: date.to_string(),
        run_id: run_id.clone(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: String::new(),
        status: if warnings.is_empty() {
            "success"
        } else {
            "success_with_warnings"
        }
        .into(),
        suppliers: args.suppliers.clone(),
        warnings,
        rules: Rules {
            minimum_units: pipeline.campaign.minimum_units,
            window_opens: pipeline.campaign.opens.to_string(),
            window_closes: pipeline.campaign.closes.to_string(),
            timezone: pipeline.campaign.timezone.name().to_string(),
        },
        sources: sources_rec,
        outputs,
        summary,
        timings_ms: Timings {
            fetch: fetch_ms,
            stage: stage_ms,
            aggregate: aggregate_ms,
            publish: 0,
        },
        peak_memory_mib: None,
    };
    manifest.timings_ms.publish = t.elapsed().as_millis() as u64;
    manifest.peak_memory_mib = crate::sys::memory::peak_mib();
    manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    publish::write_json(&staging.dir, "manifest.json", &manifest)?;
    // The rejected rows are in the exceptions table now.
    let _ = std::fs::remove_dir_all(&rejected_dir);
    let run_dir = staging.commit(&date.to_string(), &run_id)?;
    Ok(RunReport {
        manifest,
        run_dir,
        latest: work.join("latest"),
    })
}

/// The previous copy of an HTTP source, for a conditional GET: from the
/// newest run on or before `date` that fetched the same location and kept a
/// validator.
fn conditional(
    past: &[workdir::PastRun],
    source: &Source,
    date: NaiveDate,
) -> Option<fetch::Previous> {
    if !matches!(source.location, pipeline::Location::Http(_)) {
        return None;
    }
    let location = source.location.display();
    let (_, rec, raw) = workdir::find_copy(past, &source.id, date, |rec| {
        rec.location == location && (rec.etag.is_some() || rec.last_modified.is_some())
    })?;
    Some(fetch::Previous {
        raw,
        etag: rec.etag.clone(),
        last_modified: rec.last_modified.clone(),
    })
}

/// Freshness is measured from now, or from the end of the run date when
/// rerunning a past date (so yesterday's rerun judges yesterday's feeds).
fn gate_reference(pipeline: &Pipeline, date: NaiveDate) -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    let end = date
        .succ_opt()
        .unwrap_or(date)
        .and_time(chrono::NaiveTime::MIN);
    let end = match pipeline.campaign.timezone.from_local_datetime(&end) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.timestamp_micros()
        }
        chrono::LocalResult::None => end.and_utc().timestamp_micros(),
    };
    now.min(end)
}

/// Worker threads for staging and the rules: one per core.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Where a run's staged rows go: the feed's staged Parquet copy and the
/// rules' partitions.
struct RunSink<'a> {
    ctx: &'a Context<'a>,
    staged: staged::StagedWriter,
    spill: stage::partition::PartitionWriter<'a>,
    rejected: stage::rejects::ExceptionFile,
}

impl stage::Sink for RunSink<'_> {
    fn batch(&mut self, batch: &stage::Batch) -> std::result::Result<(), String> {
        self.staged.write(batch, self.ctx)?;
        self.spill
            .add(batch)
            .map_err(|e| format!("cannot write the staged partitions: {e}"))
    }

    fn exception(&mut self, e: stage::Exception) -> std::result::Result<(), String> {
        self.rejected
            .write(&e)
            .map_err(|e| format!("cannot write the rejected rows: {e}"))
    }
}

/// Stages feeds on plain threads (never on the async runtime), streaming
/// each raw copy. `None` for a feed whose fetch already failed. Each worker
/// writes its feed's `staged/<id>.parquet` and partition records as it
/// goes; the largest feeds start first.
fn stage_feeds(
    feeds: &[Source],
    fetched: &[std::result::Result<Fetched, String>],
    ctx: &Context,
    staged_dir: &Path,
    spill: &stage::partition::Partitions,
    rejected_dir: &Path,
) -> Vec<Option<std::result::Result<StagedFeed, String>>> {
    let mut order: Vec<usize> = (0..feeds.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(fetched[i].as_ref().map(|f| f.bytes).unwrap_or(0)));
    let stage_one = |i: usize| {
        let Ok(f) = &fetched[i] else { return None };
        let source = &feeds[i];
        let t = Instant::now();
        let provider = source.owner.as_deref().map_or(0, |o| ctx.names.id(o));
        let rejected =
            match stage::rejects::ExceptionFile::create(&rejected_dir.join(format!("{i}.bin"))) {
                Ok(r) => r,
                Err(e) => return Some(Err(format!("cannot write the rejected rows: {e}"))),
            };
        let mut sink = RunSink {
            ctx,
            staged: staged::StagedWriter::new(staged_dir, &source.id, source.kind),
            spill: spill.writer(i as u16, provider),
            rejected,
        };
        let r = stage::stage_file(
            source,
            match &f.copy_from {
                Some(from) => stage::read::Input::Tee { from, to: &f.path },
                None => stage::read::Input::Copy(&f.path),
            },
            ctx,
            &mut sink,
        )
        .and_then(|mut s| {
            let RunSink {
                staged,
                spill,
                rejected,
                ..
            } = sink;
            staged.finish()?;
            rejected
                .finish()
                .map_err(|e| format!("cannot write the rejected rows: {e}"))?;
            spill
                .finish(source.kind == SourceKind::Shipments)
                .map_err(|e| format!("cannot write the staged partitions: {e}"))?;
            s.stage_ms = t.elapsed().as_millis() as u64;
            Ok(s)
        });
        Some(r)
    };
    crate::sys::queue::run(feeds.len(), &order, workers(), stage_one)
        .into_iter()
        .map(Option::flatten)
        .collect()
}

fn source_records(
    pipeline: &Pipeline,
    fetched: &[std::result::Result<Fetched, String>],
    catalog: &stage::Catalog,
    sku_map: &stage::SkuMap,
    feeds: &[StagedFeed],
    resolved: &latest::Resolved,
) -> Vec<SourceRecord> {
    let mut out = Vec::new();
    for (i, s) in pipeline.all_sources().enumerate() {
        let f = fetched[i].as_ref().expect("all fetched");
        let base = SourceRecord {
            id: s.id.clone(),
            kind: s.kind.as_str().to_string(),
            owner: s.owner.clone(),
            location: s.location.display(),
            format: format!(
                "{}{}",
                s.dialect.format.as_str(),
                if s.dialect.gzip { "+gzip" } else { "" }
            ),
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            unchanged: f.unchanged,
            etag: f.etag.clone(),
            last_modified: f.last_modified.clone(),
            attempts: f.attempts,
            records_read: 0,
            accepted: 0,
            counted: 0,
            superseded: 0,
            rejected: 0,
            duplicates: 0,
            extra_columns: Vec::new(),
            header_only: false,
            refreshed: true,
            reused_from: None,
            reused_age_days: None,
            raw_copy: format!("raw/{}", s.id),
            stage_ms: 0,
            newest_timestamp: None,
            gates: Vec::new(),
        };
        let rec = match i {
            0 => SourceRecord {
                records_read: catalog.records,
                accepted: catalog.records - catalog.duplicates,
                counted: catalog.records - catalog.duplicates,
                duplicates: catalog.duplicates,
                extra_columns: catalog.extra_columns.clone(),
                header_only: catalog.records == 0,
                ..base
            },
            1 => SourceRecord {
                records_read: sku_map.records,
                accepted: sku_map.records - sku_map.duplicates,
                counted: sku_map.records - sku_map.duplicates,
                duplicates: sku_map.duplicates,
                extra_columns: sku_map.extra_columns.clone(),
                header_only: sku_map.records == 0,
                ..base
            },
            _ => {
                let fi = i - 2;
                let feed = &feeds[fi];
                let c = resolved.counts[fi];
                SourceRecord {
                    records_read: feed.records,
                    accepted: c.counted + c.superseded,
                    counted: c.counted,
                    superseded: c.superseded,
                    rejected: feed.rejected + c.conflicting,
                    duplicates: c.duplicates,
                    extra_columns: feed.extra_columns.clone(),
                    header_only: feed.records == 0,
                    stage_ms: feed.stage_ms,
                    ..base
                }
            }
        };
        out.push(rec);
    }
    out
}

fn summarize(tables: &aggregate::Tables, exceptions: u64) -> Result<Summary> {
    let status = tables
        .readiness
        .column("status")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::polars("reading statuses")(e))?;
    let ready = status.iter().filter(|s| *s == Some("READY")).count() as u64;
    let products = tables.readiness.height() as u64;
    Ok(Summary {
        products,
        ready,
        not_ready: products - ready,
        exceptions,
    })
}

/// `siap validate`: the pipeline file, and that its local sources exist.
pub fn validate(path: &Path) -> Result<Pipeline> {
    let pipeline = pipeline::load(path)?;
    let mut problems = Vec::new();
    for s in pipeline.all_sources() {
        if let pipeline::Location::Local(p) = &s.location
            && !p.is_file()
        {
            problems.push(crate::error::ConfigProblem {
                file: pipeline.file.clone(),
                line: s.position.0,
                column: s.position.1,
                message: format!(
                    "source `{}`: local file `{}` does not exist",
                    s.id,
                    p.display()
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(pipeline)
    } else {
        Err(Error::Config(problems))
    }
}
