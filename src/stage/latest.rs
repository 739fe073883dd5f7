//! The latest-row rules, applied across all staged feeds after validation.
//!
//! Why across feeds: a supplier may send one file per warehouse, or resend
//! yesterday's snapshot in today's file; the key decides what is "the same
//! stock", not the file it came in.
//!
//! - Stock: per `(supplier_id, supplier_sku, warehouse)` the row with the
//!   latest `as_of` counts; older rows are *superseded*.
//! - Shipments: per `(provider, shipment_id)` the row with the latest
//!   `updated_at` counts. Shipment ids are the provider's own numbering, so
//!   two providers may both have a `SHP-001`; they are different shipments.
//! - Exact duplicates (every canonical field equal) collapse to the first
//!   one read and are counted as duplicates.
//! - Conflicting duplicates (same key, same timestamp, different values)
//!   all become `conflicting duplicate` exceptions, at any timestamp; the
//!   key then falls back to its latest remaining row, if any.
//!
//! The rows arrive partitioned by key (see [`super::spill`]); each
//! partition is sorted by (key, timestamp, read order) and walked once, so
//! memory follows the largest partition, and partitions are resolved on
//! every core. Counted stock rows are summed on the spot per SKU map entry;
//! only the latest shipments (one per shipment) are kept, for the
//! shipments table.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::spill::{ShipRec, Spill, StockRec, date_of};
use super::{Span, Status};
use crate::stage::SkuMap;
use chrono::NaiveDate;

/// Per-feed tallies of what the rules did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Latest rows that count in the totals.
    pub counted: u64,
    /// Valid rows replaced by a newer snapshot or update.
    pub superseded: u64,
    /// Exact duplicates dropped.
    pub duplicates: u64,
    /// Rows sent to exceptions as conflicting duplicates.
    pub conflicting: u64,
}

impl RuleCounts {
    fn add(&mut self, o: &RuleCounts) {
        self.counted += o.counted;
        self.superseded += o.superseded;
        self.duplicates += o.duplicates;
        self.conflicting += o.conflicting;
    }
}

/// The counted stock of one (product, supplier): the sum of its latest
/// rows' units, and the oldest `as_of` among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockSum {
    /// Index into the catalog.
    pub product: u32,
    /// Index into [`SkuMap::suppliers`].
    pub supplier: u32,
    pub units: i64,
    pub oldest_as_of: i64,
}

/// The latest row of one shipment. Millions are held at scale, so what
/// follows from the SKU map entry (supplier, units) is looked up, not
/// kept: 48 bytes a row.
#[derive(Debug, Clone, Copy)]
pub struct LatestShipment {
    /// Index into the catalog.
    pub product: u32,
    /// Index into [`SkuMap::entries`] (supplier and SKU).
    pub sku: u32,
    /// Index into [`Resolved::names`].
    pub provider: u32,
    /// Where the shipment id is in [`Resolved::ids`]: one arena instead
    /// of an allocation per shipment.
    pub id_start: u32,
    pub id_len: u32,
    pub quantity: i64,
    pub status: Status,
    pub etd: Option<NaiveDate>,
    pub eta: Option<NaiveDate>,
    pub updated_at: i64,
}

const _: () = assert!(std::mem::size_of::<LatestShipment>() == 48);

impl LatestShipment {
    /// Index into [`SkuMap::suppliers`].
    pub fn supplier(&self, sku_map: &SkuMap) -> u32 {
        sku_map.hot(self.sku).supplier
    }

    /// Quantity × pack size (checked when the row was counted).
    pub fn units(&self, sku_map: &SkuMap) -> i64 {
        self.quantity * sku_map.hot(self.sku).pack_size
    }
}

/// A row sent to exceptions by the rules: same key and timestamp as
/// another row, different values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub feed: usize,
    pub line: u64,
    pub span: Span,
    /// Index into [`SkuMap::entries`].
    pub sku: u32,
}

