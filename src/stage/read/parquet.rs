//! Parquet feeds, read a row group at a time (its column chunks as
//! stored, compressed, read from the file) and decoded a slice of rows at
//! a time (pages outside the slice are not decompressed; a slice is as
//! many rows as 32 MB of the group's stored data hold, from 65,536 to
//! 262,144), so memory follows a row group's compressed size and one
//! slice, never the file
//! (nor a memory map of it). Typed columns stay typed: dates and
//! datetimes as dates (a `Datetime` with a timezone is an instant;
//! without one, wall time in the campaign's timezone), numbers as
//! numbers; every other column as text. Text cells are borrowed from the
//! decoded slice, and a record's raw text (a JSON object) is made only
//! for the records that are quoted.

use crate::error::{Action, Problem};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use polars_arrow::datatypes::Field as ArrowField;
use polars_parquet::read::{
    self as pq, BasicDecompressor, ColumnChunkMetadata, Filter, PageReader, RowGroupMetadata,
};

use super::{Cell, Cells, LOOKAHEAD, OwnedCell, Visitor, number_text, raw_object};

/// The fewest rows decoded at a time (see [`slice_rows`]), and the rows
/// a piece made of small row groups aims at.
const SLICE: usize = 65_536;

fn not_parquet(e: impl std::fmt::Display) -> Problem {
    Problem::format(format!("not a readable Parquet file: {e}"))
}

pub(super) fn read(path: &Path, visitor: &mut dyn Visitor) -> Result<(), Problem> {
    read_sliced(path, visitor, PIECE_ROWS)
}

fn read_sliced(path: &Path, visitor: &mut dyn Visitor, most: usize) -> Result<(), Problem> {
    let file = ParquetFile::open(path)?;
    visitor.header(&file.header)?;
    file.visit_parts(&file.whole_groups(), 1, visitor, most)
}

/// The most rows a piece of a large row group holds: a piece's rows stay
/// in memory until they are written in file order, so a row group of a
/// million rows is read as four pieces (its column chunks read by each,
/// a page cache copy) rather than as one 64 MB batch of rows grown by
/// doubling, on one core.
const PIECE_ROWS: usize = 4 * SLICE;

/// Rows `rows` of row group `group`: part of a piece of a Parquet feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRows {
    pub group: usize,
    pub rows: std::ops::Range<usize>,
}

/// Hands a Parquet file on in pieces ([`pieces`]), to be read and
/// parsed elsewhere ([`ParquetFile::visit`]).
pub(super) fn read_groups(
    path: &Path,
    chunks: &mut dyn super::Chunks,
    size: usize,
) -> Result<(), Problem> {
    let file = std::sync::Arc::new(ParquetFile::open(path)?);
    chunks.header(&file.header)?;
    let groups = file.metadata.row_groups.iter();
    let sizes = groups.map(|g| (g.num_rows(), g.compressed_size()));
    let mut line = 1;
    for parts in pieces(sizes, size, PIECE_ROWS) {
        let rows: usize = parts.iter().map(|p| p.rows.len()).sum();
        chunks.row_groups(std::sync::Arc::clone(&file), parts, line)?;
        line += rows as u64;
    }
    Ok(())
}

