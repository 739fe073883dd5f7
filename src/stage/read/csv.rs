//! CSV, streamed a chunk of whole records at a time, in any dialect.
//!
//! Records are cut where the `csv` crate would end them ([`Ends`]: its
//! state machine over the quote, delimiter and line-end bytes), so a
//! chunk always holds whole records, and a quote inside an unquoted field
//! (`12" pipe`) is the literal it is, never the start of a quoted run that
//! would swallow the rest of the file. A record longer than the source's
//! `max_record_bytes` is one `malformed record` exception with its first
//! bytes kept; one that runs to the end of the file inside a quote that is
//! never closed fails the source, since the rest of the file would be
//! lost in it.

use crate::error::{Header, Problem};
use std::io::{Cursor, Read};

use super::decode;
use super::{At, Chunks, LOOKAHEAD, Visitor, oversized, trim_newline};
use crate::model::Reason;
use crate::pipeline::Dialect;
use crate::stage::read::Cell;
use crate::stage::read::Cells;
use crate::sys::scan;

/// How many bytes a feed is read in: records are parsed a chunk at a time,
/// so memory does not grow with the file.
pub const CHUNK: usize = 1 << 20;

/// Where a field stands, as the `csv` crate's reader sees it (without an
/// escape character, with doubled quotes, any of `\r` and `\n` ending a
/// record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// At the start of a field (or of a record): the next byte decides.
    Start,
    /// Inside a field that did not start with a quote: a quote is text.
    Unquoted,
    /// Inside a quoted field: only a quote matters.
    Quoted,
    /// Right after a quote inside a quoted field: a second quote is a
    /// quote in the text, anything else ends the quoted part.
    QuoteInQuoted,
}

/// Finds where records end, walking text front to back, possibly in
/// several calls (the state carries over).
struct Ends {
    quote: u8,
    delimiter: u8,
    state: Field,
}

impl Ends {
    fn new(dialect: &Dialect) -> Self {
        Ends {
            quote: dialect.quote,
            delimiter: dialect.delimiter,
            state: Field::Start,
        }
    }

    /// Walks `data` (which continues what was walked before); returns the
    /// offset just past the last record-ending `\r` or `\n` in it.
    fn walk(&mut self, data: &[u8]) -> Option<usize> {
        self.walk_to(data, false)
    }

    /// Walks `data` up to the first record end, and returns the offset
    /// just past it (the state is then at a record's start), or walks it
    /// all and returns `None`.
    fn first(&mut self, data: &[u8]) -> Option<usize> {
        self.walk_to(data, true)
    }

    fn walk_to(&mut self, data: &[u8], first: bool) -> Option<usize> {
        let (q, d) = (self.quote, self.delimiter);
        if first && matches!(self.state, Field::Start | Field::Unquoted) {
            // Without quotes ahead of it, the first line end.
            let end = memchr::memchr2(b'\n', b'\r', data);
            if memchr::memchr(q, &data[..end.unwrap_or(data.len())]).is_none() {
                if let Some(e) = end {
                    self.state = Field::Start;
                    return Some(e + 1);
                }
                self.state = match data.last() {
                    None => self.state,
                    Some(&b) if b == d => Field::Start,
                    Some(_) => Field::Unquoted,
                };
                return None;
            }
        }
        if !first
            && matches!(self.state, Field::Start | Field::Unquoted)
            && memchr::memchr(q, data).is_none()
        {
            // No quote (nearly every chunk): every line end ends a record.
            let last = memchr::memrchr2(b'\n', b'\r', data).map(|i| i + 1);
            self.state = match data.last() {
                None => self.state,
                Some(&b) if b == d || b == b'\n' || b == b'\r' => Field::Start,
                Some(_) => Field::Unquoted,
            };
            return last;
        }
        let mut last = None;
        let mut i = 0;
        while i < data.len() {
            match self.state {
                Field::Quoted => match memchr::memchr(q, &data[i..]) {
                    Some(k) => {
                        i += k + 1;
                        self.state = Field::QuoteInQuoted;
                    }
                    None => break,
                },
                Field::Unquoted => match memchr::memchr3(d, b'\n', b'\r', &data[i..]) {
                    Some(k) => {
                        i += k + 1;
                        self.state = Field::Start;
                        if data[i - 1] != d {
                            last = Some(i);
                            if first {
                                return last;
                            }
                        }
                    }
                    None => break,
                },
                Field::Start | Field::QuoteInQuoted => {
                    let b = data[i];
                    i += 1;
                    // The quote is looked at first, as the csv crate does.
                    self.state = if b == q {
                        Field::Quoted
                    } else if b == d {
                        Field::Start
                    } else if b == b'\n' || b == b'\r' {
                        last = Some(i);
                        if first {
                            self.state = Field::Start;
                            return last;
                        }
                        Field::Start
                    } else {
                        Field::Unquoted
                    };
                }
            }
        }
        last
    }
}

