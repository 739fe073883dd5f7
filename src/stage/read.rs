//! Bytes + dialect → a header and a stream of records of text cells, each
//! with the line where it starts and its raw text.
//!
//! Readers never interpret values (that is [`super::values`]); they only
//! split records and report the ones that cannot be split (a ragged CSV
//! row, a broken NDJSON line, a row with invalid UTF-8). Typed cells from
//! binary formats (Excel dates, Parquet timestamps) are passed through as
//! typed values so no format has to be guessed for them.

use std::io::{Cursor, Read, Write};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::value::RawValue;

use super::exception::Reason;
use crate::pipeline::{Dialect, Encoding, Format};
use crate::workdir::direct::DirectFile;

/// One cell, borrowed from the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// Text as written; numbers in it follow the feed's number dialect.
    Text(&'a str),
    /// A number written by a machine (JSON, Parquet, XLSX): `.` decimal,
    /// no grouping.
    Number(&'a str),
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
    DateTime(NaiveDateTime),
    Instant(i64),
}

impl OwnedCell {
    fn as_cell(&self) -> Cell<'_> {
        match self {
            OwnedCell::Null => Cell::Null,
            OwnedCell::Text(s) => Cell::Text(s),
            OwnedCell::Number(s) => Cell::Number(s),
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
    fn header(&mut self, names: &[String]) -> Result<(), String>;
    /// One record whose cells line up with the header.
    fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells);
    /// The same, with where the record's raw text starts in the decoded
    /// feed (CSV only), so it can be read back later without a reparse.
    fn record_at(&mut self, line: u64, _offset: u64, raw: &str, cells: &dyn Cells) {
        self.record(line, raw, cells)
    }
    /// The same for a CSV record, with its concrete cells: a visitor that
    /// reads millions of them can check fields without a virtual call
    /// each.
    fn csv_record(&mut self, line: u64, offset: u64, raw: &str, cells: &FieldCells<'_>) {
        self.record_at(line, offset, raw, cells)
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
}

/// Reads a whole feed. An `Err` fails the source with that message.
pub fn read(bytes: &[u8], dialect: &Dialect, visitor: &mut dyn Visitor) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("the file is empty (0 bytes)".into());
    }
    let decompressed;
    let bytes = if dialect.gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(dialect.max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot decompress gzip (truncated or corrupt): {e}"))?;
        if out.len() as u64 > dialect.max_bytes {
            return Err(format!(
                "the decompressed body is more than max_bytes = {} bytes",
                dialect.max_bytes
            ));
        }
        if out.is_empty() {
            return Err("the file is empty (0 bytes after gzip)".into());
        }
        decompressed = out;
        &decompressed[..]
    } else {
        bytes
    };
    match dialect.format {
        Format::Parquet => return read_parquet(bytes, visitor),
        Format::Xlsx => return read_xlsx(bytes, dialect, visitor),
        _ => {}
    }
    let text = decode(bytes, dialect.encoding)?;
    match dialect.format {
        Format::Csv => read_csv(&text, dialect, visitor),
        Format::Json => read_json(
            std::str::from_utf8(&text)
                .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?,
            visitor,
        ),
        Format::Ndjson => read_ndjson(&text, visitor),
        Format::Parquet | Format::Xlsx => unreachable!("handled above"),
    }
}

/// Decodes text to UTF-8 bytes, dropping a byte-order mark. UTF-8 input is
/// returned as is (invalid sequences are found per record, so one bad row
/// does not fail the file).
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    use std::borrow::Cow;
    let utf16_bom = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
    match encoding {
        Encoding::Utf8 => {
            if utf16_bom {
                return Err(
                    "the file starts with a UTF-16 byte-order mark but the feed is declared utf-8; set `encoding = \"utf-16\"`"
                        .into(),
                );
            }
            Ok(Cow::Borrowed(
                bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
            ))
        }
        Encoding::Windows1252 => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            Ok(Cow::Owned(text.into_owned().into_bytes()))
        }
        Encoding::Latin1 => Ok(Cow::Owned(
            encoding_rs::mem::decode_latin1(bytes)
                .into_owned()
                .into_bytes(),
        )),
        Encoding::Utf16 => {
            let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) else {
                return Err("a utf-16 feed must start with a byte-order mark".into());
            };
            let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
            if had_errors {
                return Err("invalid UTF-16 in the file".into());
            }
            Ok(Cow::Owned(text.into_owned().into_bytes()))
        }
    }
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && (b[end - 1] == b'\n' || b[end - 1] == b'\r') {
        end -= 1;
    }
    &b[..end]
}

fn read_csv(text: &[u8], dialect: &Dialect, visitor: &mut dyn Visitor) -> Result<(), String> {
    let mut csv = CsvStream::new(dialect);
    let body = csv.skip_preamble(text)?;
    let skipped = text.len() - body.len();
    csv.offset = skipped as u64;
    csv.chunk(body, visitor)?;
    csv.finish()
}

