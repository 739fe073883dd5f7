//! Bytes + dialect → a header and a stream of records of text cells, each
//! with the line where it starts and its raw text.
//!
//! Readers never interpret values (that is [`super::values`]); they only
//! split records and report the ones that cannot be split (a ragged CSV
//! row, a broken NDJSON line, a row with invalid UTF-8, a record longer
//! than the source's `max_record_bytes`). Typed cells from binary formats
//! (Excel dates, Parquet timestamps) are passed through as typed values so
//! no format has to be guessed for them.
//!
//! Every format is read as a stream from its file, whatever the file's
//! size: memory follows the caps (`max_record_bytes`, the chunk size, a
//! Parquet slice, an XLSX workbook's shared strings), never the input. One
//! file per format: [`csv`], [`json`] (arrays and NDJSON), [`parquet`],
//! [`xlsx`]; [`decode`] turns bytes into UTF-8 text.

mod csv;
pub mod decode;
mod flat_json;
mod json;
mod parquet;
mod xlsx;

use crate::error::{Action, Problem};
use std::io::{Cursor, Read};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime};

pub use self::csv::{CHUNK, FieldCells};
pub use self::parquet::{GroupRows, ParquetFile};
use crate::model::Reason;
use crate::pipeline::{Dialect, Format};
use crate::sys::direct::DirectFile;

/// One cell, borrowed from the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// Text as written; numbers in it follow the feed's number dialect.
    Text(&'a str),
    /// A number written by a machine (JSON, Parquet, XLSX): `.` decimal,
    /// no grouping.
    Number(&'a str),
    /// A whole number of a typed column (Parquet's integers, XLSX's
    /// integer cells): never text to parse.
    Int(i64),
    /// A wall-clock date and time without an offset (Excel dates).
    DateTime(NaiveDateTime),
    /// An instant, microseconds since the epoch (UTC).
    Instant(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum OwnedCell {
    Null,
    Text(String),
    Number(String),
    Int(i64),
    DateTime(NaiveDateTime),
    Instant(i64),
}

impl OwnedCell {
    fn as_cell(&self) -> Cell<'_> {
        match self {
            OwnedCell::Null => Cell::Null,
            OwnedCell::Text(s) => Cell::Text(s),
            OwnedCell::Number(s) => Cell::Number(s),
            OwnedCell::Int(i) => Cell::Int(*i),
            OwnedCell::DateTime(d) => Cell::DateTime(*d),
            OwnedCell::Instant(i) => Cell::Instant(*i),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            OwnedCell::Null => serde_json::Value::Null,
            OwnedCell::Text(s) => serde_json::Value::String(s.clone()),
            OwnedCell::Number(s) => {
                serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
            }
            OwnedCell::Int(i) => serde_json::Value::from(*i),
            OwnedCell::DateTime(d) => {
                serde_json::Value::String(d.format("%Y-%m-%dT%H:%M:%S").to_string())
            }
            OwnedCell::Instant(i) => serde_json::Value::String(
                DateTime::from_timestamp_micros(*i)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default(),
            ),
        }
    }

    fn is_blank(&self) -> bool {
        match self {
            OwnedCell::Null => true,
            OwnedCell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// The cells of one record, by header position.
pub trait Cells {
    fn get(&self, i: usize) -> Cell<'_>;
}

struct OwnedCells<'a>(&'a [OwnedCell]);

impl Cells for OwnedCells<'_> {
    fn get(&self, i: usize) -> Cell<'_> {
        self.0.get(i).map_or(Cell::Null, OwnedCell::as_cell)
    }
}

/// How many lines ahead [`Visitor::upcoming`] looks.
pub const LOOKAHEAD: usize = 4;

/// Receives what a reader finds.
pub trait Visitor {
    /// The header, once, before any record. An error fails the source.
    fn header(&mut self, names: &[String]) -> Result<(), Problem>;
    /// One record whose cells line up with the header.
    fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells);
    /// The same, with where the record's raw text starts in the decoded
    /// feed (CSV and NDJSON), so it can be read back later without a
    /// reparse.
    fn record_at(&mut self, line: u64, _offset: u64, raw: &str, cells: &dyn Cells) {
        self.record(line, raw, cells)
    }
    /// The same for a CSV record, with its concrete cells: a visitor that
    /// reads millions of them can check fields without a virtual call
    /// each.
    fn csv_record(&mut self, line: u64, offset: u64, raw: &str, cells: &FieldCells<'_>) {
        self.record_at(line, offset, raw, cells)
    }
    /// One record of a binary format (Parquet, XLSX), whose raw text, a
    /// JSON object, is made only when asked for (`raw`): most records are
    /// never quoted.
    fn record_made(&mut self, line: u64, raw: &dyn Fn() -> String, cells: &dyn Cells) {
        self.record(line, &raw(), cells)
    }
    /// One record that cannot be read as cells.
    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String);
    /// The raw bytes of the line [`LOOKAHEAD`] lines after the record
    /// about to be visited and where its delimiters are (`delims`, offsets
    /// into `line`; CSV only; quotes not taken into account, maybe not even
    /// a whole record; as a rule each line once, in order), so a visitor
    /// can start fetching from memory what that record will need while it
    /// works on the ones before. A hint only: it must not change what is
    /// read.
    fn upcoming(&mut self, _line: &[u8], _delims: &[u32]) {}
    /// The same hint from a reader that holds decoded records ahead
    /// (Parquet): the cells of the record [`LOOKAHEAD`] records after the
    /// one about to be visited.
    fn upcoming_cells(&mut self, _cells: &dyn Cells) {}
}

