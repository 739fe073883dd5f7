//! A sample file's container and dialect: its format, compression and
//! text encoding, a CSV file's delimiter and title lines, a workbook's
//! sheet and header row; then its header and first records, read by
//! staging's own readers with that dialect.

use std::io::Read;
use std::path::Path;

use crate::pipeline::{Dialect, Encoding, Format};
use crate::stage::read::{self, Cell, Cells, Visitor};

/// The most of a text file read as a sample (a cut last record is
/// ignored); binary formats are read whole.
const SAMPLE_BYTES: usize = 8 << 20;
/// Records kept per sample.
const SAMPLE_RECORDS: usize = 5_000;

/// A file's bytes (inflated when gzip) and whether they were gzip.
pub fn load(path: &Path) -> Result<(Vec<u8>, bool), String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
    let mut head = [0u8; 2];
    let n = file.read(&mut head).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let gzip = n == 2 && head == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut bytes = Vec::new();
    reader
        .take(256 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    Ok((bytes, gzip))
}

/// The format, from the bytes (the name's extension only breaks a tie).
pub fn format(bytes: &[u8], name: &str) -> Format {
    if bytes.starts_with(b"PK\x03\x04") {
        return Format::Xlsx;
    }
    if bytes.starts_with(b"PAR1") {
        return Format::Parquet;
    }
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Format::Json,
        Some(b'{') => Format::Ndjson,
        _ => match Format::infer(name) {
            Some((f @ (Format::Json | Format::Ndjson), _)) => f,
            _ => Format::Csv,
        },
    }
}

/// The text encoding: a byte-order mark; else UTF-8 when the bytes are
/// valid UTF-8, or hold UTF-8 characters beside a few broken bytes (those
/// rows are rejected as bad encoding, as they should be); else
/// Windows-1252 (Excel's "ANSI" in Indonesia) when every other byte is a
/// character Windows-1252 writes text with (`é`, `“`, `–`), not `ÿ` or an
/// unassigned code.
pub fn encoding(bytes: &[u8]) -> Encoding {
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    if sample.starts_with(b"\xff\xfe") || sample.starts_with(b"\xfe\xff") {
        return Encoding::Utf16;
    }
    let mut rest = sample;
    let (mut multibyte, mut foreign) = (false, Vec::new());
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                multibyte |= !s.is_ascii();
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                multibyte |= !good.is_ascii();
                // A multi-byte character cut at the end of the sample.
                let Some(n) = e.error_len() else { break };
                foreign.extend_from_slice(&bad[..n]);
                rest = &bad[n..];
            }
        }
    }
    let text_byte = |b: &u8| !matches!(b, 0x81 | 0x8d | 0x8f | 0x90 | 0x9d | 0xff) && *b >= 0x80;
    if foreign.is_empty() || multibyte || !foreign.iter().all(text_byte) {
        Encoding::Utf8
    } else {
        Encoding::Windows1252
    }
}

/// The start of a text file as UTF-8 (what could not be decoded
/// replaced).
pub fn text(bytes: &[u8], encoding: Encoding) -> String {
    let head = &bytes[..bytes.len().min(1 << 20)];
    let mut out = Vec::new();
    let _ = read::decode::utf8(std::io::Cursor::new(head), encoding).read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A CSV text's delimiter and the title lines before its header: the
/// delimiter that splits the most lines into the same number (two or
/// more) of fields, and the first line that has that many fields.
pub fn csv_layout(text: &str) -> (u8, usize) {
    let lines: Vec<&str> = text.lines().take(200).collect();
    let mut best = (b',', 0usize, 0usize, 0usize); // delimiter, agreeing lines, fields, skip
    for d in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines.iter().map(|l| fields(l, d)).collect();
        let mut freq: Vec<(usize, usize)> = Vec::new();
        for &c in counts.iter().filter(|&&c| c >= 2) {
            match freq.iter_mut().find(|(n, _)| *n == c) {
                Some(f) => f.1 += 1,
                None => freq.push((c, 1)),
            }
        }
        let Some(&(n, agree)) = freq.iter().max_by_key(|(n, k)| (*k, *n)) else {
            continue;
        };
        if agree > best.1 || (agree == best.1 && n > best.2) {
            let skip = counts.iter().position(|&c| c == n).unwrap_or(0);
            best = (d, agree, n, skip);
        }
    }
    (best.0, best.3)
}

