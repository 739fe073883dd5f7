//! Stage: bytes + dialect → canonical, typed, validated rows.
//!
//! Staging parses; it never fetches (that is `fetch`) and never sums
//! (that is `aggregate`). Each feed is read record by record, every field is
//! checked, and a record that fails any check becomes one row of the
//! exceptions table instead of vanishing. Reference tables (catalog, SKU
//! map) are stricter: a bad row there fails the run, because every feed row
//! is judged against them.

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

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use hashbrown::HashMap;

pub use crate::model::{Exception, Reason, Status};
pub use names::Names;
pub use reference::{Catalog, Product, SkuMap};
pub use rows::{Batch, ShipmentRow, Span, StockRow};

use crate::pipeline::{Source, SourceKind};
use feed::FeedVisitor;

/// What staging needs besides the feed itself.
pub struct Context<'a> {
    pub run_date: NaiveDate,
    pub timezone: Tz,
    pub catalog: &'a Catalog,
    pub sku_map: &'a SkuMap,
    /// Warehouse and provider names of every feed, numbered once.
    pub names: &'a Names,
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

/// Where staged rows go: the staged Parquet copy and the latest-row rules'
/// partitions in a run; a preview in `siap inspect`.
pub trait Sink {
    fn batch(&mut self, batch: &Batch) -> Result<(), String>;
    /// One rejected record, in the order read.
    fn exception(&mut self, e: Exception) -> Result<(), String>;
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
    /// The sha256 of the file staged (empty when staged from memory).
    pub sha256: String,
    /// The size of the file staged (0 when staged from memory).
    pub bytes: u64,
    /// A local source read as it was copied: the source's stamp then.
    pub source: Option<read::Stamp>,
}

/// Stages one feed (stock or shipments) held in memory. An `Err` fails the
/// source.
pub fn stage_feed(
    source: &Source,
    bytes: &[u8],
    ctx: &Context,
    sink: &mut dyn Sink,
) -> Result<StagedFeed, String> {
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
) -> Result<StagedFeed, String> {
    let mut v = FeedVisitor::new(source, ctx, sink);
    let file = read::read_file(input, &source.dialect, &mut v)?;
    let mut staged = v.finish()?;
    staged.sha256 = file.sha256;
    staged.bytes = file.bytes;
    staged.source = file.source;
    Ok(staged)
}