thread_local! {
    /// The read buffer of [`stream`], from the last feed this thread read.
    static READ_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Reads a CSV feed's UTF-8 text (its byte-order mark already dropped) a
/// chunk at a time, parsing each as it is read. `gzip` only words the
/// message for an empty file.
pub(super) fn stream(
    input: &mut dyn Read,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
    gzip: bool,
) -> Result<(), Problem> {
    stream_chunked(
        input,
        dialect,
        &mut Serial::new(dialect, visitor),
        gzip,
        CHUNK,
    )
}

/// Parses each chunk on the reading thread, as it is read.
struct Serial<'a, 'v> {
    dialect: &'a Dialect,
    width: usize,
    visitor: &'v mut dyn Visitor,
}

impl<'a, 'v> Serial<'a, 'v> {
    fn new(dialect: &'a Dialect, visitor: &'v mut dyn Visitor) -> Self {
        Serial {
            dialect,
            width: 0,
            visitor,
        }
    }
}

impl Chunks for Serial<'_, '_> {
    fn header(&mut self, names: &[String]) -> Result<(), Problem> {
        self.visitor.header(names)?;
        self.width = names.len();
        Ok(())
    }

    fn records(&mut self, body: &[u8], at: At) -> Result<(), Problem> {
        parse_records(self.dialect, self.width, body, at, self.visitor)
    }

    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String) {
        self.visitor.broken(line, raw, reason, detail)
    }

    fn row_groups(
        &mut self,
        file: std::sync::Arc<super::ParquetFile>,
        parts: Vec<super::GroupRows>,
        line: u64,
    ) -> Result<(), Problem> {
        file.visit(&parts, line, self.visitor)
    }
}

/// The read buffer: `buf[..filled]` holds text from a record boundary on.
struct Buffer {
    buf: Vec<u8>,
    filled: usize,
    eof: bool,
}

impl Buffer {
    /// Reads until `want` bytes are held or the input ends.
    fn fill(&mut self, input: &mut dyn Read, want: usize) -> Result<(), Problem> {
        while !self.eof && self.filled < want {
            if self.buf.len() < want.max(self.filled + 4096) {
                self.buf.resize(want.max(self.filled + 4096), 0);
            }
            match input.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(decode::carried(e)),
            }
        }
        Ok(())
    }

    /// Drops the first `n` bytes.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }
}

