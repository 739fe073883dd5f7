//! Staged rows partitioned by key on disk, so the latest-row rules can run
//! one partition at a time: memory then follows the largest partition, not
//! the whole input.
//!
//! Staging workers append compact binary records (little-endian, small
//! numbers as varints) to per-partition buffers and flush them to
//! `<kind>-<n>.bin` under the run's temporary folder. Every row of a key
//! lands in the same partition, whichever feed it came from. The files go
//! away with the temporary folder; they never reach a published run.
//!
//! How many rows a feed holds is not known before it is read (a Parquet
//! or gzip file holds many more per byte than plain CSV): their sizes are
//! weighted ([`expansion`]) when the partitions are counted, and the rules
//! take small partitions in groups ([`Partitions::groups`]): neighbouring
//! partitions up to [`GROUP_BYTES`] of records together, as they turned
//! out.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Batch, Span};
use crate::model::{Status, epoch_days};

/// Bytes buffered per partition before a write.
const BUFFER: usize = 32 * 1024;

/// Input bytes per partition, when choosing how many partitions a run uses.
/// More, smaller partitions cost staging time and memory (every writer
/// buffers each one): at M, 4 MiB gave twice the peak of 32 MiB.
const BYTES_PER_PARTITION: u64 = 32 << 20;

/// About how many bytes of plain text one byte of a feed's file holds, so
/// that compressed feeds (gzip, Parquet, XLSX) get partitions for the rows
/// they hold rather than for their size on disk.
pub fn expansion(dialect: &crate::pipeline::Dialect) -> u64 {
    use crate::pipeline::Format;
    match dialect.format {
        _ if dialect.gzip => 8,
        Format::Parquet | Format::Xlsx => 4,
        Format::Csv | Format::Json | Format::Ndjson => 1,
    }
}

/// Files a run may open besides its partitions' (sources, copies,
/// outputs, the runtime's own), when deciding whether feeds' own sets of
/// partitions fit under the open-files limit.
const OTHER_FILES: u64 = 256;

/// How many files this process may hold open: its soft limit, raised
/// first (once) as far as its hard limit allows, as Go's runtime does at
/// start. A limit that cannot be read counts as the common default, 1024.
pub fn open_files_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024))
}

/// Whether `sides` feeds' own sets of partitions ([`Partitions::side`])
/// fit beside the run's own under an open-files limit of `limit`: every
/// set of `parts` partitions may hold a file open per partition and kind
/// it is written with (the run's, both kinds; a feed's own, its kind).
pub fn sides_fit(sides: usize, parts: usize, limit: u64) -> bool {
    let sets = (sides as u64).saturating_add(2);
    sets.saturating_mul(parts as u64)
        .saturating_add(OTHER_FILES)
        <= limit
}

/// Records the rules take at once, at most (unless one partition alone
/// holds more): about 150,000 stock rows. Larger groups cost memory (each
/// worker holds its group decoded): 16 MiB doubled the peak at M.
pub const GROUP_BYTES: u64 = 4 << 20;

/// How many partitions for this much feed input (as plain text, see
/// [`expansion`]): a power of two from 1 to 256, about one per 32 MiB (or
/// as many as `tuning` says).
pub fn partitions_for(input_bytes: u64, tuning: &crate::sys::tuning::Tuning) -> usize {
    if let Some(n) = tuning.partitions {
        return n;
    }
    ((input_bytes / BYTES_PER_PARTITION) as usize + 1)
        .next_power_of_two()
        .clamp(1, 256)
}

/// Neighbouring partitions, `sizes` bytes each, taken together up to
/// `limit` bytes a group (a partition larger than that alone).
fn group(sizes: &[u64], limit: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (p, &n) in sizes.iter().enumerate() {
        if p > start && bytes + n > limit {
            groups.push(start..p);
            (start, bytes) = (p, 0);
        }
        bytes += n;
    }
    if start < sizes.len() {
        groups.push(start..sizes.len());
    }
    groups
}

/// FNV-1a: a fixed hash, so a key's partition is the same in every run.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn part_of(h: u64, parts: usize) -> usize {
    // Mix the high bits down before reducing: FNV's low bits are weak.
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (((h >> 32) * parts as u64) >> 32) as usize
}

pub fn stock_part(sku: u32, warehouse: u32, parts: usize) -> usize {
    // Two numbers: one multiply mixes them (no byte-wise hash per row).
    let k = (u64::from(sku) << 32) | u64::from(warehouse);
    part_of(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), parts)
}