/// How many bytes a streamed CSV feed is read in: records are parsed a
/// chunk at a time, so memory does not grow with the file.
const CHUNK: usize = 1 << 20;

/// Whether [`read_file`] streams a feed of this dialect (UTF-8 and
/// single-byte-encoded CSV, plain or gzip) rather than reading it whole.
pub fn streams(dialect: &Dialect) -> bool {
    dialect.format == Format::Csv
        && matches!(
            dialect.encoding,
            Encoding::Utf8 | Encoding::Windows1252 | Encoding::Latin1
        )
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
#[derive(Debug, Clone)]
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

/// Reads a feed from a file. UTF-8 and single-byte-encoded CSV (plain or
/// gzip) is streamed in chunks of whole records; other formats are read
/// whole (they are parsed as a whole anyway). The whole file is read (and
/// copied, for [`Input::Tee`]) even when staging stops early.
pub fn read_file(
    input: Input<'_>,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<FileRead, String> {
    let (path, copy_to) = match input {
        Input::Copy(path) => (path, None),
        Input::Tee { from, to } => (from, Some(to)),
    };
    let cannot = |e: std::io::Error| match copy_to {
        None => format!("cannot read the raw copy `{}`: {e}", path.display()),
        Some(_) => format!("cannot read `{}`: {e}", path.display()),
    };
    if !streams(dialect) {
        if let Some(to) = copy_to {
            std::fs::copy(path, to).map_err(cannot)?;
        }
        let bytes = std::fs::read(copy_to.unwrap_or(path)).map_err(cannot)?;
        let mut h = crate::fetch::Hasher::default();
        h.update(&bytes);
        read(&bytes, dialect, visitor)?;
        return Ok(FileRead {
            bytes: h.bytes,
            sha256: h.hex(),
            source: None,
        });
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let copy_err = |to: &std::path::Path, e: std::io::Error| {
        format!("cannot write the raw copy `{}`: {e}", to.display())
    };
    let copy = match copy_to {
        Some(to) => Some(DirectFile::create(to).map_err(|e| copy_err(to, e))?),
        None => None,
    };
    let meta = file.metadata().map_err(cannot)?;
    if meta.len() == 0 {
        return Err("the file is empty (0 bytes)".into());
    }
    let stamp = copy_to.map(|_| Stamp::of(&meta));
    let mut input = Hashing {
        inner: file,
        hash: crate::fetch::Hasher::default(),
        copy,
        copy_error: None,
    };
    let staged = stage_stream(&mut input, dialect, visitor);
    // The rest of the file still belongs to its hash and its copy.
    let rest = std::io::copy(&mut input, &mut std::io::sink());
    if let (Some(e), Some(to)) = (input.copy_error.take(), copy_to) {
        return Err(copy_err(to, e));
    }
    if let (Some(copy), Some(to)) = (input.copy.take(), copy_to) {
        copy.finish().map_err(|e| copy_err(to, e))?;
    }
    staged?;
    rest.map_err(cannot)?;
    // Changed while it was read: not the bytes the copy holds.
    let source = stamp.filter(|s| s.matches(path));
    Ok(FileRead {
        bytes: input.hash.bytes,
        sha256: input.hash.hex(),
        source,
    })
}

fn stage_stream(
    mut input: impl Read,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<(), String> {
    if dialect.gzip {
        let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(&mut input))
            .take(dialect.max_bytes.saturating_add(1));
        stream_csv(&mut gz, dialect, visitor, true, CHUNK)
    } else {
        stream_csv(&mut input, dialect, visitor, false, CHUNK)
    }
}

/// Hashes what is read through it and, given a copy, writes it there.
struct Hashing<R> {
    inner: R,
    hash: crate::fetch::Hasher,
    copy: Option<DirectFile>,
    /// A failed write to the copy (reported as such, not as a read error).
    copy_error: Option<std::io::Error>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        if let Some(f) = &mut self.copy
            && let Err(e) = f.write_all(&buf[..n])
        {
            let shown = std::io::Error::new(e.kind(), "the raw copy cannot be written");
            self.copy_error = Some(e);
            return Err(shown);
        }
        Ok(n)
    }
}

thread_local! {
    /// The read buffer of [`stream_csv`], from the last feed this thread
    /// read.
    static READ_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn stream_csv(
    input: &mut impl Read,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
    gzip: bool,
    chunk: usize,
) -> Result<(), String> {
    let read_err = |e: std::io::Error| {
        if gzip {
            format!("cannot decompress gzip (truncated or corrupt): {e}")
        } else {
            format!("cannot read the file: {e}")
        }
    };
    let mut csv = CsvStream::new(dialect);
    // Zeroed once: reads land in `buf[filled..]`, and the bytes kept
    // after a chunk move to the front (a buffer truncated and grown again
    // would zero every byte before each read). Kept from one feed to the
    // next on this thread: a new one is memory the system must zero page
    // by page. Bytes past `filled` (left from an earlier feed) are never
    // read.
    let size = chunk + (chunk >> 2);
    let mut buf: Vec<u8> = READ_BUF.take();
    if buf.len() < size {
        buf.resize(size, 0);
    }
    let mut filled = 0usize;
    let mut want = chunk;
    let mut total = 0u64;
    let mut eof = false;
    let mut started = false;
    // Where the undecoded text starts (after a byte-order mark), and where
    // the quote-aware scan for the last whole record may resume.
    let mut scanned = 0usize;
    let mut in_quotes = false;
    let mut last_end = 0usize;
    loop {
        while !eof && filled < want {
            if buf.len() < want.max(filled + 4096) {
                buf.resize(want.max(filled + 4096), 0);
            }
            match input.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => {
                    filled += n;
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        let data = &buf[..filled];
        if gzip && total > dialect.max_bytes {
            return Err(format!(
                "the decompressed body is more than max_bytes = {} bytes",
                dialect.max_bytes
            ));
        }
        if !started {
            if eof && data.is_empty() {
                return Err(if gzip {
                    "the file is empty (0 bytes after gzip)".into()
                } else {
                    "the file is empty (0 bytes)".into()
                });
            }
            // The byte-order mark and the preamble lines, once.
            let bom = match dialect.encoding {
                Encoding::Utf8 => {
                    if data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]) {
                        return Err(
                            "the file starts with a UTF-16 byte-order mark but the feed is declared utf-8; set `encoding = \"utf-16\"`"
                                .into(),
                        );
                    }
                    if data.starts_with(b"\xEF\xBB\xBF") {
                        3
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            match csv.skip_preamble(&data[bom..]) {
                Ok(body) => {
                    let skip = data.len() - body.len();
                    csv.offset = (skip - bom) as u64;
                    buf.copy_within(skip..filled, 0);
                    filled -= skip;
                    started = true;
                    continue;
                }
                Err(_) if !eof => {
                    want *= 2;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        // Cut after the last record that ends in this buffer: a newline
        // outside quotes (the buffer always starts at a record boundary).
        let cut = if eof {
            data.len()
        } else if !in_quotes && memchr::memchr(dialect.quote, &data[scanned..]).is_none() {
            // No quote at all (the common case): the last newline.
            if let Some(i) = memchr::memrchr(b'\n', &data[scanned..]) {
                last_end = scanned + i + 1;
            }
            scanned = data.len();
            last_end
        } else {
            for i in memchr::memchr2_iter(dialect.quote, b'\n', &data[scanned..]) {
                let i = scanned + i;
                if data[i] == b'\n' {
                    if !in_quotes {
                        last_end = i + 1;
                    }
                } else {
                    in_quotes = !in_quotes;
                }
            }
            scanned = data.len();
            last_end
        };
        if cut == 0 && !eof {
            // One record longer than the buffer: read more.
            want *= 2;
            continue;
        }
        match dialect.encoding {
            Encoding::Utf8 => csv.chunk(&data[..cut], visitor)?,
            encoding => {
                let text = decode(&data[..cut], encoding)?;
                csv.chunk(&text, visitor)?
            }
        }
        buf.copy_within(cut..filled, 0);
        filled -= cut;
        // The rest starts at a record boundary: rescan it from the start.
        scanned = 0;
        in_quotes = false;
        last_end = 0;
        want = chunk.max(filled + 1);
        if eof && filled == 0 {
            break;
        }
    }
    // Kept unless one long record grew it.
    if buf.len() <= 2 * size {
        READ_BUF.set(buf);
    }
    csv.finish()
}

/// The state of a CSV feed read chunk by chunk: the header once, then
/// records, with line numbers and offsets carried across chunks.
struct CsvStream<'d> {
    dialect: &'d Dialect,
    header_width: Option<usize>,
    /// The line number at the start of the next chunk.
    line: u64,
    /// The decoded offset of the next chunk.
    offset: u64,
    record: csv::ByteRecord,
}

impl<'d> CsvStream<'d> {
    fn new(dialect: &'d Dialect) -> Self {
        CsvStream {
            dialect,
            header_width: None,
            line: dialect.skip_lines as u64 + 1,
            offset: 0,
            record: csv::ByteRecord::new(),
        }
    }

    /// Skips preamble lines (report titles, export dates) before the header.
    fn skip_preamble<'t>(&self, text: &'t [u8]) -> Result<&'t [u8], String> {
        let mut start = 0;
        for _ in 0..self.dialect.skip_lines {
            match text[start..].iter().position(|&b| b == b'\n') {
                Some(i) => start += i + 1,
                None => {
                    return Err(format!(
                        "the file has fewer than {} lines to skip",
                        self.dialect.skip_lines
                    ));
                }
            }
        }
        Ok(&text[start..])
    }

    fn finish(&self) -> Result<(), String> {
        if self.header_width.is_none() {
            return Err("the file has no header row".into());
        }
        Ok(())
    }

    /// Parses one chunk of whole records. A line without a quote character
    /// (or a stray `\r`) is split at its delimiters directly, the common
    /// case; any other record goes through the `csv` crate, which reads it
    /// exactly as it would have in a whole-file read.
    fn chunk(&mut self, body: &[u8], visitor: &mut dyn Visitor) -> Result<(), String> {
        let dialect = self.dialect;
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(Cursor::new(body));
        let record = &mut self.record;
        let width = match self.header_width {
            Some(w) => w,
            None => {
                let more = rdr
                    .read_byte_record(record)
                    .map_err(|e| format!("cannot read the header: {e}"))?;
                if !more {
                    return Err("the file has no header row".into());
                }
                let header: Vec<String> = record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).trim().to_string())
                    .collect();
                visitor.header(&header)?;
                self.header_width = Some(header.len());
                header.len()
            }
        };
        // One check of the whole chunk instead of one per record and field.
        let utf8 = dialect.delimiter.is_ascii()
            && dialect.quote.is_ascii()
            && std::str::from_utf8(body).is_ok();
        let (delimiter, quote) = (dialect.delimiter, dialect.quote);
        // Where the next record may start, and where the csv reader stands
        // (it need not be moved when the next record follows its last one).
        let mut pos = (rdr.position().byte() as usize).min(body.len());
        let mut reader_at = Some(pos);
        // Line numbers are counted here rather than taken from the CSV
        // reader, which counts a CRLF's `\n` as the start of the next record.
        let mut line = self.line + memchr::memchr_iter(b'\n', &body[..pos]).count() as u64;
        // The structural bytes, found a block at a time.
        let mut scan = super::scan::Scanner::new(body, delimiter, quote);
        // The current line, `ring[head]`, and the `ahead` lines after it
        // in the next slots, read early for `upcoming` (which sees each
        // LOOKAHEAD lines ahead). A fixed ring: lines are never moved, and
        // their delimiter buffers are kept.
        const RING: usize = LOOKAHEAD + 1;
        let mut ring: [super::scan::Line; RING] = Default::default();
        let (mut head, mut ahead) = (0usize, 0usize);
        loop {
            let from = pos;
            while pos < body.len() && matches!(body[pos], b'\r' | b'\n') {
                line += u64::from(body[pos] == b'\n');
                pos += 1;
            }
            if pos >= body.len() {
                break;
            }
            let start = pos;
            let first_line = line;
            if ahead > 0 && ring[(head + 1) % RING].start == start {
                head = (head + 1) % RING;
                ahead -= 1;
            } else {
                // Not where the lines ahead were (a quoted record spanned
                // lines, or blank lines): start again here.
                ahead = 0;
                scan.seek(start);
                scan.line(start, &mut ring[head]);
            }
            while ahead < LOOKAHEAD {
                let at = ring[(head + ahead) % RING].newline + 1;
                if at >= body.len() {
                    break;
                }
                let next = &mut ring[(head + ahead + 1) % RING];
                scan.line(at, next);
                visitor.upcoming(&body[at..next.newline], &next.delims);
                ahead += 1;
            }
            let current = &ring[head];
            let newline = current.newline;
            let mut end = newline;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
            let (raw_bytes, cells): (&[u8], FieldCells) = if !current.special {
                let rec = &body[start..end];
                pos = newline;
                (
                    rec,
                    FieldCells::Split {
                        text: rec,
                        delims: &current.delims,
                        utf8,
                    },
                )
            } else {
                if reader_at != Some(from) {
                    let mut at = csv::Position::new();
                    at.set_byte(start as u64);
                    rdr.seek_raw(std::io::SeekFrom::Start(start as u64), at)
                        .map_err(|e| format!("cannot read CSV after line {line}: {e}"))?;
                }
                match rdr.read_byte_record(record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(e) => return Err(format!("cannot read CSV after line {line}: {e}")),
                }
                let end = (rdr.position().byte() as usize).min(body.len());
                reader_at = Some(end);
                pos = end;
                let read = &body[start..end.max(start)];
                // Newlines inside quotes and the one ending the record: the
                // next record starts lines later.
                line += memchr::memchr_iter(b'\n', read).count() as u64;
                (trim_newline(read), FieldCells::Record { record, utf8 })
            };
            let checked = if utf8 {
                // SAFETY: a record is cut from the valid UTF-8 chunk at
                // ASCII line breaks, so it is valid UTF-8 too.
                Ok(unsafe { std::str::from_utf8_unchecked(raw_bytes) })
            } else {
                std::str::from_utf8(raw_bytes)
            };
            let raw = match checked {
                Ok(r) => r,
                Err(e) => {
                    let lossy = String::from_utf8_lossy(raw_bytes);
                    visitor.broken(
                        first_line,
                        &lossy,
                        Reason::BadEncoding,
                        format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
                    );
                    continue;
                }
            };
            // Spreadsheets pad exports with rows of empty cells; they are
            // blank lines, not records.
            if cells.blank() {
                continue;
            }
            if cells.len() != width {
                visitor.broken(
                    first_line,
                    raw,
                    Reason::RaggedRow,
                    format!("{} fields where the header has {}", cells.len(), width),
                );
                continue;
            }
            visitor.csv_record(first_line, self.offset + start as u64, raw, &cells);
        }
        self.line = line;
        self.offset += body.len() as u64;
        Ok(())
    }
}

/// A CSV record's fields: split from an unquoted line, or read by the
/// `csv` crate. `utf8`: the chunk holding the record was checked to be
/// valid UTF-8 as a whole.
pub enum FieldCells<'a> {
    Split {
        text: &'a [u8],
        /// Where its delimiters are (offsets into `text`).
        delims: &'a [u32],
        utf8: bool,
    },
    Record {
        record: &'a csv::ByteRecord,
        utf8: bool,
    },
}

impl FieldCells<'_> {
    #[inline]
    fn len(&self) -> usize {
        match self {
            FieldCells::Split { delims, .. } => delims.len() + 1,
            FieldCells::Record { record, .. } => record.len(),
        }
    }

    #[inline]
    fn field(&self, i: usize) -> Option<&[u8]> {
        match self {
            FieldCells::Split { text, delims, .. } => {
                super::scan::field(delims, text.len(), i).map(|r| &text[r])
            }
            FieldCells::Record { record, .. } => record.get(i),
        }
    }

    /// Every field empty or white space.
    fn blank(&self) -> bool {
        (0..self.len()).all(|i| {
            self.field(i)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        })
    }
}

impl Cells for FieldCells<'_> {
    #[inline]
    fn get(&self, i: usize) -> Cell<'_> {
        let utf8 = match self {
            FieldCells::Split { utf8, .. } | FieldCells::Record { utf8, .. } => *utf8,
        };
        match self.field(i) {
            Some(b) if utf8 => {
                // SAFETY: the chunk was valid UTF-8, and a field is a run of
                // it cut at ASCII delimiters with ASCII quotes removed
                // (`CsvStream::chunk` only sets `utf8` for ASCII delimiter
                // and quote), so it is valid UTF-8 too.
                Cell::Text(unsafe { std::str::from_utf8_unchecked(b) })
            }
            // The whole record was checked to be UTF-8 before it got here.
            Some(b) => Cell::Text(std::str::from_utf8(b).unwrap_or("")),
            None => Cell::Null,
        }
    }
}

