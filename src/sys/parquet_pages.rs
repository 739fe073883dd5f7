//! Parquet pages encoded straight from a batch's numbers, for the staged
//! copies and the shipments table: no Arrow arrays in between, one data
//! page per column chunk.
//!
//! Only what those columns need, in the encodings readers take
//! everywhere (V1 data pages of optional columns):
//! - integers, dates and timestamps as `DELTA_BINARY_PACKED` (blocks of
//!   256 values in one miniblock);
//! - strings dictionary-encoded (a plain dictionary page, then the keys
//!   bit-packed in one run), or plain;
//! - booleans bit-packed (`PLAIN`);
//! - definition levels as one run (no nulls) or bit-packed (nulls);
//! - min / max / null-count statistics on every page.
//!
//! Compression and the file layout stay with polars' Parquet writer.

use polars::prelude::PolarsError;
use polars_arrow::datatypes::ArrowSchema;
use polars_parquet::parquet::compression::CompressionOptions;
use polars_parquet::parquet::encoding::{self, Encoding};
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{
    CompressedPage, DataPage, DataPageHeader, DataPageHeaderV1, DictPage, Page,
};
use polars_parquet::parquet::schema::types::{PhysicalType, PrimitiveType};
use polars_parquet::parquet::statistics::{
    BinaryStatistics, BooleanStatistics, ParquetStatistics, PrimitiveStatistics,
};
use polars_parquet::parquet::{CowBuffer, FallibleStreamingIterator};
use polars_parquet::write::{
    DynIter, DynStreamingIterator, FileWriter, ParquetType, to_parquet_schema,
};

/// The Parquet type of each column of a flat Arrow schema, in order.
pub fn fields(arrow: &ArrowSchema) -> Vec<PrimitiveType> {
    to_parquet_schema(arrow)
        .expect("a flat schema has a Parquet form")
        .fields()
        .iter()
        .map(|f| match f {
            ParquetType::PrimitiveType(p) => p.clone(),
            ParquetType::GroupType { .. } => unreachable!("the columns are flat"),
        })
        .collect()
}

/// Numbers of one kind (entries, suppliers, ...) renumbered 0.. in order
/// of first use within a batch: the keys of a batch's dictionary.
#[derive(Default)]
pub struct Remap {
    /// Per number: (the batch generation it was last seen in, its key then),
    /// side by side so a lookup touches one place in memory.
    slots: Vec<(u32, u32)>,
    generation: u32,
    /// The original numbers, by new number.
    pub used: Vec<u32>,
}

impl Remap {
    pub fn start(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| s.0 = 0);
            self.generation = 1;
        }
        self.used.clear();
    }

    /// Starts fetching the slot of `id` into the cache, for a row a few
    /// rows on (the slots of a large SKU map do not stay in cache).
    #[inline]
    pub fn prefetch(&self, id: u32) {
        if let Some(slot) = self.slots.get(id as usize) {
            crate::sys::prefetch(slot);
        }
    }

    #[inline]
    pub fn key(&mut self, id: u32) -> u32 {
        let i = id as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (0, 0));
        }
        let slot = &mut self.slots[i];
        if slot.0 != self.generation {
            *slot = (self.generation, self.used.len() as u32);
            self.used.push(id);
        }
        slot.1
    }
}

/// Values per delta block (one miniblock each), as polars writes them.
const BLOCK: usize = 256;

fn uleb128(out: &mut Vec<u8>, v: u64) {
    let mut bytes = [0; 10];
    let n = encoding::uleb128::encode(v, &mut bytes);
    out.extend_from_slice(&bytes[..n]);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let (bytes, n) = encoding::zigzag_leb128::encode(v);
    out.extend_from_slice(&bytes[..n]);
}

