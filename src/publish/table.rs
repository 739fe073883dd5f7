//! Tables → files: CSV (UTF-8, RFC 4180, `\n` line endings, ISO dates,
//! text neutralized against formula injection) and Parquet (zstd, exact
//! values) written in one pass, each hashed as it is written, past the
//! page cache.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use polars_parquet::parquet::page::Page;
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::write::{
    CompressionOptions, FileWriter, StatisticsOptions, Version, WriteOptions, ZstdLevel,
};

use crate::error::{Error, Result};
use crate::sys::direct::DirectFile;
use crate::sys::files::Hasher;
use crate::sys::parquet_pages;
use crate::workdir::manifest::OutputRecord;

fn publish_err(path: &Path) -> impl FnOnce(String) -> Error + '_ {
    move |message| Error::Publish {
        path: path.to_path_buf(),
        message,
    }
}

/// The Parquet fields of a table written from its rows: `columns` (the
/// frame path's table, without rows) must hold `want`, in order, so the
/// row writer's columns and the reference frames' are one schema.
pub fn row_fields(columns: &DataFrame, want: &[&str], table: &str) -> Result<Vec<PrimitiveType>> {
    let names: Vec<&str> = columns
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    if names != want {
        return Err(Error::polars(format!("encoding the {table} table"))(
            polars_err!(SchemaMismatch: "{table} table columns {names:?}"),
        ));
    }
    Ok(parquet_pages::fields(
        &columns.schema().to_arrow(CompatLevel::newest()),
    ))
}

/// A writer that hashes what it writes.
struct Hashing<W: Write> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(super) fn write_file(
    dir: &Path,
    name: &str,
    rows: u64,
    write: impl FnOnce(&mut (dyn Write + Send)) -> std::result::Result<(), String>,
) -> Result<OutputRecord> {
    let path = dir.join(name);
    // Past the page cache: the file is synced before it is published
    // anyway, and a buffered write would cost a copy into the cache first.
    let file = DirectFile::create(&path).map_err(|e| publish_err(&path)(e.to_string()))?;
    let mut w = Hashing {
        inner: file,
        hasher: Hasher::default(),
    };
    write(&mut w).map_err(publish_err(&path))?;
    let Hashing { inner, hasher } = w;
    let file = inner
        .finish()
        .map_err(|e| publish_err(&path)(e.to_string()))?;
    file.sync_all()
        .map_err(|e| publish_err(&path)(e.to_string()))?;
    Ok(OutputRecord {
        name: name.to_string(),
        rows,
        bytes: hasher.bytes,
        sha256: hasher.hex(),
    })
}

/// A text cell that a spreadsheet would run as a formula gets a leading
/// `'`, as OWASP recommends for CSV injection: `=`, `+`, `-`, `@`, tab and
/// carriage return. Numeric columns are numbers and keep their sign.
pub fn neutralize(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().next().is_some_and(formula_start) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A first byte that makes a spreadsheet read a cell as a formula.
pub fn formula_start(b: u8) -> bool {
    matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

/// The published tables' Parquet compression: zstd at level 1.
fn zstd() -> PolarsResult<ZstdLevel> {
    ZstdLevel::try_new(1)
}

/// A table that encodes its own batches of rows, straight from what it
/// is made of (no frame): CSV rows, and a Parquet row group's pages.
pub trait Batches {
    /// The table's columns: a frame without rows, for the CSV header and
    /// the Parquet schema.
    fn columns(&self) -> Result<DataFrame>;

    /// Appends the next batch's CSV rows to `csv` and gives its number of
    /// rows and its row group's pages (a column's pages each); `None`
    /// after the last batch.
    fn next(&mut self, csv: &mut Vec<u8>) -> Result<Option<(usize, Vec<Vec<Page>>)>>;
}

/// Texts back to back, and where each ends.
#[derive(Default)]
pub struct Texts {
    all: String,
    ends: Vec<usize>,
}

impl Texts {
    pub fn push(&mut self, s: &str) {
        self.all.push_str(s);
        self.ends.push(self.all.len());
    }

    /// Adds the text `write` appends.
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.all);
        self.ends.push(self.all.len());
    }

    pub fn clear(&mut self) {
        self.all.clear();
        self.ends.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.ends.iter().scan(0, move |start, &end| {
            Some(&self.all[std::mem::replace(start, end)..end])
        })
    }

    /// A plain-encoded Parquet page of these texts.
    pub fn page(&self, field: &PrimitiveType) -> Vec<Page> {
        let values = self.iter().map(str::as_bytes);
        vec![parquet_pages::strings(
            field,
            self.ends.len(),
            self.all.len(),
            values,
        )]
    }
}

/// Writes one table as CSV (UTF-8, RFC 4180, `\n` line endings, ISO dates,
/// text neutralized against formula injection) and Parquet (zstd, exact
/// values), returning both records.
pub fn write_table(
    dir: &Path,
    name: &str,
    df: &DataFrame,
    o: &crate::pipeline::OutputOptions,
) -> Result<Vec<OutputRecord>> {
    let mut whole = Some(df.clone());
    let frames = || Ok(whole.take());
    write_table_stream(dir, name, df.height() as u64, o, frames)
}

/// Writes a table of `rows` rows like [`write_table`],
/// building and writing it a batch of rows at a time (`frame` builds the
/// rows of a range), so a table of millions of rows is never whole in
/// memory.
pub fn write_table_batched(
    dir: &Path,
    name: &str,
    (rows, size): (usize, usize),
    frame: impl Fn(std::ops::Range<usize>) -> Result<DataFrame>,
    o: &crate::pipeline::OutputOptions,
) -> Result<Vec<OutputRecord>> {
    let size = size.max(1);
    let mut next = 0usize;
    // At least one (maybe empty) frame: it carries the header and schema.
    let mut done = false;
    let frames = || {
        if done {
            return Ok(None);
        }
        let r = next..(next + size).min(rows);
        next = r.end;
        done = next >= rows;
        frame(r).map(Some)
    };
    write_table_stream(dir, name, rows as u64, o, frames)
}