/// Where a chunk of records starts: its first line's number and its
/// offset in the decoded feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub line: u64,
    pub offset: u64,
}

/// Where a feed read on one thread goes when its records are parsed
/// elsewhere: its header, then its records in chunks of whole records,
/// and the records the reader itself finds broken (longer than the cap),
/// all in file order. [`parse_chunk`] parses a chunk, on any thread.
pub trait Chunks {
    /// The header, once, before anything else. An error fails the source.
    fn header(&mut self, names: &[String]) -> Result<(), Problem>;
    /// How many bytes of the feed's first records a header may be
    /// guessed from ([`Chunks::guessed_header`]); `None`, the default:
    /// no guess.
    fn guess_bytes(&self) -> Option<u64> {
        None
    }
    /// A header guessed from the feed's first records (NDJSON names its
    /// columns record by record), offered before [`Chunks::header`]:
    /// `true` takes it as the header, and the taker then learns the names
    /// the rest holds from [`parse_chunk`], chunk by chunk (and stops the
    /// read if they change what the guess meant); `false`, the default,
    /// asks for the whole feed's header.
    fn guessed_header(&mut self, names: &[String]) -> Result<bool, Problem> {
        let _ = names;
        Ok(false)
    }
    /// Whole records starting at `at`. An error stops the read.
    fn records(&mut self, body: &[u8], at: At) -> Result<(), Problem>;
    /// [`Chunks::records`] of a body the reader gives up: it is left
    /// empty (perhaps another buffer, with room for a chunk), so a taker
    /// that keeps chunks need not copy them.
    fn records_owned(&mut self, body: &mut Vec<u8>, at: At) -> Result<(), Problem> {
        let done = self.records(body, at);
        body.clear();
        done
    }
    /// One record that cannot be read as cells.
    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String);
    /// Rows of row groups of a Parquet file, the first of them at line
    /// `line`, to be read by [`ParquetFile::visit`].
    fn row_groups(
        &mut self,
        file: std::sync::Arc<ParquetFile>,
        parts: Vec<GroupRows>,
        line: u64,
    ) -> Result<(), Problem>;
}

/// How much of an over-long record's text the exceptions table keeps.
pub const RAW_PREVIEW: usize = 4096;

