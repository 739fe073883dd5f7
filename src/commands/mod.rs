//! One file per verb. Each command takes what the command line gave it,
//! calls the phases, and says what happened through [`report`]; the exit
//! code follows from its result.
//!
//! - [`run`]: the whole job (fetch → stage → rules → gates → aggregate →
//!   publish);
//! - [`validate`]: the pipeline file alone;
//! - [`inspect`]: how one feed parses (the run's own phases, on that feed);
//! - [`runs`], [`diff`]: past runs from the work directory;
//! - [`generate`]: a synthetic campaign;
//! - [`sniff`]: a pipeline block for a sample export;
//! - [`plan`], [`stage_task`] (`siap stage`), [`resolve`], [`finish`]: the
//!   distributed path, a run split into tasks (see [`crate::split`]).
//!
//! After `run`, whatever its result, [`outcome`] says what it came to, for
//! the summary line on stdout, the [`metrics`] file and the [`notify`]
//! webhooks.

pub mod cluster;
pub mod diff;
pub mod finish;
pub mod generate;
pub mod inspect;
pub mod metrics;
pub mod notify;
pub mod on_store;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod run;
pub mod runs;
pub mod sniff;
pub mod stage_task;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::error::{Error, ExitCode, Result};
use report::Report;

/// Runs the command the line names; its output and summary go through
/// `report`.
pub fn execute(cli: &Cli, report: &Report) -> Result<ExitCode> {
    let none = serde_json::json!({});
    match &cli.command {
        Command::Run {
            pipeline,
            work,
            date,
            suppliers,
            concurrency,
            tell,
        } => {
            let args = run::RunArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                date: *date,
                concurrency: *concurrency,
                suppliers: suppliers.clone(),
            };
            Ok(tell_about(
                run::run(&args),
                &args,
                &After::from(tell),
                report,
            ))
        }
        Command::Runs {
            pipeline,
            work,
            json,
        } => {
            let lines = runs::runs(&work.resolve(pipeline))?;
            if *json {
                report.print_json(&lines)?;
            } else {
                report.print(&runs::render_runs(&lines))?;
            }
            Ok(ExitCode::Success)
        }
        Command::Diff {
            pipeline,
            work,
            from,
            to,
            json,
            exit_code,
        } => {
            let d = diff::diff(&local(work, pipeline)?, *from, *to)?;
            if *json {
                report.print_json(&d)?;
            } else {
                report.print(&diff::render_diff(&d))?;
            }
            Ok(if *exit_code && !d.changes.is_empty() {
                ExitCode::Changed
            } else {
                ExitCode::Success
            })
        }
        Command::Inspect {
            pipeline,
            source,
            rows,
            date,
            json,
        } => {
            let i = inspect::inspect(pipeline, source, *rows, *date)?;
            if *json {
                report.print_json(&i)?;
            } else {
                report.print(&i.render())?;
            }
            Ok(ExitCode::Success)
        }
        Command::Generate {
            products,
            stock_rows,
            shipment_rows,
            seed,
            date,
            out,
            shape,
        } => {
            generate::generate(&generate::GenerateArgs {
                products: *products,
                stock_rows: *stock_rows,
                shipment_rows: *shipment_rows,
                seed: *seed,
                out: out.clone(),
                run_date: *date,
                shape: shape.clone(),
            })?;
            let said = format!(
                "wrote a synthetic campaign to {} (run it with `siap run {} --date {date}`)",
                out.display(),
                out.join("pipeline.toml").display()
            );
            report.say("INFO", &said, none);
            Ok(ExitCode::Success)
        }
        Command::Sniff {
            file,
            kind,
            pipeline,
            id,
            supplier,
            provider,
            default_warehouse,
            date,
            json,
        } => {
            let s = sniff::sniff(&sniff::SniffArgs {
                file: file.clone(),
                kind: kind.map(|k| match k {
                    crate::cli::FeedKind::Stock => crate::pipeline::SourceKind::Stock,
                    crate::cli::FeedKind::Shipments => crate::pipeline::SourceKind::Shipments,
                }),
                pipeline: pipeline.clone(),
                id: id.clone(),
                owner: supplier.clone().or_else(|| provider.clone()),
                default_warehouse: default_warehouse.clone(),
                date: *date,
            })?;
            if *json {
                report.print_json(&s)?;
            } else {
                report.print(&s.render())?;
            }
            Ok(s.exit_code())
        }
        Command::Plan { .. }
        | Command::Stage { .. }
        | Command::Resolve { .. }
        | Command::Finish { .. }
        | Command::Cluster { .. } => execute_split(&cli.command, report),
        Command::Validate { pipeline, date } => {
            let p = validate::validate(pipeline, *date)?;
            report.say("INFO", &validate::describe(pipeline, &p), none);
            Ok(ExitCode::Success)
        }
    }
}