/// A shipment key's hash: its partition, and its place in the rules' sort.
pub fn shipment_hash(provider: u32, id: &[u8]) -> u64 {
    fnv(id, fnv(&provider.to_le_bytes(), FNV_SEED))
}

pub fn shipment_part(provider: u32, id: &str, parts: usize) -> usize {
    part_of(shipment_hash(provider, id.as_bytes()), parts)
}

/// One partition file: open while written to; the bytes written (the
/// file exists once there are any).
type Spill = Mutex<(Option<File>, u64)>;

/// The partition files of one run.
pub struct Partitions {
    dir: PathBuf,
    parts: usize,
    stock: Vec<Spill>,
    ships: Vec<Spill>,
    /// Sets of a feed's own (see [`Partitions::side`]), adopted once
    /// staged: the rules read their partitions beside these.
    sides: Vec<Partitions>,
}

impl Partitions {
    pub fn create(dir: &Path, parts: usize) -> std::io::Result<Partitions> {
        std::fs::create_dir_all(dir)?;
        Ok(Partitions {
            dir: dir.to_path_buf(),
            parts,
            stock: (0..parts).map(|_| Mutex::new((None, 0))).collect(),
            ships: (0..parts).map(|_| Mutex::new((None, 0))).collect(),
            sides: Vec::new(),
        })
    }

    /// A set of partitions for one feed alone, in a folder of its own
    /// under these (`name`), with as many partitions: a feed whose rows
    /// may have to be thrown away ([`Partitions::clear`]) writes there,
    /// and once it is staged the set is [`Partitions::adopt`]ed.
    pub fn side(&self, name: &str) -> std::io::Result<Partitions> {
        Partitions::create(&self.dir.join(name), self.parts)
    }

    /// Deletes every row written to these partitions (not to adopted
    /// sets), as if none had been.
    pub fn clear(&self) -> std::io::Result<()> {
        for (files, kind) in [self.spills(false), self.spills(true)] {
            for (p, f) in files.iter().enumerate() {
                let mut f = f.lock().expect("no poisoned spill file");
                f.0 = None;
                if f.1 > 0 {
                    std::fs::remove_file(self.path(kind, p))?;
                }
                f.1 = 0;
            }
        }
        Ok(())
    }

    /// Closes the files, once every row is written: a feed's own set
    /// holds no descriptors while others are staged.
    pub fn close(&self) {
        for f in self.stock.iter().chain(&self.ships) {
            f.lock().expect("no poisoned spill file").0 = None;
        }
    }