/// A file's row groups (rows, compressed bytes) cut into pieces, in
/// order: small groups put together until a piece has [`SLICE`] rows or
/// `size` bytes (never more than `most` rows); a group of more than
/// `most` rows cut into pieces of about equal rows.
fn pieces(
    groups: impl Iterator<Item = (usize, usize)>,
    size: usize,
    most: usize,
) -> Vec<Vec<GroupRows>> {
    let mut out = Vec::new();
    let (mut pending, mut rows, mut bytes) = (Vec::new(), 0, 0);
    for (group, (n, compressed)) in groups.enumerate() {
        if n > most {
            if !pending.is_empty() {
                out.push(std::mem::take(&mut pending));
                (rows, bytes) = (0, 0);
            }
            let cuts = n.div_ceil(most);
            out.extend((0..cuts).map(|k| {
                vec![GroupRows {
                    group,
                    rows: n * k / cuts..n * (k + 1) / cuts,
                }]
            }));
            continue;
        }
        if rows + n > most {
            out.push(std::mem::take(&mut pending));
            (rows, bytes) = (0, 0);
        }
        pending.push(GroupRows { group, rows: 0..n });
        rows += n;
        bytes += compressed;
        if rows >= SLICE || bytes >= size {
            out.push(std::mem::take(&mut pending));
            (rows, bytes) = (0, 0);
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// A Parquet file's footer, read once: its row groups, and its columns
/// as a header.
pub struct ParquetFile {
    path: std::path::PathBuf,
    len: u64,
    metadata: pq::FileMetadata,
    fields: Vec<ArrowField>,
    header: Vec<String>,
}

impl ParquetFile {
    pub fn open(path: &Path) -> Result<ParquetFile, Problem> {
        let mut file = std::fs::File::open(path).map_err(Problem::io(Action::ReadCopy, path))?;
        let len = file
            .metadata()
            .map_err(Problem::io(Action::ReadCopy, path))?
            .len();
        let metadata = pq::read_metadata(&mut file).map_err(not_parquet)?;
        let schema = pq::infer_schema(&metadata).map_err(not_parquet)?;
        let fields: Vec<ArrowField> = schema.iter_values().cloned().collect();
        let header = fields.iter().map(|f| f.name.to_string()).collect();
        Ok(ParquetFile {
            path: path.to_path_buf(),
            len,
            metadata,
            fields,
            header,
        })
    }

    /// The lines each row group holds, in order (the first row is line 1).
    pub fn group_lines(&self) -> Vec<std::ops::Range<u64>> {
        let mut line = 1;
        let groups = &self.metadata.row_groups;
        groups
            .iter()
            .map(|g| {
                let first = line;
                line += g.num_rows() as u64;
                first..line
            })
            .collect()
    }

    /// Every row group, whole.
    fn whole_groups(&self) -> Vec<GroupRows> {
        let groups = self.metadata.row_groups.iter().enumerate();
        groups
            .map(|(group, g)| GroupRows {
                group,
                rows: 0..g.num_rows(),
            })
            .collect()
    }

    /// Reads the rows of `parts`, the first of them at line `line`, into
    /// `visitor` (which has had the header).
    pub fn visit(
        &self,
        parts: &[GroupRows],
        line: u64,
        visitor: &mut dyn Visitor,
    ) -> Result<(), Problem> {
        self.visit_parts(parts, line, visitor, PIECE_ROWS)
    }

    /// The raw text of wanted lines `lines` (sorted) of row group
    /// `group`, whose first row is line `first`, put in `found`: only
    /// those rows are decoded (the group's pages are still decompressed),
    /// so a few exceptions do not cost a whole group's cells.
    pub fn pick(
        &self,
        group: usize,
        first: u64,
        lines: &[u64],
        found: &mut std::collections::BTreeMap<u64, String>,
    ) -> Result<(), Problem> {
        let meta = &self.metadata.row_groups[group];
        let rows = meta.num_rows();
        let end = first + rows as u64;
        let from = lines.partition_point(|&l| l < first);
        let wanted = &lines[from..from + lines[from..].partition_point(|&l| l < end)];
        if wanted.is_empty() {
            return Ok(());
        }
        let mut mask = polars_arrow::bitmap::MutableBitmap::from_len_zeroed(rows);
        for &l in wanted {
            mask.set((l - first) as usize, true);
        }
        let mask: polars_arrow::bitmap::Bitmap = mask.into();
        let path = &self.path;
        let mut file = std::fs::File::open(path).map_err(Problem::io(Action::ReadCopy, path))?;
        let views: Vec<View> = self
            .fields
            .iter()
            .map(|f| {
                let chunks = column_chunks(&mut file, self.len, meta, &f.name)?;
                let filter = Filter::new_masked(mask.clone());
                View::of(&decode(f, chunks.as_deref(), filter, wanted.len())?)
            })
            .collect::<Result<_, Problem>>()?;
        for (i, &line) in wanted.iter().enumerate() {
            let row = Row { views: &views, i };
            found.insert(line, raw_object(&self.header, &row));
        }
        Ok(())
    }

    fn visit_parts(
        &self,
        parts: &[GroupRows],
        mut line: u64,
        visitor: &mut dyn Visitor,
        most: usize,
    ) -> Result<(), Problem> {
        let path = &self.path;
        let mut file = std::fs::File::open(path).map_err(Problem::io(Action::ReadCopy, path))?;
        for part in parts {
            let group = &self.metadata.row_groups[part.group];
            let chunks: Vec<Option<Chunks>> = self
                .fields
                .iter()
                .map(|f| column_chunks(&mut file, self.len, group, &f.name))
                .collect::<Result<_, _>>()?;
            let slice = slice_rows(group.num_rows(), group.total_byte_size(), most);
            let mut start = part.rows.start;
            while start < part.rows.end {
                let end = (start + slice).min(part.rows.end);
                let views: Vec<View> = self
                    .fields
                    .iter()
                    .zip(&chunks)
                    .map(|(f, c)| {
                        let filter = Filter::new_ranged(start, end);
                        View::of(&decode(f, c.as_deref(), filter, end - start)?)
                    })
                    .collect::<Result<_, Problem>>()?;
                visit_slice(&views, end - start, &self.header, line, visitor);
                line += (end - start) as u64;
                start = end;
            }
        }
        Ok(())
    }
}

/// Stored (uncompressed) bytes of a row group decoded at a time: a
/// slice of rows is decoded in one go, since each decode of a column
/// decompresses and decodes its dictionary page again (a dictionary of a
/// million timestamps is ~25 MB).
const SLICE_BYTES: usize = 32 << 20;

/// Rows of a row group of `rows` rows and `stored` uncompressed bytes
/// decoded at a time: as many as [`SLICE_BYTES`] of its stored data
/// hold, at least [`SLICE`], at most `most`.
fn slice_rows(rows: usize, stored: usize, most: usize) -> usize {
    let per_row = (stored / rows.max(1)).max(1);
    (SLICE_BYTES / per_row).clamp(SLICE.min(most), most)
}

/// One decoded slice's `n` rows, the first at line `line`, each with the
/// record [`LOOKAHEAD`] rows on as a hint.
fn visit_slice(views: &[View], n: usize, header: &[String], line: u64, visitor: &mut dyn Visitor) {
    for i in 0..n.min(LOOKAHEAD) {
        visitor.upcoming_cells(&Row { views, i });
    }
    for i in 0..n {
        if i + LOOKAHEAD < n {
            views.iter().for_each(|v| v.prefetch(i + LOOKAHEAD));
            visitor.upcoming_cells(&Row {
                views,
                i: i + LOOKAHEAD,
            });
        }
        let row = Row { views, i };
        let raw = || raw_object(header, &row);
        visitor.record_made(line + i as u64, &raw, &row);
    }
}

/// One column's chunks in a row group (one, unless nested): their
/// metadata and their bytes as stored.
type Chunks<'m> = Vec<(&'m ColumnChunkMetadata, polars_buffer::Buffer<u8>)>;

/// Reads the stored bytes of a column's chunks in a row group (`None`: the
/// group lacks the column).
fn column_chunks<'m>(
    file: &mut std::fs::File,
    len: u64,
    group: &'m RowGroupMetadata,
    name: &str,
) -> Result<Option<Chunks<'m>>, Problem> {
    let Some(metas) = group.columns_under_root_iter(name) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for meta in metas {
        let range = meta.byte_range();
        if range.end > len || range.start > range.end {
            return Err(not_parquet(format!(
                "column `{name}` is said to be at bytes {}..{} of a {len}-byte file",
                range.start, range.end
            )));
        }
        let mut bytes = vec![0; (range.end - range.start) as usize];
        file.seek(SeekFrom::Start(range.start))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(not_parquet)?;
        out.push((meta, polars_buffer::Buffer::from_vec(bytes)));
    }
    Ok(Some(out))
}