/// The work directory, which must be a folder: `siap diff` reads two
/// runs' tables, and takes a local work directory only.
fn local(work: &crate::cli::WorkDir, pipeline: &std::path::Path) -> Result<std::path::PathBuf> {
    let dir = work.resolve(pipeline);
    match crate::split::remote::url_of(&dir) {
        Some(url) => Err(Error::Usage(format!(
            "`{url}`: `siap diff` needs a local folder (copy the two runs' folders \
             from the bucket, or compare their readiness tables directly)"
        ))),
        None => Ok(dir),
    }
}

/// The distributed path's commands (see [`crate::split`]): what they
/// print on stdout is one JSON line, for the orchestrator's next step.
fn execute_split(command: &Command, report: &Report) -> Result<ExitCode> {
    match command {
        Command::Plan {
            pipeline,
            work,
            date,
            run_id,
        } => {
            let plan = plan::plan(&plan::PlanArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                date: *date,
                run_id: run_id.clone(),
            })?;
            report.print_json_line(&plan)?;
            Ok(ExitCode::Success)
        }
        Command::Stage {
            pipeline,
            work,
            source,
            feed_index,
            run_id,
        } => {
            let task = stage_task::stage(&stage_task::StageArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                run_id: run_id.clone(),
                feed: match (source, feed_index) {
                    (Some(id), _) => stage_task::Feed::Id(id.clone()),
                    (None, Some(i)) => stage_task::Feed::Index(*i),
                    (None, None) => unreachable!("clap requires one"),
                },
            })?;
            report.print_json_line(&task)?;
            Ok(ExitCode::Success)
        }
        Command::Resolve {
            work_dir,
            run_id,
            engine,
            partitions,
        } => {
            let done = resolve::resolve(&resolve::ResolveArgs {
                work_dir: work_dir.clone(),
                run_id: run_id.clone(),
                engine: engine.clone(),
                partitions: *partitions,
            })?;
            report.print_json_line(&done)?;
            Ok(ExitCode::Success)
        }
        Command::Finish {
            pipeline,
            work,
            run_id,
            tell,
        } => {
            let args = finish::FinishArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                run_id: run_id.clone(),
            };
            // Told about as the run it is: the plan's date, all sources.
            let as_run = run::RunArgs {
                pipeline: args.pipeline.clone(),
                work_dir: args.work_dir.clone(),
                date: finish::planned_date(&args),
                concurrency: 1,
                suppliers: Vec::new(),
            };
            let result = finish::finish(&args);
            Ok(tell_about(result, &as_run, &After::from(tell), report))
        }
        Command::Cluster { role } => {
            cluster::serve(role)?;
            Ok(ExitCode::Success)
        }
        _ => unreachable!("only the distributed path's commands come here"),
    }
}

/// What to do once a run is over, besides its lines on stderr.
struct After<'a> {
    /// `--summary json`: one JSON line on stdout.
    summary: bool,
    metrics_file: Option<&'a std::path::Path>,
    /// Post to the pipeline's webhooks (unless `--no-notify`).
    notify: bool,
}

impl<'a> From<&'a crate::cli::Tell> for After<'a> {
    fn from(t: &'a crate::cli::Tell) -> Self {
        After {
            summary: t.summary.is_some(),
            metrics_file: t.metrics_file.as_deref(),
            notify: !t.no_notify,
        }
    }
}

/// A run's result (`siap run`, or a distributed run's `finish`), then its
/// summary, metrics and notifications, which never change its exit code.
fn tell_about(
    result: Result<run::RunReport>,
    args: &run::RunArgs,
    after: &After,
    report: &Report,
) -> ExitCode {
    let code = match &result {
        Ok(r) => {
            report.run_finished(r);
            if r.manifest.warnings.is_empty() {
                ExitCode::Success
            } else {
                ExitCode::Warnings
            }
        }
        Err(e) => {
            report.failed(e);
            e.exit_code()
        }
    };
    // Read once more here: a run that failed hands back no pipeline.
    let loaded = crate::pipeline::load(&args.pipeline).ok();
    let hooks = loaded
        .as_ref()
        .filter(|p| after.notify && !p.notify.webhooks.is_empty())
        .map(|p| &p.notify);
    if !(after.summary || after.metrics_file.is_some() || hooks.is_some()) {
        return code;
    }
    let outcome = outcome::Outcome::of(args, loaded.as_ref(), &result);
    // A run that never started (another run holds the lock, or the command
    // line was wrong) is not "the last run": the metrics and webhooks stay
    // with the run that did.
    let started = !matches!(&result, Err(Error::Locked { .. } | Error::Usage(_)));
    if !started {
        tracing::info!("Nothing ran: the metrics file and webhooks are left as they were.");
    }
    if started
        && let Some(path) = after.metrics_file
        && let Err(e) = metrics::write(path, &metrics::render(&outcome))
    {
        let said = format!("cannot write the metrics file `{}`: {e}", path.display());
        report.say("WARN", &said, serde_json::json!({}));
    }
    if after.summary
        && let Err(e) = report.print(&format!("{}\n", outcome.summary_line()))
    {
        report.say("WARN", &e.to_string(), serde_json::json!({}));
    }
    if let (Some(hooks), true) = (hooks, started) {
        notify::send(hooks, &outcome);
    }
    code
}
