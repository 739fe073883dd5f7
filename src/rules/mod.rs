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

mod classify;
pub mod conflicts;
mod order;
mod sort;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;

use classify::{Outcome, classify_key};
use order::{TableOrder, id_in, in_table_order, merge_in_table_order, provider_ranks};
use sort::{Group, SortScratch, key_runs, sort_into};

use crate::model::{Status, date_of};
use crate::stage::partition::{Partitions, ShipRec, StockRec};
use crate::stage::{SkuMap, Span};

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

/// Counted units per (product, supplier) from shares of them (per SKU map
/// entry, or per feed): summed, the oldest `as_of` kept, in (product,
/// supplier) order.
pub fn stock_sums(shares: impl Iterator<Item = ((u32, u32), i128, i64)>) -> Vec<StockSum> {
    let mut sums: std::collections::BTreeMap<(u32, u32), (i128, i64)> = Default::default();
    for (key, units, oldest) in shares {
        let s = sums.entry(key).or_insert((0, i64::MAX));
        s.0 += units;
        s.1 = s.1.min(oldest);
    }
    sums.into_iter()
        .map(|((product, supplier), (units, oldest))| StockSum {
            product,
            supplier,
            // Checked against `total_units` before any table is built.
            units: i64::try_from(units).unwrap_or(i64::MAX),
            oldest_as_of: oldest,
        })
        .collect()
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
    /// The ids of `found` back to back, as staged: checked to be text
    /// once, when the partitions are done ([`ids_as_text`]).
    id_bytes: Vec<u8>,
    /// The same as text.
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
    key_runs(recs, &scratch.sort, |rows| {
        classify_key(
            rows.len(),
            |i| rows[i].as_of,
            |i| rows[i].quantity,
            |i, o| {
                let r = &rows[i];
                if part.settle(r.feed, r.line, r.span, r.sku, o) {
                    let units = i128::from(r.quantity) * i128::from(sku_map.hot(r.sku).pack_size);
                    part.total += units;
                    let s = &mut part.stock[r.sku as usize];
                    s.0 += units;
                    s.1 = s.1.min(r.as_of);
                }
            },
        )
    });
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
            let hash = crate::stage::partition::shipment_hash(r.provider, r.id);
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
    key_runs(&recs, &scratch.sort, |rows| {
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
                let id_start = part.id_bytes.len() as u32;
                part.id_bytes.extend_from_slice(r.id);
                if part.found.last().is_none_or(|c| c.len() == CHUNK) {
                    part.found.push(Vec::with_capacity(CHUNK));
                }
                let chunk = part.found.last_mut().expect("pushed above");
                chunk.push(LatestShipment {
                    product: e.product().expect("staged rows have a product"),
                    sku: r.sku,
                    provider: r.provider,
                    id_start,
                    id_len: r.id.len() as u32,
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

/// A worker's shipment ids (`bytes`, which `rows` point into) as text,
/// checked in one pass: staged ids are text, so this nearly always takes
/// the bytes as they are. Otherwise each id is converted on its own (an
/// invalid byte becomes U+FFFD) and the rows are pointed at the new text.
fn ids_as_text(bytes: Vec<u8>, rows: &mut [Vec<LatestShipment>]) -> String {
    // Valid as a whole and cut at character boundaries: every id is
    // valid on its own too (ids that are not, side by side, can make a
    // valid whole).
    let cut = |i: u32| bytes.get(i as usize).is_none_or(|&b| (b as i8) >= -0x40);
    if simdutf8::basic::from_utf8(&bytes).is_ok()
        && rows
            .iter()
            .flatten()
            .all(|s| cut(s.id_start) && cut(s.id_start + s.id_len))
    {
        return String::from_utf8(bytes).expect("checked above");
    }
    let mut ids = String::with_capacity(bytes.len());
    for s in rows.iter_mut().flatten() {
        let id = &bytes[s.id_start as usize..(s.id_start + s.id_len) as usize];
        s.id_start = ids.len() as u32;
        ids.push_str(&String::from_utf8_lossy(id));
        s.id_len = ids.len() as u32 - s.id_start;
    }
    ids
}

/// Runs the rules over every partition, on `workers` threads.
pub fn resolve(
    spill: &Partitions,
    feeds: usize,
    sku_map: &SkuMap,
    names: Vec<Box<str>>,
    workers: usize,
) -> std::io::Result<Resolved> {
    // Every group of partitions, the larger kind's interleaved.
    let stock = spill.groups(false);
    let ships = spill.groups(true);
    let groups: Vec<(bool, std::ops::Range<usize>)> = (0..stock.len().max(ships.len()))
        .flat_map(|i| {
            let s = stock.get(i).map(|r| (false, r.clone()));
            let h = ships.get(i).map(|r| (true, r.clone()));
            s.into_iter().chain(h)
        })
        .collect();
    let jobs = groups.len();
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
                        id_bytes: Vec::new(),
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
                        let (ships, parts) = groups[j].clone();
                        match spill.take_into(ships, parts, &mut scratch.bytes) {
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
                    part.ids = ids_as_text(std::mem::take(&mut part.id_bytes), &mut part.found);
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
    crate::sys::memory::release_freed();
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
    let counted = stock
        .into_iter()
        .enumerate()
        .filter(|(_, (_, oldest))| *oldest != i64::MAX) // no counted row
        .map(|(i, (units, oldest))| {
            let e = &sku_map.entries[i];
            let product = e.product.expect("counted rows have a product");
            ((product, e.supplier), units, oldest)
        });
    out.stock = stock_sums(counted);
    out.shipments = merged.0;
    out.ids = merged.1;
    out.conflicts.sort();
    Ok(out)
}

/// Repeatable pseudo-random numbers below `n`, from `seed` (for the
/// rules' tests).
#[cfg(test)]
fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    }
}

#[cfg(test)]
impl LatestShipment {
    /// A booked shipment of one unit, its id at `(start, len)` of the ids.
    fn booked(product: u32, sku: u32, provider: u32, (id_start, id_len): (u32, u32)) -> Self {
        LatestShipment {
            product,
            sku,
            provider,
            id_start,
            id_len,
            quantity: 1,
            status: Status::Booked,
            etd: None,
            eta: None,
            updated_at: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass check gives what converting each id on its own gives
    /// (the rules' former way), for valid ids, a bad byte, and two halves
    /// of one character in neighbouring ids (a valid whole).
    #[test]
    fn ids_as_text_matches_converting_each_id() {
        let cases: [&[&[u8]]; 4] = [
            &[b"SH-1", "燕窝-2".as_bytes(), b""],
            &[b"SH-1", b"SH\xff2", b"SH-3"],
            &[b"SH\xe7\x87", b"\x95-4", b"SH-5"],
            &[b"\xff"],
        ];
        for ids in cases {
            let mut bytes = Vec::new();
            let mut rows = vec![Vec::new(), Vec::new()];
            for (n, id) in ids.iter().enumerate() {
                let at = (bytes.len() as u32, id.len() as u32);
                rows[n % 2].push(LatestShipment::booked(n as u32, 0, 0, at));
                bytes.extend_from_slice(id);
            }
            let text = ids_as_text(bytes, &mut rows);
            let mut got: Vec<(u32, &str)> = rows
                .iter()
                .flatten()
                .map(|s| (s.product, id_in(&text, s)))
                .collect();
            got.sort();
            let want: Vec<String> = ids
                .iter()
                .map(|id| String::from_utf8_lossy(id).into_owned())
                .collect();
            let got: Vec<&str> = got.into_iter().map(|(_, id)| id).collect();
            assert_eq!(got, want, "{ids:?}");
        }
    }
}
