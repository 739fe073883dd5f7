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

/// One feed's rejected rows, on disk: those found while staging (in the
/// order read), then those the latest-row rules rejected.
pub struct Rejected {
    pub source: String,
    pub path: std::path::PathBuf,
}

impl Rejected {
    /// All of the feed's rows, in the exceptions table's order.
    pub fn sorted(&self) -> Result<Vec<Exception>> {
        let err = |e: std::io::Error| Error::Publish {
            path: self.path.clone(),
            message: format!("cannot read back the rejected rows: {e}"),
        };
        let mut out = Vec::new();
        let mut r = crate::stage::exception::ExceptionReader::open(&self.path, &self.source)
            .map_err(err)?;
        while let Some(e) = r.next_exception().map_err(err)? {
            out.push(e);
        }
        out.sort();
        Ok(out)
    }
}

/// The exceptions table feed by feed (sorted by source id, so the table is
/// in its order), `limit` rows at most: only one feed's rows are in memory
/// at a time.
pub fn exception_batches(
    feeds: &[Rejected],
    batch: usize,
    limit: usize,
) -> impl FnMut() -> Result<Option<Vec<Exception>>> + '_ {
    let mut order: Vec<&Rejected> = feeds.iter().collect();
    order.sort_by(|a, b| a.source.cmp(&b.source));
    let mut order = order.into_iter();
    let mut buf: std::collections::VecDeque<Exception> = Default::default();
    let mut given = 0usize;
    let mut started = false;
    move || {
        while buf.len() < batch {
            match order.next() {
                Some(f) => buf.extend(f.sorted()?),
                None => break,
            }
        }
        let n = buf.len().min(batch).min(limit - given);
        if n == 0 && started {
            return Ok(None);
        }
        started = true;
        given += n;
        Ok(Some(buf.drain(..n).collect()))
    }
}
