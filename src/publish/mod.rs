//! Publish: tables → files. Nothing is visible until everything succeeded.
//!
//! Layout of the output folder:
//!
//! ```text
//! <out>/latest -> runs/<date>/<run-id>     symlink, swapped atomically
//! <out>/runs/<date>/<run-id>/              one folder per successful run
//!     readiness.{csv,parquet}  supplier_readiness.{csv,parquet}
//!     exceptions.{csv,parquet}  manifest.json
//! <out>/.tmp/                              work in progress, never read
//! <out>/.lock                              held while a run is going
//! ```
//!
//! A run writes every file into `.tmp/`, syncs them, renames the folder
//! into `runs/`, and only then points `latest` at it with a rename of a
//! fresh symlink. A crash at any point leaves `latest` as it was.

pub mod atomic;
pub mod manifest;
pub mod staged;
pub mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One written file, as the manifest lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct OutputRecord {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

fn publish_err(path: &Path) -> impl FnOnce(String) -> Error + '_ {
    move |message| Error::Publish {
        path: path.to_path_buf(),
        message,
    }
}

/// A writer that hashes what it writes.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_file(
    dir: &Path,
    name: &str,
    rows: u64,
    write: impl FnOnce(&mut dyn Write) -> std::result::Result<(), String>,
) -> Result<OutputRecord> {
    let path = dir.join(name);
    let file = File::create(&path).map_err(|e| publish_err(&path)(e.to_string()))?;
    let mut w = Hashing {
        inner: BufWriter::new(file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    write(&mut w).map_err(publish_err(&path))?;
    w.flush().map_err(|e| publish_err(&path)(e.to_string()))?;
    let Hashing {
        inner,
        hasher,
        bytes,
    } = w;
    let file = inner
        .into_inner()
        .map_err(|e| publish_err(&path)(e.to_string()))?;
    file.sync_all()
        .map_err(|e| publish_err(&path)(e.to_string()))?;
    Ok(OutputRecord {
        name: name.to_string(),
        rows,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Writes one table as CSV (UTF-8, RFC 4180, `\n` line endings, ISO dates)
/// and Parquet (zstd), returning both records.
pub fn write_table(dir: &Path, name: &str, df: &DataFrame) -> Result<Vec<OutputRecord>> {
    let rows = df.height() as u64;
    let csv = write_file(dir, &format!("{name}.csv"), rows, |w| {
        let mut df = df.clone();
        CsvWriter::new(w)
            .include_header(true)
            .with_line_terminator("\n".into())
            .finish(&mut df)
            .map_err(|e| e.to_string())
    })?;
    let parquet = write_parquet(dir, &format!("{name}.parquet"), df)?;
    Ok(vec![csv, parquet])
}

/// Writes one frame as Parquet (zstd).
pub fn write_parquet(dir: &Path, name: &str, df: &DataFrame) -> Result<OutputRecord> {
    write_file(dir, name, df.height() as u64, |w| {
        let mut df = df.clone();
        ParquetWriter::new(w)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Writes `manifest.json`.
pub fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<OutputRecord> {
    write_file(dir, name, 0, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| e.to_string())?;
        w.write_all(b"\n").map_err(|e| e.to_string())
    })
}
