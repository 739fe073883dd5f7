//! Stage: raw copies + dialects → canonical, typed, validated rows.
//!
//! Staging parses; it never fetches (that is `fetch`) and never sums
//! (that is `aggregate`). [`reference`] reads the catalog and the SKU map,
//! which are strict: a bad row there fails the run, because every feed row
//! is judged against them. [`feeds`] stages every feed, on every core,
//! largest first: each is read record by record ([`read`]), every field is
//! checked ([`feed`]), and a record that fails any check becomes one row of
//! the exceptions table instead of vanishing ([`rejects`]). Accepted rows
//! go to the feed's staged Parquet copy ([`staged_copy`]) and, partitioned
//! by key, to the latest-row rules' input ([`partition`]). Staging also
//! computes each file's size and sha256 from the bytes it reads.

mod chunked;
pub mod feed;
pub mod names;
pub mod partition;
pub mod raw_text;
pub mod read;
pub mod reference;
pub mod rejects;
pub mod rows;
pub mod staged_copy;
pub mod values;

use crate::error::{Action, Problem};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use hashbrown::HashMap;

pub use crate::model::{Exception, Reason, Rejection, Status};
pub use names::Names;
pub use reference::{Catalog, Product, SkuMap};
pub use rows::{Batch, ShipmentRow, Span, StockRow};

use crate::error::Error;
use crate::model::RawCopy;
use crate::pipeline::{Source, SourceKind, Sources};
use crate::sys::tuning::Tuning;
use feed::FeedVisitor;
use partition::{PartitionWriter, Partitions};
use read::FileRead;
use rejects::ExceptionFile;
use staged_copy::StagedWriter;

/// What staging needs besides the feed itself.
pub struct Context<'a> {
    pub run_date: NaiveDate,
    pub timezone: Tz,
    pub catalog: &'a Catalog,
    pub sku_map: &'a SkuMap,
    /// Warehouse and provider names of every feed, numbered once.
    pub names: &'a Names,
    /// Accepted rows per batch (a row group of the staged copy).
    pub batch_rows: usize,
    /// Bytes per chunk when a feed is parsed on several threads.
    pub chunk_bytes: usize,
    /// Bytes of a large NDJSON feed's first lines its header is guessed
    /// from ([`read::Chunks::guess_bytes`]).
    pub guess_bytes: u64,
}

impl Context<'_> {
    /// The first instant after the run date ends, in the campaign's
    /// timezone: an `as_of` at or after it is in the future.
    fn as_of_limit(&self) -> i64 {
        let next = self.run_date.succ_opt().unwrap_or(self.run_date);
        let midnight = next.and_time(chrono::NaiveTime::MIN);
        match self.timezone.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.timestamp_micros()
            }
            chrono::LocalResult::None => midnight.and_utc().timestamp_micros(),
        }
    }
}

/// Where staged rows go: in a run, the staged Parquet copy, the rules'
/// partitions and the rejected-rows file; a count in the property tests.
pub trait Sink {
    fn batch(&mut self, batch: &Batch) -> Result<(), Problem>;
    /// One rejected record, in the order read.
    fn exception(&mut self, e: &Rejection<'_>) -> Result<(), Problem>;
}

impl<T: Sink + ?Sized> Sink for &mut T {
    fn batch(&mut self, batch: &Batch) -> Result<(), Problem> {
        (**self).batch(batch)
    }

