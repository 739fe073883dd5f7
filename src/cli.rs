//! Command-line arguments. The doc comments are the `--help` text.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

/// siap tells a marketplace campaign which products are ready to sell:
/// it pulls supplier stock feeds and logistics shipment feeds, validates
/// them, and writes readiness tables.
#[derive(Debug, Parser)]
#[command(name = "siap", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format: readable text, or one JSON object per line (for
    /// schedulers and log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SIAP_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Only warnings, errors and the final summary.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// More detail (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch, stage and aggregate every source, and publish the tables.
    Run {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Output folder: runs are kept under `runs/<date>/`, and `latest`
        /// points at the newest successful one.
        #[arg(long, default_value = "siap-out", env = "SIAP_OUT")]
        out: PathBuf,
        /// The run's logical date (YYYY-MM-DD); default: today in the
        /// campaign's timezone.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// How many sources to fetch at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Show how one source parses: its columns, the first staged rows and
    /// every row that would be rejected. Writes nothing.
    Inspect {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// The source id (as in the pipeline file).
        #[arg(long)]
        source: String,
        /// How many staged rows to show.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// The run date used for the `as-of after run date` check.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Print JSON instead of a readable report.
        #[arg(long)]
        json: bool,
    },
    /// Check a pipeline file (and that its local sources exist) without
    /// running anything.
    Validate {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
    },
}