#[derive(Debug, Default)]
pub struct Resolved {
    /// Per (product, supplier), sorted.
    pub stock: Vec<StockSum>,
    /// Sorted by product, supplier, provider, shipment id.
    pub shipments: Vec<LatestShipment>,
    /// Sorted by feed and line.
    pub conflicts: Vec<Conflict>,
    /// Indexed like the input feeds.
    pub counts: Vec<RuleCounts>,
    /// Provider (and warehouse) names, by id.
    pub names: Vec<Box<str>>,
    /// All counted units, stock and shipments, without overflow.
    pub total_units: i128,
    /// The shipment ids of `shipments`, back to back.
    pub ids: String,
}

impl Resolved {
    pub fn shipment_id(&self, s: &LatestShipment) -> &str {
        id_in(&self.ids, s)
    }
}

/// What the rules decided for one row, before tallying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Counted,
    Superseded,
    Duplicate,
    Conflicting,
}

/// The rules for one key's rows, sorted by (timestamp, read order):
/// calls `out(row index, outcome)` for every row.
fn classify_key<V: PartialEq>(
    n: usize,
    ts: impl Fn(usize) -> i64,
    value: impl Fn(usize) -> V,
    mut out: impl FnMut(usize, Outcome),
) {
    let mut candidate: Option<usize> = None;
    let mut seen: Vec<(V, usize)> = Vec::new();
    let mut a = 0;
    while a < n {
        let t = ts(a);
        let mut b = a + 1;
        while b < n && ts(b) == t {
            b += 1;
        }
        // One (key, timestamp) group: repeats of a value are duplicates of
        // the first row read with it.
        seen.clear();
        for i in a..b {
            let v = value(i);
            if seen.iter().any(|(s, _)| *s == v) {
                out(i, Outcome::Duplicate);
            } else {
                seen.push((v, i));
            }
        }
        if seen.len() > 1 {
            for (_, i) in &seen {
                out(*i, Outcome::Conflicting);
            }
        } else {
            if let Some(prev) = candidate {
                out(prev, Outcome::Superseded);
            }
            candidate = Some(seen[0].1);
        }
        a = b;
    }
    if let Some(c) = candidate {
        out(c, Outcome::Counted);
    }
}

/// One worker's share of the results.
struct Part {
    counts: Vec<RuleCounts>,
    /// Per SKU map entry: counted units and the oldest counted `as_of`.
    stock: Vec<(i128, i64)>,
    /// The latest shipments as found, in chunks of [`CHUNK`] rows: a
    /// vector grown by doubling would hold up to twice them (and copy
    /// them) at scale.
    found: Vec<Vec<LatestShipment>>,
    /// The same in table order, once the partitions are done.
    shipments: Vec<LatestShipment>,
    ids: String,
    conflicts: Vec<Conflict>,
    total: i128,
}

/// Rows per chunk of [`Part::found`].
const CHUNK: usize = 1 << 16;

impl Part {
    /// Tallies a row's outcome and keeps it if it is a conflict; true when
    /// the row counts (the caller adds it to the totals).
    fn settle(&mut self, feed: u16, line: u64, span: Span, sku: u32, o: Outcome) -> bool {
        let c = &mut self.counts[feed as usize];
        match o {
            Outcome::Counted => c.counted += 1,
            Outcome::Superseded => c.superseded += 1,
            Outcome::Duplicate => c.duplicates += 1,
            Outcome::Conflicting => {
                c.conflicting += 1;
                self.conflicts.push(Conflict {
                    feed: feed as usize,
                    line,
                    span,
                    sku,
                });
            }
        }
        o == Outcome::Counted
    }
}

/// Calls `f` with each run of rows that `same` says share a key (the rows
/// are sorted by key).
fn key_runs<T>(recs: &[T], same: impl Fn(&T, &T) -> bool, mut f: impl FnMut(&[T])) {
    let mut a = 0;
    while a < recs.len() {
        let mut b = a + 1;
        while b < recs.len() && same(&recs[a], &recs[b]) {
            b += 1;
        }
        f(&recs[a..b]);
        a = b;
    }
}

