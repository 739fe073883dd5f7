//! One file per verb. Each command takes what the command line gave it,
//! calls the phases, and says what happened through [`report`]; the exit
//! code follows from its result.
//!
//! - [`run`]: the whole job (fetch → stage → rules → gates → aggregate →
//!   publish);
//! - [`validate`]: the pipeline file alone;
//! - [`inspect`]: how one feed parses (the run's own phases, on that feed);
//! - [`runs`], [`diff`]: past runs from the work directory;
//! - [`generate`]: a synthetic campaign.

pub mod diff;
pub mod generate;
pub mod inspect;
pub mod report;
pub mod run;
pub mod runs;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::error::{ExitCode, Result};
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
        } => {
            let r = run::run(&run::RunArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                date: *date,
                concurrency: *concurrency,
                suppliers: suppliers.clone(),
            })?;
            report.run_finished(&r);
            Ok(if r.manifest.warnings.is_empty() {
                ExitCode::Success
            } else {
                ExitCode::Warnings
            })
        }
        Command::Runs {
            pipeline,
            work,
            json,
        } => {
            let lines = runs::runs(&work.resolve(pipeline));
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
        } => {
            let d = diff::diff(&work.resolve(pipeline), *from, *to)?;
            if *json {
                report.print_json(&d)?;
            } else {
                report.print(&diff::render_diff(&d))?;
            }
            Ok(ExitCode::Success)
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
        Command::Validate { pipeline } => {
            let p = validate::validate(pipeline)?;
            report.say("INFO", &validate::describe(pipeline, &p), none);
            Ok(ExitCode::Success)
        }
    }
}