/// Writes CSV and Parquet in one pass from frames handed over by `next`
/// until it returns `None` (at least one frame, for the header and schema).
/// The CSV bytes are those of a single write of all rows; the Parquet file
/// has one row group per frame.
pub fn write_table_stream(
    dir: &Path,
    name: &str,
    rows: u64,
    o: &crate::pipeline::OutputOptions,
    mut next: impl FnMut() -> Result<Option<DataFrame>>,
) -> Result<Vec<OutputRecord>> {
    write_both(dir, name, rows, |wc, wp| {
        // Opened with the first frame's schema.
        let (mut wp, mut sink) = (Some(wp), None);
        let mut first = true;
        while let Some(df) = next().map_err(|e| e.to_string())? {
            super::csv::write_frame(&mut *wc, &df, first, o)?;
            first = false;
            let sink = match &mut sink {
                Some(sink) => sink,
                None => sink.insert(
                    ParquetWriter::new(wp.take().expect("opened once"))
                        .with_compression(ParquetCompression::Zstd(Some(zstd().map_err(message)?)))
                        .batched(df.schema())
                        .map_err(message)?,
                ),
            };
            if df.height() > 0 {
                sink.write_batch(&df).map_err(message)?;
            }
        }
        let sink = sink.ok_or("no rows and no schema to write")?;
        sink.finish().map(drop).map_err(message)
    })
}

/// Writes a table of `rows` rows that encodes its own batches
/// ([`Batches`]): the same CSV as [`write_table_stream`], and a Parquet
/// file of one row group per batch.
pub fn write_table_rows(
    dir: &Path,
    name: &str,
    rows: u64,
    o: &crate::pipeline::OutputOptions,
    batches: &mut dyn Batches,
) -> Result<Vec<OutputRecord>> {
    let columns = batches.columns()?;
    write_both(dir, name, rows, |wc, wp| {
        super::csv::write_frame(&mut *wc, &columns, true, o)?;
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            compression: CompressionOptions::Zstd(Some(zstd().map_err(message)?)),
            version: Version::V1,
            data_page_size: None,
        };
        let schema = columns.schema().to_arrow(CompatLevel::newest());
        let sink = FileWriter::try_new(&mut *wp, schema, options).map_err(message)?;
        // The row groups are compressed, written and hashed on a thread of
        // their own while the next batch is made: a table this size is the
        // last output still being written, with a core free beside it.
        std::thread::scope(|s| {
            let (groups, received) = std::sync::mpsc::sync_channel(1);
            let parquet = s.spawn(move || write_groups(sink, received, options.compression));
            let made = csv_and_groups(batches, wc, &groups);
            drop(groups);
            let written = parquet
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // A failed write stops the batches with a closed channel: its
            // own error is the one to report.
            written.and(made)
        })
    })
}

/// Writes each batch's CSV rows and hands its row group on, until the
/// last batch (or until the row groups' writer has stopped).
fn csv_and_groups(
    batches: &mut dyn Batches,
    wc: &mut (dyn Write + Send),
    groups: &std::sync::mpsc::SyncSender<(usize, Vec<Vec<Page>>)>,
) -> std::result::Result<(), String> {
    let mut csv = Vec::new();
    while let Some((height, pages)) = batches.next(&mut csv).map_err(|e| e.to_string())? {
        wc.write_all(&csv).map_err(message)?;
        csv.clear();
        if height > 0 && groups.send((height, pages)).is_err() {
            break;
        }
    }
    Ok(())
}

/// Compresses and writes the row groups handed over, then ends the file.
fn write_groups<W: Write>(
    mut sink: FileWriter<W>,
    groups: std::sync::mpsc::Receiver<(usize, Vec<Vec<Page>>)>,
    compression: CompressionOptions,
) -> std::result::Result<(), String> {
    for (height, pages) in groups {
        let pages = parquet_pages::compress(pages, compression).map_err(message)?;
        parquet_pages::write_compressed(&mut sink, height, pages).map_err(message)?;
    }
    sink.end(None).map(drop).map_err(message)
}

/// An error as the message a publish error carries.
fn message(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes `<name>.csv` and `<name>.parquet` side by side (`write` gets
/// both writers), hashing each; their records, CSV first.
fn write_both(
    dir: &Path,
    name: &str,
    rows: u64,
    write: impl FnOnce(
        &mut (dyn Write + Send),
        &mut (dyn Write + Send),
    ) -> std::result::Result<(), String>,
) -> Result<Vec<OutputRecord>> {
    let mut parquet = None;
    let csv = write_file(dir, &format!("{name}.csv"), rows, |wc| {
        let rec = write_file(dir, &format!("{name}.parquet"), rows, |wp| write(wc, wp))
            .map_err(|e| e.to_string())?;
        parquet = Some(rec);
        Ok(())
    })?;
    Ok(vec![csv, parquet.expect("written with the CSV")])
}

/// Writes `manifest.json`.
pub fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<OutputRecord> {
    write_file(dir, name, 0, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| e.to_string())?;
        w.write_all(b"\n").map_err(|e| e.to_string())
    })
}

/// Writes the XLSX workbook.
pub fn write_workbook(dir: &Path, name: &str, bytes: &[u8], rows: u64) -> Result<OutputRecord> {
    write_file(dir, name, rows, |w| {
        w.write_all(bytes).map_err(|e| e.to_string())
    })
}