/// How the records' keys are grouped for [`sort_into`].
#[derive(Clone, Copy, PartialEq)]
enum Group {
    /// The group is the whole key: rows of one group and timestamp need
    /// only their read order checked.
    Key,
    /// The group is a hash of the key: a run of one group may hold more
    /// than one key (a collision), so each run is checked to hold one.
    Hash,
}

/// The largest of a few common timestamp steps (a minute, a second, a
/// millisecond, a microsecond) that every difference `d` seen divides.
/// The order never depends on it: timestamps are packed as
/// `(t - min) / step`, which never reverses two of them; a step too large
/// (a difference that wrapped) only packs distinct timestamps alike, and
/// rows packed alike are ordered by the exact comparison.
#[derive(Clone, Copy)]
struct Step(i64);

impl Step {
    const ALL: [i64; 4] = [60_000_000, 1_000_000, 1_000, 1];

    fn fit(&mut self, d: i64) {
        while d % self.0 != 0 {
            let i = Self::ALL.iter().position(|&s| s == self.0).expect("a step");
            self.0 = Self::ALL[i + 1];
        }
    }
}

/// Packs (group offset, timestamp offset / step) into one number, the
/// timestamp in the low `ts_bits`; the division by a constant step.
fn pack_keys(
    keys: &[(u64, u64, u32)],
    packed: &mut Vec<(u64, u32)>,
    g0: u64,
    t0: u64,
    step: i64,
    ts_bits: u32,
) {
    fn with<const S: u64>(
        keys: &[(u64, u64, u32)],
        packed: &mut Vec<(u64, u32)>,
        g0: u64,
        t0: u64,
        ts_bits: u32,
    ) {
        packed.extend(keys.iter().map(|&(g, t, i)| {
            let high = (g - g0).checked_shl(ts_bits).unwrap_or(0);
            (high | ((t - t0) / S), i)
        }));
    }
    packed.clear();
    match step {
        60_000_000 => with::<60_000_000>(keys, packed, g0, t0, ts_bits),
        1_000_000 => with::<1_000_000>(keys, packed, g0, t0, ts_bits),
        1_000 => with::<1_000>(keys, packed, g0, t0, ts_bits),
        _ => with::<1>(keys, packed, g0, t0, ts_bits),
    }
}

/// The records in (key, timestamp, read order) order, sorted cheaply: a
/// compact (group, timestamp, index) array is radix-sorted instead of the
/// records, `group_ts` giving a record's group (the key, or for text keys
/// a hash of it) and timestamp; the runs this order leaves wrong (hash
/// collisions, which `same` finds, and equal timestamps) are then sorted
/// by `exact`. Runs are short, and nearly always already right.
///
/// When the partition's groups and timestamps span few enough values
/// (counted from their minimum, timestamps in their common step: whole
/// minutes, seconds...), both are packed into one 64-bit number: the
/// radix sort then moves 16-byte entries over the few bytes that differ
/// (about four for minute-stamped stock) instead of 24-byte entries over
/// both whole numbers.
fn sort_into<T: Copy>(
    recs: &[T],
    scratch: &mut SortScratch,
    out: &mut Vec<T>,
    kind: Group,
    group_ts: impl Fn(&T) -> (u64, i64),
    same: impl Fn(&T, &T) -> bool,
    exact: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    let keys = &mut scratch.keys;
    keys.clear();
    out.clear();
    let Some(first) = recs.first() else {
        return;
    };
    let t_first = group_ts(first).1;
    let (mut g_min, mut g_max, mut t_min, mut t_max) = (u64::MAX, 0, i64::MAX, i64::MIN);
    let mut step = Step(Step::ALL[0]);
    keys.extend(recs.iter().enumerate().map(|(i, r)| {
        let (g, t) = group_ts(r);
        g_min = g_min.min(g);
        g_max = g_max.max(g);
        t_min = t_min.min(t);
        t_max = t_max.max(t);
        step.fit(t.wrapping_sub(t_first));
        // Timestamps as unsigned numbers in the same order.
        (g, (t as u64) ^ (1 << 63), i as u32)
    }));
    let bits = |span: u64| u64::BITS - span.leading_zeros();
    let g_bits = bits(g_max - g_min);
    let t_span = (t_max as u64 ^ (1 << 63)) - (t_min as u64 ^ (1 << 63));
    let t_bits = bits(t_span / step.0 as u64);
    if g_bits + t_bits <= u64::BITS {
        let packed = &mut scratch.packed;
        pack_keys(
            keys,
            packed,
            g_min,
            t_min as u64 ^ (1 << 63),
            step.0,
            t_bits,
        );
        radsort::sort_by_key(packed, |k| k.0);
        out.extend(packed.iter().map(|k| recs[k.1 as usize]));
        let group_of = |p: u64| match kind {
            Group::Key => p,
            Group::Hash => p.checked_shr(t_bits).unwrap_or(0),
        };
        fix_runs(
            out,
            kind,
            |i| group_of(packed[i].0),
            |i, j| packed[i].0 == packed[j].0,
            same,
            exact,
        );
        return;
    }
    // A radix sort: linear in the rows, on the bytes that differ.
    radsort::sort_by_key(keys, |k| (k.0, k.1));
    out.extend(keys.iter().map(|k| recs[k.2 as usize]));
    fix_runs(
        out,
        kind,
        |i| keys[i].0,
        |i, j| keys[i].1 == keys[j].1,
        same,
        exact,
    );
}

