//! What an operator reads: the lines siap writes on stderr (a run's
//! summary, warnings, errors) as text or as JSON objects with the same
//! fields a log event has, and a command's output on stdout. Rendered
//! here, once.

use std::io::Write;

use serde::Serialize;

use super::run::RunReport;
use crate::error::{Error, Result};
use crate::workdir::manifest::Timings;

/// Where and how lines are written.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// JSON lines (`--log-format json`): every line on stderr parses as
    /// JSON.
    pub json: bool,
}

impl Report {
    /// Writes one line for the operator: plain text, or a JSON object with
    /// the same fields a log event has.
    pub fn say(&self, level: &str, message: &str, fields: serde_json::Value) {
        let line = if self.json {
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
            // Text that came from a feed may hold control characters:
            // shown escaped, so it cannot forge a line or drive the
            // terminal.
            let message = crate::error::escape_controls(message, true);
            match level {
                "ERROR" => format!("error: {message}"),
                "WARN" => format!("warning: {message}"),
                _ => format!("siap: {message}"),
            }
        };
        // Not `eprintln!`, which panics when stderr cannot be written (a
        // scheduler's log on a full disk): the exit code still says how
        // the run went.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A command's output on stdout. A reader that went away (`siap runs
    /// | head`) ends it quietly; any other failed write (a full disk) is
    /// an error with its own exit code, not a panic.
    pub fn print(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::Internal(format!("cannot write to stdout: {e}")))
            }
            _ => Ok(()),
        }
    }

    /// A value as pretty JSON on stdout (`--json`).
    pub fn print_json<T: Serialize>(&self, value: &T) -> Result<()> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
        self.print(&format!("{text}\n"))
    }

    /// A value as one line of JSON on stdout, for an orchestrator that
    /// reads the last line (Airflow's XCom).
    pub fn print_json_line<T: Serialize>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?;
        self.print(&format!("{text}\n"))
    }

    /// A finished run: its warnings, then its summary.
    pub fn run_finished(&self, report: &RunReport) {
        for w in &report.manifest.warnings {
            self.say("WARN", w, serde_json::json!({}));
        }
        let summary = RunSummary::of(report);
        if self.json {
            let fields = serde_json::to_value(&summary).unwrap_or_default();
            self.say("INFO", "Run finished.", fields);
        } else {
            self.say("INFO", &summary.text(), serde_json::json!({}));
        }
    }

    /// A failed command: every failed source, then the error.
    pub fn failed(&self, e: &Error) {
        tracing::debug!(error = %e, "Run failed.");
        let code = e.exit_code().code();
        let fields = serde_json::json!({
            "exit_code": code,
            "peak_memory_mib": crate::sys::memory::peak_mib(),
        });
        match e {
            Error::SourcesFailed(list) => {
                for s in list {
                    self.say(
                        "ERROR",
                        &s.to_string(),
                        serde_json::json!({"exit_code": code}),
                    );
                }
                self.say(
                    "ERROR",
                    &format!("{e}; the previous outputs are untouched"),
                    fields,
                );
            }
            _ => self.say("ERROR", &e.to_string(), fields),
        }
    }
}

/// A run's summary: the fields of the final JSON line, and the lines of
/// text said instead.
#[derive(Debug, Serialize)]
struct RunSummary<'a> {
    campaign: &'a str,
    status: &'a str,
    run_date: &'a str,
    ready: u64,
    not_ready: u64,
    products: u64,
    rejected: u64,
    refreshed: usize,
    reused: usize,
    timings_ms: &'a Timings,
    peak_memory_mib: Option<f64>,
    run_dir: String,
    latest: String,
    /// Records read from every source (for the text's records/s).
    #[serde(skip)]
    records: u64,
}

impl<'a> RunSummary<'a> {
    fn of(r: &'a RunReport) -> Self {
        let m = &r.manifest;
        RunSummary {
            campaign: &m.campaign,
            status: &m.status,
            run_date: &m.run_date,
            ready: m.summary.ready,
            not_ready: m.summary.not_ready,
            products: m.summary.products,
            rejected: m.rejected(),
            refreshed: m.sources.len() - m.reused(),
            reused: m.reused(),
            timings_ms: &m.timings_ms,
            peak_memory_mib: m.peak_memory_mib,
            run_dir: r.run_dir.display().to_string(),
            latest: r.latest.display().to_string(),
            records: m.sources.iter().map(|s| s.records_read).sum(),
        }
    }

    fn text(&self) -> String {
        let mut text = format!(
            "{} run {} for {}: {} READY, {} NOT_READY of {} products; {} rejected row(s) in exceptions",
            self.campaign,
            self.status,
            self.run_date,
            self.ready,
            self.not_ready,
            self.products,
            self.rejected,
        );
        if self.reused > 0 {
            text.push_str(&format!(
                "\nsiap: refreshed {} source(s), reused {} from earlier runs",
                self.refreshed, self.reused
            ));
        }
        let t = self.timings_ms;
        let secs = |ms: u64| ms as f64 / 1000.0;
        text.push_str(&format!(
            "\nsiap: {:.1}s: fetch {:.1}s, stage {:.1}s ({:.0} records/s), aggregate {:.1}s, publish {:.1}s",
            secs(t.total()),
            secs(t.fetch),
            secs(t.stage),
            self.records as f64 / secs(t.stage.max(1)),
            secs(t.aggregate),
            secs(t.publish),
        ));
        if let Some(peak) = self.peak_memory_mib {
            text.push_str(&format!("; peak memory {peak:.0} MiB"));
        }
        text.push_str(&format!(
            "\nsiap: outputs in {} (latest: {})",
            self.run_dir, self.latest
        ));
        text
    }
}
