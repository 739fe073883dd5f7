//! A table's rows as CSV: the bytes polars' `CsvWriter` writes (quotes
//! only where needed, `\n` endings, ISO dates), with text neutralized
//! against formula injection on the way.
//!
//! The long tables (shipments, exceptions) hold only text, integers, dates
//! and booleans: their cells are written here by hand, a row at a time
//! into one buffer, at about a third of the CPU of polars' serializer
//! with its separate neutralizing pass (docs/performance.md, twenty-first
//! session). A frame with any other column type (the readiness tables'
//! ratios), or a dialect the fast path does not know, goes through
//! polars; `tests` compares both on random frames.

use std::io::Write;

use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, Utf8ViewArray};

use super::table::{formula_start, neutralize};
use crate::aggregate::local_time::civil_from_days;
use crate::error::{Error, Result};
use crate::pipeline::OutputOptions;

/// Bytes gathered before they are handed to the writer.
const FLUSH: usize = 1 << 20;

/// Writes `df`'s rows (after the header and the byte-order mark when
/// `first`) as the output options say.
pub fn write_frame(
    w: &mut dyn Write,
    df: &DataFrame,
    first: bool,
    o: &OutputOptions,
) -> std::result::Result<(), String> {
    let fast = if fast_dialect(o.csv_delimiter) {
        columns(df).map_err(|e| e.to_string())?
    } else {
        None
    };
    let Some(cells) = fast else {
        let mut safe = neutralize_strings(df).map_err(|e| e.to_string())?;
        return polars_writer(w, first, o)
            .finish(&mut safe)
            .map_err(|e| e.to_string());
    };
    if first {
        polars_writer(w, true, o)
            .finish(&mut df.clear())
            .map_err(|e| e.to_string())?;
    }
    write_rows(w, &cells, df.height(), o.csv_delimiter).map_err(|e| e.to_string())
}

fn polars_writer<'w>(
    w: &'w mut dyn Write,
    first: bool,
    o: &OutputOptions,
) -> CsvWriter<&'w mut dyn Write> {
    CsvWriter::new(w)
        .include_header(first)
        .include_bom(o.csv_bom && first)
        .with_separator(o.csv_delimiter)
        .with_decimal_comma(o.csv_decimal_comma)
        .with_line_terminator("\n".into())
}

/// A delimiter that no text cell's neutralizing or quoting could meet.
pub(super) fn fast_dialect(separator: u8) -> bool {
    !matches!(separator, b'"' | b'\'' | b'\n' | b'\r')
}

/// One column's values, by type.
enum Cells {
    Text(Utf8ViewArray),
    Signed(PrimitiveArray<i64>),
    Unsigned(PrimitiveArray<u64>),
    Date(PrimitiveArray<i32>),
    Bool(BooleanArray),
}

/// The columns of `df` as arrays the fast path writes, or `None` when one
/// of them is of another type (or a date outside years 0–9999, which
/// chrono writes with a sign).
fn columns(df: &DataFrame) -> PolarsResult<Option<Vec<Cells>>> {
    let in_range = |d: Option<i32>| d.is_none_or(writes_plain);
    let mut out = Vec::with_capacity(df.width());
    for col in df.columns() {
        let s = col.as_materialized_series();
        let cells = match s.dtype() {
            DataType::String => Cells::Text(single(&s.str()?.rechunk())),
            DataType::Boolean => Cells::Bool(single(&s.bool()?.rechunk())),
            DataType::UInt64 => Cells::Unsigned(single(&s.u64()?.rechunk())),
            dt if crate::sys::fits_i64(dt) => {
                Cells::Signed(single(&s.cast(&DataType::Int64)?.i64()?.rechunk()))
            }
            DataType::Date => {
                let days = s.date()?.physical().rechunk();
                if !(in_range(days.min()) && in_range(days.max())) {
                    return Ok(None);
                }
                Cells::Date(single(&days))
            }
            _ => return Ok(None),
        };
        out.push(cells);
    }
    Ok(Some(out))
}

/// The one array of a rechunked column (an empty one when it has none).
fn single<T>(ca: &ChunkedArray<T>) -> T::Array
where
    T: PolarsDataType,
    T::Array: Clone,
{
    ca.downcast_iter().next().cloned().unwrap_or_else(|| {
        ca.clear()
            .downcast_iter()
            .next()
            .cloned()
            .expect("one chunk")
    })
}

/// 0000-01-01 and 9999-12-31, in days since 1970-01-01.
const MIN_DAY: i32 = -719_528;
const MAX_DAY: i32 = 2_932_896;