/// The exception of a record longer than `max_record_bytes`: its first
/// [`RAW_PREVIEW`] bytes as text, and the words saying so.
fn oversized(bytes: &[u8], len: u64, cap: u64) -> (String, String) {
    let mut head = &bytes[..bytes.len().min(RAW_PREVIEW)];
    // Not half a character at the cut.
    if let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_none()
    {
        head = &head[..e.valid_up_to()];
    }
    let mut raw = String::from_utf8_lossy(head).into_owned();
    if len > head.len() as u64 {
        raw.push('…');
    }
    let detail = format!(
        "the record is {len} bytes long, more than max_record_bytes = {cap}; only its first {RAW_PREVIEW} bytes are kept"
    );
    (raw, detail)
}

/// The most columns a header may name (Excel's own limit): a wider one
/// is refused rather than held.
pub const MAX_COLUMNS: usize = 16_384;

/// Where a feed's bytes are. Some readers go through a feed twice (JSON
/// finds its header first), so this can be opened again.
#[derive(Debug, Clone, Copy)]
pub enum Bytes<'a> {
    /// A file, and what reading it is (the raw copy, or a local source).
    File(&'a Path, Action),
    Memory(&'a [u8]),
}

impl<'a> Bytes<'a> {
    fn open(self) -> Result<Box<dyn Read + 'a>, Problem> {
        Ok(match self {
            Bytes::File(p, action) => Box::new(decode::named(
                std::fs::File::open(p).map_err(Problem::io(action, p))?,
                action,
                p,
            )),
            Bytes::Memory(b) => Box::new(Cursor::new(b)),
        })
    }

    fn is_empty(self) -> Result<bool, Problem> {
        Ok(match self {
            Bytes::File(p, action) => {
                std::fs::metadata(p).map_err(Problem::io(action, p))?.len() == 0
            }
            Bytes::Memory(b) => b.is_empty(),
        })
    }

    /// Decompressed (when the dialect says gzip), at most `max_bytes`.
    fn plain(self, dialect: &Dialect) -> Result<Box<dyn Read + 'a>, Problem> {
        let raw = self.open()?;
        Ok(if dialect.gzip {
            Box::new(decode::gunzip(raw, dialect.max_bytes))
        } else {
            raw
        })
    }

    /// The feed's text as UTF-8, decompressed and decoded.
    fn text(self, dialect: &Dialect) -> Result<Box<dyn Read + 'a>, Problem> {
        Ok(decode::utf8(self.plain(dialect)?, dialect.encoding))
    }
}

/// Reads a whole feed held in memory. An `Err` fails the source with that
/// message.
pub fn read(bytes: &[u8], dialect: &Dialect, visitor: &mut dyn Visitor) -> Result<(), Problem> {
    read_bytes(Bytes::Memory(bytes), dialect, visitor)
}

fn read_bytes(
    bytes: Bytes<'_>,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<(), Problem> {
    if bytes.is_empty()? {
        return Err(Problem::Empty { after_gzip: false });
    }
    match dialect.format {
        Format::Csv => {
            let mut text = bytes.text(dialect)?;
            csv::stream(&mut text, dialect, visitor, dialect.gzip)
        }
        Format::Json => json::read_array(&|| bytes.text(dialect), dialect, visitor),
        Format::Ndjson => json::read_lines(&|| bytes.text(dialect), dialect, visitor),
        Format::Parquet | Format::Xlsx => {
            // Both need to seek: a gzip-compressed one is inflated into an
            // anonymous temporary file first (never into memory).
            let spooled;
            let file: &Path = match bytes {
                Bytes::File(p, _) if !dialect.gzip => p,
                _ => {
                    spooled = spool(bytes, dialect)?;
                    spooled.path()
                }
            };
            if dialect.format == Format::Parquet {
                parquet::read(file, visitor)
            } else {
                xlsx::read(file, dialect, visitor)
            }
        }
    }
}