/// The rows `filter` picks (`rows` of them) of one column of a row
/// group, decoded.
fn decode(
    field: &ArrowField,
    chunks: Option<&[(&ColumnChunkMetadata, polars_buffer::Buffer<u8>)]>,
    filter: Filter,
    rows: usize,
) -> Result<Series, Problem> {
    let Some(chunks) = chunks else {
        let dtype = DataType::from_arrow_field(field);
        return Ok(Series::full_null(field.name.clone(), rows, &dtype));
    };
    let (pages, types): (Vec<_>, Vec<_>) = chunks
        .iter()
        .map(|(meta, bytes)| {
            let pages = PageReader::new(Cursor::new(bytes.clone()), meta, vec![], usize::MAX);
            (
                BasicDecompressor::new(pages, vec![]),
                &meta.descriptor().descriptor.primitive_type,
            )
        })
        .unzip();
    let (arrays, _) = pq::column_iter_to_arrays(pages, types, field.clone(), Some(filter))
        .map_err(not_parquet)?;
    Series::try_from((field, arrays)).map_err(not_parquet)
}

/// A decoded column of a slice, as cells are read from it.
enum View {
    /// Text (`number`: a machine-written number), borrowed cell by cell
    /// from the slice's one array.
    Strings {
        text: polars_arrow::array::Utf8ViewArray,
        number: bool,
    },
    /// Integers that fit an `i64`, cell by cell from the slice's array:
    /// no text made and parsed back.
    Ints(polars_arrow::array::PrimitiveArray<i64>),
    /// Dates, datetimes, floats: cells made once per slice.
    Cells(Vec<OwnedCell>),
}