/// Reads a CSV feed's text a chunk of `chunk` bytes at a time: the header
/// and then whole records, cut where records end, go to `out` in order.
pub(super) fn stream_chunked(
    input: &mut dyn Read,
    dialect: &Dialect,
    out: &mut dyn Chunks,
    gzip: bool,
    chunk: usize,
) -> Result<(), Problem> {
    let cap = usize::try_from(dialect.max_record_bytes).unwrap_or(usize::MAX);
    let mut csv = CsvStream::new(dialect);
    // Zeroed once: reads land in `buf[filled..]`, and the bytes kept
    // after a chunk move to the front (a buffer truncated and grown again
    // would zero every byte before each read). Kept from one feed to the
    // next on this thread: a new one is memory the system must zero page
    // by page. Bytes past `filled` (left from an earlier feed) are never
    // read.
    let size = chunk + (chunk >> 2);
    let mut b = Buffer {
        buf: READ_BUF.take(),
        filled: 0,
        eof: false,
    };
    if b.buf.len() < size {
        b.buf.resize(size, 0);
    }
    let mut want = chunk;
    let mut started = false;
    // Where record ends are known up to, and the last one found.
    let mut ends = Ends::new(dialect);
    let mut scanned = 0usize;
    let mut last_end = 0usize;
    loop {
        b.fill(input, want)?;
        if !started {
            let data = &b.buf[..b.filled];
            if b.eof && data.is_empty() {
                return Err(if gzip {
                    Problem::Empty { after_gzip: true }
                } else {
                    Problem::Header(Header::Missing)
                });
            }
            // The preamble lines, once.
            match csv.skip_preamble(data) {
                Ok(body) => {
                    let skip = data.len() - body.len();
                    csv.offset = skip as u64;
                    b.consume(skip);
                    started = true;
                    continue;
                }
                Err(e) if b.eof || b.filled > cap.saturating_mul(dialect.skip_lines.max(1)) => {
                    return Err(e);
                }
                Err(_) => {
                    want = want.saturating_mul(2);
                    continue;
                }
            }
        }
        // Cut after the last record that ends in this buffer (which always
        // starts at a record boundary).
        if let Some(e) = ends.walk(&b.buf[scanned..b.filled]) {
            last_end = scanned + e;
        }
        scanned = b.filled;
        let cut = if b.eof {
            let tail = (b.filled - last_end) as u64;
            if ends.state == Field::Quoted && tail > dialect.max_record_bytes {
                let line = csv.line + memchr::memchr_iter(b'\n', &b.buf[..last_end]).count() as u64;
                let lines = memchr::memchr_iter(b'\n', &b.buf[last_end..b.filled]).count() as u64;
                return Err(unclosed(line, tail, lines, dialect.max_record_bytes));
            }
            b.filled
        } else {
            last_end
        };
        if cut == 0 && !b.eof {
            if b.filled > cap {
                skip_long_record(&mut b, input, &mut ends, &mut csv, out, chunk)?;
                (scanned, last_end) = (0, 0);
                ends = Ends::new(dialect);
                want = chunk.max(b.filled + 1);
                if b.eof && b.filled == 0 {
                    break;
                }
                continue;
            }
            // One record longer than the buffer: read more, up to the cap.
            want = want
                .saturating_mul(2)
                .min(cap.saturating_add(1))
                .max(b.filled + 1);
            continue;
        }
        csv.chunk(&b.buf[..cut], out)?;
        b.consume(cut);
        // The rest starts at a record boundary: walked again from there.
        (scanned, last_end) = (0, 0);
        ends = Ends::new(dialect);
        want = chunk.max(b.filled + 1);
        if b.eof && b.filled == 0 {
            break;
        }
    }
    // Kept unless one long record grew it.
    if b.buf.len() <= 2 * size {
        READ_BUF.set(b.buf);
    }
    csv.finish()
}

/// The csv crate could not read past `line`.
fn broken_csv(line: u64, e: impl std::fmt::Display) -> Problem {
    Problem::Format {
        detail: format!("cannot read CSV: {e}"),
        line: Some(line),
    }
}

/// Why a source fails when a quote opened on `line` is never closed and
/// the rest of the file (`len` bytes, `newlines` line breaks) is more than
/// one record may be.
fn unclosed(line: u64, len: u64, newlines: u64, cap: u64) -> Problem {
    Problem::UnclosedQuote {
        line,
        bytes: len,
        lines: newlines,
        cap,
    }
}