/// The feed's (decompressed) bytes in a temporary file.
fn spool(bytes: Bytes<'_>, dialect: &Dialect) -> Result<tempfile::NamedTempFile, Problem> {
    let mut tmp = tempfile::NamedTempFile::new()
        .map_err(|e| Problem::Internal(format!("cannot make a temporary file: {e}")))?;
    let n =
        std::io::copy(&mut bytes.plain(dialect)?, tmp.as_file_mut()).map_err(decode::carried)?;
    if n == 0 {
        return Err(Problem::Empty { after_gzip: true });
    }
    Ok(tmp)
}

/// Whether a feed can be read in chunks of whole records
/// ([`read_file_chunked`]) and its chunks parsed on any thread
/// ([`parse_chunk`]): CSV (its records' ends found by the CSV reader's
/// state machine), NDJSON (one record per line), and Parquet (rows of
/// row groups, [`ParquetFile::visit`]).
pub fn in_chunks(dialect: &Dialect) -> bool {
    match dialect.format {
        Format::Csv | Format::Ndjson => true,
        // Row groups, read from the file itself (not a gzip's inflated copy).
        Format::Parquet => !dialect.gzip,
        Format::Json | Format::Xlsx => false,
    }
}

/// Whether a feed of `bytes` bytes may be read with a header guessed
/// from its first `guess_bytes` ([`Chunks::guessed_header`]): a larger
/// NDJSON feed, whose header is otherwise a pass over the whole feed
/// before any record.
pub fn guesses_header(dialect: &Dialect, bytes: u64, guess_bytes: u64) -> bool {
    dialect.format == Format::Ndjson && bytes > guess_bytes
}

/// Parses one chunk of whole records of a feed read by
/// [`read_file_chunked`], given the feed's header; gives back the names
/// its records hold that the header lacks (only a guessed header lacks
/// any, see [`Chunks::guessed_header`]).
pub fn parse_chunk(
    dialect: &Dialect,
    header: &[String],
    body: &[u8],
    at: At,
    visitor: &mut dyn Visitor,
) -> Result<Vec<String>, Problem> {
    match dialect.format {
        Format::Ndjson => Ok(json::parse_lines(header, body, at, visitor)),
        _ => csv::parse_records(dialect, header.len(), body, at, visitor).map(|()| Vec::new()),
    }
}

/// Whether [`read_file`] copies a local source while reading it (CSV, in
/// any encoding, plain or gzip: read once, front to back) rather than
/// reading a copy made beforehand.
pub fn streams(dialect: &Dialect) -> bool {
    dialect.format == Format::Csv
}

/// The file a feed is read from.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Its raw copy, already on disk.
    Copy(&'a std::path::Path),
    /// A local source file not yet copied: every byte read is also written
    /// to its raw copy `to`, so the copy, the hash and the staged rows come
    /// from the same single read (a streamed feed only; see [`streams`]).
    Tee {
        from: &'a std::path::Path,
        to: &'a std::path::Path,
    },
}

/// What [`read_file`] read: the file's size and sha256, computed from the
/// bytes as they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    pub bytes: u64,
    pub sha256: String,
    /// For [`Input::Tee`]: the source file as it was when read.
    pub source: Option<Stamp>,
}

/// A file's identity, size and modification time: the same stamp later
/// means the same bytes (short of deliberate tampering), so what staging
/// read can be read again from the source instead of its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    id: (u64, u64),
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            id,
        }
    }

    /// Whether `path` still has this stamp.
    pub fn matches(&self, path: &std::path::Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| Stamp::of(&m) == *self)
    }
}

/// Reads a feed from a file. CSV is streamed (and, for [`Input::Tee`],
/// copied) in one pass that also hashes it; other formats are hashed (and
/// copied) beside their reader, which reads the file again (see [`read_whole`]).
/// The whole file is read (and copied) even when staging stops early.
pub fn read_file(
    input: Input<'_>,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<FileRead, Problem> {
    read_into(input, dialect, Target::Visitor(visitor))
}

