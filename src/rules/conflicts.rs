//! The exceptions of the rows the rules rejected (conflicting duplicates),
//! with each row's raw text read back from its feed.

use super::Conflict;
use crate::model::{Exception, Reason};
use crate::pipeline::{Source, SourceKind};
use crate::stage::raw_text::raw_texts;
use crate::stage::rejects::ExceptionFile;
use crate::stage::rows::Span;
use crate::stage::{RejectFiles, SkuMap};

/// Conflicting rows whose raw text is read back at a time: bounds the
/// memory a feed with millions of them takes.
const CONFLICT_BLOCK: usize = 65_536;

/// The exceptions of the rows the latest-row rules rejected, with their
/// raw text read back from each feed's raw copy: handed to `each` (with
/// the feed's index) a block of at most [`CONFLICT_BLOCK`] rows at a time,
/// in line order, so only the block in hand is in memory; the feeds shared
/// among `workers` threads. The first error `each` returns is the result.
pub fn conflict_exceptions<E: Send>(
    conflicts: &[Conflict],
    feeds: &[&Source],
    paths: &[std::path::PathBuf],
    sku_map: &SkuMap,
    workers: usize,
    each: impl Fn(usize, Vec<Exception>) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let mut mine: Vec<Vec<&Conflict>> = vec![Vec::new(); feeds.len()];
    for c in conflicts {
        mine[c.feed].push(c);
    }
    let block = |fi: usize, rows: &[&Conflict]| {
        let source = feeds[fi];
        let wanted: Vec<(u64, Span)> = rows.iter().map(|c| (c.line, c.span)).collect();
        let mut raw = raw_texts(source, &paths[fi], &wanted);
        let field = if source.kind == SourceKind::Shipments {
            "updated_at"
        } else {
            "as_of"
        };
        let detail = format!("another row has the same key and `{field}` but different values");
        rows.iter()
            .map(|c| {
                let e = sku_map.entry(c.sku);
                Exception {
                    source: source.id.clone(),
                    supplier_id: e.supplier_id.clone(),
                    product_id: e.product_id.clone(),
                    line: c.line,
                    field: field.to_string(),
                    reason: Reason::ConflictingDuplicate,
                    detail: detail.clone(),
                    raw: raw.remove(&c.line).unwrap_or_default(),
                }
            })
            .collect()
    };
    let one = |fi: usize| {
        mine[fi]
            .chunks(CONFLICT_BLOCK)
            .try_for_each(|rows| each(fi, block(fi, rows)))
    };
    let every: Vec<usize> = (0..feeds.len()).collect();
    crate::sys::queue::run(feeds.len(), &every, workers, one)
        .into_iter()
        .try_for_each(|e| e.expect("every feed is listed"))
}

/// Writes each feed's conflicting rows to its `conflicts` file (beside
/// its staging rejects, on disk: at scale they are hundreds of megabytes),
/// their raw text read back from `texts[i]`, on `workers` threads.
pub fn keep(
    conflicts: &[Conflict],
    sources: &[Source],
    texts: &[std::path::PathBuf],
    rejects: &[&RejectFiles],
    sku_map: &SkuMap,
    workers: usize,
) -> crate::error::Result<()> {
    let sources: Vec<&Source> = sources.iter().collect();
    conflict_exceptions(conflicts, &sources, texts, sku_map, workers, |i, list| {
        let path = &rejects[i].conflicts;
        let write = || -> std::io::Result<()> {
            let mut f = ExceptionFile::append(path)?;
            for e in &list {
                f.write(&e.rejection())?;
            }
            f.finish().map(|_| ())
        };
        write().map_err(|e| crate::error::Error::Publish {
            path: path.clone(),
            message: format!("cannot keep the conflicting rows: {e}"),
        })
    })
}