/// One JSON object's fields as cells, by header position.
fn json_cells(fields: &[(String, &RawValue)], header: &[String]) -> Vec<OwnedCell> {
    header
        .iter()
        .map(|name| match fields.iter().find(|(k, _)| k == name) {
            None => OwnedCell::Null,
            Some((_, v)) => {
                let s = v.get().trim();
                if s == "null" {
                    OwnedCell::Null
                } else if s.starts_with('"') {
                    serde_json::from_str::<String>(s)
                        .map(OwnedCell::Text)
                        .unwrap_or(OwnedCell::Null)
                } else if s.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
                    // The literal as written: `1e6` stays `1e6` (a bad number).
                    OwnedCell::Number(s.to_string())
                } else {
                    // true/false, objects, arrays: kept as written so the
                    // field check reports them.
                    OwnedCell::Text(s.to_string())
                }
            }
        })
        .collect()
}

/// A JSON object's top-level fields in the order written, values unparsed.
struct RawObject<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    let v: &'de RawValue = m.next_value()?;
                    fields.push((k, v));
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn union_header(objects: &[&RawObject<'_>]) -> Vec<String> {
    let mut header: Vec<String> = Vec::new();
    for o in objects {
        for (k, _) in &o.0 {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    header
}

fn read_json(text: &str, visitor: &mut dyn Visitor) -> Result<(), String> {
    let items: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of records: {e}"))?;
    let base = text.as_ptr() as usize;
    let mut parsed = Vec::with_capacity(items.len());
    let mut line = 1u64;
    let mut scanned = 0usize;
    for item in &items {
        let off = item.get().as_ptr() as usize - base;
        line += text.as_bytes()[scanned..off]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        scanned = off;
        parsed.push((
            line,
            item.get(),
            serde_json::from_str::<RawObject>(item.get()),
        ));
    }
    let ok: Vec<&RawObject> = parsed
        .iter()
        .filter_map(|(_, _, o)| o.as_ref().ok())
        .collect();
    let header = union_header(&ok);
    visitor.header(&header)?;
    for (line, raw, obj) in &parsed {
        match obj {
            Ok(o) => visitor.record(*line, raw, &OwnedCells(&json_cells(&o.0, &header))),
            Err(e) => visitor.broken(
                *line,
                raw,
                Reason::MalformedRecord,
                format!("not a JSON object: {e}"),
            ),
        }
    }
    Ok(())
}

enum NdLine<'a> {
    Object(RawObject<'a>),
    Malformed(String),
    BadEncoding(String, String),
}

fn read_ndjson(text: &[u8], visitor: &mut dyn Visitor) -> Result<(), String> {
    let mut parsed = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_bytes = trim_newline(line);
        if line_bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i as u64 + 1;
        match std::str::from_utf8(line_bytes) {
            Ok(s) => match serde_json::from_str::<RawObject>(s) {
                Ok(o) => parsed.push((n, s, NdLine::Object(o))),
                Err(e) => parsed.push((n, s, NdLine::Malformed(format!("not a JSON object: {e}")))),
            },
            Err(e) => parsed.push((
                n,
                "",
                NdLine::BadEncoding(
                    String::from_utf8_lossy(line_bytes).into_owned(),
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                ),
            )),
        }
    }
    let ok: Vec<&RawObject> = parsed
        .iter()
        .filter_map(|(_, _, o)| match o {
            NdLine::Object(o) => Some(o),
            _ => None,
        })
        .collect();
    let header = union_header(&ok);
    visitor.header(&header)?;
    for (line, raw, obj) in parsed {
        match obj {
            NdLine::Object(o) => visitor.record(line, raw, &OwnedCells(&json_cells(&o.0, &header))),
            NdLine::Malformed(detail) => visitor.broken(line, raw, Reason::MalformedRecord, detail),
            NdLine::BadEncoding(lossy, detail) => {
                visitor.broken(line, &lossy, Reason::BadEncoding, detail)
            }
        }
    }
    Ok(())
}

/// Renders a record of a binary format as a JSON object, for the
/// exceptions table's raw column.
fn raw_object(header: &[String], cells: &[OwnedCell]) -> String {
    let mut map = serde_json::Map::new();
    for (h, c) in header.iter().zip(cells) {
        map.insert(h.clone(), c.to_json());
    }
    serde_json::Value::Object(map).to_string()
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

fn read_parquet(bytes: &[u8], visitor: &mut dyn Visitor) -> Result<(), String> {
    use polars::prelude::*;
    let df = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    visitor.header(&header)?;
    let mut columns: Vec<Vec<OwnedCell>> = Vec::with_capacity(header.len());
    for col in df.columns() {
        let s = col.as_materialized_series();
        let cells: Vec<OwnedCell> = match s.dtype() {
            DataType::Date => s
                .date()
                .map_err(|e| e.to_string())?
                .physical()
                .iter()
                .map(|v| match v {
                    Some(days) => NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                        .map(|d| OwnedCell::DateTime(d.and_time(chrono::NaiveTime::MIN)))
                        .unwrap_or(OwnedCell::Null),
                    None => OwnedCell::Null,
                })
                .collect(),
            DataType::Datetime(unit, tz) => {
                let per_micro = match unit {
                    TimeUnit::Nanoseconds => 1_000,
                    TimeUnit::Microseconds => 1,
                    TimeUnit::Milliseconds => -1_000,
                };
                let to_micros = |v: i64| -> i64 {
                    if per_micro > 0 {
                        v / per_micro
                    } else {
                        v.saturating_mul(-per_micro)
                    }
                };
                let has_tz = tz.is_some();
                s.datetime()
                    .map_err(|e| e.to_string())?
                    .physical()
                    .iter()
                    .map(|v| match v {
                        Some(v) if has_tz => OwnedCell::Instant(to_micros(v)),
                        Some(v) => DateTime::from_timestamp_micros(to_micros(v))
                            .map(|d| OwnedCell::DateTime(d.naive_utc()))
                            .unwrap_or(OwnedCell::Null),
                        None => OwnedCell::Null,
                    })
                    .collect()
            }
            dt if dt.is_primitive_numeric() => {
                let as_f64 = dt.is_float();
                let casted = s.cast(&DataType::String).map_err(|e| e.to_string())?;
                let f = if as_f64 {
                    Some(s.cast(&DataType::Float64).map_err(|e| e.to_string())?)
                } else {
                    None
                };
                match f {
                    Some(f) => f
                        .f64()
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Number(number_text(v))))
                        .collect(),
                    None => casted
                        .str()
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Number(v.to_string())))
                        .collect(),
                }
            }
            _ => {
                let casted = s.cast(&DataType::String).map_err(|e| e.to_string())?;
                casted
                    .str()
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Text(v.to_string())))
                    .collect()
            }
        };
        columns.push(cells);
    }
    let mut row: Vec<OwnedCell> = Vec::with_capacity(header.len());
    for i in 0..df.height() {
        row.clear();
        row.extend(columns.iter().map(|c| c[i].clone()));
        let raw = raw_object(&header, &row);
        visitor.record(i as u64 + 1, &raw, &OwnedCells(&row));
    }
    Ok(())
}