/// Bits needed for `max`.
fn width(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Packs `values` (each below 2^`width`) least significant bit first, and
/// pads the last byte with zeros.
fn bitpack(out: &mut Vec<u8>, values: impl IntoIterator<Item = u64>, width: u32) {
    if width == 0 {
        return;
    }
    let mut acc: u64 = 0;
    let mut filled = 0;
    for v in values {
        acc |= v << filled;
        filled += width;
        if filled >= 64 {
            out.extend_from_slice(&acc.to_le_bytes());
            filled -= 64;
            // The bits of `v` that did not fit (none when it ended the word).
            acc = if filled == 0 {
                0
            } else {
                v >> (width - filled)
            };
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..filled.div_ceil(8) as usize]);
}

/// `values` as `DELTA_BINARY_PACKED`: a header, then per block of 256
/// deltas their minimum and the rest above it bit-packed (the last block
/// padded with zeros).
pub fn delta_binary_packed(out: &mut Vec<u8>, values: &[i64]) {
    uleb128(out, BLOCK as u64);
    uleb128(out, 1);
    uleb128(out, values.len() as u64);
    zigzag(out, values.first().copied().unwrap_or(0));
    let mut deltas = [0i64; BLOCK];
    let mut prev = values.first().copied().unwrap_or(0);
    for block in values.get(1..).unwrap_or_default().chunks(BLOCK) {
        let mut min = i64::MAX;
        for (d, &v) in deltas.iter_mut().zip(block) {
            *d = v.wrapping_sub(prev);
            min = min.min(*d);
            prev = v;
        }
        let mut above = 0;
        for d in &mut deltas[..block.len()] {
            *d = d.wrapping_sub(min);
            above |= *d as u64;
        }
        deltas[block.len()..].fill(0);
        let bits = width(above);
        zigzag(out, min);
        out.push(bits as u8);
        bitpack(out, deltas.iter().map(|&d| d as u64), bits);
    }
}

/// The definition levels of an optional column in a V1 page: their length
/// in 4 bytes, then one run of "present" or, with nulls, a bit per row.
fn def_levels(out: &mut Vec<u8>, rows: usize, present: Option<&[bool]>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match present {
        None => {
            uleb128(out, (rows as u64) << 1);
            out.push(1);
        }
        Some(present) => {
            uleb128(out, ((rows.div_ceil(8) as u64) << 1) | 1);
            bitpack(out, present.iter().map(|&p| p as u64), 1);
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn data_page(
    type_: &PrimitiveType,
    buffer: Vec<u8>,
    rows: usize,
    encoding: Encoding,
    statistics: ParquetStatistics,
) -> Page {
    let header = DataPageHeader::V1(DataPageHeaderV1 {
        num_values: rows as i32,
        encoding: encoding.into(),
        definition_level_encoding: Encoding::Rle.into(),
        repetition_level_encoding: Encoding::Rle.into(),
        statistics: Some(statistics),
    });
    let descriptor = Descriptor {
        primitive_type: type_.clone(),
        max_def_level: 0,
        max_rep_level: 0,
    };
    Page::Data(DataPage::new(
        header,
        CowBuffer::Owned(buffer),
        descriptor,
        rows,
    ))
}

/// An integer, date or timestamp column: `values` are the present ones,
/// `present` (when some are null) says which rows have one.
pub fn integers(type_: &PrimitiveType, values: &[i64], present: Option<&[bool]>) -> Page {
    let rows = present.map_or(values.len(), <[bool]>::len);
    // Room for the widest deltas (and the null bits): the buffer is never
    // moved while it is filled.
    let blocks = values.len().div_ceil(BLOCK);
    let mut buffer = Vec::with_capacity(64 + rows.div_ceil(8) + blocks * (BLOCK * 8 + 11));
    def_levels(&mut buffer, rows, present);
    delta_binary_packed(&mut buffer, values);
    let min = values.iter().min().copied();
    let max = values.iter().max().copied();
    let nulls = Some((rows - values.len()) as i64);
    let statistics = if type_.physical_type == PhysicalType::Int32 {
        PrimitiveStatistics::<i32> {
            primitive_type: type_.clone(),
            null_count: nulls,
            distinct_count: None,
            min_value: min.map(|v| v as i32),
            max_value: max.map(|v| v as i32),
        }
        .serialize()
    } else {
        PrimitiveStatistics::<i64> {
            primitive_type: type_.clone(),
            null_count: nulls,
            distinct_count: None,
            min_value: min,
            max_value: max,
        }
        .serialize()
    };
    data_page(type_, buffer, rows, Encoding::DeltaBinaryPacked, statistics)
}

/// An integer or date column that may hold nulls: `present` has a flag
/// per row, `values` the present ones (no null bits when every row has
/// one).
pub fn nullable_integers(type_: &PrimitiveType, values: &[i64], present: &[bool]) -> Page {
    integers(
        type_,
        values,
        (values.len() < present.len()).then_some(present),
    )
}

/// Strings back to back as `PLAIN` byte arrays (length, bytes), with their
/// smallest and largest (found by `order` when given: a number per value
/// that sorts as the strings do).
fn plain_strings<'s>(
    type_: &PrimitiveType,
    out: &mut Vec<u8>,
    values: impl Iterator<Item = &'s [u8]>,
    order: Option<&dyn Fn(usize) -> u32>,
) -> ParquetStatistics {
    let mut min: Option<&[u8]> = None;
    let mut max: Option<&[u8]> = None;
    // (rank, value) of the smallest and of the largest.
    type Ranked<'v> = (u32, &'v [u8]);
    let mut extremes: Option<(Ranked, Ranked)> = None;
    for (i, v) in values.enumerate() {
        put_plain(out, v);
        if let Some(order) = order {
            let r = order(i);
            let (lo, hi) = extremes.get_or_insert(((r, v), (r, v)));
            if r < lo.0 {
                *lo = (r, v);
            }
            if r > hi.0 {
                *hi = (r, v);
            }
            continue;
        }
        if min.is_none_or(|m| v < m) {
            min = Some(v);
        }
        if max.is_none_or(|m| v > m) {
            max = Some(v);
        }
    }
    if let Some((lo, hi)) = extremes {
        (min, max) = (Some(lo.1), Some(hi.1));
    }
    BinaryStatistics {
        primitive_type: type_.clone(),
        null_count: Some(0),
        distinct_count: None,
        min_value: min.map(<[u8]>::to_vec),
        max_value: max.map(<[u8]>::to_vec),
    }
    .serialize()
}

/// Appends one `PLAIN` byte array: its length, then its bytes. A value of
/// at most 16 bytes (nearly every id, SKU and code) is moved as one
/// 16-byte word made of two overlapping loads, then cut to its length,
/// instead of a `memcpy` call per value. Only the call is saved: most of
/// the time left is the load of the value itself (a dictionary's values
/// lie scattered over the SKU map's strings).
fn put_plain(out: &mut Vec<u8>, v: &[u8]) {
    let n = v.len();
    out.extend_from_slice(&(n as u32).to_le_bytes());
    if n > 16 {
        out.extend_from_slice(v);
        return;
    }
    let mut word = [0u8; 16];
    if n >= 8 {
        word[..8].copy_from_slice(&v[..8]);
        word[n - 8..n].copy_from_slice(&v[n - 8..]);
    } else if n >= 4 {
        word[..4].copy_from_slice(&v[..4]);
        word[n - 4..n].copy_from_slice(&v[n - 4..]);
    } else {
        for (w, b) in word.iter_mut().zip(v) {
            *w = *b;
        }
    }
    let end = out.len() + n;
    out.extend_from_slice(&word);
    out.truncate(end);
}

/// A string column written plain, no nulls.
pub fn strings<'s>(
    type_: &PrimitiveType,
    rows: usize,
    bytes: usize,
    values: impl Iterator<Item = &'s [u8]>,
) -> Page {
    let mut buffer = Vec::with_capacity(64 + rows * 4 + bytes);
    def_levels(&mut buffer, rows, None);
    let statistics = plain_strings(type_, &mut buffer, values, None);
    data_page(type_, buffer, rows, Encoding::Plain, statistics)
}

/// A boolean column, no nulls: the values bit-packed (`PLAIN`).
pub fn booleans(type_: &PrimitiveType, values: &[bool]) -> Page {
    let rows = values.len();
    let mut buffer = Vec::with_capacity(16 + rows.div_ceil(8));
    def_levels(&mut buffer, rows, None);
    bitpack(&mut buffer, values.iter().map(|&v| v as u64), 1);
    let statistics = BooleanStatistics {
        null_count: Some(0),
        distinct_count: None,
        min_value: values.iter().copied().min(),
        max_value: values.iter().copied().max(),
    }
    .serialize();
    data_page(type_, buffer, rows, Encoding::Plain, statistics)
}

/// A dictionary-encoded string column, no nulls: the dictionary page of
/// `values` (in key order; `order` as in [`plain_strings`]) and the data
/// page of `keys`.
pub fn dictionary<'s>(
    type_: &PrimitiveType,
    keys: &[u32],
    values: impl ExactSizeIterator<Item = &'s [u8]>,
    order: Option<&dyn Fn(usize) -> u32>,
) -> [Page; 2] {
    let count = values.len();
    // (The 16 over: room for the last short value's whole word.)
    let mut dict = Vec::with_capacity(count * 16 + 16);
    let statistics = plain_strings(type_, &mut dict, values, order);
    let dict = Page::Dict(DictPage::new(CowBuffer::Owned(dict), count, false));

    let bits = width(count.saturating_sub(1) as u64);
    let mut buffer = Vec::with_capacity(64 + keys.len().div_ceil(8) * bits as usize);
    def_levels(&mut buffer, keys.len(), None);
    buffer.push(bits as u8);
    if bits == 0 {
        // One value: a single run of key 0 (no value bytes at width 0).
        uleb128(&mut buffer, (keys.len() as u64) << 1);
    } else {
        // One bit-packed run, whole groups of 8 keys (the last padded).
        let groups = keys.len().div_ceil(8);
        uleb128(&mut buffer, ((groups as u64) << 1) | 1);
        let end = buffer.len() + groups * bits as usize;
        bitpack(&mut buffer, keys.iter().map(|&k| k as u64), bits);
        buffer.resize(end, 0);
    }
    let data = data_page(
        type_,
        buffer,
        keys.len(),
        Encoding::RleDictionary,
        statistics,
    );
    [dict, data]
}