/// Reads a feed that can be read in chunks (see [`in_chunks`]) from a
/// file as [`read_file`] does, but hands its records on in chunks of about
/// `chunk` bytes, to be parsed elsewhere ([`parse_chunk`]).
pub fn read_file_chunked(
    input: Input<'_>,
    dialect: &Dialect,
    chunks: &mut dyn Chunks,
    chunk: usize,
) -> Result<FileRead, Problem> {
    assert!(
        in_chunks(dialect),
        "a feed read in chunks is CSV, NDJSON or Parquet"
    );
    read_into(input, dialect, Target::Chunks(chunks, chunk))
}

/// Where a file's records go: parsed here, or handed on in chunks.
enum Target<'v> {
    Visitor(&'v mut dyn Visitor),
    Chunks(&'v mut dyn Chunks, usize),
}

fn read_into(input: Input<'_>, dialect: &Dialect, target: Target<'_>) -> Result<FileRead, Problem> {
    let (path, copy_to) = match input {
        Input::Copy(path) => (path, None),
        Input::Tee { from, to } => (from, Some(to)),
    };
    let (mut input, stamp) = open_hashing(path, copy_to, dialect)?;
    if !streams(dialect) {
        return read_whole(input, (path, copy_to), stamp, dialect, target);
    }
    let staged = {
        let mut text: Box<dyn Read> = if dialect.gzip {
            decode::utf8(
                decode::gunzip(&mut input, dialect.max_bytes),
                dialect.encoding,
            )
        } else {
            decode::utf8(&mut input, dialect.encoding)
        };
        match target {
            Target::Visitor(visitor) => csv::stream(&mut text, dialect, visitor, dialect.gzip),
            Target::Chunks(chunks, size) => {
                csv::stream_chunked(&mut text, dialect, chunks, dialect.gzip, size)
            }
        }
    };
    // The rest of the file still belongs to its hash and its copy.
    let (copied, read) = input.finish(copy_to);
    copied?;
    staged?;
    let (bytes, sha256) = read?;
    // Changed while it was read: not the bytes the copy holds.
    let source = stamp.filter(|s| s.matches(path));
    Ok(FileRead {
        bytes,
        sha256,
        source,
    })
}

/// The file a feed is read from (a local source, copied as it is read, or
/// the raw copy), opened through its hash, and the source's stamp.
fn open_hashing<'p>(
    path: &'p Path,
    copy_to: Option<&Path>,
    dialect: &Dialect,
) -> Result<(Hashing<impl Read + use<'p>>, Option<Stamp>), Problem> {
    let action = reading(copy_to);
    let (file, meta) = match copy_to {
        Some(_) => crate::sys::files::open_regular(path, dialect.max_bytes)?,
        None => {
            let f = std::fs::File::open(path).map_err(Problem::io(action, path))?;
            let m = f.metadata().map_err(Problem::io(action, path))?;
            (f, m)
        }
    };
    let copy = match copy_to {
        Some(to) => Some(DirectFile::create(to).map_err(Problem::io(Action::Write, to))?),
        None => None,
    };
    if meta.len() == 0 {
        return Err(Problem::Empty { after_gzip: false });
    }
    let stamp = copy_to.map(|_| Stamp::of(&meta));
    let input = Hashing {
        // A file that grows while it is read stops at the cap too.
        inner: decode::named(
            decode::Capped::new(file, dialect.max_bytes, "the file"),
            action,
            path,
        ),
        hash: crate::sys::files::Hasher::default(),
        copy,
        copy_error: None,
    };
    Ok((input, stamp))
}

/// What reading a feed's file is, for its errors: a local source (to be
/// copied as it is read) or its raw copy.
fn reading(copy_to: Option<&Path>) -> Action {
    if copy_to.is_some() {
        Action::Read
    } else {
        Action::ReadCopy
    }
}

