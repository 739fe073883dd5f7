//! The exceptions table: its rows read back from the feeds' rejected-row
//! files in the table's order ([`ExceptionRows`]), written a batch at a
//! time straight from them ([`ExceptionTable`]), or as a frame (the
//! workbook's preview).

use polars::prelude::*;
use polars_parquet::parquet::page::Page;
use polars_parquet::parquet::schema::types::PrimitiveType;

use super::table::{self, Batches, Texts};
use crate::error::{Error, Result};
use crate::model::Reason;
use crate::pipeline::OutputOptions;
use crate::stage::Exception;
use crate::stage::rejects::{ExceptionReader, RawException};
use crate::sys::parquet_pages::{self as pages, Remap};

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
    reader: Option<ExceptionReader>,
    /// The row in hand, when `ready`.
    row: RawException,
    ready: bool,
    path: std::path::PathBuf,
}

impl Run {
    fn open(path: &std::path::Path, source: &str) -> Result<Run> {
        // A feed that failed before writing any has no file.
        let reader = match ExceptionReader::open(path, source) {
            Ok(r) => Some(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_back(path, e)),
        };
        let mut run = Run {
            reader,
            row: RawException::default(),
            ready: false,
            path: path.to_path_buf(),
        };
        run.advance()?;
        Ok(run)
    }

    /// Reads the next row into hand (none at the end).
    fn advance(&mut self) -> Result<()> {
        self.ready = match &mut self.reader {
            Some(r) => r
                .next_into(&mut self.row)
                .map_err(|e| read_back(&self.path, e))?,
            None => false,
        };
        Ok(())
    }

    fn line(&self) -> Option<u64> {
        self.ready.then_some(self.row.line)
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
/// file is in memory at a time, read into a buffer the next row reuses.
pub struct ExceptionRows<'f> {
    /// The feeds by source, and the next one's place.
    order: Vec<&'f Rejected>,
    next_feed: usize,
    /// The current feed's two files, and which holds the row last given.
    runs: Option<(Run, Run)>,
    given: Option<bool>,
}

impl<'f> ExceptionRows<'f> {
    pub fn new(feeds: &'f [Rejected]) -> Self {
        let mut order: Vec<&Rejected> = feeds.iter().collect();
        order.sort_by(|a, b| a.source.cmp(&b.source));
        ExceptionRows {
            order,
            next_feed: 0,
            runs: None,
            given: None,
        }
    }

