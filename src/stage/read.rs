//! Bytes + dialect → a header and a stream of records of text cells, each
//! with the line where it starts and its raw text.
//!
//! Readers never interpret values (that is [`super::values`]); they only
//! split records and report the ones that cannot be split (a ragged CSV
//! row, a broken NDJSON line, a row with invalid UTF-8). Typed cells from
//! binary formats (Excel dates, Parquet timestamps) are passed through as
//! typed values so no format has to be guessed for them.

use std::io::{Cursor, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::value::RawValue;

use super::exception::Reason;
use crate::pipeline::{Dialect, Encoding, Format};

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

struct ByteCells<'a>(&'a csv::ByteRecord);

impl Cells for ByteCells<'_> {
    fn get(&self, i: usize) -> Cell<'_> {
        match self.0.get(i) {
            // The whole record was checked to be UTF-8 before it got here.
            Some(b) => Cell::Text(std::str::from_utf8(b).unwrap_or("")),
            None => Cell::Null,
        }
    }
}

struct OwnedCells<'a>(&'a [OwnedCell]);

impl Cells for OwnedCells<'_> {
    fn get(&self, i: usize) -> Cell<'_> {
        self.0.get(i).map_or(Cell::Null, OwnedCell::as_cell)
    }
}

/// Receives what a reader finds.
pub trait Visitor {
    /// The header, once, before any record. An error fails the source.
    fn header(&mut self, names: &[String]) -> Result<(), String>;
    /// One record whose cells line up with the header.
    fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells);
    /// One record that cannot be read as cells.
    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String);
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
    // Skip preamble lines (report titles, export dates) before the header.
    let mut start = 0;
    for _ in 0..dialect.skip_lines {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => {
                return Err(format!(
                    "the file has fewer than {} lines to skip",
                    dialect.skip_lines
                ));
            }
        }
    }
    let body = &text[start..];
    let line_offset = dialect.skip_lines as u64;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let more = rdr
        .read_byte_record(&mut record)
        .map_err(|e| format!("cannot read the header: {e}"))?;
    if !more {
        return Err("the file has no header row".into());
    }
    let header: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_string())
        .collect();
    visitor.header(&header)?;
    let width = header.len();
    // Line numbers are counted here rather than taken from the CSV reader,
    // which counts a CRLF's `\n` as the start of the next record.
    let mut line = line_offset + 1;
    let mut counted_to = 0usize;
    loop {
        let start = rdr.position().byte() as usize;
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("cannot read CSV after line {line}: {e}")),
        }
        let end = (rdr.position().byte() as usize).min(body.len());
        let mut start = start.min(end);
        while start < end && matches!(body[start], b'\r' | b'\n') {
            start += 1;
        }
        line += body[counted_to..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted_to = start;
        let raw_bytes = trim_newline(&body[start..end]);
        let raw = match std::str::from_utf8(raw_bytes) {
            Ok(r) => r,
            Err(e) => {
                let lossy = String::from_utf8_lossy(raw_bytes);
                visitor.broken(
                    line,
                    &lossy,
                    Reason::BadEncoding,
                    format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
                );
                continue;
            }
        };
        // Spreadsheets pad exports with rows of empty cells; they are blank
        // lines, not records.
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if record.len() != width {
            visitor.broken(
                line,
                raw,
                Reason::RaggedRow,
                format!("{} fields where the header has {}", record.len(), width),
            );
            continue;
        }
        visitor.record(line, raw, &ByteCells(&record));
    }
    Ok(())
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