/// A feed that is not streamed (NDJSON, JSON, Parquet, XLSX): hashed (and
/// copied) on a thread of its own while its format reads it, as many
/// times as it needs, from the same file: the local source, whose pages
/// the first of the two readers brings into the page cache for the other
/// (the copy is written past the cache), or the raw copy. The hash pass
/// is serial and so is a reader's own pass (NDJSON's header, a Parquet
/// file's footer): side by side they take the time of the longer, not of
/// both. A source that changed meanwhile fails: the rows read would not
/// be the bytes the copy and the hash hold.
fn read_whole(
    input: Hashing<impl Read + Send>,
    (path, copy_to): (&Path, Option<&Path>),
    stamp: Option<Stamp>,
    dialect: &Dialect,
    target: Target<'_>,
) -> Result<FileRead, Problem> {
    let file = Bytes::File(path, reading(copy_to));
    let (hashed, staged) = std::thread::scope(|s| {
        let hashing = s.spawn(|| input.finish(copy_to));
        let staged = match target {
            Target::Visitor(visitor) => read_bytes(file, dialect, visitor),
            // Not empty: `open_hashing` refused a 0-byte file.
            Target::Chunks(chunks, size) if dialect.format == Format::Parquet => {
                parquet::read_groups(path, chunks, size)
            }
            Target::Chunks(chunks, size) => {
                json::read_lines_chunked(&|| file.text(dialect), dialect, chunks, size)
            }
        };
        let hashed = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (hashed, staged)
    });
    // What the hash pass found comes first: a file that cannot be read to
    // its end, or copied, fails as such whatever its reader made of it.
    let (copied, read) = hashed;
    copied?;
    let (bytes, sha256) = read?;
    staged?;
    if let Some(stamp) = &stamp
        && !stamp.matches(path)
    {
        return Err(Problem::io(Action::Read, path)(std::io::Error::other(
            "it changed while it was read (its size, time or identity differ from when it was copied)",
        )));
    }
    Ok(FileRead {
        bytes,
        sha256,
        source: stamp,
    })
}

/// Hashes what is read through it and, given a copy, writes it there.
struct Hashing<R> {
    inner: R,
    hash: crate::sys::files::Hasher,
    copy: Option<DirectFile>,
    /// A failed write to the copy (reported as such, not as a read error).
    copy_error: Option<std::io::Error>,
}

impl<R: Read> Hashing<R> {
    /// Reads the rest of the file (it belongs to the hash and the copy
    /// even when its reader stopped early) and finishes the copy: whether
    /// the copy was written, and the file's size and sha256 (or why it
    /// could not be read to its end).
    fn finish(
        mut self,
        copy_to: Option<&Path>,
    ) -> (Result<(), Problem>, Result<(u64, String), Problem>) {
        let rest = self.drain();
        let copied = match (self.copy_error.take(), self.copy.take(), copy_to) {
            (Some(e), _, Some(to)) => Err(Problem::io(Action::Write, to)(e)),
            (None, Some(copy), Some(to)) => copy
                .finish()
                .map(drop)
                .map_err(Problem::io(Action::Write, to)),
            _ => Ok(()),
        };
        let read = rest
            .map(|_| (self.hash.bytes, self.hash.hex()))
            .map_err(decode::carried);
        (copied, read)
    }