/// Puts right the runs a radix sort by (group, timestamp) leaves out of
/// order: rows of one group and timestamp (`alike`) by read order; the
/// rows of one hash, when they hold more than one key (a collision),
/// sorted whole.
fn fix_runs<T>(
    out: &mut [T],
    kind: Group,
    group: impl Fn(usize) -> u64,
    alike: impl Fn(usize, usize) -> bool,
    same: impl Fn(&T, &T) -> bool,
    exact: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    let mut a = 0;
    while a < out.len() {
        let g = group(a);
        let mut end = a + 1;
        while end < out.len() && group(end) == g {
            end += 1;
        }
        let rows = &mut out[a..end];
        if kind == Group::Hash && !rows[1..].iter().all(|x| same(x, &rows[0])) {
            rows.sort_unstable_by(&exact);
            a = end;
            continue;
        }
        let mut i = a;
        while i < end {
            let mut j = i + 1;
            while j < end && alike(i, j) {
                j += 1;
            }
            let run = &mut out[i..j];
            if run.len() > 1 && !run.is_sorted_by(|x, y| exact(x, y).is_le()) {
                run.sort_unstable_by(&exact);
            }
            i = j;
        }
        a = end;
    }
}

/// The sort's buffers, reused from partition to partition.
#[derive(Default)]
struct SortScratch {
    keys: Vec<(u64, u64, u32)>,
    packed: Vec<(u64, u32)>,
}

/// Buffers a rules worker reuses from partition to partition: fresh memory
/// for every partition costs page faults.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    sort: SortScratch,
    stock: (Vec<StockRec>, Vec<StockRec>),
    ships: (Vec<ShipRec<'static>>, Vec<ShipRec<'static>>),
}

/// An empty vector of records with `v`'s allocation, borrowing from another
/// buffer (the standard library collects in place: same size and alignment).
fn recycle<'b>(mut v: Vec<ShipRec<'_>>) -> Vec<ShipRec<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

fn resolve_stock(scratch: &mut Scratch, sku_map: &SkuMap, part: &mut Part) {
    let (decoded, recs) = &mut scratch.stock;
    StockRec::decode_into(&scratch.bytes, decoded);
    // Bits enough for every warehouse number of the partition.
    let widest = decoded.iter().map(|r| r.warehouse).max().unwrap_or(0);
    let wh_bits = u32::BITS - widest.leading_zeros();
    sort_into(
        decoded,
        &mut scratch.sort,
        recs,
        // The key, with no unused bits between SKU and warehouse.
        Group::Key,
        |r| {
            (
                (u64::from(r.sku) << wh_bits) | u64::from(r.warehouse),
                r.as_of,
            )
        },
        |x, y| x.key() == y.key(),
        |x, y| (x.key(), x.as_of, x.feed, x.line).cmp(&(y.key(), y.as_of, y.feed, y.line)),
    );
    key_runs(
        recs,
        |x, y| x.key() == y.key(),
        |rows| {
            classify_key(
                rows.len(),
                |i| rows[i].as_of,
                |i| rows[i].quantity,
                |i, o| {
                    let r = &rows[i];
                    if part.settle(r.feed, r.line, r.span, r.sku, o) {
                        let units =
                            i128::from(r.quantity) * i128::from(sku_map.hot(r.sku).pack_size);
                        part.total += units;
                        let s = &mut part.stock[r.sku as usize];
                        s.0 += units;
                        s.1 = s.1.min(r.as_of);
                    }
                },
            )
        },
    );
}

