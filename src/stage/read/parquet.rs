//! Parquet feeds, read a slice of rows at a time (the row groups that
//! hold them), so memory follows the slice, not the file. Typed columns
//! stay typed: dates and datetimes as dates (a `Datetime` with a timezone
//! is an instant; without one, wall time in the campaign's timezone),
//! numbers as numbers; every other column as text.

use crate::error::{Action, Problem};
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;

use super::{OwnedCell, OwnedCells, Visitor, number_text, raw_object};

/// Rows read at a time.
const SLICE: usize = 65_536;

pub(super) fn read(path: &Path, visitor: &mut dyn Visitor) -> Result<(), Problem> {
    let open = || std::fs::File::open(path).map_err(Problem::io(Action::ReadCopy, path));
    let not_parquet = |e: PolarsError| Problem::format(format!("not a readable Parquet file: {e}"));
    let mut reader = ParquetReader::new(open()?);
    let metadata = reader.get_metadata().map_err(not_parquet)?.clone();
    let rows = metadata.num_rows;
    let mut header: Option<Vec<String>> = None;
    let mut start = 0;
    loop {
        let mut r = ParquetReader::new(open()?).with_slice(Some((start, SLICE)));
        r.set_metadata(metadata.clone());
        let df = r.finish().map_err(not_parquet)?;
        if header.is_none() {
            let names: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            visitor.header(&names)?;
            header = Some(names);
        }
        let header = header.as_deref().expect("set above");
        let columns = columns(&df)?;
        let mut row: Vec<OwnedCell> = Vec::with_capacity(header.len());
        for i in 0..df.height() {
            row.clear();
            row.extend(columns.iter().map(|c| c[i].clone()));
            let raw = raw_object(header, &row);
            visitor.record((start + i) as u64 + 1, &raw, &OwnedCells(&row));
        }
        start += SLICE;
        if start >= rows {
            return Ok(());
        }
    }
}

/// A slice's columns as cells.
fn columns(df: &DataFrame) -> Result<Vec<Vec<OwnedCell>>, Problem> {
    let mut columns: Vec<Vec<OwnedCell>> = Vec::with_capacity(df.width());
    for col in df.columns() {
        let s = col.as_materialized_series();
        let cells: Vec<OwnedCell> = match s.dtype() {
            DataType::Date => s
                .date()
                .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?
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
                    .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?
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
                let casted = s
                    .cast(&DataType::String)
                    .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?;
                let f = if as_f64 {
                    Some(s.cast(&DataType::Float64).map_err(|e| {
                        Problem::format(format!("not a readable Parquet file: {e}"))
                    })?)
                } else {
                    None
                };
                match f {
                    Some(f) => f
                        .f64()
                        .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?
                        .iter()
                        .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Number(number_text(v))))
                        .collect(),
                    None => casted
                        .str()
                        .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?
                        .iter()
                        .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Number(v.to_string())))
                        .collect(),
                }
            }
            _ => {
                let casted = s
                    .cast(&DataType::String)
                    .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?;
                casted
                    .str()
                    .map_err(|e| Problem::format(format!("not a readable Parquet file: {e}")))?
                    .iter()
                    .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Text(v.to_string())))
                    .collect()
            }
        };
        columns.push(cells);
    }
    Ok(columns)
}