/// The record at the start of the buffer is longer than the cap: keeps its
/// first bytes for the exception, reads on (holding nothing) to where it
/// ends, and leaves the buffer at the record after it.
fn skip_long_record(
    b: &mut Buffer,
    input: &mut dyn Read,
    ends: &mut Ends,
    csv: &mut CsvStream,
    out: &mut dyn Chunks,
    chunk: usize,
) -> Result<(), Problem> {
    let cap = csv.dialect.max_record_bytes;
    if csv.header_width.is_none() {
        return Err(Problem::Header(Header::TooLong(cap)));
    }
    let head = b.buf[..b.filled.min(super::RAW_PREVIEW)].to_vec();
    let line = csv.line;
    // `ends` has walked the whole buffer already.
    let mut len = b.filled as u64;
    let mut lines = memchr::memchr_iter(b'\n', &b.buf[..b.filled]).count() as u64;
    b.filled = 0;
    let end = loop {
        b.fill(input, chunk)?;
        if b.filled == 0 {
            if ends.state == Field::Quoted {
                return Err(unclosed(line, len, lines, cap));
            }
            break 0;
        }
        if let Some(e) = ends.first(&b.buf[..b.filled]) {
            break e;
        }
        len += b.filled as u64;
        lines += memchr::memchr_iter(b'\n', &b.buf[..b.filled]).count() as u64;
        b.filled = 0;
    };
    len += end as u64;
    lines += memchr::memchr_iter(b'\n', &b.buf[..end]).count() as u64;
    b.consume(end);
    // The record's own length, without the line end that closed it.
    let shown = len - u64::from(end > 0);
    let (raw, detail) = oversized(trim_newline(&head), shown, cap);
    out.broken(line, &raw, Reason::MalformedRecord, detail);
    csv.line += lines;
    csv.offset += len;
    Ok(())
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
}

impl<'d> CsvStream<'d> {
    fn new(dialect: &'d Dialect) -> Self {
        CsvStream {
            dialect,
            header_width: None,
            line: dialect.skip_lines as u64 + 1,
            offset: 0,
        }
    }

    /// Skips preamble lines (report titles, export dates) before the header.
    fn skip_preamble<'t>(&self, text: &'t [u8]) -> Result<&'t [u8], Problem> {
        let mut start = 0;
        for _ in 0..self.dialect.skip_lines {
            match text[start..].iter().position(|&b| b == b'\n') {
                Some(i) => start += i + 1,
                None => {
                    return Err(Problem::Header(Header::TooFewLines(
                        self.dialect.skip_lines,
                    )));
                }
            }
        }
        Ok(&text[start..])
    }

    fn finish(&self) -> Result<(), Problem> {
        if self.header_width.is_none() {
            return Err(Problem::Header(Header::Missing));
        }
        Ok(())
    }

    /// Reads the header, the first record of the first chunk; returns its
    /// width and where the records start.
    fn header(&mut self, body: &[u8], out: &mut dyn Chunks) -> Result<(usize, usize), Problem> {
        let cap = self.dialect.max_record_bytes;
        let mut rdr = reader(self.dialect, body);
        let mut record = csv::ByteRecord::new();
        let more = rdr
            .read_byte_record(&mut record)
            .map_err(|e| Problem::format(format!("cannot read the header: {e}")))?;
        if !more {
            return Err(Problem::Header(Header::Missing));
        }
        if rdr.position().byte() > cap {
            return Err(Problem::Header(Header::TooLong(cap)));
        }
        let header: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        out.header(&header)?;
        self.header_width = Some(header.len());
        Ok((
            header.len(),
            (rdr.position().byte() as usize).min(body.len()),
        ))
    }

    /// Hands one chunk of whole records on (the header first, from the
    /// first), and moves the line and offset past it.
    fn chunk(&mut self, body: &[u8], out: &mut dyn Chunks) -> Result<(), Problem> {
        let mut start = 0;
        if self.header_width.is_none() {
            start = self.header(body, out)?.1;
            self.advance(&body[..start]);
        }
        let records = &body[start..];
        out.records(
            records,
            At {
                line: self.line,
                offset: self.offset,
            },
        )?;
        self.advance(records);
        Ok(())
    }

    fn advance(&mut self, text: &[u8]) {
        self.line += memchr::memchr_iter(b'\n', text).count() as u64;
        self.offset += text.len() as u64;
    }
}

/// A `csv` crate reader over a chunk, in the feed's dialect.
fn reader<'b>(dialect: &Dialect, body: &'b [u8]) -> csv::Reader<Cursor<&'b [u8]>> {
    csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(Cursor::new(body))
}

