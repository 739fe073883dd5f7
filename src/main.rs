use std::io::IsTerminal;

use clap::Parser;
use siap::cli::{Cli, Command, LogFormat};
use siap::error::{Error, ExitCode};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            };
            std::process::exit(code);
        }
    };
    init_tracing(&cli);
    let code = match execute(&cli) {
        Ok(()) => ExitCode::Success,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    };
    std::process::exit(code.code());
}

fn init_tracing(cli: &Cli) {
    let default = if cli.quiet {
        "warn"
    } else {
        match cli.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
    }
}

fn execute(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Run {
            pipeline,
            out,
            date,
            concurrency,
        } => {
            let report = siap::run::run(&siap::run::RunArgs {
                pipeline: pipeline.clone(),
                out: out.clone(),
                date: *date,
                concurrency: *concurrency,
            })?;
            let s = &report.manifest.summary;
            let rejected: u64 = report.manifest.sources.iter().map(|s| s.rejected).sum();
            eprintln!(
                "siap: {} run {} for {}: {} READY, {} NOT_READY of {} products; {} rejected row(s) in exceptions",
                report.manifest.campaign,
                report.manifest.status,
                report.manifest.run_date,
                s.ready,
                s.not_ready,
                s.products,
                rejected,
            );
            eprintln!(
                "siap: outputs in {} (latest: {})",
                report.run_dir.display(),
                report.latest.display()
            );
            Ok(())
        }
        Command::Inspect {
            pipeline,
            source,
            rows,
            date,
            json,
        } => {
            let i = siap::inspect::inspect(pipeline, source, *rows, *date)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&i).map_err(|e| Error::Internal(e.to_string()))?
                );
            } else {
                print!("{}", i.render());
            }
            Ok(())
        }
        Command::Validate { pipeline } => {
            let p = siap::run::validate(pipeline)?;
            eprintln!(
                "siap: `{}` is valid: campaign `{}`, {} feed(s), window {} to {}",
                pipeline.display(),
                p.campaign.name,
                p.feeds.len(),
                p.campaign.opens,
                p.campaign.closes
            );
            Ok(())
        }
    }
}

fn report(e: &Error) {
    tracing::debug!(error = %e, "Run failed.");
    match e {
        Error::SourcesFailed(list) => {
            for s in list {
                eprintln!("error: {s}");
            }
            eprintln!("error: {e}; the previous outputs are untouched");
        }
        _ => eprintln!("error: {e}"),
    }
}