    fn exception(&mut self, e: &Rejection<'_>) -> Result<(), Problem> {
        (**self).exception(e)
    }
}

/// One feed after staging. Its accepted rows went to the sink.
#[derive(Debug, Clone)]
pub struct StagedFeed {
    pub source_id: String,
    pub kind: SourceKind,
    /// Records read (blank lines are not records).
    pub records: u64,
    /// Rows that passed validation (before the latest-row rules).
    pub accepted: u64,
    /// The newest `as_of` / `updated_at` among accepted rows.
    pub newest: Option<i64>,
    /// Records rejected while staging (they went to the sink).
    pub rejected: u64,
    /// Of those, how many per catalog product (when the record says which).
    pub product_exceptions: HashMap<u32, u64>,
    /// Header columns that map to nothing canonical.
    pub extra_columns: Vec<String>,
    /// Each canonical column and the feed column it was read from (`None`:
    /// absent, e.g. supplied by the pipeline file).
    pub column_map: Vec<(&'static str, Option<String>)>,
    /// Wall time spent staging this feed.
    pub stage_ms: u64,
    /// The file as read: size, sha256 (empty when staged from memory).
    pub file: Option<FileRead>,
    /// Its rejected rows' files (in a run).
    pub rejects: Option<RejectFiles>,
}

impl StagedFeed {
    /// Adds what another visitor of the same feed counted.
    fn add(&mut self, other: StagedFeed) {
        self.records += other.records;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.newest = self.newest.max(other.newest);
        for (product, n) in other.product_exceptions {
            *self.product_exceptions.entry(product).or_default() += n;
        }
    }

    /// Where the feed's raw text can be read back now: the local source a
    /// copy was made from while it is provably still the file that was
    /// read (same identity, size and modification time; the copy was
    /// written past the page cache, the source is in it), else the copy.
    pub fn text_path(&self, raw: &RawCopy) -> PathBuf {
        match (
            &raw.tee_from,
            self.file.as_ref().and_then(|f| f.source.as_ref()),
        ) {
            (Some(from), Some(stamp)) if stamp.matches(from) => from.clone(),
            _ => raw.path.clone(),
        }
    }
}

/// The catalog and the SKU map, read, checked and linked, with their
/// files as read.
#[derive(Debug)]
pub struct Reference {
    pub catalog: Catalog,
    pub sku_map: SkuMap,
    pub catalog_file: FileRead,
    pub sku_map_file: FileRead,
}

/// Reads the two reference tables from their raw copies. Every problem in
/// either fails its source (all listed).
pub fn reference(
    sources: &Sources<Source>,
    raw: &Sources<RawCopy>,
) -> Result<Reference, Vec<Error>> {
    let read = |s: &Source, r: &RawCopy| {
        let bytes = std::fs::read(&r.path).map_err(Problem::io(Action::ReadCopy, &r.path))?;
        let mut h = crate::sys::files::Hasher::default();
        h.update(&bytes);
        let file = FileRead {
            bytes: h.bytes,
            sha256: h.hex(),
            source: None,
        };
        let _ = s;
        Ok::<_, Problem>((bytes, file))
    };
    let catalog = read(&sources.catalog, &raw.catalog)
        .and_then(|(b, f)| Ok((reference::stage_catalog(&sources.catalog, &b)?, f)));
    let sku_map = read(&sources.sku_map, &raw.sku_map)
        .and_then(|(b, f)| Ok((reference::stage_sku_map(&sources.sku_map, &b)?, f)));
    match (catalog, sku_map) {
        (Ok((catalog, catalog_file)), Ok((mut sku_map, sku_map_file))) => {
            sku_map.link(&catalog);
            Ok(Reference {
                catalog,
                sku_map,
                catalog_file,
                sku_map_file,
            })
        }
        (c, m) => Err([(&sources.catalog, c.err()), (&sources.sku_map, m.err())]
            .into_iter()
            .filter_map(|(s, e)| e.map(|e| failed(s, e)))
            .collect()),
    }
}

/// A source that cannot be staged, logged.
fn failed(s: &Source, e: Problem) -> Error {
    tracing::error!(stage = "stage", source = %s.id, location = %s.location.display(), error = %e, "Source failed.");
    s.fails(e)
}

/// Where staging writes a run's feeds.
pub struct Outputs {
    /// `staged/<id>.parquet`, one per feed.
    pub staged_dir: PathBuf,
    /// Each feed's rejected rows.
    pub rejected_dir: PathBuf,
    /// The rules' key partitions.
    pub partition_dir: PathBuf,
}

impl Outputs {
    /// The staged copies in `staged`, the working files in `scratch`.
    pub fn new(staged: PathBuf, scratch: &Path) -> Self {
        Outputs {
            staged_dir: staged,
            rejected_dir: scratch.join("rejected"),
            partition_dir: scratch.join("partitions"),
        }
    }

