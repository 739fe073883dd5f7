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
pub enum FeedKind {
    Stock,
    Shipments,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Json,
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
        #[command(flatten)]
        work: WorkDir,
        /// The run's logical date (YYYY-MM-DD); default: today in the
        /// campaign's timezone.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Refetch and restage only the stock feeds of this supplier
        /// (repeatable); every other source reuses its most recent copy.
        #[arg(long = "supplier", value_name = "ID")]
        suppliers: Vec<String>,
        /// How many sources to fetch at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[command(flatten)]
        tell: Tell,
    },
    /// List past runs: date, status, READY/NOT_READY, rejected rows,
    /// refreshed and reused sources.
    Runs {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        #[command(flatten)]
        work: WorkDir,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Products whose status or flags changed between two runs, with the
    /// unit deltas. Default: the newest run against the one before it.
    Diff {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        #[command(flatten)]
        work: WorkDir,
        /// The older run's date (its newest run).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// The newer run's date (its newest run).
        #[arg(long)]
        to: Option<NaiveDate>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Exit 8 when any product changed status or flags, 0 when none
        /// (like `git diff --exit-code`; 8, so a change is never taken for
        /// an error).
        #[arg(long)]
        exit_code: bool,
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
    /// Write a deterministic synthetic campaign (catalog, SKU map, stock and
    /// shipment feeds in the canonical CSV dialect, and a pipeline file) for
    /// demos, load tests and the benchmark.
    Generate {
        /// Catalog products.
        #[arg(long, default_value_t = 2_000)]
        products: usize,
        /// Stock feed rows (spread over `--stock-files` files).
        #[arg(long, default_value_t = 1_000_000)]
        stock_rows: u64,
        /// Shipment feed rows (spread over 2 providers).
        #[arg(long, default_value_t = 200_000)]
        shipment_rows: u64,
        /// The same seed gives the same bytes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The run date the data is built around.
        #[arg(long, default_value = "2026-11-27")]
        date: NaiveDate,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        shape: Shape,
    },
    /// Write the `[[stock]]` or `[[shipments]]` block for a sample export
    /// (CSV in any encoding, gzip, XLSX, JSON, NDJSON, Parquet): format,
    /// delimiter, encoding, title lines or sheet, number marks, date
    /// formats, column mapping, status words. With `--pipeline`, then stage
    /// the file with it and show the counts and the first rejected rows.
    Sniff {
        /// The sample export.
        file: PathBuf,
        /// Stock or shipments (default: guessed from the columns).
        #[arg(long, value_enum)]
        kind: Option<FeedKind>,
        /// Stage the block with this pipeline's catalog and SKU map.
        #[arg(long, value_name = "PIPELINE")]
        pipeline: Option<PathBuf>,
        /// The source id (default: from the file name).
        #[arg(long)]
        id: Option<String>,
        /// The supplier a stock feed belongs to (when it has no supplier
        /// column).
        #[arg(long, value_name = "ID", conflicts_with = "provider")]
        supplier: Option<String>,
        /// The logistics provider of a shipment feed.
        #[arg(long, value_name = "ID")]
        provider: Option<String>,
        /// The warehouse of a stock feed that has no warehouse column.
        #[arg(long, value_name = "NAME")]
        default_warehouse: Option<String>,
        /// The run date used when staging.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Print JSON instead of the block.
        #[arg(long)]
        json: bool,
    },
    /// The distributed path, step 1: fetch and check the reference tables
    /// into a new flight (`<work-dir>/flights/<run-id>/`) and print its
    /// plan as JSON: the run id, and the feeds to stage, one task each.
    Plan {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        #[command(flatten)]
        work: WorkDir,
        /// The run's logical date (YYYY-MM-DD); default: today in the
        /// campaign's timezone.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// The run's id (e.g. the orchestrator's); default: the time and
        /// process id. Planning an id again gives its plan back.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: Option<String>,
    },
    /// The distributed path, step 2: fetch and stage one feed of a planned
    /// run into its flight (run one task per feed, anywhere, in any order).
    Stage {
        /// The pipeline file (TOML), the one the run was planned with.
        pipeline: PathBuf,
        #[command(flatten)]
        work: WorkDir,
        /// The feed's source id.
        #[arg(long, required_unless_present = "feed_index")]
        source: Option<String>,
        /// Or the feed's place in the plan's `feeds` (0-based): a
        /// Kubernetes Indexed Job passes `$JOB_COMPLETION_INDEX`.
        #[arg(long, value_name = "N", conflicts_with = "source")]
        feed_index: Option<usize>,
        /// The run id `siap plan` printed.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: String,
    },
    /// The distributed path, step 3: the keyed rules (latest rows,
    /// duplicates, conflicts) over every staged feed, as SQL on DataFusion
    /// in this process or on a Ballista cluster.
    Resolve {
        /// The work directory the run was planned in.
        #[arg(long = "work-dir", env = "SIAP_WORK_DIR", value_name = "DIR")]
        work_dir: PathBuf,
        /// The run id `siap plan` printed.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: String,
        /// `local` (DataFusion in this process) or a Ballista scheduler,
        /// `df://HOST:PORT`.
        #[arg(long, default_value = "local")]
        engine: String,
        /// How many partitions the rules shuffle rows into.
        #[arg(long, default_value_t = 4)]
        partitions: usize,
    },
    /// The distributed path, step 4: aggregate and publish a resolved run
    /// with the same code as `siap run`, and switch `latest` to it.
    Finish {
        /// The pipeline file (TOML), the one the run was planned with.
        pipeline: PathBuf,
        #[command(flatten)]
        work: WorkDir,
        /// The run id `siap plan` printed.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: String,
        #[command(flatten)]
        tell: Tell,
    },
    /// A Ballista scheduler or executor, for `siap resolve --engine
    /// df://HOST:PORT` (needs the `distributed` feature). Runs until
    /// stopped.
    Cluster {
        #[command(subcommand)]
        role: ClusterRole,
    },
    /// Check a pipeline file (and that its local sources exist) without
    /// running anything.
    Validate {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// The run date dated and patterned locations are resolved for
        /// (default: today in the campaign's timezone).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
}

/// A process of a Ballista cluster.
#[derive(Debug, Subcommand)]
pub enum ClusterRole {
    /// The scheduler: plans jobs and hands tasks to executors.
    Scheduler {
        /// Address to listen on (gRPC).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
    },
    /// An executor: runs tasks and serves its shuffle files.
    Executor {
        /// The scheduler, as `HOST:PORT`.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Address of its Arrow Flight service; its gRPC service takes the
        /// next port.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// The host other executors and clients reach it at (default: the
        /// bind address), e.g. a pod's IP when it binds 0.0.0.0.
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Where it keeps shuffle files (default: a temporary folder).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// Tasks at once (default: the machine's cores).
        #[arg(long)]
        vcores: Option<usize>,
    },
}

/// Where runs live.
/// What a run (or a distributed run's `finish`) tells besides its exit
/// code and its log: for schedulers and monitoring.
#[derive(Debug, Clone, clap::Args)]
pub struct Tell {
    /// Also print the run's summary on stdout, as one JSON line (for
    /// Airflow's XCom and other schedulers that read the last line),
    /// whether the run published or failed.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub summary: Option<SummaryFormat>,
    /// Write Prometheus metrics (text format) to this file when the
    /// run ends, atomically, for node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Post no notifications, whatever the pipeline's `[notify]` says
    /// (for trial runs).
    #[arg(long)]
    pub no_notify: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkDir {
    /// The work directory: one folder per run date under `runs/`, and
    /// `latest` pointing at the newest good run. Default:
    /// `siap-work/<pipeline file name without .toml>`.
    #[arg(
        long = "work-dir",
        visible_alias = "out",
        env = "SIAP_WORK_DIR",
        value_name = "DIR"
    )]
    pub dir: Option<PathBuf>,
}

impl WorkDir {
    pub fn resolve(&self, pipeline: &std::path::Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            let stem = pipeline
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into());
            PathBuf::from("siap-work").join(stem)
        })
    }
}

