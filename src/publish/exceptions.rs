//! The exceptions table as a frame.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stage::Exception;

pub fn exceptions_frame(exceptions: &[Exception]) -> Result<DataFrame> {
    df! {
        "source" => exceptions.iter().map(|e| e.source.as_str()).collect::<Vec<_>>(),
        "supplier_id" => exceptions.iter().map(|e| e.supplier_id.as_str()).collect::<Vec<_>>(),
        "product_id" => exceptions.iter().map(|e| e.product_id.as_str()).collect::<Vec<_>>(),
        "line" => exceptions.iter().map(|e| e.line).collect::<Vec<_>>(),
        "field" => exceptions.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        "reason" => exceptions.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        "detail" => exceptions.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        "raw" => exceptions.iter().map(|e| e.raw.as_str()).collect::<Vec<_>>(),
    }
    .map_err(|e| Error::polars("building the exceptions table")(e))
}

/// One feed's rejected rows, on disk, in two files each in line order:
/// those found while staging (in the order read), and those the
/// latest-row rules rejected (sorted by line).
pub struct Rejected {
    pub source: String,
    pub staged: std::path::PathBuf,
    pub conflicts: std::path::PathBuf,
}

/// One file of rejected rows, read ahead by one.
struct Run {
    reader: Option<crate::stage::rejects::ExceptionReader>,
    next: Option<Exception>,
    path: std::path::PathBuf,
}

impl Run {
    fn open(path: &std::path::Path, source: &str) -> Result<Run> {
        // A feed that failed before writing any has no file.
        let reader = match crate::stage::rejects::ExceptionReader::open(path, source) {
            Ok(r) => Some(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_back(path, e)),
        };
        let mut run = Run {
            reader,
            next: None,
            path: path.to_path_buf(),
        };
        run.advance()?;
        Ok(run)
    }

    /// Takes the row in hand and reads the next.
    fn advance(&mut self) -> Result<Option<Exception>> {
        let next = match &mut self.reader {
            Some(r) => r.next_exception().map_err(|e| read_back(&self.path, e))?,
            None => None,
        };
        Ok(std::mem::replace(&mut self.next, next))
    }
}

fn read_back(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Publish {
        path: path.to_path_buf(),
        message: format!("cannot read back the rejected rows: {e}"),
    }
}

/// Every rejected row, in the exceptions table's order: by source, then
/// line (a feed's two files merged), then the order found. One row of each
/// file is in memory at a time.
pub fn exception_rows(feeds: &[Rejected]) -> impl FnMut() -> Result<Option<Exception>> + '_ {
    let mut order: Vec<&Rejected> = feeds.iter().collect();
    order.sort_by(|a, b| a.source.cmp(&b.source));
    let mut order = order.into_iter();
    let mut runs: Option<(Run, Run)> = None;
    move || loop {
        if runs.is_none() {
            let Some(f) = order.next() else {
                return Ok(None);
            };
            runs = Some((
                Run::open(&f.staged, &f.source)?,
                Run::open(&f.conflicts, &f.source)?,
            ));
        }
        let (a, b) = runs.as_mut().expect("set above");
        let take_a = match (&a.next, &b.next) {
            (Some(x), Some(y)) => x.line <= y.line,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => {
                runs = None;
                continue;
            }
        };
        return if take_a { a.advance() } else { b.advance() };
    }
}

/// The text an exception row holds, for sizing batches.
fn text_bytes(e: &Exception) -> usize {
    e.raw.len() + e.detail.len() + e.supplier_id.len() + e.product_id.len() + 64
}

/// The exceptions table in batches of at most `rows` rows and (but for a
/// single row) `bytes` bytes of text, `limit` rows in all: a batch is all
/// that is in memory. At least one (maybe empty) batch.
pub fn exception_batches(
    feeds: &[Rejected],
    rows: usize,
    bytes: usize,
    limit: usize,
) -> impl FnMut() -> Result<Option<Vec<Exception>>> + '_ {
    let mut next = exception_rows(feeds);
    let mut given = 0usize;
    let mut started = false;
    let mut done = false;
    move || {
        let mut batch = Vec::new();
        let mut size = 0usize;
        while !done && batch.len() < rows && given < limit && (batch.is_empty() || size < bytes) {
            match next()? {
                Some(e) => {
                    size += text_bytes(&e);
                    given += 1;
                    batch.push(e);
                }
                None => done = true,
            }
        }
        if batch.is_empty() && started {
            return Ok(None);
        }
        started = true;
        Ok(Some(batch))
    }
}