    /// The rejected-rows files of the `feed`-th feed.
    pub fn rejects(&self, feed: usize) -> RejectFiles {
        RejectFiles {
            staged: self.rejected_dir.join(format!("{feed}.bin")),
            conflicts: self.rejected_dir.join(format!("{feed}.conflicts.bin")),
        }
    }
}

/// The two files of one feed's rejected rows, each in line order: those
/// staging found, and those the rules find (conflicting duplicates).
#[derive(Debug, Clone)]
pub struct RejectFiles {
    pub staged: PathBuf,
    pub conflicts: PathBuf,
}

/// A run's feeds after staging: their counts and files, their accepted
/// rows partitioned by key for the rules, and the names they use.
pub struct Staged {
    pub feeds: Vec<StagedFeed>,
    pub partitions: Partitions,
    pub names: Names,
}

/// What a run stages with.
pub struct Settings {
    pub run_date: NaiveDate,
    pub timezone: Tz,
    pub tuning: Tuning,
    pub workers: usize,
}

/// Stages every feed (the pipeline's, in order, with their raw copies) on
/// plain threads, never on the async runtime, the largest first. A feed
/// that cannot be read at all fails its source; all such failures are
/// returned.
pub fn feeds(
    sources: &[Source],
    raw: &[RawCopy],
    reference: &Reference,
    settings: &Settings,
    out: &Outputs,
) -> Result<Staged, Vec<Error>> {
    let io = |path: &Path, e: std::io::Error| {
        vec![Error::Publish {
            path: path.to_path_buf(),
            message: e.to_string(),
        }]
    };
    for dir in [&out.staged_dir, &out.rejected_dir] {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let names = Names::default();
    let bytes: u64 = sources
        .iter()
        .zip(raw)
        .map(|(s, r)| r.bytes.saturating_mul(partition::expansion(&s.dialect)))
        .sum();
    let parts = partition::partitions_for(bytes, &settings.tuning);
    let mut partitions =
        Partitions::create(&out.partition_dir, parts).map_err(|e| io(&out.partition_dir, e))?;
    let sides = own_partitions(sources, raw, settings, &partitions)
        .map_err(|e| io(&out.partition_dir, e))?;
    let ctx = Context {
        run_date: settings.run_date,
        timezone: settings.timezone,
        catalog: &reference.catalog,
        sku_map: &reference.sku_map,
        names: &names,
        batch_rows: settings.tuning.staged_batch_rows,
        chunk_bytes: settings.tuning.chunk_bytes,
        guess_bytes: settings.tuning.guess_bytes,
    };
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(raw[i].bytes));
    // Feeds are staged side by side, each on a thread of its own that
    // reads it; a large CSV feed's records are parsed by the pool.
    let results = crate::sys::pool::scope(settings.workers, |pool| {
        let stage_one = |i: usize| {
            let rows = Rows {
                shared: &partitions,
                own: sides[i].as_ref(),
            };
            stage_into(i, &sources[i], &raw[i], &ctx, rows, out, pool)
        };
        crate::sys::queue::run(sources.len(), &order, settings.workers, stage_one)
    });
    for side in sides.into_iter().flatten() {
        partitions.adopt(side);
    }
    let mut feeds = Vec::new();
    let mut failures = Vec::new();
    for (s, r) in sources.iter().zip(results) {
        match r.expect("every feed is staged") {
            Ok(f) => {
                tracing::info!(stage = "stage", source = %s.id, records = f.records, rejected = f.rejected, "Staged source.");
                if f.records == 0 {
                    tracing::warn!(stage = "stage", source = %s.id, "Source has a header and no records.");
                }
                feeds.push(f);
            }
            Err(e) => failures.push(failed(s, e)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    Ok(Staged {
        feeds,
        partitions,
        names,
    })
}

/// The partitions of each feed's own, where it has them: a large NDJSON
/// feed staged on several threads takes a header guessed from its first
/// lines, and its rows are given up if the rest of the feed proves the
/// guess wrong (see `chunked`). None when the open-files limit leaves no
/// room for them all ([`partition::sides_fit`]).
fn own_partitions(
    sources: &[Source],
    raw: &[RawCopy],
    settings: &Settings,
    partitions: &Partitions,
) -> std::io::Result<Vec<Option<Partitions>>> {
    let guessing: Vec<bool> = (sources.iter().zip(raw))
        .map(|(s, r)| {
            let bytes = settings.tuning.guess_bytes;
            settings.workers > 1 && read::guesses_header(&s.dialect, r.bytes, bytes)
        })
        .collect();
    let guessers = guessing.iter().filter(|g| **g).count();
    let limit = partition::open_files_limit();
    let fit = partition::sides_fit(guessers, partitions.parts(), limit);
    if guessers > 0 && !fit {
        tracing::info!(
            stage = "stage",
            feeds = guessers,
            open_files = limit,
            "The open-files limit leaves no room for the NDJSON feeds' own partitions: their headers are read whole first."
        );
    }
    (guessing.iter().enumerate())
        .map(|(i, &guess)| {
            (guess && fit)
                .then(|| partitions.side(&format!("feed-{i}")))
                .transpose()
        })
        .collect()
}

/// Where a run's staged rows go: the feed's staged Parquet copy, the
/// rules' partitions, the rejected-rows file.
struct RunSink<'a> {
    ctx: &'a Context<'a>,
    staged: StagedWriter,
    partitions: PartitionWriter<'a>,
    rejected: ExceptionFile,
}

impl Sink for RunSink<'_> {
    fn batch(&mut self, batch: &Batch) -> Result<(), Problem> {
        self.staged.write(batch, self.ctx)?;
        self.partitions.add(batch).map_err(|error| Problem::Write {
            what: "the staged partitions",
            error,
        })
    }

    fn exception(&mut self, e: &Rejection<'_>) -> Result<(), Problem> {
        self.rejected.write(e).map_err(|error| Problem::Write {
            what: "the rejected rows",
            error,
        })
    }
}

/// Where a feed's accepted rows go for the rules: the run's partitions,
/// or a set of its own when its header may be guessed.
struct Rows<'env> {
    shared: &'env Partitions,
    own: Option<&'env Partitions>,
}

/// Stages the `i`-th feed into the run's files: a streamed feed's records
/// parsed by the pool when it has more than one thread, else here.
fn stage_into<'env>(
    i: usize,
    source: &'env Source,
    raw: &RawCopy,
    ctx: &'env Context<'env>,
    rows: Rows<'env>,
    out: &Outputs,
    pool: &crate::sys::pool::Pool<'env>,
) -> Result<StagedFeed, Problem> {
    let t = Instant::now();
    let provider = source.owner.as_deref().map_or(0, |o| ctx.names.id(o));
    let rejects = out.rejects(i);
    let rejected = || {
        ExceptionFile::create(&rejects.staged).map_err(|error| Problem::Write {
            what: "the rejected rows",
            error,
        })
    };
    let staged_copy = || StagedWriter::new(&out.staged_dir, &source.id, source.kind);
    let input = match &raw.tee_from {
        Some(from) => read::Input::Tee {
            from,
            to: &raw.path,
        },
        None => read::Input::Copy(&raw.path),
    };
    let mut staged = if pool.threads() > 1 && read::in_chunks(&source.dialect) {
        let outputs = |partitions, guess| {
            Ok::<_, Problem>(chunked::Outputs {
                staged: staged_copy(),
                rejected: rejected()?,
                partitions,
                feed: i as u16,
                provider,
                guess,
            })
        };
        stage_chunked(source, input, ctx, rows, pool, outputs)?
    } else {
        stage_here(
            source,
            input,
            ctx,
            rows.shared.writer(i as u16, provider),
            staged_copy(),
            rejected()?,
        )?
    };
    staged.stage_ms = t.elapsed().as_millis() as u64;
    staged.rejects = Some(rejects);
    Ok(staged)
}

/// Stages a feed in chunks on the pool ([`chunked`]): into its own
/// partitions with a header guessed from its first records when it has
/// them, and into the run's with the whole feed's header when it has not
/// or the guess was wrong (its own partitions cleared then).
fn stage_chunked<'env>(
    source: &'env Source,
    input: read::Input<'_>,
    ctx: &'env Context<'env>,
    rows: Rows<'env>,
    pool: &crate::sys::pool::Pool<'env>,
    outputs: impl Fn(&'env Partitions, bool) -> Result<chunked::Outputs<'env>, Problem>,
) -> Result<StagedFeed, Problem> {
    if let Some(own) = rows.own {
        let guessed = chunked::stage(source, input, ctx, outputs(own, true)?, pool)?;
        own.close();
        if let Some(staged) = guessed {
            return Ok(staged);
        }
        tracing::info!(stage = "stage", source = %source.id, "The header of the source's first lines is not the whole source's: staging it again with its whole header.");
        own.clear().map_err(|error| Problem::Write {
            what: "the staged partitions",
            error,
        })?;
    }
    chunked::stage(source, input, ctx, outputs(rows.shared, false)?, pool)?
        .ok_or_else(|| Problem::Internal("a header not guessed was wrong".into()))
}

/// Stages a feed on this thread alone, into the run's files.
fn stage_here(
    source: &Source,
    input: read::Input<'_>,
    ctx: &Context,
    partitions: PartitionWriter<'_>,
    staged_copy: StagedWriter,
    rejected: ExceptionFile,
) -> Result<StagedFeed, Problem> {
    let mut sink = RunSink {
        ctx,
        staged: staged_copy,
        partitions,
        rejected,
    };
    let staged = stage_file(source, input, ctx, &mut sink)?;
    let RunSink {
        staged: copy,
        partitions,
        rejected,
        ..
    } = sink;
    copy.finish()?;
    rejected.finish().map_err(|error| Problem::Write {
        what: "the rejected rows",
        error,
    })?;
    partitions
        .finish(source.kind == SourceKind::Shipments)
        .map_err(|error| Problem::Write {
            what: "the staged partitions",
            error,
        })?;
    Ok(staged)
}

/// Stages one feed (stock or shipments) held in memory. An `Err` fails the
/// source.
pub fn stage_feed(
    source: &Source,
    bytes: &[u8],
    ctx: &Context,
    sink: &mut dyn Sink,
) -> Result<StagedFeed, Problem> {
    let mut v = FeedVisitor::new(source, ctx, sink);
    read::read(bytes, &source.dialect, &mut v)?;
    v.finish()
}

/// Stages one feed from a file (its raw copy, or a local source copied as
/// it is read), streaming CSV a chunk at a time.
pub fn stage_file(
    source: &Source,
    input: read::Input<'_>,
    ctx: &Context,
    sink: &mut dyn Sink,
) -> Result<StagedFeed, Problem> {
    let mut v = FeedVisitor::new(source, ctx, sink);
    let file = read::read_file(input, &source.dialect, &mut v)?;
    let mut staged = v.finish()?;
    staged.file = Some(file);
    Ok(staged)
}