    /// Reads the rest of the file into the hash and the copy: straight
    /// into the copy's blocks when there is one, else through a buffer
    /// large enough not to make a read call per 8 KiB (`std::io::copy`'s
    /// buffer; the hash pass of a 1 GB feed made 130,000 of them).
    fn drain(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        loop {
            let read = match &mut self.copy {
                Some(copy) => match copy.read_from(&mut self.inner, |b| self.hash.update(b)) {
                    Ok(read) => read,
                    Err(e) => return Err(self.copy_failed(e)),
                },
                None => {
                    buf.resize(1 << 20, 0);
                    self.read(&mut buf)
                }
            };
            match read {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Keeps the copy's failed write (reported as such by `finish`) and
    /// gives the error the reading stops with.
    fn copy_failed(&mut self, e: std::io::Error) -> std::io::Error {
        let shown = std::io::Error::new(e.kind(), "the raw copy cannot be written");
        self.copy_error = Some(e);
        shown
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        if let Some(f) = &mut self.copy
            && let Err(e) = std::io::Write::write_all(f, &buf[..n])
        {
            return Err(self.copy_failed(e));
        }
        Ok(n)
    }
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && (b[end - 1] == b'\n' || b[end - 1] == b'\r') {
        end -= 1;
    }
    &b[..end]
}

/// Renders a record of a binary format as a JSON object, for the
/// exceptions table's raw column.
/// A record of a format without raw text (Parquet) as one JSON object,
/// written as serde_json writes a map of its cells ([`OwnedCell::to_json`]):
/// keys in sorted order, a repeated name with its last cell, no spaces.
/// Written straight from the cells: no map, no owned cells.
fn raw_object(header: &[String], cells: &dyn Cells) -> String {
    let mut order: Vec<usize> = (0..header.len()).collect();
    // Stable: of equal names, the last in the header is the last of its run.
    order.sort_by(|&a, &b| header[a].cmp(&header[b]));
    let mut out = Vec::with_capacity(32 * header.len());
    out.push(b'{');
    for (k, &i) in order.iter().enumerate() {
        if order.get(k + 1).is_some_and(|&j| header[j] == header[i]) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        json_string(&mut out, &header[i]);
        out.push(b':');
        json_cell(&mut out, cells.get(i));
    }
    out.push(b'}');
    String::from_utf8(out).expect("JSON text is UTF-8")
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("a string serializes into memory");
}

/// A cell as [`OwnedCell::to_json`] serializes it.
fn json_cell(out: &mut Vec<u8>, cell: Cell) {
    match cell {
        Cell::Null => out.extend_from_slice(b"null"),
        Cell::Text(s) => json_string(out, s),
        // An integer as JSON writes it: as it is.
        Cell::Number(s) if plain_integer(s) => out.extend_from_slice(s.as_bytes()),
        Cell::Number(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(v) => serde_json::to_writer(out, &v).expect("a value serializes into memory"),
            Err(_) => json_string(out, s),
        },
        Cell::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Cell::DateTime(d) => json_string(out, &d.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Cell::Instant(i) => json_string(
            out,
            &DateTime::from_timestamp_micros(i)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default(),
        ),
    }
}

/// An integer that JSON reads and writes back unchanged: digits, no
/// leading zero, an optional minus (not on zero), at most 18 digits.
fn plain_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    matches!(digits.first(), Some(b'1'..=b'9'))
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        || s == "0"
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written as JSON straight from their cells read as the map
    /// of their owned cells writes them: repeated and escaped names,
    /// numbers JSON writes back otherwise (or cannot read), dates.
    #[test]
    fn raw_objects_are_the_maps_of_their_cells() {
        let mut rng = fastrand::Rng::with_seed(19);
        let names = ["sku", "qty", "as_of", "note", "qty", "a\"b", "Ä", ""];
        let numbers = [
            "0",
            "-0",
            "7",
            "-12",
            "007",
            "1.50",
            "1e3",
            "-2.5E-3",
            "123456789012345678",
            "1234567890123456789",
            "99999999999999999999",
            "12a",
            "",
            "-",
            "0.0",
        ];
        let texts = ["", "kopi", "line\nbreak", "quote \" and \\", "\u{1}", "é☕"];
        for _ in 0..5_000 {
            let n = rng.usize(0..=names.len());
            let header: Vec<String> = (0..n)
                .map(|_| names[rng.usize(..names.len())].into())
                .collect();
            let cells: Vec<OwnedCell> = (0..n)
                .map(|_| match rng.u8(0..6) {
                    0 => OwnedCell::Null,
                    1 => OwnedCell::Text(texts[rng.usize(..texts.len())].into()),
                    2 => OwnedCell::Number(numbers[rng.usize(..numbers.len())].into()),
                    3 => OwnedCell::DateTime(
                        chrono::DateTime::from_timestamp(rng.i64(0..4_000_000_000), 0)
                            .unwrap()
                            .naive_utc(),
                    ),
                    4 => OwnedCell::Int(match rng.u8(0..4) {
                        0 => i64::MIN,
                        1 => i64::MAX,
                        _ => rng.i64(..) >> rng.u32(0..64),
                    }),
                    _ => OwnedCell::Instant(rng.i64(-1_000_000_000_000..4_000_000_000_000_000)),
                })
                .collect();
            let mut map = serde_json::Map::new();
            for (h, c) in header.iter().zip(&cells) {
                map.insert(h.clone(), c.to_json());
            }
            let want = serde_json::Value::Object(map).to_string();
            let got = raw_object(&header, &OwnedCells(&cells));
            assert_eq!(got, want, "{header:?} {cells:?}");
        }
    }

    /// An integer cell's raw text is the one its digits made when
    /// integers were read as machine-written number text.
    #[test]
    fn integer_cells_write_what_their_digits_wrote() {
        let mut rng = fastrand::Rng::with_seed(7);
        let header = vec!["qty".to_string()];
        for i in [
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            10_i64.pow(18),
            -(10_i64.pow(18)),
        ]
        .into_iter()
        .chain((0..2_000).map(|_| rng.i64(..) >> rng.u32(0..64)))
        {
            let digits = i.to_string();
            let int = raw_object(&header, &OwnedCells(&[OwnedCell::Int(i)]));
            let text = raw_object(&header, &OwnedCells(&[OwnedCell::Number(digits)]));
            assert_eq!(int, text, "{i}");
        }
    }

    /// A stamp matches its file until the file changes or is replaced.
    #[test]
    fn a_stamp_tells_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let stamp = Stamp::of(&std::fs::metadata(&path).unwrap());
        assert!(stamp.matches(&path));
        // Same size, later time.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(&path, "a,b\n3,4\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(!stamp.matches(&path));
        // Replaced by another file (same bytes, same time).
        let stamp = Stamp::of(&std::fs::metadata(&path).unwrap());
        let other = dir.path().join("other.csv");
        std::fs::copy(&path, &other).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(later)
            .unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!stamp.matches(&path));
        std::fs::remove_file(&path).unwrap();
        assert!(!stamp.matches(&path));
    }

    /// Counts records; rewrites `source` when it hears the header (after
    /// the copy, before the records), when told to.
    struct Rewrites<'p> {
        source: Option<&'p Path>,
        records: usize,
    }