/// Whether two rows are of one shipment (provider and id); short ids
/// compared as two numbers rather than through `memcmp`.
fn same_shipment(x: &ShipRec, y: &ShipRec) -> bool {
    use crate::stage::reference::pack15_bytes;
    x.provider == y.provider
        && match (pack15_bytes(x.id), pack15_bytes(y.id)) {
            (Some(a), Some(b)) => a == b,
            _ => x.id == y.id,
        }
}

fn resolve_shipments(scratch: &mut Scratch, sku_map: &SkuMap, part: &mut Part) {
    let mut decoded = recycle(std::mem::take(&mut scratch.ships.0));
    let mut recs = recycle(std::mem::take(&mut scratch.ships.1));
    ShipRec::decode_into(&scratch.bytes, &mut decoded);
    sort_into(
        &decoded,
        &mut scratch.sort,
        &mut recs,
        // 32 bits of the hash: few collisions in a partition, and the
        // timestamp fits beside it.
        Group::Hash,
        |r| {
            let hash = super::spill::shipment_hash(r.provider, r.id);
            (hash & u64::from(u32::MAX), r.updated_at)
        },
        same_shipment,
        |x, y| {
            (x.provider, x.id, x.updated_at, x.feed, x.line).cmp(&(
                y.provider,
                y.id,
                y.updated_at,
                y.feed,
                y.line,
            ))
        },
    );
    key_runs(&recs, same_shipment, |rows| {
        classify_key(
            rows.len(),
            |i| rows[i].updated_at,
            |i| {
                let r = &rows[i];
                (r.sku, r.quantity, r.status, r.etd, r.eta)
            },
            |i, o| {
                let r = &rows[i];
                if !part.settle(r.feed, r.line, r.span, r.sku, o) {
                    return;
                }
                let e = sku_map.hot(r.sku);
                let units = r.quantity * e.pack_size;
                part.total += i128::from(units);
                let id = String::from_utf8_lossy(r.id);
                let id_start = part.ids.len() as u32;
                part.ids.push_str(&id);
                if part.found.last().is_none_or(|c| c.len() == CHUNK) {
                    part.found.push(Vec::with_capacity(CHUNK));
                }
                let chunk = part.found.last_mut().expect("pushed above");
                chunk.push(LatestShipment {
                    product: e.product().expect("staged rows have a product"),
                    sku: r.sku,
                    provider: r.provider,
                    id_start,
                    id_len: id.len() as u32,
                    quantity: r.quantity,
                    status: r.status,
                    etd: r.etd.and_then(date_of),
                    eta: r.eta.and_then(date_of),
                    updated_at: r.updated_at,
                });
            },
        )
    });
    scratch.ships = (recycle(decoded), recycle(recs));
}

/// Each provider's place when providers are ordered by name.
fn provider_ranks(names: &[Box<str>]) -> Vec<u32> {
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    by_name.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    let mut rank = vec![0u32; names.len()];
    for (r, &n) in by_name.iter().enumerate() {
        rank[n as usize] = r as u32;
    }
    rank
}

/// What the shipments table's order needs besides the rows.
struct TableOrder {
    /// Each provider's place when providers are ordered by name.
    rank: Vec<u32>,
    /// The supplier of each SKU map entry.
    suppliers: Vec<u32>,
}