fn read_xlsx(bytes: &[u8], dialect: &Dialect, visitor: &mut dyn Visitor) -> Result<(), String> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
    let sheet = match &dialect.sheet {
        Some(s) => s.clone(),
        None => wb
            .sheet_names()
            .first()
            .cloned()
            .ok_or("the workbook has no sheets")?,
    };
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| format!("cannot read sheet `{sheet}`: {e}"))?;
    let Some((first_row, _)) = range.start() else {
        return Err(format!("sheet `{sheet}` is empty"));
    };
    let width = range.width();
    let cell = |d: &Data| -> OwnedCell {
        match d {
            Data::Empty => OwnedCell::Null,
            Data::String(s) => OwnedCell::Text(s.clone()),
            Data::Int(i) => OwnedCell::Number(i.to_string()),
            Data::Float(f) => OwnedCell::Number(number_text(*f)),
            Data::Bool(b) => OwnedCell::Text(b.to_string()),
            Data::DateTime(d) => d
                .as_datetime()
                .map(OwnedCell::DateTime)
                .unwrap_or_else(|| OwnedCell::Text(d.as_f64().to_string())),
            Data::DateTimeIso(s) | Data::DurationIso(s) => OwnedCell::Text(s.clone()),
            Data::Error(e) => OwnedCell::Text(format!("#{e:?}")),
        }
    };
    // Sheet rows are 1-based; `first_row` is 0-based.
    let header_row = dialect.header_row as u32;
    let mut header: Option<Vec<String>> = None;
    let mut row_cells: Vec<OwnedCell> = Vec::with_capacity(width);
    for (i, r) in range.rows().enumerate() {
        let sheet_row = first_row + i as u32 + 1;
        if sheet_row < header_row {
            continue;
        }
        if sheet_row == header_row || header.is_none() {
            let h: Vec<String> = r
                .iter()
                .map(|d| match cell(d) {
                    OwnedCell::Text(s) | OwnedCell::Number(s) => s.trim().to_string(),
                    OwnedCell::Null => String::new(),
                    other => format!("{other:?}"),
                })
                .collect();
            visitor.header(&h)?;
            header = Some(h);
            continue;
        }
        row_cells.clear();
        row_cells.extend(r.iter().map(cell));
        if row_cells.iter().all(|c| match c {
            OwnedCell::Null => true,
            OwnedCell::Text(s) => s.trim().is_empty(),
            _ => false,
        }) {
            continue;
        }
        let h = header.as_deref().unwrap_or(&[]);
        let raw = raw_object(h, &row_cells);
        visitor.record(u64::from(sheet_row), &raw, &OwnedCells(&row_cells));
    }
    if header.is_none() {
        return Err(format!(
            "sheet `{sheet}` has no row {header_row} to use as the header"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Everything a reader reports, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn header(&mut self, names: &[String]) -> Result<(), String> {
            self.0.push(format!("header {names:?}"));
            Ok(())
        }
        fn record(&mut self, _: u64, _: &str, _: &dyn Cells) {
            unreachable!("CSV reports offsets")
        }
        fn record_at(&mut self, line: u64, offset: u64, raw: &str, cells: &dyn Cells) {
            let cells: Vec<Cell> = (0..3).map(|i| cells.get(i)).collect();
            self.0.push(format!("{line} @{offset} {raw:?} {cells:?}"));
        }
        fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String) {
            self.0
                .push(format!("{line} broken {raw:?} {reason} {detail}"));
        }
    }

    /// The records the `csv` crate reads from a text, one after another,
    /// with the line, offset and raw text of each: what reading used to do
    /// for every record (the oracle for the split fast path).
    fn csv_crate_records(text: &[u8], d: &Dialect) -> Vec<(String, bool)> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d.delimiter)
            .quote(d.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut out = Vec::new();
        let mut record = csv::ByteRecord::new();
        let (mut line, mut counted) = (1u64, 0usize);
        loop {
            let start = rdr.position().byte() as usize;
            match rdr.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    out.push((format!("error {e}"), false));
                    break;
                }
            }
            let end = (rdr.position().byte() as usize).min(text.len());
            let mut start = start.min(end);
            while start < end && matches!(text[start], b'\r' | b'\n') {
                start += 1;
            }
            line += text[counted..start].iter().filter(|&&b| b == b'\n').count() as u64;
            counted = start;
            let raw = String::from_utf8_lossy(trim_newline(&text[start..end]));
            let fields: Vec<String> = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into())
                .collect();
            let blank = record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace));
            out.push((format!("{line} @{start} {raw:?} {fields:?}"), blank));
        }
        out
    }

    /// What the chunk parser reports for the same text (header included as
    /// a record: it is read like one).
    struct All(Vec<String>);

    impl Visitor for All {
        fn header(&mut self, names: &[String]) -> Result<(), String> {
            self.0.push(format!("header {}", names.len()));
            Ok(())
        }
        fn record(&mut self, _: u64, _: &str, _: &dyn Cells) {
            unreachable!("CSV reports offsets")
        }
        fn record_at(&mut self, line: u64, offset: u64, raw: &str, cells: &dyn Cells) {
            let fields: Vec<String> = (0..)
                .map(|i| cells.get(i))
                .take_while(|c| !matches!(c, Cell::Null))
                .map(|c| match c {
                    Cell::Text(t) => t.to_string(),
                    other => format!("{other:?}"),
                })
                .collect();
            self.0.push(format!("{line} @{offset} {raw:?} {fields:?}"));
        }
        fn broken(&mut self, line: u64, raw: &str, reason: Reason, _: String) {
            self.0.push(format!("{line} broken {raw:?} {reason}"));
        }
    }

    /// Random texts of delimiters, quotes, line breaks, blanks and letters:
    /// the chunk parser (plain lines split directly, the rest through the
    /// csv crate) reports every record as the csv crate reads it.
    #[test]
    fn split_lines_read_like_the_csv_crate() {
        let alphabet: &[u8] = b"ab,,;\"'\n\n\r  x\t";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..30_000 {
            let len = (next() % 48) as usize;
            let mut text: Vec<u8> = b"h1,h2,h3\n".to_vec();
            text.extend((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
            let mut d = Dialect::default_for(Format::Csv, false);
            if case % 3 == 1 {
                d.delimiter = b';';
                d.quote = b'\'';
            }
            // Every record, whatever its width: the oracle's view.
            let oracle = csv_crate_records(&text, &d);
            if oracle.iter().any(|r| r.0.starts_with("error")) {
                continue;
            }
            let want: Vec<String> = oracle.iter().skip(1).map(|r| r.0.clone()).collect();
            let mut got = All(Vec::new());
            let mut stream = CsvStream::new(&d);
            let result = stream.chunk(&text, &mut got);
            assert!(result.is_ok(), "case {case}: {result:?}");
            // The parser leaves out blank records and reports ragged ones as
            // broken; compare the records both keep, and the lines of all.
            let kept: Vec<&String> = got.0.iter().skip(1).collect();
            let line_of = |r: &str| r.split(' ').next().unwrap().to_string();
            let want_lines: Vec<String> = want.iter().map(|r| line_of(r)).collect();
            for r in &kept {
                if r.contains(" broken ") {
                    assert!(
                        want_lines.contains(&line_of(r)),
                        "case {case} {text:?}: {r} not in {want:?}"
                    );
                } else {
                    assert!(
                        want.contains(r),
                        "case {case} {text:?}: {r} not in {want:?}"
                    );
                }
            }
            let expected = oracle.iter().skip(1).filter(|r| !r.1).count();
            assert_eq!(
                kept.len(),
                expected,
                "case {case} {text:?}: {kept:?} vs {want:?}"
            );
        }
    }

    /// Streaming in chunks of any size reports exactly what reading the
    /// whole text at once reports: the same records, lines and offsets.
    #[test]
    fn chunks_of_any_size_read_like_the_whole() {
        let texts: &[&[u8]] = &[
            b"a,b,c\n1,2,3\n4,5,6\n",
            b"a,b,c\r\n1,2,3\r\n\r\n4,5,6",
            b"a,b,c\n\"x\ny\",2,3\n\"q\"\"\n\"\"\",5,6\n7,8\n,,\n9,\xff,9\n",
            b"\xEF\xBB\xBFa,b,c\n\xC3\xA9,\xE2\x82\xAC,3\n",
            b"title\n\"odd quote\nexported\na,b,c\n1,2,3\n",
            b"a,b,c",
            b"",
            b"a;b;c\r\n'x;\ny';1,5;3\r\n'it''s';2;3\r\n",
            b"a,b,c\n\xe9t\xe9,\x80,3\n\"\xe9\n\",2,3\n",
        ];
        for (i, text) in texts.iter().enumerate() {
            let mut dialect = Dialect::default_for(Format::Csv, false);
            match i {
                4 => dialect.skip_lines = 3,
                7 => {
                    dialect.delimiter = b';';
                    dialect.quote = b'\'';
                }
                8 => dialect.encoding = crate::pipeline::Encoding::Windows1252,
                _ => {}
            }
            let mut whole = Log::default();
            let expected = match decode(text, dialect.encoding) {
                Ok(t) if !text.is_empty() => read_csv(&t, &dialect, &mut whole),
                Ok(_) => Err("the file is empty (0 bytes)".into()),
                Err(e) => Err(e),
            };
            // Not trivially equal: these texts have a header and records.
            if [0, 2, 7, 8].contains(&i) {
                assert!(
                    expected.is_ok() && whole.0.len() >= 3,
                    "text {i}: {:?}",
                    whole.0
                );
            }
            for chunk in 1..40 {
                let mut streamed = Log::default();
                let got = stream_csv(&mut &text[..], &dialect, &mut streamed, false, chunk);
                assert_eq!(got, expected, "text {i}, chunk {chunk}");
                assert_eq!(streamed.0, whole.0, "text {i}, chunk {chunk}");
            }
        }
    }
}