/// Fields in one line, quotes respected.
fn fields(line: &str, d: u8) -> usize {
    let mut quoted = false;
    let mut n = 1;
    for b in line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b if b == d && !quoted => n += 1,
            _ => {}
        }
    }
    n
}

/// A header and the first records' text cells (typed cells, such as
/// Excel dates, JSON numbers or Parquet timestamps, need no dialect and
/// are left out).
#[derive(Debug, Default)]
pub struct Sample {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub records: u64,
    /// Records the reader could not split (ragged, broken lines).
    pub broken: u64,
}

impl Sample {
    /// The sample values of the column named `name`.
    pub fn column(&self, name: &str) -> Vec<&str> {
        match self.header.iter().position(|h| h == name) {
            Some(i) => self
                .rows
                .iter()
                .filter_map(|r| r.get(i)?.as_deref())
                .collect(),
            None => Vec::new(),
        }
    }
}

impl Visitor for Sample {
    fn header(&mut self, names: &[String]) -> Result<(), crate::error::Problem> {
        self.header = names.to_vec();
        Ok(())
    }

    fn record(&mut self, _line: u64, _raw: &str, cells: &dyn Cells) {
        self.records += 1;
        if self.rows.len() < SAMPLE_RECORDS {
            let row = (0..self.header.len())
                .map(|i| match cells.get(i) {
                    Cell::Text(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect();
            self.rows.push(row);
        }
    }

    fn broken(&mut self, _line: u64, _raw: &str, _reason: crate::model::Reason, _detail: String) {
        self.broken += 1;
    }
}

/// Reads a sample with a dialect, through staging's reader.
pub fn sample(bytes: &[u8], dialect: &Dialect) -> Result<Sample, String> {
    let mut s = Sample::default();
    let bytes = match dialect.format {
        Format::Csv | Format::Ndjson => cut_at_line(bytes),
        _ => bytes,
    };
    read::read(bytes, dialect, &mut s).map_err(|e| e.to_string())?;
    Ok(s)
}

/// The first [`SAMPLE_BYTES`], cut after a line end.
fn cut_at_line(bytes: &[u8]) -> &[u8] {
    if bytes.len() <= SAMPLE_BYTES {
        return bytes;
    }
    let head = &bytes[..SAMPLE_BYTES];
    match head.iter().rposition(|&b| b == b'\n') {
        Some(i) => &head[..=i],
        None => head,
    }
}

/// A workbook's sheets, in order.
pub fn sheets(bytes: &[u8]) -> Vec<String> {
    use calamine::Reader;
    calamine::Xlsx::new(std::io::Cursor::new(bytes))
        .map(|wb| wb.sheet_names().to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_delimiter_and_skips_title_lines() {
        let text =
            "Laporan Stok Harian\nDicetak 31/10/2026 17:00\nsku;gudang;jumlah\nK-1;A;1\nK-2;B;2\n";
        assert_eq!(csv_layout(text), (b';', 2));
        assert_eq!(csv_layout("a,b,c\n1,\"x,y\",3\n"), (b',', 0));
    }

    #[test]
    fn tells_formats_and_encodings_from_bytes() {
        assert_eq!(format(b"PAR1....", "x.csv"), Format::Parquet);
        assert_eq!(format(b" [{\"a\":1}]", "x"), Format::Json);
        assert_eq!(format(b"{\"a\":1}\n{\"a\":2}", "x"), Format::Ndjson);
        assert_eq!(encoding(b"caf\xe9 \x93Pusat\x94"), Encoding::Windows1252);
        assert_eq!(
            encoding(b"Gudang \xffBandung"),
            Encoding::Utf8,
            "a broken byte"
        );
        assert_eq!(encoding(b"Caf\xc3\xa9 \xe9"), Encoding::Utf8);
        assert_eq!(encoding("café".as_bytes()), Encoding::Utf8);
    }
}