    /// The next row and its source; `None` after the last.
    pub fn next_row(&mut self) -> Result<Option<(&'f str, &RawException)>> {
        // The row given last is replaced only now, when it is done with.
        if let (Some(first), Some((a, b))) = (self.given.take(), &mut self.runs) {
            if first { a.advance()? } else { b.advance()? }
        }
        loop {
            if self.runs.is_none() {
                let Some(f) = self.order.get(self.next_feed) else {
                    return Ok(None);
                };
                self.next_feed += 1;
                self.runs = Some((
                    Run::open(&f.staged, &f.source)?,
                    Run::open(&f.conflicts, &f.source)?,
                ));
            }
            let lines = self.runs.as_ref().map(|(a, b)| (a.line(), b.line()));
            let first = match lines.expect("set above") {
                (Some(x), Some(y)) => x <= y,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => {
                    self.runs = None;
                    continue;
                }
            };
            self.given = Some(first);
            let source = self.order[self.next_feed - 1].source.as_str();
            let (a, b) = self.runs.as_ref().expect("set above");
            return Ok(Some((source, if first { &a.row } else { &b.row })));
        }
    }
}

/// Every rejected row as an owned exception, in the table's order
/// ([`ExceptionRows`]).
pub fn exception_rows(feeds: &[Rejected]) -> impl FnMut() -> Result<Option<Exception>> + '_ {
    let mut rows = ExceptionRows::new(feeds);
    move || {
        Ok(rows
            .next_row()?
            .map(|(source, row)| row.to_exception(source)))
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

/// The exceptions table's columns, in order.
const COLUMNS: [&str; 8] = [
    "source",
    "supplier_id",
    "product_id",
    "line",
    "field",
    "reason",
    "detail",
    "raw",
];

/// One batch of the exceptions table, kept from batch to batch.
#[derive(Default)]
struct Columns {
    /// Keys of the feeds' sources and of the reasons, in their batch's
    /// dictionaries.
    source: Vec<u32>,
    reason: Vec<u32>,
    line: Vec<i64>,
    supplier_id: Texts,
    product_id: Texts,
    field: Texts,
    detail: Texts,
    raw: Texts,
}

impl Columns {
    fn texts(&mut self) -> [&mut Texts; 5] {
        [
            &mut self.supplier_id,
            &mut self.product_id,
            &mut self.field,
            &mut self.detail,
            &mut self.raw,
        ]
    }
}

/// The exceptions table, written a batch of rows at a time straight from
/// the feeds' rejected-row files ([`Batches`]): no owned row and no frame
/// between. CSV rows with the CSV writer's own cell functions (so the
/// bytes are those of the table's frames; a dialect the fast path does
/// not know, or `SIAP_CSV_FROM_FRAMES=1`, writes each batch through its
/// frame, and a test compares both); Parquet row groups whose source and
/// reason columns are dictionaries (a handful of values), the rest plain.
pub struct ExceptionTable<'f> {
    rows: ExceptionRows<'f>,
    /// The sources, by the number the source column's keys remap.
    sources: Vec<&'f str>,
    columns: DataFrame,
    fields: Vec<PrimitiveType>,
    /// At most this many rows, and (but for a single row) about this many
    /// bytes of text, a batch.
    batch: (usize, usize),
    options: &'f OutputOptions,
    frames: bool,
    source_keys: Remap,
    reason_keys: Remap,
    scratch: Columns,
}

impl<'f> ExceptionTable<'f> {
    pub fn new(
        feeds: &'f [Rejected],
        options: &'f OutputOptions,
        tuning: &crate::sys::tuning::Tuning,
    ) -> Result<Self> {
        let columns = exceptions_frame(&[])?;
        let fields = table::row_fields(&columns, &COLUMNS, "exceptions")?;
        Ok(ExceptionTable {
            rows: ExceptionRows::new(feeds),
            sources: Vec::new(),
            columns,
            fields,
            batch: (tuning.batch_rows.max(1), BATCH_TEXT),
            options,
            frames: tuning.csv_from_frames || !super::csv::fast_dialect(options.csv_delimiter),
            source_keys: Remap::default(),
            reason_keys: Remap::default(),
            scratch: Columns::default(),
        })
    }

    /// Reads the next batch's rows into the scratch columns; how many.
    fn gather(&mut self) -> Result<usize> {
        self.source_keys.start();
        self.reason_keys.start();
        let c = &mut self.scratch;
        c.source.clear();
        c.reason.clear();
        c.line.clear();
        c.texts().into_iter().for_each(Texts::clear);
        let (mut rows, mut bytes) = (0, 0);
        while rows < self.batch.0 && (rows == 0 || bytes < self.batch.1) {
            let Some((source, row)) = self.rows.next_row()? else {
                break;
            };
            // Sources come one feed after another: a new one is the last.
            if self.sources.last() != Some(&source) {
                self.sources.push(source);
            }
            c.source
                .push(self.source_keys.key(self.sources.len() as u32 - 1));
            c.reason.push(self.reason_keys.key(row.reason as u32));
            c.line.push(row.line as i64);
            let [supplier, product, field, detail, raw] = c.texts();
            supplier.push(row.supplier_id());
            product.push(row.product_id());
            field.push(row.field());
            detail.push(row.detail());
            raw.push(row.raw());
            rows += 1;
            bytes += row.text_len() + 64;
        }
        Ok(rows)
    }