impl TableOrder {
    /// The table's order, but for the id: product, supplier, provider
    /// name.
    fn group(&self, s: &LatestShipment) -> (u32, u32, u32) {
        (
            s.product,
            self.suppliers[s.sku as usize],
            self.rank[s.provider as usize],
        )
    }
}

/// A shipment's id in the arena `ids` its row points into.
fn id_in<'i>(ids: &'i str, s: &LatestShipment) -> &'i str {
    &ids[s.id_start as usize..(s.id_start + s.id_len) as usize]
}

/// Shipments (chunks of at most [`CHUNK`] rows, ids in `ids`) in the
/// table's order: by product, supplier, provider name and id.
fn in_table_order(
    chunks: Vec<Vec<LatestShipment>>,
    ids: &str,
    order: &TableOrder,
) -> Vec<LatestShipment> {
    // A row's place: its chunk above the low 16 bits, its row in them.
    const _: () = assert!(CHUNK == 1 << 16);
    let at = |place: u32| &chunks[(place >> 16) as usize][(place & 0xffff) as usize];
    // Sorted as (group, place) pairs, 16 bytes a row instead of the whole
    // 48-byte rows; each run of one group then by id (only ids are
    // compared as text); the rows gathered once in that order.
    let mut keys: Vec<((u32, u32, u32), u32)> =
        Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for (c, chunk) in chunks.iter().enumerate() {
        assert!(
            chunk.len() <= CHUNK && c < 1 << 16,
            "rows beyond a 32-bit place"
        );
        keys.extend(
            chunk
                .iter()
                .enumerate()
                .map(|(i, s)| (order.group(s), ((c as u32) << 16) | i as u32)),
        );
    }
    radsort::sort_by_key(&mut keys, |k| k.0);
    for run in keys.chunk_by_mut(|x, y| x.0 == y.0) {
        if run.len() > 1 {
            run.sort_unstable_by(|x, y| id_in(ids, at(x.1)).cmp(id_in(ids, at(y.1))));
        }
    }
    keys.iter().map(|&(_, i)| *at(i)).collect()
}

/// Two lists in table order (each with its own ids) as one, ids back to
/// back.
fn merge_in_table_order(
    a: (Vec<LatestShipment>, String),
    b: (Vec<LatestShipment>, String),
    order: &TableOrder,
) -> (Vec<LatestShipment>, String) {
    let (a, a_ids) = a;
    let (b, b_ids) = b;
    let base = a_ids.len() as u32;
    let Some(&fill) = a.first().or(b.first()) else {
        return (Vec::new(), a_ids + &b_ids);
    };
    let key_a = |x: &LatestShipment| (order.group(x), id_in(&a_ids, x));
    let key_b = |y: &LatestShipment| (order.group(y), id_in(&b_ids, y));
    // Merged as two halves on two threads: the rows of `a` before its
    // middle row and the rows of `b` before that row, then the rest.
    let half = a.len() / 2;
    let split = match a.get(half) {
        Some(x) => b.partition_point(|y| key_b(y) < key_a(x)),
        None => b.len(),
    };
    // Sized once: growing by doubling would hold up to twice the latest
    // shipments while they are merged.
    let mut out = vec![fill; a.len() + b.len()];
    let (low, high) = out.split_at_mut(half + split);
    let merge = |dst: &mut [LatestShipment], a: &[LatestShipment], b: &[LatestShipment]| {
        let (mut i, mut j) = (0, 0);
        for slot in dst {
            let take_a = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => key_a(x) <= key_b(y),
                (Some(_), None) => true,
                _ => false,
            };
            *slot = if take_a {
                i += 1;
                a[i - 1]
            } else {
                j += 1;
                let mut y = b[j - 1];
                y.id_start += base;
                y
            };
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| merge(high, &a[half..], &b[split..]));
        merge(low, &a[..half], &b[..split]);
    });
    drop((a, b));
    let mut ids = a_ids;
    ids.push_str(&b_ids);
    (out, ids)
}