impl View {
    fn of(s: &Series) -> Result<View, Problem> {
        let strings = |number: bool| -> Result<View, Problem> {
            let text = s.cast(&DataType::String).map_err(not_parquet)?;
            let text = text.str().map_err(not_parquet)?.rechunk();
            let text = text.downcast_as_array().clone();
            Ok(View::Strings { text, number })
        };
        match s.dtype() {
            DataType::Date | DataType::Datetime(..) => Ok(View::Cells(columns(s)?)),
            dt if dt.is_float() => Ok(View::Cells(columns(s)?)),
            // A UInt64 or wider stays number text.
            dt if crate::sys::fits_i64(dt) => {
                let ints = s.cast(&DataType::Int64).map_err(not_parquet)?;
                let ints = ints.i64().map_err(not_parquet)?.rechunk();
                Ok(View::Ints(ints.downcast_as_array().clone()))
            }
            dt if dt.is_primitive_numeric() => strings(true),
            _ => strings(false),
        }
    }

    /// Starts fetching the text of row `i` into the cache, where it is
    /// held apart from the array's views (longer than 12 bytes): a
    /// column decoded from a large dictionary points all over it.
    #[inline]
    fn prefetch(&self, i: usize) {
        if let View::Strings { text, .. } = self
            && let Some(v) = text.views().get(i)
            && v.length > 12
        {
            crate::sys::prefetch(&text.value(i).as_bytes()[0]);
        }
    }

    fn get(&self, i: usize) -> Cell<'_> {
        match self {
            View::Strings { text, number } => {
                // Past the end (a file short of its rows) reads as null.
                let t = if i < text.len() { text.get(i) } else { None };
                match t {
                    Some(t) if *number => Cell::Number(t),
                    Some(t) => Cell::Text(t),
                    None => Cell::Null,
                }
            }
            View::Ints(ints) => {
                use polars_arrow::array::Array;
                if i < ints.len() && ints.is_valid(i) {
                    Cell::Int(ints.value(i))
                } else {
                    Cell::Null
                }
            }
            View::Cells(cells) => cells.get(i).map_or(Cell::Null, OwnedCell::as_cell),
        }
    }
}

/// Row `i` of a slice.
struct Row<'v> {
    views: &'v [View],
    i: usize,
}

impl Cells for Row<'_> {
    fn get(&self, column: usize) -> Cell<'_> {
        self.views.get(column).map_or(Cell::Null, |v| v.get(self.i))
    }
}