    /// Takes a feed's own set in: the rules read its partitions with
    /// these (the rows of a key land in the same numbered partition of
    /// every set). An empty set is dropped.
    pub fn adopt(&mut self, side: Partitions) {
        debug_assert_eq!(side.parts, self.parts);
        if (0..side.parts).any(|p| side.size(false, p) + side.size(true, p) > 0) {
            self.sides.push(side);
        }
    }

    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The folder the partition files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, kind: &str, p: usize) -> PathBuf {
        self.dir.join(format!("{kind}-{p:04}.bin"))
    }

    fn append(&self, shipments: bool, p: usize, bytes: &[u8]) -> std::io::Result<()> {
        let (files, kind) = self.spills(shipments);
        let mut f = files[p].lock().expect("no poisoned spill file");
        if f.0.is_none() {
            let path = self.path(kind, p);
            f.0 = Some(if f.1 == 0 {
                File::create(path)?
            } else {
                std::fs::OpenOptions::new().append(true).open(path)?
            });
        }
        f.0.as_mut().expect("opened above").write_all(bytes)?;
        f.1 += bytes.len() as u64;
        Ok(())
    }

    /// The partitions the rules take at once, once staging is done:
    /// neighbours together, up to [`GROUP_BYTES`] a group.
    pub fn groups(&self, shipments: bool) -> Vec<std::ops::Range<usize>> {
        self.groups_of(shipments, GROUP_BYTES)
    }

    fn groups_of(&self, shipments: bool, limit: u64) -> Vec<std::ops::Range<usize>> {
        let sizes: Vec<u64> = (0..self.parts)
            .map(|p| self.sets().map(|s| s.size(shipments, p)).sum())
            .collect();
        group(&sizes, limit)
    }

    /// These partitions and every adopted set.
    fn sets(&self) -> impl Iterator<Item = &Partitions> {
        std::iter::once(self).chain(&self.sides)
    }

    fn spills(&self, shipments: bool) -> (&[Spill], &'static str) {
        if shipments {
            (&self.ships, "shipments")
        } else {
            (&self.stock, "stock")
        }
    }

    /// Bytes written to partition `p` of this set.
    fn size(&self, shipments: bool, p: usize) -> u64 {
        self.spills(shipments).0[p]
            .lock()
            .expect("no poisoned spill file")
            .1
    }

    /// A group of partitions' records, read back whole into `out`
    /// (cleared first; empty if none), so a worker reuses one buffer for
    /// every group. The files are deleted once read: each partition is
    /// read once, and deleting it here spreads the cost of freeing its
    /// pages over the rules' workers (and spares writing back what the
    /// kernel has not written yet).
    pub fn take_into(
        &self,
        shipments: bool,
        parts: std::ops::Range<usize>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        out.clear();
        for p in parts {
            for set in self.sets() {
                set.take_part(shipments, p, out)?;
            }
        }
        Ok(())
    }

    /// Partition `p` of this set, appended to `out`; its file deleted.
    fn take_part(&self, shipments: bool, p: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let (files, kind) = self.spills(shipments);
        // Dropping the handle flushes nothing (writes are unbuffered).
        let mut f = files[p].lock().expect("no poisoned spill file");
        f.0 = None;
        if f.1 == 0 {
            return Ok(());
        }
        out.reserve(f.1 as usize);
        let path = self.path(kind, p);
        File::open(&path)?.read_to_end(out)?;
        f.1 = 0;
        std::fs::remove_file(&path)
    }

    /// Deletes the partition files.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// A writer for one feed's rows.
    pub fn writer(&self, feed: u16, provider: u32) -> PartitionWriter<'_> {
        PartitionWriter {
            spill: self,
            feed,
            provider,
            bufs: (0..self.parts).map(|_| Vec::new()).collect(),
        }
    }
}

/// Buffers one feed's rows per partition.
pub struct PartitionWriter<'a> {
    spill: &'a Partitions,
    feed: u16,
    provider: u32,
    bufs: Vec<Vec<u8>>,
}

impl PartitionWriter<'_> {
    pub fn add(&mut self, batch: &Batch) -> std::io::Result<()> {
        let parts = self.spill.parts;
        for r in &batch.stock {
            let p = stock_part(r.sku, r.warehouse, parts);
            let b = &mut self.bufs[p];
            StockRec {
                feed: self.feed,
                sku: r.sku,
                warehouse: r.warehouse,
                quantity: r.quantity,
                as_of: r.as_of,
                line: r.line,
                span: r.span,
            }
            .encode(b);
            if b.len() >= BUFFER {
                self.spill.append(false, p, b)?;
                b.clear();
            }
        }
        for r in &batch.shipments {
            let id = batch.shipment_id(r);
            let p = shipment_part(self.provider, id, parts);
            let b = &mut self.bufs[p];
            ShipRec {
                feed: self.feed,
                provider: self.provider,
                sku: r.sku,
                quantity: r.quantity,
                status: r.status,
                etd: r.etd.map(epoch_days),
                eta: r.eta.map(epoch_days),
                updated_at: r.updated_at,
                line: r.line,
                span: r.span,
                id: id.as_bytes(),
            }
            .encode(b);
            if b.len() >= BUFFER {
                self.spill.append(true, p, b)?;
                b.clear();
            }
        }
        Ok(())
    }

    /// Writes what is still buffered. A writer serves one kind of feed.
    pub fn finish(self, shipments: bool) -> std::io::Result<()> {
        for (p, b) in self.bufs.iter().enumerate() {
            if !b.is_empty() {
                self.spill.append(shipments, p, b)?;
            }
        }
        Ok(())
    }
}

/// A record's fixed-size fields, put together on the stack and appended
/// to its partition's buffer at once (one capacity check, not one per
/// byte).
struct Record {
    buf: [u8; 80],
    len: usize,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            buf: [0; 80],
            len: 0,
        }
    }
}

