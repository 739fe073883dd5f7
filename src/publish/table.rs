//! Tables → files: CSV (UTF-8, RFC 4180, `\n` line endings, ISO dates,
//! text neutralized against formula injection) and Parquet (zstd, exact
//! values) written in one pass, each hashed as it is written, past the
//! page cache.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use polars_parquet::parquet::page::Page;
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
    write: impl FnOnce(&mut dyn Write) -> std::result::Result<(), String>,
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

/// How a table's frames become its Parquet file's row groups (one per
/// frame).
pub enum RowGroups<'e> {
    /// polars' writer encodes each frame.
    Polars,
    /// The caller encodes each frame's pages (called with the frames in
    /// order); the file has the first frame's schema.
    Pages(&'e mut dyn FnMut(&DataFrame) -> PolarsResult<Vec<Vec<Page>>>),
}

/// The Parquet writer of one table, as [`RowGroups`] says.
enum Sink<'w, 'e> {
    Polars(polars::io::parquet::write::BatchedWriter<&'w mut dyn Write>),
    Pages(
        FileWriter<&'w mut dyn Write>,
        &'e mut dyn FnMut(&DataFrame) -> PolarsResult<Vec<Vec<Page>>>,
    ),
}

/// The published tables' Parquet compression: zstd at level 1.
fn zstd() -> PolarsResult<ZstdLevel> {
    ZstdLevel::try_new(1)
}

impl<'w, 'e> Sink<'w, 'e> {
    fn open(w: &'w mut dyn Write, first: &DataFrame, groups: RowGroups<'e>) -> PolarsResult<Self> {
        Ok(match groups {
            RowGroups::Polars => Sink::Polars(
                ParquetWriter::new(w)
                    .with_compression(ParquetCompression::Zstd(Some(zstd()?)))
                    .batched(first.schema())?,
            ),
            RowGroups::Pages(encode) => {
                let options = WriteOptions {
                    statistics: StatisticsOptions::default(),
                    compression: CompressionOptions::Zstd(Some(zstd()?)),
                    version: Version::V1,
                    data_page_size: None,
                };
                let schema = first.schema().to_arrow(CompatLevel::newest());
                Sink::Pages(FileWriter::try_new(w, schema, options)?, encode)
            }
        })
    }

    fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        match self {
            Sink::Polars(w) => w.write_batch(df),
            Sink::Pages(w, encode) => {
                let pages = parquet_pages::compress(encode(df)?, w.options().compression)?;
                parquet_pages::write_compressed(w, df.height(), pages)
            }
        }
    }

    fn finish(self) -> PolarsResult<()> {
        match self {
            Sink::Polars(w) => w.finish().map(|_| ()),
            Sink::Pages(mut w, _) => w.end(None).map(|_| ()),
        }
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
    write_table_stream(dir, name, df.height() as u64, o, frames, RowGroups::Polars)
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
    groups: RowGroups,
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
    write_table_stream(dir, name, rows as u64, o, frames, groups)
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
    groups: RowGroups,
) -> Result<Vec<OutputRecord>> {
    let mut parquet = None;
    let csv = write_file(dir, &format!("{name}.csv"), rows, |wc| {
        let rec = write_file(dir, &format!("{name}.parquet"), rows, |wp| {
            let mut groups = Some(groups);
            let mut sink = None;
            let mut first = true;
            while let Some(df) = next().map_err(|e| e.to_string())? {
                super::csv::write_frame(&mut *wc, &df, first, o)?;
                first = false;
                if let Some(groups) = groups.take() {
                    sink = Some(Sink::open(&mut *wp, &df, groups).map_err(|e| e.to_string())?);
                }
                let sink = sink.as_mut().expect("opened with the first frame");
                if df.height() > 0 {
                    sink.write(&df).map_err(|e| e.to_string())?;
                }
            }
            let sink = sink.ok_or("no rows and no schema to write")?;
            sink.finish().map_err(|e| e.to_string())
        })
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