    /// The batch's source and reason of each row.
    fn labels(&self) -> impl Iterator<Item = (&'f str, Reason)> + '_ {
        let c = &self.scratch;
        let source = |k: &u32| self.sources[self.source_keys.used[*k as usize] as usize];
        let reason = |k: &u32| Reason::ALL[self.reason_keys.used[*k as usize] as usize];
        c.source.iter().map(source).zip(c.reason.iter().map(reason))
    }

    /// The batch's CSV rows, cell by cell as the CSV writer writes a
    /// frame's (`super::csv`).
    fn csv(&self, out: &mut Vec<u8>) {
        let (c, sep) = (&self.scratch, self.options.csv_delimiter);
        let mut int = itoa::Buffer::new();
        let texts = c.supplier_id.iter().zip(c.product_id.iter());
        let more = c.field.iter().zip(c.detail.iter()).zip(c.raw.iter());
        let rows = self.labels().zip(&c.line).zip(texts.zip(more));
        for (((source, reason), &line), ((supplier, product), ((field, detail), raw))) in rows {
            for cell in [source, supplier, product] {
                super::csv::text(out, cell, sep);
                out.push(sep);
            }
            out.extend_from_slice(int.format(line as u64).as_bytes());
            for cell in [field, reason.as_str(), detail, raw] {
                out.push(sep);
                super::csv::text(out, cell, sep);
            }
            out.push(b'\n');
        }
    }

    /// The batch as a frame (the CSV writer's reference path).
    fn frame(&self) -> Result<DataFrame> {
        let c = &self.scratch;
        let (sources, reasons): (Vec<&str>, Vec<&str>) =
            self.labels().map(|(s, r)| (s, r.as_str())).unzip();
        fn texts(t: &Texts) -> Vec<&str> {
            t.iter().collect()
        }
        df! {
            "source" => sources,
            "supplier_id" => texts(&c.supplier_id),
            "product_id" => texts(&c.product_id),
            "line" => c.line.iter().map(|&l| l as u64).collect::<Vec<_>>(),
            "field" => texts(&c.field),
            "reason" => reasons,
            "detail" => texts(&c.detail),
            "raw" => texts(&c.raw),
        }
        .map_err(|e| Error::polars("building the exceptions table")(e))
    }

    fn dictionary<'s>(
        &self,
        i: usize,
        keys: &[u32],
        values: impl ExactSizeIterator<Item = &'s str>,
    ) -> Vec<Page> {
        let values = values.map(str::as_bytes);
        pages::dictionary(&self.fields[i], keys, values, None).into()
    }

    /// The batch's row group: a column's pages each.
    fn pages(&self) -> Vec<Vec<Page>> {
        let c = &self.scratch;
        let sources = self.source_keys.used.iter();
        let sources = sources.map(|&s| self.sources[s as usize]);
        let reasons = self.reason_keys.used.iter();
        let reasons = reasons.map(|&r| Reason::ALL[r as usize].as_str());
        let f = &self.fields;
        vec![
            self.dictionary(0, &c.source, sources),
            c.supplier_id.page(&f[1]),
            c.product_id.page(&f[2]),
            vec![pages::integers(&f[3], &c.line, None)],
            c.field.page(&f[4]),
            self.dictionary(5, &c.reason, reasons),
            c.detail.page(&f[6]),
            c.raw.page(&f[7]),
        ]
    }
}

/// About how many bytes of text a batch of the exceptions table holds.
const BATCH_TEXT: usize = 32 << 20;

impl Batches for ExceptionTable<'_> {
    fn columns(&self) -> Result<DataFrame> {
        Ok(self.columns.clone())
    }

    fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<(usize, Vec<Vec<Page>>)>> {
        let rows = self.gather()?;
        if rows == 0 {
            return Ok(None);
        }
        if self.frames {
            let frame = self.frame()?;
            super::csv::write_frame(out, &frame, false, self.options).map_err(|message| {
                Error::Publish {
                    path: "exceptions.csv".into(),
                    message,
                }
            })?;
        } else {
            self.csv(out);
        }
        Ok(Some((rows, self.pages())))
    }
}