/// How a generated campaign's feeds look: the defaults are one shape among
/// the many suppliers send (the benchmark runs a matrix of them).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Data shape")]
pub struct Shape {
    /// Stock files, each holding several suppliers' rows (a `supplier_id`
    /// column).
    #[arg(long, default_value_t = 8)]
    pub stock_files: usize,
    /// The stock files' format.
    #[arg(long, value_enum, default_value_t = StockFormat::Csv)]
    pub stock_format: StockFormat,
    /// Timestamps without a UTC offset: wall time in the campaign's
    /// timezone (the common export).
    #[arg(long)]
    pub naive_timestamps: bool,
    /// The step timestamps fall on.
    #[arg(long, value_enum, default_value_t = TimestampStep::Minute)]
    pub timestamp_step: TimestampStep,
    /// A declared strftime format for timestamps (e.g. `%d/%m/%Y %H:%M`,
    /// day first), written into the pipeline file; no offset.
    #[arg(long, value_name = "FORMAT")]
    pub timestamp_format: Option<String>,
    /// Longer ids, as ERPs write them: `SUP00122`, `MIE-000345`,
    /// `WH-DPS-03`.
    #[arg(long)]
    pub long_ids: bool,
    /// Share of invalid rows (of every kind), from 0 to 0.5.
    #[arg(long, default_value_t = 0.02)]
    pub reject_share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StockFormat {
    Csv,
    Ndjson,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampStep {
    /// Whole minutes.
    Minute,
    /// Whole seconds.
    Second,
    /// Milliseconds: irregular.
    Millisecond,
}