/// A day [`date`] writes as polars does (years 0–9999; chrono writes
/// others with a sign).
pub(super) fn writes_plain(days: i32) -> bool {
    (MIN_DAY..=MAX_DAY).contains(&days)
}

fn write_rows(w: &mut dyn Write, cols: &[Cells], rows: usize, sep: u8) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(FLUSH + (64 << 10));
    let mut int = itoa::Buffer::new();
    for row in 0..rows {
        for (c, cells) in cols.iter().enumerate() {
            if c > 0 {
                buf.push(sep);
            }
            match cells {
                Cells::Text(a) => {
                    if a.is_valid(row) {
                        text(&mut buf, a.value(row), sep);
                    }
                }
                Cells::Signed(a) => {
                    if a.is_valid(row) {
                        buf.extend_from_slice(int.format(a.value(row)).as_bytes());
                    }
                }
                Cells::Unsigned(a) => {
                    if a.is_valid(row) {
                        buf.extend_from_slice(int.format(a.value(row)).as_bytes());
                    }
                }
                Cells::Date(a) => {
                    if a.is_valid(row) {
                        date(&mut buf, a.value(row));
                    }
                }
                Cells::Bool(a) => {
                    if a.is_valid(row) {
                        let v: &[u8] = if a.value(row) { b"true" } else { b"false" };
                        buf.extend_from_slice(v);
                    }
                }
            }
        }
        buf.push(b'\n');
        if buf.len() >= FLUSH {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

/// A text cell: `""` when empty (an empty cell is a null), quoted when it
/// holds the delimiter, a line break or a quote (quotes doubled), and a
/// `'` before a leading formula character.
pub(super) fn text(buf: &mut Vec<u8>, s: &str, sep: u8) {
    let b = s.as_bytes();
    if b.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    let neutral = formula_start(b[0]);
    // One pass for both questions: cells are short, and a vectorized
    // search costs more to set up than such a scan takes.
    let (mut has_quote, mut breaks) = (false, false);
    for &c in b {
        has_quote |= c == b'"';
        breaks |= c == sep || c == b'\n' || c == b'\r';
    }
    let quoted = has_quote || breaks;
    if quoted {
        buf.push(b'"');
    }
    if neutral {
        buf.push(b'\'');
    }
    if has_quote {
        let mut start = 0;
        for q in memchr::memchr_iter(b'"', b) {
            buf.extend_from_slice(&b[start..=q]);
            buf.push(b'"');
            start = q + 1;
        }
        buf.extend_from_slice(&b[start..]);
    } else {
        buf.extend_from_slice(b);
    }
    if quoted {
        buf.push(b'"');
    }
}

/// `YYYY-MM-DD` of a day since 1970-01-01 in years 0–9999 (checked by
/// `columns`, [`writes_plain`]).
pub(super) fn date(buf: &mut Vec<u8>, days: i32) {
    let (y, m, day) = civil_from_days(i64::from(days));
    let y = y as u32;
    let digit = |v: u32| b'0' + v as u8;
    buf.extend_from_slice(&[
        digit(y / 1000),
        digit(y / 100 % 10),
        digit(y / 10 % 10),
        digit(y % 10),
        b'-',
        digit(m / 10),
        digit(m % 10),
        b'-',
        digit(day / 10),
        digit(day % 10),
    ]);
}

/// `df` with every text cell neutralized (for polars' writer).
fn neutralize_strings(df: &DataFrame) -> Result<DataFrame> {
    let err = |e| Error::polars("neutralizing CSV text")(e);
    let mut out = df.clone();
    for col in df.columns() {
        if col.dtype() != &DataType::String {
            continue;
        }
        let ca = col.str().map_err(err)?;
        // Most columns hold nothing to neutralize: keep them as they are
        // (a clone shares the buffers) instead of copying them.
        let owned = |v: Option<&str>| {
            v.is_some_and(|s| matches!(neutralize(s), std::borrow::Cow::Owned(_)))
        };
        if !ca.iter().any(owned) {
            continue;
        }
        let mapped: StringChunked = ca
            .iter()
            .map(|v| v.map(|s| neutralize(s).into_owned()))
            .collect::<StringChunked>()
            .with_name(col.name().clone());
        out.with_column(mapped.into_column()).map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_polars(df: &DataFrame, o: &OutputOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let mut safe = neutralize_strings(df).unwrap();
        polars_writer(&mut out, true, o).finish(&mut safe).unwrap();
        out
    }

    fn by_hand(df: &DataFrame, o: &OutputOptions) -> Vec<u8> {
        assert!(columns(df).unwrap().is_some(), "the fast path takes it");
        let mut out = Vec::new();
        write_frame(&mut out, df, true, o).unwrap();
        out
    }

    /// A random text: mostly plain, sometimes with every character that
    /// quoting or neutralizing turns on.
    fn random_text(rng: &mut fastrand::Rng) -> Option<String> {
        const PIECES: &[&str] = &[
            "a", "Kopi", "MIE-01", " ", ",", ";", "|", "\t", "\"", "\"\"", "'", "\n", "\r\n", "=",
            "+", "-", "@", "é", "€", "1.5", "",
        ];
        if rng.u8(..10) == 0 {
            return None;
        }
        let n = rng.usize(0..5);
        Some((0..n).map(|_| PIECES[rng.usize(..PIECES.len())]).collect())
    }

    fn random_frame(rng: &mut fastrand::Rng, rows: usize) -> DataFrame {
        let maybe = |rng: &mut fastrand::Rng| rng.u8(..8) != 0;
        let text: Vec<Option<String>> = (0..rows).map(|_| random_text(rng)).collect();
        let int: Vec<Option<i64>> = (0..rows)
            .map(|_| {
                maybe(rng)
                    .then(|| [i64::MIN, -1, 0, 7, i64::MAX][rng.usize(..5)] / rng.i64(1..1000))
            })
            .collect();
        let small: Vec<Option<i32>> = (0..rows).map(|_| maybe(rng).then(|| rng.i32(..))).collect();
        let unsigned: Vec<Option<u64>> =
            (0..rows).map(|_| maybe(rng).then(|| rng.u64(..))).collect();
        let line: Vec<u32> = (0..rows).map(|_| rng.u32(..)).collect();
        let days: Vec<Option<i32>> = (0..rows)
            .map(|_| maybe(rng).then(|| rng.i32(MIN_DAY..=MAX_DAY)))
            .collect();
        let flag: Vec<Option<bool>> = (0..rows).map(|_| maybe(rng).then(|| rng.bool())).collect();
        let mut df = df! {
            "text" => text,
            "int" => int,
            "small" => small,
            "unsigned" => unsigned,
            "line" => line,
            "flag" => flag,
        }
        .unwrap();
        df.with_column(crate::aggregate::shipments::date_column("day", days))
            .unwrap();
        df
    }

    #[test]
    fn same_bytes_as_polars_in_every_dialect() {
        let mut rng = fastrand::Rng::with_seed(19);
        for (sep, bom) in [(b',', false), (b';', true), (b'\t', false), (b'|', false)] {
            let o = OutputOptions {
                csv_delimiter: sep,
                csv_bom: bom,
                ..OutputOptions::default()
            };
            for rows in [0, 1, 5, 3000] {
                let df = random_frame(&mut rng, rows);
                assert_eq!(
                    String::from_utf8(by_hand(&df, &o)).unwrap(),
                    String::from_utf8(through_polars(&df, &o)).unwrap(),
                    "delimiter {:?}, {rows} rows",
                    sep as char
                );
            }
        }
    }

    #[test]
    fn frames_in_several_chunks_and_batches() {
        let mut rng = fastrand::Rng::with_seed(7);
        let o = OutputOptions::default();
        let mut df = random_frame(&mut rng, 100);
        df.vstack_mut(&random_frame(&mut rng, 50)).unwrap();
        assert!(df.first_col_n_chunks() > 1);
        assert_eq!(by_hand(&df, &o), through_polars(&df, &o));
        // Batches: the header once, rows appended.
        let mut out = Vec::new();
        write_frame(&mut out, &df.slice(0, 60), true, &o).unwrap();
        write_frame(&mut out, &df.slice(60, 90), false, &o).unwrap();
        assert_eq!(out, through_polars(&df, &o));
    }

    #[test]
    fn other_types_and_dates_go_through_polars() {
        let o = OutputOptions::default();
        let ratio = df! { "ratio" => [Some(0.5f64), None], "id" => ["=1", "b"] }.unwrap();
        assert!(columns(&ratio).unwrap().is_none());
        let far = df! { "x" => [1i32] }.unwrap();
        let mut far = far;
        far.with_column(crate::aggregate::shipments::date_column(
            "d",
            vec![Some(MAX_DAY + 1)],
        ))
        .unwrap();
        assert!(columns(&far).unwrap().is_none());
        for df in [ratio, far] {
            let mut out = Vec::new();
            write_frame(&mut out, &df, true, &o).unwrap();
            assert_eq!(out, through_polars(&df, &o));
        }
        let mut out = Vec::new();
        let quotes = OutputOptions {
            csv_delimiter: b'\'',
            ..OutputOptions::default()
        };
        let df = df! { "t" => ["-1", "a'b"] }.unwrap();
        write_frame(&mut out, &df, true, &quotes).unwrap();
        assert_eq!(out, through_polars(&df, &quotes));
    }
}
