//! XLSX feeds: one sheet, read cell by cell as the sheet's XML streams
//! (calamine's cell reader), so a stray cell at `XFD1048576` costs one
//! cell, not the 17 billion of the rectangle it spans.
//!
//! Before calamine opens the workbook (which loads its shared strings
//! whole), the zip's parts are checked: each part's declared size (which
//! the zip reader enforces) at most `max_bytes`, the shared strings at
//! most [`MAX_SHARED_STRINGS`] and not claiming more strings than their
//! bytes could hold, and no text in a sheet or in the shared strings
//! longer than `max_record_bytes`.
//!
//! The columns are the header row's, from its first to its last non-empty
//! cell; a cell outside them (or under an empty header cell) is kept in the
//! row's raw text under its column letter, and makes the row a record.

use crate::error::{Action, Header, Problem};
use std::io::{BufReader, Read};

/// The words for a workbook calamine or the zip reader cannot read.
fn unreadable(e: &dyn std::fmt::Display) -> Problem {
    Problem::format(format!("not a readable XLSX workbook: {e}"))
}
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx};

use super::{MAX_COLUMNS, OwnedCell, OwnedCells, Visitor, number_text};
use crate::pipeline::Dialect;

/// The largest shared-string part read (uncompressed): calamine holds the
/// workbook's strings in memory.
pub const MAX_SHARED_STRINGS: u64 = 256 << 20;

pub(super) fn read(
    path: &Path,
    dialect: &Dialect,
    visitor: &mut dyn Visitor,
) -> Result<(), Problem> {
    let not_xlsx = |e: &dyn std::fmt::Display| unreadable(e);
    let open = || {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(Problem::io(Action::ReadCopy, path))
    };
    check_parts(open()?, dialect)?;
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(open()?).map_err(|e| not_xlsx(&e))?;
    let sheet = match &dialect.sheet {
        Some(s) => s.clone(),
        None => wb
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| Problem::format("the workbook has no sheets"))?,
    };
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| Problem::format(format!("cannot read sheet `{sheet}`: {e}")))?;
    let mut rows = Rows {
        header_row: dialect.header_row as u32,
        header: None,
        width: 0,
        first: 0,
        cells: Vec::new(),
        raw_names: Vec::new(),
    };
    // The cells of the row being read: (column, value).
    let mut row: Vec<(u32, OwnedCell)> = Vec::new();
    let mut current: Option<u32> = None;
    loop {
        let next = cells
            .next_cell()
            .map_err(|e| Problem::format(format!("cannot read sheet `{sheet}`: {e}")))?;
        let at = next.as_ref().map(|c| c.get_position().0);
        if at != current {
            if let Some(r) = current {
                rows.row(r, &row, visitor)?;
                if at.is_some_and(|a| a < r) {
                    return Err(Problem::format(format!(
                        "sheet `{sheet}` lists row {} after row {}: rows out of order",
                        at.unwrap_or(0) + 1,
                        r + 1
                    )));
                }
            }
            row.clear();
            current = at;
        }
        let Some(c) = next else { break };
        let value = cell(c.get_value());
        if value != OwnedCell::Null {
            row.push((c.get_position().1, value));
        }
    }
    if rows.header.is_none() {
        return Err(Problem::format(format!(
            "sheet `{sheet}` has no row {} or later to use as the header",
            dialect.header_row
        )));
    }
    Ok(())
}

fn cell(d: &DataRef<'_>) -> OwnedCell {
    match d {
        DataRef::Empty => OwnedCell::Null,
        DataRef::String(s) => OwnedCell::Text(s.clone()),
        DataRef::SharedString(s) => OwnedCell::Text(s.to_string()),
        DataRef::Int(i) => OwnedCell::Int(*i),
        DataRef::Float(f) => OwnedCell::Number(number_text(*f)),
        DataRef::Bool(b) => OwnedCell::Text(b.to_string()),
        DataRef::DateTime(d) => d
            .as_datetime()
            .map(OwnedCell::DateTime)
            .unwrap_or_else(|| OwnedCell::Text(d.as_f64().to_string())),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => OwnedCell::Text(s.clone()),
        DataRef::Error(e) => OwnedCell::Text(format!("#{e:?}")),
    }
}

/// Sheet rows as they stream past: the header once, then records.
struct Rows {
    /// The 1-based sheet row the header is on (or the first non-blank row
    /// after it).
    header_row: u32,
    header: Option<Vec<String>>,
    /// The header's columns: `first` (0-based sheet column) on, `width` of
    /// them.
    first: u32,
    width: usize,
    /// One record's cells, by header position.
    cells: Vec<OwnedCell>,
    /// Each header position's key in a record's raw text.
    raw_names: Vec<String>,
}

impl Rows {
    /// One sheet row (0-based `r`) with its non-empty cells.
    fn row(
        &mut self,
        r: u32,
        row: &[(u32, OwnedCell)],
        visitor: &mut dyn Visitor,
    ) -> Result<(), Problem> {
        let sheet_row = r + 1;
        // Spreadsheets pad exports with rows of empty cells: not records.
        if sheet_row < self.header_row || row.iter().all(|(_, c)| c.is_blank()) {
            return Ok(());
        }
        if self.header.is_none() {
            return self.header(row, visitor);
        }
        self.cells.clear();
        self.cells.resize(self.width, OwnedCell::Null);
        let mut outside = Vec::new();
        for (c, v) in row {
            match c.checked_sub(self.first).map(|i| i as usize) {
                Some(i) if i < self.width => self.cells[i] = v.clone(),
                _ => outside.push((*c, v)),
            }
        }
        let raw = || {
            let mut raw = serde_json::Map::new();
            for (name, v) in self.raw_names.iter().zip(&self.cells) {
                raw.insert(name.clone(), v.to_json());
            }
            for (c, v) in &outside {
                raw.insert(column_name(*c), v.to_json());
            }
            serde_json::Value::Object(raw).to_string()
        };
        visitor.record_made(u64::from(sheet_row), &raw, &OwnedCells(&self.cells));
        Ok(())
    }

