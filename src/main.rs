use std::io::{IsTerminal, Write};

/// mimalloc instead of the system allocator: staging and polars allocate
/// and free large column buffers all the time, which glibc hands back to
/// the kernel and faults in again (a tenth of a run's time at size M).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use siap::cli::{Cli, Command, LogFormat};
use siap::error::{Error, ExitCode};

/// Whether the final summary and errors are JSON lines (`--log-format
/// json`): every line siap writes to stderr must then parse as JSON.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line for the operator: plain text, or a JSON object with the
/// same fields a log event has.
fn say(level: &str, message: &str, fields: serde_json::Value) {
    let line = if JSON.load(std::sync::atomic::Ordering::Relaxed) {
        let mut obj = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level,
            "message": message,
        });
        if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
            o.extend(f);
        }
        obj.to_string()
    } else {
        // Text that came from a feed may hold control characters: shown
        // escaped, so it cannot forge a line or drive the terminal.
        let message = siap::error::escape_controls(message, true);
        match level {
            "ERROR" => format!("error: {message}"),
            "WARN" => format!("warning: {message}"),
            _ => format!("siap: {message}"),
        }
    };
    // Not `eprintln!`, which panics when stderr cannot be written (a
    // scheduler's log on a full disk): the exit code still says how the
    // run went.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A command's output on stdout. A reader that went away (`siap runs |