/// Runs the rules over every partition, on `workers` threads.
pub fn resolve(
    spill: &Spill,
    feeds: usize,
    sku_map: &SkuMap,
    names: Vec<Box<str>>,
    workers: usize,
) -> std::io::Result<Resolved> {
    let jobs = spill.parts() * 2;
    let next = AtomicUsize::new(0);
    let error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let order = TableOrder {
        rank: provider_ranks(&names),
        suppliers: sku_map.entries.iter().map(|e| e.supplier).collect(),
    };
    let mut parts: Vec<Part> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.clamp(1, jobs.max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut part = Part {
                        counts: vec![RuleCounts::default(); feeds],
                        stock: vec![(0, i64::MAX); sku_map.len()],
                        found: Vec::new(),
                        shipments: Vec::new(),
                        ids: String::new(),
                        conflicts: Vec::new(),
                        total: 0,
                    };
                    let mut scratch = Scratch::default();
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= jobs {
                            break;
                        }
                        let ships = j % 2 == 1;
                        match spill.take_into(ships, j / 2, &mut scratch.bytes) {
                            Ok(()) if ships => resolve_shipments(&mut scratch, sku_map, &mut part),
                            Ok(()) => resolve_stock(&mut scratch, sku_map, &mut part),
                            Err(e) => {
                                *error.lock().expect("no poisoned error") = Some(e);
                                break;
                            }
                        }
                    }
                    // In table order here, on every core; the parts are
                    // then merged. The partition buffers go first: memory
                    // peaks here at scale.
                    drop(scratch);
                    part.shipments =
                        in_table_order(std::mem::take(&mut part.found), &part.ids, &order);
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the rules do not panic"))
            .collect()
    });
    if let Some(e) = error.into_inner().expect("no poisoned error") {
        return Err(e);
    }
    let mut out = Resolved {
        counts: vec![RuleCounts::default(); feeds],
        names,
        ..Default::default()
    };
    let mut stock = vec![(0i128, i64::MAX); sku_map.len()];
    // The workers' partition buffers and unsorted rows are freed: given
    // back before the merge doubles the latest shipments for a moment.
    crate::memory::release_freed();
    // Each worker left its shipments in table order: merged pairwise.
    let mut merged: Option<(Vec<LatestShipment>, String)> = None;
    for p in &mut parts {
        let next = (std::mem::take(&mut p.shipments), std::mem::take(&mut p.ids));
        merged = Some(match merged {
            None => next,
            Some(m) => merge_in_table_order(m, next, &order),
        });
    }
    let merged = merged.unwrap_or_default();
    for p in parts {
        for (c, pc) in out.counts.iter_mut().zip(&p.counts) {
            c.add(pc);
        }
        for (s, ps) in stock.iter_mut().zip(&p.stock) {
            s.0 += ps.0;
            s.1 = s.1.min(ps.1);
        }
        out.conflicts.extend(p.conflicts);
        out.total_units += p.total;
    }
    // Fold SKU entries into (product, supplier) sums.
    let mut sums: std::collections::BTreeMap<(u32, u32), (i128, i64)> = Default::default();
    for (i, (units, oldest)) in stock.into_iter().enumerate() {
        if oldest == i64::MAX {
            continue; // no counted row
        }
        let e = &sku_map.entries[i];
        let product = e.product.expect("counted rows have a product");
        let s = sums.entry((product, e.supplier)).or_insert((0, i64::MAX));
        s.0 += units;
        s.1 = s.1.min(oldest);
    }
    out.stock = sums
        .into_iter()
        .map(|((product, supplier), (units, oldest))| StockSum {
            product,
            supplier,
            // Checked against `total_units` before any table is built.
            units: i64::try_from(units).unwrap_or(i64::MAX),
            oldest_as_of: oldest,
        })
        .collect();
    out.shipments = merged.0;
    out.ids = merged.1;
    out.conflicts.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repeatable pseudo-random numbers below `n`, from `seed`.
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        }
    }

    /// `sort_into` gives the order of a full sort by the exact comparison:
    /// packed or not (timestamps in whole minutes, seconds or any
    /// microsecond, spans narrow or too wide to pack), by key or by a
    /// colliding hash, with ties on timestamps.
    #[test]
    fn sort_into_is_a_full_sort() {
        let mut next = numbers(11);
        // (key, timestamp, feed, line)
        type Row = (u64, i64, u16, u64);
        let mut scratch = SortScratch::default();
        let mut out = Vec::new();
        for round in 0..400 {
            let step = [60_000_000i64, 1_000_000, 1_000, 1][round % 4];
            let wide = round % 5 == 4;
            let base = if round % 3 == 0 {
                -5_000_000_000
            } else {
                1_700_000_000_000_000
            };
            let rows: Vec<Row> = (0..next(400))
                .map(|line| {
                    let key = if wide { next(50) << 40 } else { next(50) };
                    let t = if wide && next(2) == 0 {
                        i64::MAX - next(3) as i64
                    } else {
                        base + next(20) as i64 * step
                    };
                    (key, t, next(3) as u16, line)
                })
                .collect();
            let mut expected = rows.clone();
            expected.sort();
            for kind in [Group::Key, Group::Hash] {
                // A hash that collides: keys 0 and 1 share one.
                let group = |r: &Row| if kind == Group::Hash { r.0 / 2 } else { r.0 };
                sort_into(
                    &rows,
                    &mut scratch,
                    &mut out,
                    kind,
                    |r| (group(r), r.1),
                    |x, y| x.0 == y.0,
                    |x, y| x.cmp(y),
                );
                assert!(out == expected, "round {round}: not in order");
            }
        }
    }

    /// Parts put in table order and merged give the order of one sort of
    /// all of them, whatever the split.
    #[test]
    fn merged_parts_are_in_table_order() {
        let names: Vec<Box<str>> = vec!["LOG-B".into(), "LOG-A".into(), "LOG-C".into()];
        let rank = provider_ranks(&names);
        // SKU map entry i belongs to supplier i % 3.
        let order = TableOrder {
            rank: rank.clone(),
            suppliers: (0..12).map(|i| i % 3).collect(),
        };
        let mut next = numbers(7);
        for round in 0..50 {
            let parts = 1 + next(4) as usize;
            let mut lists: Vec<(Vec<LatestShipment>, String)> = vec![Default::default(); parts];
            let mut all: Vec<(u32, u32, u32, String)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for _ in 0..next(300) {
                let (product, sku, provider) = (next(4) as u32, next(12) as u32, next(3) as u32);
                let supplier = sku % 3;
                // Ids of varying length, so a prefix sorts first.
                let digits = 1 + next(3) as u32;
                let id = format!("SH{}", next(10u64.pow(digits)));
                if !seen.insert((provider, id.clone())) {
                    continue; // one latest row per (provider, id)
                }
                let (rows, ids) = &mut lists[next(parts as u64) as usize];
                rows.push(LatestShipment {
                    product,
                    sku,
                    provider,
                    id_start: ids.len() as u32,
                    id_len: id.len() as u32,
                    quantity: 1,
                    status: Status::Booked,
                    etd: None,
                    eta: None,
                    updated_at: 0,
                });
                ids.push_str(&id);
                all.push((product, supplier, rank[provider as usize], id));
            }
            all.sort();
            let mut merged: Option<(Vec<LatestShipment>, String)> = None;
            for (rows, ids) in lists {
                // In chunks, as the rules leave them (shorter ones here).
                let size = 1 + next(7) as usize;
                let chunks = rows.chunks(size).map(<[_]>::to_vec).collect();
                let sorted = (in_table_order(chunks, &ids, &order), ids);
                merged = Some(match merged {
                    None => sorted,
                    Some(m) => merge_in_table_order(m, sorted, &order),
                });
            }
            let (rows, ids) = merged.expect("at least one part");
            let got: Vec<(u32, u32, u32, String)> = rows
                .iter()
                .map(|s| {
                    let g = order.group(s);
                    (g.0, g.1, g.2, id_in(&ids, s).to_string())
                })
                .collect();
            assert_eq!(got, all, "round {round}");
        }
    }
}