/// Parses one chunk of whole records (after the header; `width` is the
/// header's) that starts at `at`, on any thread. A line without a quote
/// character (or a stray `\r`) is split at its delimiters directly, the
/// common case; any other record goes through the `csv` crate, which reads
/// it exactly as it would have in a whole-file read.
pub fn parse_records(
    dialect: &Dialect,
    width: usize,
    body: &[u8],
    at: At,
    visitor: &mut dyn Visitor,
) -> Result<(), Problem> {
    let mut rdr = reader(dialect, body);
    let mut record = csv::ByteRecord::new();
    let record = &mut record;
    // One check of the whole chunk instead of one per record and field.
    let utf8 = dialect.delimiter.is_ascii()
        && dialect.quote.is_ascii()
        && simdutf8::basic::from_utf8(body).is_ok();
    let checks = Checks {
        cap: dialect.max_record_bytes,
        utf8,
        width,
    };
    let (delimiter, quote) = (dialect.delimiter, dialect.quote);
    // Where the next record may start, and where the csv reader stands
    // (it need not be moved when the next record follows its last one).
    let mut pos = 0;
    let mut reader_at = Some(pos);
    // Line numbers are counted here rather than taken from the CSV
    // reader, which counts a CRLF's `\n` as the start of the next record.
    let mut line = at.line;
    // The structural bytes, found a block at a time.
    let mut scan = scan::Scanner::new(body, delimiter, quote);
    // The current line, `ring[head]`, and the `ahead` lines after it
    // in the next slots, read early for `upcoming` (which sees each
    // LOOKAHEAD lines ahead). A fixed ring: lines are never moved, and
    // their delimiter buffers are kept.
    const RING: usize = LOOKAHEAD + 1;
    let mut ring: [scan::Line; RING] = Default::default();
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
                    .map_err(|e| broken_csv(line, e))?;
            }
            match rdr.read_byte_record(record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(broken_csv(line, e)),
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
        checks.deliver(
            visitor,
            first_line,
            at.offset + start as u64,
            raw_bytes,
            &cells,
        );
    }
    debug_assert_eq!(
        line,
        at.line + memchr::memchr_iter(b'\n', body).count() as u64
    );
    Ok(())
}

/// What every record of a chunk is checked against before it is handed
/// on: the record cap, UTF-8, blank rows, the header's width.
struct Checks {
    cap: u64,
    /// The whole chunk was valid UTF-8.
    utf8: bool,
    width: usize,
}