/// A column of dates, datetimes or floats as cells.
fn columns(s: &Series) -> Result<Vec<OwnedCell>, Problem> {
    let cells = match s.dtype() {
        DataType::Date => s
            .date()
            .map_err(not_parquet)?
            .physical()
            .iter()
            .map(|v| {
                v.and_then(|days| NaiveDate::from_num_days_from_ce_opt(days + 719_163))
                    .map_or(OwnedCell::Null, |d| {
                        OwnedCell::DateTime(d.and_time(chrono::NaiveTime::MIN))
                    })
            })
            .collect(),
        DataType::Datetime(unit, tz) => {
            let to_micros = |v: i64| -> i64 {
                match unit {
                    TimeUnit::Nanoseconds => v / 1_000,
                    TimeUnit::Microseconds => v,
                    TimeUnit::Milliseconds => v.saturating_mul(1_000),
                }
            };
            let has_tz = tz.is_some();
            s.datetime()
                .map_err(not_parquet)?
                .physical()
                .iter()
                .map(|v| match v.map(to_micros) {
                    Some(v) if has_tz => OwnedCell::Instant(v),
                    Some(v) => DateTime::from_timestamp_micros(v)
                        .map_or(OwnedCell::Null, |d| OwnedCell::DateTime(d.naive_utc())),
                    None => OwnedCell::Null,
                })
                .collect()
        }
        _ => s
            .cast(&DataType::Float64)
            .map_err(not_parquet)?
            .f64()
            .map_err(not_parquet)?
            .iter()
            .map(|v| v.map_or(OwnedCell::Null, |v| OwnedCell::Number(number_text(v))))
            .collect(),
    };
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;

    /// A slice is 32 MiB of a group's stored rows, within its bounds.
    #[test]
    fn slices_follow_the_stored_bytes_within_bounds() {
        // 26 stored bytes a row (`siap generate`'s feeds): the most.
        assert_eq!(slice_rows(1_000_000, 26_000_000, PIECE_ROWS), PIECE_ROWS);
        // 256 bytes a row: 32 MiB of them.
        assert_eq!(slice_rows(1_000_000, 256_000_000, PIECE_ROWS), 131_072);
        // Rows of kilobytes: never under a slice, unless asked.
        assert_eq!(slice_rows(10_000, 100_000_000, PIECE_ROWS), SLICE);
        assert_eq!(slice_rows(10_000, 100_000_000, 7), 7);
        // No rows, no bytes: no division by zero.
        assert_eq!(slice_rows(0, 0, PIECE_ROWS), PIECE_ROWS);
    }

    /// Every row of every group, once, in order; small groups together,
    /// large ones cut into pieces of about equal rows.
    #[test]
    fn pieces_cover_every_row_once_in_order() {
        let groups = [
            (10, 5),
            (0, 1),
            (700, 50),
            (20, 5),
            (30, 5),
            (280, 4),
            (5, 1),
        ];
        let cut = pieces(groups.iter().copied(), 12, 300);
        let rows: Vec<(usize, usize)> = cut
            .iter()
            .flatten()
            .flat_map(|p| p.rows.clone().map(move |r| (p.group, r)))
            .collect();
        let want: Vec<(usize, usize)> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, &(n, _))| (0..n).map(move |r| (g, r)))
            .collect();
        assert_eq!(rows, want);
        let shape: Vec<Vec<(usize, std::ops::Range<usize>)>> = cut
            .into_iter()
            .map(|p| p.into_iter().map(|p| (p.group, p.rows)).collect())
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![(0, 0..10), (1, 0..0)],
                vec![(2, 0..233)],
                vec![(2, 233..466)],
                vec![(2, 466..700)],
                vec![(3, 0..20), (4, 0..30)],
                vec![(5, 0..280), (6, 0..5)],
            ]
        );
    }

    /// Every record: its line, its cells (as debug text), its raw text.
    #[derive(Default)]
    struct Log(Vec<(u64, Vec<String>, String)>);

    impl Visitor for Log {
        fn header(&mut self, _: &[String]) -> Result<(), Problem> {
            Ok(())
        }
        fn record(&mut self, line: u64, raw: &str, cells: &dyn Cells) {
            let cells = (0..6).map(|i| format!("{:?}", cells.get(i))).collect();
            self.0.push((line, cells, raw.to_string()));
        }
        fn broken(&mut self, line: u64, _: &str, _: Reason, detail: String) {
            panic!("line {line} broken: {detail}");
        }
    }

    /// A file of several row groups, read a few rows at a time (slices
    /// across row groups' and pages' edges), gives the records a whole
    /// row group at a time gives, and the values polars' own reader reads.
    #[test]
    fn slices_read_what_the_whole_file_holds() {
        let n: i64 = 1_000;
        let millis = |name: &str, tz: Option<TimeZone>| {
            Int64Chunked::from_iter_values(
                name.into(),
                (0..n).map(|i| 1_764_000_000_000 + i * 61_000),
            )
            .into_datetime(TimeUnit::Milliseconds, tz)
            .into_column()
        };
        let mut df = df!(
            "sku" => (0..n).map(|i| (i % 13 != 0).then(|| format!("SKU-{i:04}"))).collect::<Vec<_>>(),
            "qty" => (0..n).map(|i| (i % 7 != 0).then_some(i * 10)).collect::<Vec<_>>(),
            "price" => (0..n).map(|i| i as f64 / 4.0).collect::<Vec<_>>(),
            "day" => (0..n).map(|i| 20_000 + (i % 30) as i32).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_columns([col("day").cast(DataType::Date)])
        .collect()
        .unwrap();
        df.with_column(millis("at", Some(TimeZone::UTC))).unwrap();
        df.with_column(millis("wall", None)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .with_row_group_size(Some(300))
            .with_data_page_size(Some(512))
            .finish(&mut df)
            .unwrap();
        let read = |slice| {
            let mut log = Log::default();
            read_sliced(&path, &mut log, slice).unwrap();
            log.0
        };
        let whole = read(SLICE);
        for slice in [1, 7, 299, 301] {
            assert!(read(slice) == whole, "slices of {slice}");
        }
        // Read as pieces of rows of groups (groups cut in pieces of at
        // most 128 rows, and put together), one after another: the same.
        let file = ParquetFile::open(&path).unwrap();
        let sizes = file.metadata.row_groups.iter().map(|g| (g.num_rows(), 1));
        let mut log = Log::default();
        let mut line = 1;
        for parts in pieces(sizes, 1 << 20, 128) {
            assert!(parts.iter().all(|p| p.rows.len() <= 128), "{parts:?}");
            file.visit_parts(&parts, line, &mut log, 7).unwrap();
            line += parts.iter().map(|p| p.rows.len() as u64).sum::<u64>();
        }
        assert!(log.0 == whole, "pieces of groups");
        // The reference: polars' reader, the whole file at once.
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(whole.len(), back.height());
        let sku = back.column("sku").unwrap().str().unwrap().clone();
        let qty = back.column("qty").unwrap().i64().unwrap().clone();
        let price = back.column("price").unwrap().f64().unwrap().clone();
        let day = back.column("day").unwrap().date().unwrap().clone();
        let at = back.column("at").unwrap().datetime().unwrap().clone();
        assert!(at.time_zone().is_some(), "{:?}", back.schema());
        for (i, (line, cells, raw)) in whole.iter().enumerate() {
            assert_eq!(*line, i as u64 + 1);
            let midnight = NaiveDate::from_num_days_from_ce_opt(day.phys.get(i).unwrap() + 719_163)
                .unwrap()
                .and_time(chrono::NaiveTime::MIN);
            let want = [
                sku.get(i).map_or("Null".into(), |t| format!("Text({t:?})")),
                qty.get(i).map_or("Null".into(), |q| format!("Int({q})")),
                format!("Number({:?})", number_text(price.get(i).unwrap())),
                format!("DateTime({midnight:?})"),
                format!("Instant({})", at.phys.get(i).unwrap() * 1_000),
                format!(
                    "DateTime({:?})",
                    DateTime::from_timestamp_millis(at.phys.get(i).unwrap())
                        .unwrap()
                        .naive_utc()
                ),
            ];
            assert_eq!(cells[..], want[..], "line {line}");
            let json: serde_json::Value = serde_json::from_str(raw).unwrap();
            assert_eq!(json["sku"].as_str(), sku.get(i), "line {line}: {raw}");
        }
        // Rows picked out of their row groups (each group's first and
        // last rows among them) have the raw text of a whole visit.
        let file = ParquetFile::open(&path).unwrap();
        let lines: Vec<u64> = (1..=n as u64)
            .filter(|l| l % 37 == 0 || l % 300 <= 1 || *l == n as u64)
            .collect();
        let mut found = std::collections::BTreeMap::new();
        for (g, range) in file.group_lines().into_iter().enumerate() {
            file.pick(g, range.start, &lines, &mut found).unwrap();
        }
        let want: std::collections::BTreeMap<u64, String> = lines
            .iter()
            .map(|&l| (l, whole[l as usize - 1].2.clone()))
            .collect();
        assert!(found == want, "picked rows differ from a whole visit");
    }
}