/// Writes one row group of `rows` rows: each column chunk's pages,
/// compressed as the writer's options say.
#[cfg(test)]
pub fn write_row_group<W: std::io::Write>(
    writer: &mut FileWriter<W>,
    rows: usize,
    columns: Vec<Vec<Page>>,
) -> Result<(), PolarsError> {
    let columns = compress(columns, writer.options().compression)?;
    write_compressed(writer, rows, columns)
}

/// Each column chunk's pages compressed (on whichever thread encodes the
/// row group; polars' `Compressor` does the same per page as it is
/// written).
pub fn compress(
    columns: Vec<Vec<Page>>,
    compression: CompressionOptions,
) -> Result<Vec<Vec<CompressedPage>>, PolarsError> {
    compress_each(columns, |_| compression)
}

/// [`compress`] with a codec per column (by its index): every page of a
/// column chunk must have the same one.
pub fn compress_each(
    columns: Vec<Vec<Page>>,
    codec: impl Fn(usize) -> CompressionOptions,
) -> Result<Vec<Vec<CompressedPage>>, PolarsError> {
    columns
        .into_iter()
        .enumerate()
        .map(|(i, column)| {
            let compression = codec(i);
            column
                .into_iter()
                .map(|page| polars_parquet::parquet::write::compress(page, vec![], compression))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| PolarsError::ComputeError(e.to_string().into()))
}

/// Writes one row group of `rows` rows from its compressed pages.
pub fn write_compressed<W: std::io::Write>(
    writer: &mut FileWriter<W>,
    rows: usize,
    columns: Vec<Vec<CompressedPage>>,
) -> Result<(), PolarsError> {
    let group = DynIter::new(columns.into_iter().map(|column| {
        let pages = Pages {
            pages: column.into_iter(),
            current: None,
        };
        Ok(DynStreamingIterator::new(pages))
    }));
    writer.write(rows as u64, group)
}

/// A column chunk's compressed pages, handed to the writer one at a time.
struct Pages {
    pages: std::vec::IntoIter<CompressedPage>,
    current: Option<CompressedPage>,
}

impl FallibleStreamingIterator for Pages {
    type Item = CompressedPage;
    type Error = PolarsError;

    fn advance(&mut self) -> Result<(), PolarsError> {
        self.current = self.pages.next();
        Ok(())
    }

    fn get(&self) -> Option<&CompressedPage> {
        self.current.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;
    use polars_parquet::write::{CompressionOptions, StatisticsOptions, Version, WriteOptions};

    /// Every length, short and long, appends what a plain copy does.
    #[test]
    fn put_plain_appends_length_and_bytes() {
        let text: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for n in 0..=40 {
            for start in [0, 3, 11] {
                let v = &text[start..start + n];
                let mut out = vec![7u8; start];
                let mut expected = out.clone();
                expected.extend_from_slice(&(n as u32).to_le_bytes());
                expected.extend_from_slice(v);
                put_plain(&mut out, v);
                assert_eq!(out, expected, "length {n}");
            }
        }
    }

    /// A file of two row groups written from pages, read back with polars'
    /// reader: integers with extreme deltas (wrapping, 64-bit widths),
    /// dates with nulls, dictionaries of one value (width 0) and of many,
    /// plain strings; then its statistics.
    #[test]
    fn pages_read_back_with_polars() {
        let cols = [
            ("n", DataType::Int64),
            ("d", DataType::Date),
            ("k", DataType::String),
            ("one", DataType::String),
            ("p", DataType::String),
        ];
        let arrow: polars_arrow::datatypes::ArrowSchema = cols
            .iter()
            .map(|(n, t)| {
                let f = t.to_arrow_field((*n).into(), CompatLevel::newest());
                (f.name.clone(), f)
            })
            .collect();
        let fields = fields(&arrow);
        let options = WriteOptions {
            statistics: StatisticsOptions::full(),
            version: Version::V1,
            compression: CompressionOptions::Lz4Raw,
            data_page_size: None,
        };
        let mut w = FileWriter::try_new(Vec::new(), arrow, options).unwrap();

        // Group 1: 700 rows.
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed
        };
        let mut n: Vec<i64> = vec![0, i64::MAX, i64::MIN, -1, i64::MAX, 5, i64::MIN + 1];
        while n.len() < 700 {
            let v = next();
            // Runs of small steps, then jumps of every size.
            n.push(match v % 4 {
                0 => v as i64,
                1 => (v >> 40) as i64 - (1 << 23),
                _ => n.last().unwrap().wrapping_add((v % 9) as i64),
            });
        }
        let present: Vec<bool> = (0..700).map(|i| i % 3 != 1).collect();
        let days: Vec<i64> = (0..700)
            .filter(|i| present[*i])
            .map(|i| 20_000 - i as i64 * 7)
            .collect();
        let names = [
            "kopi",
            "biskuit",
            "kerupuk udang",
            "mi instan",
            "sarang burung",
        ];
        // Each name's place in sorted order.
        let rank = [2, 0, 1, 3, 4];
        let keys: Vec<u32> = (0..700).map(|i| (i * i % 5) as u32).collect();
        let plain: Vec<String> = (0..700)
            .map(|i| format!("SHP-{}", (i * 7919) % 1000))
            .collect();
        let ones = vec![0u32; 700];
        let columns = vec![
            vec![integers(&fields[0], &n, None)],
            vec![integers(&fields[1], &days, Some(&present))],
            // The smallest and largest found by rank, as the staged SKUs'.
            dictionary(
                &fields[2],
                &keys,
                names.iter().map(|n| n.as_bytes()),
                Some(&|k| rank[k]),
            )
            .into(),
            dictionary(&fields[3], &ones, [&b"sachet"[..]].into_iter(), None).into(),
            vec![strings(
                &fields[4],
                700,
                0,
                plain.iter().map(String::as_bytes),
            )],
        ];
        write_row_group(&mut w, 700, columns).unwrap();
        // Group 2: one row, its date null.
        let columns = vec![
            vec![integers(&fields[0], &[-42], None)],
            vec![integers(&fields[1], &[], Some(&[false]))],
            dictionary(&fields[2], &[0], [&b"biskuit"[..]].into_iter(), None).into(),
            dictionary(&fields[3], &[0], [&b"sachet"[..]].into_iter(), None).into(),
            vec![strings(&fields[4], 1, 5, [&b"SHP-X"[..]].into_iter())],
        ];
        write_row_group(&mut w, 1, columns).unwrap();
        w.end(None).unwrap();
        let bytes = w.into_inner();

        let df = ParquetReader::new(std::io::Cursor::new(bytes.clone()))
            .finish()
            .unwrap();
        assert_eq!(df.height(), 701);
        let got_n = df.column("n").unwrap().i64().unwrap().clone();
        let got_n: Vec<i64> = (0..got_n.len()).map(|i| got_n.get(i).unwrap()).collect();
        let mut want_n = n.clone();
        want_n.push(-42);
        assert_eq!(got_n, want_n);
        let d = df.column("d").unwrap().cast(&DataType::Int32).unwrap();
        let d = d.i32().unwrap();
        let got_d: Vec<Option<i32>> = (0..d.len()).map(|i| d.get(i)).collect();
        let mut days_iter = days.iter();
        let mut want_d: Vec<Option<i32>> = present
            .iter()
            .map(|&p| p.then(|| *days_iter.next().unwrap() as i32))
            .collect();
        want_d.push(None);
        assert_eq!(got_d, want_d);
        let text = |name: &str| -> Vec<String> {
            let c = df.column(name).unwrap();
            let c = c.str().unwrap();
            (0..c.len())
                .map(|i| c.get(i).unwrap().to_string())
                .collect()
        };
        let mut want_k: Vec<String> = keys
            .iter()
            .map(|&k| names[k as usize].to_string())
            .collect();
        want_k.push("biskuit".into());
        assert_eq!(text("k"), want_k);
        assert_eq!(text("one"), vec!["sachet".to_string(); 701]);
        let mut want_p = plain.clone();
        want_p.push("SHP-X".into());
        assert_eq!(text("p"), want_p);

        // Each column chunk's statistics: min, max and nulls of its rows.
        let meta = polars_parquet::read::read_metadata(&mut std::io::Cursor::new(bytes)).unwrap();
        let stats = |group: usize, col: usize| {
            meta.row_groups[group].parquet_columns()[col]
                .statistics(&meta.footer_buf)
                .unwrap()
                .unwrap()
                .serialize()
        };
        let le = |v: i64| v.to_le_bytes().to_vec();
        let s = stats(0, 0);
        assert_eq!(
            (s.min_value, s.max_value),
            (Some(le(i64::MIN)), Some(le(i64::MAX)))
        );
        let s = stats(0, 1);
        let (lo, hi) = (days.iter().min().unwrap(), days.iter().max().unwrap());
        assert_eq!(s.min_value, Some((*lo as i32).to_le_bytes().to_vec()));
        assert_eq!(s.max_value, Some((*hi as i32).to_le_bytes().to_vec()));
        assert_eq!(s.null_count, Some(233));
        let s = stats(0, 2);
        assert_eq!(s.min_value.as_deref(), Some(&b"biskuit"[..]));
        assert_eq!(s.max_value.as_deref(), Some(&b"sarang burung"[..]));
        let s = stats(0, 4);
        let (lo, hi) = (plain.iter().min().unwrap(), plain.iter().max().unwrap());
        assert_eq!(s.min_value.as_deref(), Some(lo.as_bytes()));
        assert_eq!(s.max_value.as_deref(), Some(hi.as_bytes()));
        let s = stats(1, 1);
        assert_eq!((s.min_value, s.null_count), (None, Some(1)));
    }

    /// Bit-packing at every width agrees with packing one bit at a time.
    #[test]
    fn bitpack_matches_bit_by_bit() {
        let mut seed = 99u64;
        for width in 0..=64u32 {
            for n in [0usize, 1, 7, 8, 63, 64, 65, 256, 301] {
                let values: Vec<u64> = (0..n)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        if width == 64 {
                            seed
                        } else {
                            seed & ((1u64 << width) - 1)
                        }
                    })
                    .collect();
                let mut want = vec![0u8; (n * width as usize).div_ceil(8)];
                for (i, v) in values.iter().enumerate() {
                    for b in 0..width as usize {
                        if v >> b & 1 == 1 {
                            let at = i * width as usize + b;
                            want[at / 8] |= 1 << (at % 8);
                        }
                    }
                }
                let mut got = Vec::new();
                bitpack(&mut got, values.iter().copied(), width);
                assert_eq!(got, want, "width {width}, {n} values");
            }
        }
    }

    /// The delta encoding's bytes for a known sequence (as the format's
    /// description works it out): header, first value, then a block.
    #[test]
    fn delta_bytes_follow_the_format() {
        let mut out = Vec::new();
        delta_binary_packed(&mut out, &[1, 2, 3, 4, 5, 1]);
        // Block size 256, 1 miniblock, 6 values, first value 1 (zigzag 2);
        // deltas 1,1,1,1,-4: minimum -4 (zigzag 7), the rest 5,5,5,5,0 in
        // 3 bits each, the miniblock padded to 256 values.
        let mut want = vec![128u8, 2, 1, 6, 2, 7, 3, 0b01101101, 0b00001011];
        want.resize(want.len() - 2 + 256 * 3 / 8, 0);
        assert_eq!(out, want);
    }
}