impl Record {
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// LEB128: small numbers (quantities, line numbers, offsets) in few
    /// bytes, which keeps the partitions, and the disk traffic, small.
    #[inline]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf[self.len] = (v as u8) | 0x80;
            self.len += 1;
            v >>= 7;
        }
        self.buf[self.len] = v as u8;
        self.len += 1;
    }

    /// Appends the record to `b`: the whole fixed-size buffer copied (a
    /// few vector moves, no call to `memcpy`), then the unused end cut.
    fn append_to(&self, b: &mut Vec<u8>) {
        let at = b.len();
        b.extend_from_slice(&self.buf);
        b.truncate(at + self.len);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads little-endian fields off a byte slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("N bytes")
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.u8();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// A stock row as spilled.
#[derive(Debug, Clone, Copy)]
pub struct StockRec {
    pub feed: u16,
    pub sku: u32,
    pub warehouse: u32,
    pub quantity: i64,
    pub as_of: i64,
    pub line: u64,
    pub span: Span,
}

impl StockRec {
    fn encode(&self, b: &mut Vec<u8>) {
        let mut r = Record::default();
        r.bytes(&self.feed.to_le_bytes());
        r.bytes(&self.sku.to_le_bytes());
        r.varint(u64::from(self.warehouse));
        r.varint(zigzag(self.quantity));
        r.bytes(&self.as_of.to_le_bytes());
        r.varint(self.line);
        // `u64::MAX` (no offset) wraps to 0; real offsets are stored + 1.
        r.varint(self.span.offset.wrapping_add(1));
        r.varint(u64::from(self.span.len));
        r.append_to(b);
    }

    /// Every record of a partition, into `out` (cleared first).
    pub fn decode_into(bytes: &[u8], out: &mut Vec<StockRec>) {
        out.clear();
        out.reserve(bytes.len() / 24);
        let mut c = Cursor(bytes);
        while !c.0.is_empty() {
            out.push(StockRec {
                feed: c.u16(),
                sku: c.u32(),
                warehouse: c.varint() as u32,
                quantity: unzigzag(c.varint()),
                as_of: c.i64(),
                line: c.varint(),
                span: Span {
                    offset: c.varint().wrapping_sub(1),
                    len: c.varint() as u32,
                },
            });
        }
    }

    pub fn key(&self) -> u64 {
        (u64::from(self.sku) << 32) | u64::from(self.warehouse)
    }
}

/// A shipment row as spilled; `id` borrows the partition's bytes.
#[derive(Debug, Clone, Copy)]
pub struct ShipRec<'a> {
    pub feed: u16,
    pub provider: u32,
    pub sku: u32,
    pub quantity: i64,
    pub status: Status,
    pub etd: Option<i32>,
    pub eta: Option<i32>,
    pub updated_at: i64,
    pub line: u64,
    pub span: Span,
    pub id: &'a [u8],
}

impl<'a> ShipRec<'a> {
    fn encode(&self, b: &mut Vec<u8>) {
        // Its place in `Status::ALL`.
        let status = self.status as u8;
        let mut r = Record::default();
        r.bytes(&self.feed.to_le_bytes());
        r.varint(u64::from(self.provider));
        r.bytes(&self.sku.to_le_bytes());
        r.varint(zigzag(self.quantity));
        r.bytes(&[status]);
        r.bytes(&self.etd.unwrap_or(i32::MIN).to_le_bytes());
        r.bytes(&self.eta.unwrap_or(i32::MIN).to_le_bytes());
        r.bytes(&self.updated_at.to_le_bytes());
        r.varint(self.line);
        r.varint(self.span.offset.wrapping_add(1));
        r.varint(u64::from(self.span.len));
        r.varint(self.id.len() as u64);
        r.append_to(b);
        b.extend_from_slice(self.id);
    }