    fn header(
        &mut self,
        row: &[(u32, OwnedCell)],
        visitor: &mut dyn Visitor,
    ) -> Result<(), Problem> {
        let named: Vec<&(u32, OwnedCell)> = row.iter().filter(|(_, c)| !c.is_blank()).collect();
        let first = named.iter().map(|(c, _)| *c).min().unwrap_or(0);
        let last = named.iter().map(|(c, _)| *c).max().unwrap_or(0);
        let width = (last - first) as usize + 1;
        if width > MAX_COLUMNS {
            return Err(Problem::Header(Header::TooWide {
                columns: width,
                limit: MAX_COLUMNS,
            }));
        }
        let mut names = vec![String::new(); width];
        for (c, v) in named {
            names[(c - first) as usize] = match v {
                OwnedCell::Text(s) | OwnedCell::Number(s) => s.trim().to_string(),
                other => format!("{other:?}"),
            };
        }
        visitor.header(&names)?;
        self.raw_names = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if n.is_empty() {
                    column_name(first + i as u32)
                } else {
                    n.clone()
                }
            })
            .collect();
        self.first = first;
        self.width = width;
        self.header = Some(names);
        Ok(())
    }
}

/// A 0-based column number as its letters (0 → `A`, 26 → `AA`).
fn column_name(mut c: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The workbook's parts checked before calamine reads them (see the
/// module's documentation).
fn check_parts(file: impl Read + std::io::Seek, dialect: &Dialect) -> Result<(), Problem> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| unreadable(&e))?;
    for i in 0..zip.len() {
        let part = zip.by_index(i).map_err(|e| unreadable(&e))?;
        let name = part.name().map_err(|e| unreadable(&e))?.to_string();
        let size = part.size();
        if size > dialect.max_bytes {
            return Err(Problem::TooLarge {
                what: format!("part `{name}` of the workbook (uncompressed)"),
                size: Some(size),
                limit: dialect.max_bytes,
            });
        }
        let strings = name.ends_with("sharedStrings.xml");
        if strings && size > MAX_SHARED_STRINGS {
            return Err(Problem::format(format!(
                "the workbook's shared strings are {size} bytes uncompressed, more than siap reads ({MAX_SHARED_STRINGS})"
            )));
        }
        if strings || (name.contains("worksheets/") && name.ends_with(".xml")) {
            scan_part(part, &name, size, strings, dialect.max_record_bytes)?;
        }
    }
    Ok(())
}

/// Streams one XML part: no run of text or tag longer than `cap`; for the
/// shared strings, no more strings claimed than the part's bytes hold
/// (each takes at least `<si></si>`: calamine sets memory aside for the
/// number claimed).
fn scan_part(
    mut part: impl Read,
    name: &str,
    size: u64,
    strings: bool,
    cap: u64,
) -> Result<(), Problem> {
    let mut buf = vec![0u8; 1 << 16];
    let mut run = 0u64;
    let mut head = Vec::new();
    loop {
        let n = match part.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Problem::format(format!(
                    "cannot read part `{name}` of the workbook: {e}"
                )));
            }
        };
        let block = &buf[..n];
        if strings && head.len() < 4096 {
            head.extend_from_slice(&block[..block.len().min(4096 - head.len())]);
        }
        let mut from = 0;
        for i in memchr::memchr2_iter(b'<', b'>', block) {
            run += (i - from) as u64;
            if run > cap {
                break;
            }
            run = 0;
            from = i + 1;
        }
        run += (n - from) as u64;
        if run > cap {
            return Err(Problem::format(format!(
                "part `{name}` of the workbook holds a text or tag longer than max_record_bytes = {cap} bytes"
            )));
        }
    }
    if strings
        && let Some(claimed) = unique_count(&head)
        && claimed > size / 9 + 1
    {
        return Err(Problem::format(format!(
            "the workbook's shared strings claim {claimed} strings in {size} bytes: not a sound workbook"
        )));
    }
    Ok(())
}

/// The `uniqueCount` the shared-string table starts with, if any.
fn unique_count(head: &[u8]) -> Option<u64> {
    let key = b"uniqueCount=\"";
    let at = memchr::memmem::find(head, key)? + key.len();
    let digits: Vec<u8> = head[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    // More digits than a u64 holds is a claim too large all the same.
    Some(
        std::str::from_utf8(&digits)
            .ok()?
            .parse::<u64>()
            .unwrap_or(u64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        for (c, n) in [
            (0, "A"),
            (25, "Z"),
            (26, "AA"),
            (701, "ZZ"),
            (16_383, "XFD"),
        ] {
            assert_eq!(column_name(c), n);
        }
    }

    #[test]
    fn unique_counts() {
        assert_eq!(
            unique_count(br#"<sst xmlns="x" count="3" uniqueCount="2">"#),
            Some(2)
        );
        assert_eq!(unique_count(b"<sst>"), None);
        assert_eq!(
            unique_count(br#"<sst uniqueCount="999999999999999999999999">"#),
            Some(u64::MAX)
        );
    }
}
