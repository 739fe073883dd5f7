//! The `siap` binary: parse the command line, start the logs, run the
//! command, exit with its code.

use std::io::IsTerminal;

/// mimalloc instead of the system allocator: staging and polars allocate
/// and free large column buffers all the time, which glibc hands back to
/// the kernel and faults in again (a tenth of a run's time at size M).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use siap::cli::{Cli, LogFormat};
use siap::commands::{self, report::Report};
use siap::error::{Error, ExitCode};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => usage_error(e),
    };
    let report = Report {
        json: cli.log_format == LogFormat::Json,
    };
    init_tracing(&cli);
    // A panic is reported once, as the error it becomes (never as the
    // default hook's text, which would break JSON logs); its place in the
    // code goes to the debug log.
    std::panic::set_hook(Box::new(|info| {
        tracing::debug!(panic = %info, "A thread panicked.");
    }));
    let code = siap::error::catch_panic(
        || commands::execute(&cli, &report),
        |message| Error::Internal(format!("siap hit a bug and stopped: {message}")),
    )
    .unwrap_or_else(|e| {
        report.failed(&e);
        e.exit_code()
    });
    std::process::exit(code.code());
}

/// A command line clap refused (or `--help`, `--version`): clap's words,
/// as a JSON line when JSON logs were asked for, and its exit code.
fn usage_error(e: clap::Error) -> ! {
    if !e.use_stderr() {
        let _ = e.print();
        std::process::exit(0);
    }
    let code = ExitCode::Usage.code();
    if wants_json() {
        let report = Report { json: true };
        report.say(
            "ERROR",
            e.to_string().trim_end(),
            serde_json::json!({"exit_code": code}),
        );
    } else {
        let _ = e.print();
    }
    std::process::exit(code);
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