    /// Every record of a partition, into `out` (cleared first).
    pub fn decode_into(bytes: &'a [u8], out: &mut Vec<ShipRec<'a>>) {
        out.clear();
        let mut c = Cursor(bytes);
        let date = |d: i32| (d != i32::MIN).then_some(d);
        while !c.0.is_empty() {
            let feed = c.u16();
            let provider = c.varint() as u32;
            let sku = c.u32();
            let quantity = unzigzag(c.varint());
            let status = Status::ALL[c.u8() as usize];
            let etd = date(c.i32());
            let eta = date(c.i32());
            let updated_at = c.i64();
            let line = c.varint();
            let span = Span {
                offset: c.varint().wrapping_sub(1),
                len: c.varint() as u32,
            };
            let n = c.varint() as usize;
            let id = c.bytes(n);
            out.push(ShipRec {
                feed,
                provider,
                sku,
                quantity,
                status,
                etd,
                eta,
                updated_at,
                line,
                span,
                id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups are neighbours, in order, each up to the limit unless one
    /// partition alone is larger; every partition is in exactly one.
    #[test]
    fn groups_cover_every_partition_once() {
        assert_eq!(group(&[], 10), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(group(&[3, 3, 3, 3], 6), vec![0..2, 2..4]);
        assert_eq!(group(&[20, 1, 1, 30, 0], 10), vec![0..1, 1..3, 3..4, 4..5]);
        assert_eq!(group(&[0, 0, 0], 10), vec![0..3]);
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..1000 {
            let sizes: Vec<u64> = (0..rng.usize(1..40)).map(|_| rng.u64(0..50)).collect();
            let limit = rng.u64(1..100);
            let g = group(&sizes, limit);
            assert_eq!(g.first().unwrap().start, 0);
            assert_eq!(g.last().unwrap().end, sizes.len());
            for w in g.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            for r in &g {
                let bytes: u64 = sizes[r.clone()].iter().sum();
                assert!(bytes <= limit || r.len() == 1, "{sizes:?} {limit} {g:?}");
            }
        }
    }

    /// A feed's own set is only used when every set may hold a file per
    /// partition open at once, with room for the run's other files.
    #[test]
    fn sides_fit_under_the_open_files_limit() {
        assert!(sides_fit(0, 256, 1024));
        assert!(sides_fit(1, 256, 1024));
        assert!(!sides_fit(1, 256, 1023));
        assert!(!sides_fit(2, 256, 1024));
        assert!(sides_fit(1, 64, 1024));
        assert!(sides_fit(10, 64, 1024));
        assert!(!sides_fit(11, 64, 1024));
        assert!(sides_fit(usize::MAX, 1, u64::MAX));
        assert!(!sides_fit(usize::MAX, 2, u64::MAX - 1));
        // Raised at most to the hard limit, and then read back as set.
        let limit = open_files_limit();
        assert!(limit >= 1);
        assert_eq!(open_files_limit(), limit);
    }

    #[test]
    fn a_status_number_is_its_place() {
        for s in Status::ALL {
            assert_eq!(Status::ALL[s as usize], s);
        }
    }

    #[test]
    fn records_round_trip() {
        let mut b = Vec::new();
        let s = StockRec {
            feed: 3,
            sku: 7,
            warehouse: 9,
            quantity: -1,
            as_of: 1_700_000_000_000_000,
            line: 42,
            span: Span {
                offset: u64::MAX,
                len: 12,
            },
        };
        s.encode(&mut b);
        let big = StockRec {
            quantity: 999_999_999_999_999,
            line: u64::MAX - 1,
            warehouse: u32::MAX,
            span: Span {
                offset: 1 << 40,
                len: u32::MAX,
            },
            ..s
        };
        big.encode(&mut b);
        let mut back = Vec::new();
        StockRec::decode_into(&b, &mut back);
        assert_eq!(back.len(), 2);
        assert_eq!(
            (back[0].quantity, back[0].line, back[0].span),
            (-1, 42, s.span)
        );
        assert_eq!(
            (
                back[1].quantity,
                back[1].line,
                back[1].warehouse,
                back[1].span
            ),
            (big.quantity, big.line, big.warehouse, big.span)
        );
        let mut b = Vec::new();
        for (i, id) in ["SHP-1", "", "Ω-9"].iter().enumerate() {
            ShipRec {
                feed: i as u16,
                provider: 1,
                sku: 2,
                quantity: 5,
                status: Status::ALL[i + 3],
                etd: None,
                eta: Some(20_000),
                updated_at: 8,
                line: 9,
                span: Span { offset: 1, len: 2 },
                id: id.as_bytes(),
            }
            .encode(&mut b);
        }
        let mut back = Vec::new();
        ShipRec::decode_into(&b, &mut back);
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].id, "Ω-9".as_bytes());
        assert_eq!(back[2].status, Status::Cancelled);
        assert_eq!((back[0].etd, back[0].eta), (None, Some(20_000)));
    }

    #[test]
    fn partitions_cover_the_range() {
        for parts in [1, 2, 64] {
            for k in 0..1000u32 {
                assert!(stock_part(k, k / 3, parts) < parts);
                assert!(shipment_part(k, &format!("S{k}"), parts) < parts);
            }
        }
    }
}