    impl Visitor for Rewrites<'_> {
        fn header(&mut self, _: &[String]) -> Result<(), Problem> {
            if let Some(p) = self.source.take() {
                std::fs::write(p, "{\"a\": 9}\n").unwrap();
            }
            Ok(())
        }
        fn record(&mut self, _: u64, _: &str, _: &dyn Cells) {
            self.records += 1;
        }
        fn broken(&mut self, _: u64, _: &str, _: Reason, _: String) {}
    }

    /// An NDJSON source is copied and hashed beside its reader, which
    /// reads the source itself while it is unchanged; one that changes
    /// while it is read fails, naming the file.
    #[test]
    fn a_feed_read_twice_fails_when_its_source_changes_between() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("feed.ndjson"), dir.path().join("copy"));
        let text = "{\"a\": 1}\n{\"a\": 2}\n";
        let dialect = Dialect::default_for(Format::Ndjson, false);
        let read = |rewrite: bool| {
            std::fs::write(&from, text).unwrap();
            let mut v = Rewrites {
                source: rewrite.then_some(from.as_path()),
                records: 0,
            };
            let input = Input::Tee {
                from: &from,
                to: &to,
            };
            (read_file(input, &dialect, &mut v), v.records)
        };
        let (ok, records) = read(false);
        let ok = ok.unwrap();
        assert_eq!(records, 2);
        assert_eq!(std::fs::read_to_string(&to).unwrap(), text);
        assert_eq!(ok.bytes, text.len() as u64);
        assert!(ok.source.is_some(), "unchanged: read back from the source");
        let (failed, _) = read(true);
        let message = failed.unwrap_err().to_string();
        assert!(
            message.contains("changed while it was read") && message.contains("feed.ndjson"),
            "{message}"
        );
    }
}