/// head`) ends it quietly; any other failed write (a full disk) is an
/// error with its own exit code, not a panic.
fn print_out(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Internal(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Whether the command line (or `SIAP_LOG_FORMAT`) asks for JSON logs,
/// read before clap has parsed it: a usage error must be JSON too.
fn wants_json() -> bool {
    let mut args = std::env::args().skip(1);
    let mut json = std::env::var("SIAP_LOG_FORMAT").is_ok_and(|v| v == "json");
    while let Some(a) = args.next() {
        if a == "--log-format=json"
            || (a == "--log-format" && args.next().as_deref() == Some("json"))
        {
            json = true;
        }
    }
    json
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            };
            if e.use_stderr() && wants_json() {
                JSON.store(true, std::sync::atomic::Ordering::Relaxed);
                say(
                    "ERROR",
                    e.to_string().trim_end(),
                    serde_json::json!({"exit_code": code}),
                );
            } else {
                let _ = e.print();
            }
            std::process::exit(code);
        }
    };
    JSON.store(
        cli.log_format == LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
    init_tracing(&cli);
    // A panic is reported once, as the error it becomes (never as the
    // default hook's text, which would break JSON logs); its place in the
    // code goes to the debug log.
    std::panic::set_hook(Box::new(|info| {
        tracing::debug!(panic = %info, "A thread panicked.");
    }));
    let code = match siap::error::catch_panic(
        || execute(&cli),
        |message| Error::Internal(format!("siap hit a bug and stopped: {message}")),
    ) {
        Ok(code) => code,
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
    let terminal = std::io::stderr().is_terminal();
    siap::sys::progress::init(terminal && !cli.quiet && cli.log_format == LogFormat::Text);
    // A log line that cannot be written (stderr on a full disk) is dropped:
    // the subscriber's own report of it would go through `eprintln!`,
    // which panics there.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false);
    match cli.log_format {
        // One JSON object per line, fields at the top level, for schedulers
        // and log shippers.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(terminal)
            .with_writer(siap::sys::progress::LogWriter { escape: !terminal })
            .init(),
    }
}

fn execute(cli: &Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Command::Run {
            pipeline,
            work,
            date,
            suppliers,
            concurrency,
        } => {
            let report = siap::run::run(&siap::run::RunArgs {
                pipeline: pipeline.clone(),
                work_dir: work.resolve(pipeline),
                date: *date,
                concurrency: *concurrency,
                suppliers: suppliers.clone(),
            })?;
            let m = &report.manifest;
            let s = &m.summary;
            let rejected: u64 = m.sources.iter().map(|s| s.rejected).sum();
            let reused = m.sources.iter().filter(|s| !s.refreshed).count();
            for w in &m.warnings {
                say("WARN", w, serde_json::json!({}));
            }
            let mut text = format!(
                "{} run {} for {}: {} READY, {} NOT_READY of {} products; {} rejected row(s) in exceptions",
                m.campaign, m.status, m.run_date, s.ready, s.not_ready, s.products, rejected,
            );
            if reused > 0 {
                text.push_str(&format!(
                    "\nsiap: refreshed {} source(s), reused {} from earlier runs",
                    m.sources.len() - reused,
                    reused
                ));
            }
            let t = &m.timings_ms;
            let records: u64 = m.sources.iter().map(|s| s.records_read).sum();
            let secs = |ms: u64| ms as f64 / 1000.0;
            text.push_str(&format!(
                "\nsiap: {:.1}s: fetch {:.1}s, stage {:.1}s ({:.0} records/s), aggregate {:.1}s, publish {:.1}s",
                secs(t.total()),
                secs(t.fetch),
                secs(t.stage),
                records as f64 / secs(t.stage.max(1)),
                secs(t.aggregate),
                secs(t.publish),
            ));
            if let Some(peak) = m.peak_memory_mib {
                text.push_str(&format!("; peak memory {peak:.0} MiB"));
            }
            text.push_str(&format!(
                "\nsiap: outputs in {} (latest: {})",
                report.run_dir.display(),
                report.latest.display()
            ));
            let json = JSON.load(std::sync::atomic::Ordering::Relaxed);
            say(
                "INFO",
                if json { "Run finished." } else { &text },
                serde_json::json!({
                    "campaign": m.campaign,
                    "status": m.status,
                    "run_date": m.run_date,
                    "ready": s.ready,
                    "not_ready": s.not_ready,
                    "products": s.products,
                    "rejected": rejected,
                    "refreshed": m.sources.len() - reused,
                    "reused": reused,
                    "timings_ms": serde_json::to_value(&m.timings_ms).unwrap_or_default(),
                    "peak_memory_mib": m.peak_memory_mib,
                    "run_dir": report.run_dir.display().to_string(),
                    "latest": report.latest.display().to_string(),
                }),
            );
            Ok(if m.warnings.is_empty() {
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
            let lines = siap::history::runs(&work.resolve(pipeline));
            if *json {
                print_out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&lines)
                        .map_err(|e| Error::Internal(e.to_string()))?
                ))?;
            } else {
                print_out(&siap::history::render_runs(&lines))?;
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
            let d = siap::history::diff(&work.resolve(pipeline), *from, *to)?;
            if *json {
                print_out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&d).map_err(|e| Error::Internal(e.to_string()))?
                ))?;
            } else {
                print_out(&siap::history::render_diff(&d))?;
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
            let i = siap::inspect::inspect(pipeline, source, *rows, *date)?;
            if *json {
                print_out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&i).map_err(|e| Error::Internal(e.to_string()))?
                ))?;
            } else {
                print_out(&i.render())?;
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
        } => {
            siap::generate::generate(&siap::generate::GenerateArgs {
                products: *products,
                stock_rows: *stock_rows,
                shipment_rows: *shipment_rows,
                seed: *seed,
                out: out.clone(),
                run_date: *date,
            })?;
            say(
                "INFO",
                &format!(
                    "wrote a synthetic campaign to {} (run it with `siap run {} --date {date}`)",
                    out.display(),
                    out.join("pipeline.toml").display()
                ),
                serde_json::json!({}),
            );
            Ok(ExitCode::Success)
        }
        Command::Validate { pipeline } => {
            let p = siap::run::validate(pipeline)?;
            say(
                "INFO",
                &format!(
                    "`{}` is valid: campaign `{}`, {} feed(s), window {} to {}",
                    pipeline.display(),
                    p.campaign.name,
                    p.feeds.len(),
                    p.campaign.opens,
                    p.campaign.closes
                ),
                serde_json::json!({}),
            );
            Ok(ExitCode::Success)
        }
    }
}

fn report(e: &Error) {
    tracing::debug!(error = %e, "Run failed.");
    let code = e.exit_code().code();
    match e {
        Error::SourcesFailed(list) => {
            for s in list {
                say(
                    "ERROR",
                    &s.to_string(),
                    serde_json::json!({"exit_code": code}),
                );
            }
            say(
                "ERROR",
                &format!("{e}; the previous outputs are untouched"),
                serde_json::json!({"exit_code": code, "peak_memory_mib": siap::sys::memory::peak_mib()}),
            );
        }
        _ => say(
            "ERROR",
            &e.to_string(),
            serde_json::json!({"exit_code": code, "peak_memory_mib": siap::sys::memory::peak_mib()}),
        ),
    }
}