impl Checks {
    /// Hands one record (`raw`, its text; `cells`, its fields) to the
    /// visitor, or reports why it cannot be a record.
    #[inline]
    fn deliver(
        &self,
        visitor: &mut dyn Visitor,
        line: u64,
        offset: u64,
        raw: &[u8],
        cells: &FieldCells,
    ) {
        if raw.len() as u64 > self.cap {
            let (text, detail) = oversized(raw, raw.len() as u64, self.cap);
            visitor.broken(line, &text, Reason::MalformedRecord, detail);
            return;
        }
        let checked = if self.utf8 {
            // SAFETY: a record is cut from the valid UTF-8 chunk at ASCII
            // line breaks, so it is valid UTF-8 too.
            Ok(unsafe { std::str::from_utf8_unchecked(raw) })
        } else {
            std::str::from_utf8(raw)
        };
        let text = match checked {
            Ok(r) => r,
            Err(e) => {
                let lossy = String::from_utf8_lossy(raw);
                visitor.broken(
                    line,
                    &lossy,
                    Reason::BadEncoding,
                    format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
                );
                return;
            }
        };
        // Spreadsheets pad exports with rows of empty cells; they are
        // blank lines, not records.
        if cells.blank() {
            return;
        }
        if cells.len() != self.width {
            visitor.broken(
                line,
                text,
                Reason::RaggedRow,
                format!("{} fields where the header has {}", cells.len(), self.width),
            );
            return;
        }
        visitor.csv_record(line, offset, text, cells);
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
                scan::field(delims, text.len(), i).map(|r| &text[r])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Format;

    /// Everything a reader reports, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn header(&mut self, names: &[String]) -> Result<(), Problem> {
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
        fn header(&mut self, names: &[String]) -> Result<(), Problem> {
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
            let result = stream.chunk(&text, &mut Serial::new(&d, &mut got));
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
            let read_whole = |chunk: usize, log: &mut Log| {
                if text.is_empty() {
                    return Err("the file is empty (0 bytes)".to_string());
                }
                let mut t = decode::utf8(&text[..], dialect.encoding);
                stream_chunked(
                    &mut t,
                    &dialect,
                    &mut Serial::new(&dialect, log),
                    false,
                    chunk,
                )
                .map_err(|e| e.to_string())
            };
            let expected = read_whole(1 << 20, &mut whole);
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
                let got = read_whole(chunk, &mut streamed);
                assert_eq!(got, expected, "text {i}, chunk {chunk}");
                assert_eq!(streamed.0, whole.0, "text {i}, chunk {chunk}");
            }
        }
    }

    /// The records the csv crate reads from a text (fields of each, blank
    /// ones left out).
    fn fields_of(text: &[u8], d: &Dialect) -> Vec<Vec<Vec<u8>>> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d.delimiter)
            .quote(d.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut out = Vec::new();
        for r in rdr.byte_records() {
            let r = r.unwrap();
            if r.len() == 1 && r[0].is_empty() {
                continue;
            }
            out.push(r.iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    /// Every place `Ends` says a record ends is a place the text can be
    /// cut without changing what the csv crate reads; walking the text in
    /// pieces of any size finds the same places.
    #[test]
    fn record_ends_are_where_the_csv_crate_ends_records() {
        let alphabet: &[u8] = b"ab,;\"'\n\r x";
        let mut rng = fastrand::Rng::with_seed(5);
        for case in 0..20_000 {
            let mut d = Dialect::default_for(crate::pipeline::Format::Csv, false);
            if case % 3 == 1 {
                d.delimiter = b';';
                d.quote = b'\'';
            }
            let text: Vec<u8> = (0..rng.usize(0..40))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let whole = fields_of(&text, &d);
            // Byte by byte: every end.
            let mut ends = Ends::new(&d);
            let mut all = Vec::new();
            for i in 0..text.len() {
                if ends.walk(&text[i..i + 1]).is_some() {
                    all.push(i + 1);
                }
            }
            for &p in &all {
                let mut parts = fields_of(&text[..p], &d);
                parts.extend(fields_of(&text[p..], &d));
                assert_eq!(parts, whole, "case {case}: cut at {p} of {text:?}");
            }
            // The first end, found in one walk, is the first of `all`.
            assert_eq!(
                Ends::new(&d).first(&text),
                all.first().copied(),
                "case {case}: {text:?}"
            );
            // In pieces: the last end of each prefix is the last of `all`.
            let mut ends = Ends::new(&d);
            let (mut at, mut last) = (0, None);
            while at < text.len() {
                let n = rng.usize(1..8).min(text.len() - at);
                if let Some(e) = ends.walk(&text[at..at + n]) {
                    last = Some(at + e);
                }
                at += n;
                assert_eq!(
                    last,
                    all.iter().copied().rfind(|&e| e <= at),
                    "case {case}: {text:?} to {at}"
                );
            }
        }
    }

    fn dialect_with_cap(cap: u64) -> Dialect {
        let mut d = Dialect::default_for(crate::pipeline::Format::Csv, false);
        d.max_record_bytes = cap;
        d
    }

    fn stream_text(text: &[u8], d: &Dialect, chunk: usize) -> (Result<(), Problem>, Vec<String>) {
        let mut log = Log::default();
        let mut t = decode::utf8(text, d.encoding);
        let r = stream_chunked(&mut t, d, &mut Serial::new(d, &mut log), false, chunk);
        (r, log.0)
    }

    /// A quote inside an unquoted field is text: the records after it are
    /// read as records, whatever the chunk size (it once made the rest of
    /// the file one pending record, held whole in memory).
    #[test]
    fn a_quote_inside_a_field_is_text() {
        let text = b"a,b,c\n1,12\" pipe,x\n2,y,z\n3,\"q\",w\n";
        for chunk in [1, 3, 7, 64] {
            let (r, log) = stream_text(text, &dialect_with_cap(1 << 20), chunk);
            r.unwrap();
            assert_eq!(log.len(), 4, "chunk {chunk}: {log:?}");
            assert!(log[1].starts_with("2 @6 \"1,12\\\" pipe,x\""), "{log:?}");
            assert!(log[3].starts_with("4 @"), "{log:?}");
        }
    }

    /// A record longer than the cap is one malformed record with its first
    /// bytes kept, and the records after it keep their lines, whether the
    /// record fits in a chunk or not; quoted line breaks count as lines.
    #[test]
    fn a_record_longer_than_the_cap_is_one_exception() {
        let long = "x".repeat(5000);
        let quoted = format!("\"{}\n{}\",2,3", "y".repeat(3000), "z".repeat(3000));
        let text = format!("a,b,c\n1,2,3\n{long},2,3\n4,5,6\n{quoted}\n7,8,9\n");
        for chunk in [16, 1000, 100_000] {
            let (r, log) = stream_text(text.as_bytes(), &dialect_with_cap(100), chunk);
            r.unwrap();
            let broken: Vec<&String> = log.iter().filter(|l| l.contains(" broken ")).collect();
            assert_eq!(broken.len(), 2, "chunk {chunk}: {log:?}");
            assert!(broken[0].starts_with("3 broken \"xxxx"), "{}", broken[0]);
            assert!(broken[0].contains("malformed record the record is 5004 bytes long, more than max_record_bytes = 100"), "{}", broken[0]);
            assert!(broken[1].starts_with("5 broken \"\\\"yyy"), "{}", broken[1]);
            // Every record, kept or broken, at its own line.
            let lines: Vec<&str> = log.iter().map(|l| l.split(' ').next().unwrap()).collect();
            assert_eq!(
                lines,
                ["header", "2", "3", "4", "5", "7"],
                "chunk {chunk}: {log:?}"
            );
            let last = log.last().unwrap();
            assert!(last.starts_with("7 @"), "chunk {chunk}: {log:?}");
            assert!(
                last.contains("[Text(\"7\"), Text(\"8\"), Text(\"9\")]"),
                "{last}"
            );
        }
        // The kept text is cut to the preview, at a character boundary.
        let wide = format!("a\n{}\n", "é".repeat(5000));
        let (r, log) = stream_text(wide.as_bytes(), &dialect_with_cap(100), 1 << 20);
        r.unwrap();
        assert!(
            log[1].contains("é…\"") && log[1].len() < 4400,
            "{}",
            &log[1][..100]
        );
        // Cut inside a character: the character is left out.
        let odd = format!("a\n{}\n", "xé".repeat(3000));
        let (_, log) = stream_text(odd.as_bytes(), &dialect_with_cap(100), 1 << 20);
        assert!(
            log[1].contains("x…\"") && !log[1].contains('\u{fffd}'),
            "{}",
            &log[1][..100]
        );
    }

    /// A quote never closed, with the rest of the file after it, fails the
    /// source instead of hiding every later record in one exception.
    #[test]
    fn an_unclosed_quote_over_the_cap_fails_the_source() {
        let mut text = b"a,b,c\n1,2,3\n\"open,2,3\n".to_vec();
        for i in 0..200 {
            text.extend_from_slice(format!("{i},2,3\n").as_bytes());
        }
        for chunk in [16, 1 << 20] {
            let (r, _) = stream_text(&text, &dialect_with_cap(100), chunk);
            let e = r.unwrap_err();
            assert!(
                matches!(
                    e,
                    Problem::UnclosedQuote {
                        line: 3,
                        cap: 100,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(
                e.to_string()
                    .starts_with("line 3: a quoted field opened in this record is never closed"),
                "{e}"
            );
        }
        // Under the cap it stays what it was: one ragged record.
        let (r, log) = stream_text(b"a,b\n\"x,1\n2,3\n", &dialect_with_cap(100), 4);
        r.unwrap();
        assert!(log[1].contains("ragged row"), "{log:?}");
        // A header longer than the cap fails the source.
        let (r, _) = stream_text(
            format!("{}\n1\n", "h".repeat(300)).as_bytes(),
            &dialect_with_cap(100),
            64,
        );
        assert!(matches!(r, Err(Problem::Header(Header::TooLong(100)))));
    }
}
