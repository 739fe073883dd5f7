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
//! Memory grows with the number of distinct (key, timestamp) pairs.

use hashbrown::HashMap;

use super::{Exception, Interner, Reason, Rows, StagedFeed, Status};
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

#[derive(Debug, Clone)]
pub struct LatestStock {
    pub product: u32,
    pub supplier: String,
    pub sku: String,
    pub warehouse: String,
    pub quantity: i64,
    pub units: i64,
    pub as_of: i64,
    pub source: usize,
}

#[derive(Debug, Clone)]
pub struct LatestShipment {
    pub product: u32,
    pub provider: String,
    pub shipment_id: String,
    pub supplier: String,
    pub sku: String,
    pub quantity: i64,
    pub units: i64,
    pub status: Status,
    pub etd: Option<NaiveDate>,
    pub eta: Option<NaiveDate>,
    pub updated_at: i64,
    pub source: usize,
}

#[derive(Debug, Default)]
pub struct Resolved {
    pub stock: Vec<LatestStock>,
    pub shipments: Vec<LatestShipment>,
    pub exceptions: Vec<Exception>,
    /// Indexed like the input feeds.
    pub counts: Vec<RuleCounts>,
}

/// Per (key, timestamp): the distinct values seen, and the rows holding them.
/// Kept without a heap allocation in the common case of one value.
struct Group<V> {
    first: V,
    more: Vec<V>,
}

impl<V: PartialEq> Group<V> {
    /// Records `v`; false when it repeats a value already seen (an exact
    /// duplicate).
    fn add(&mut self, v: V) -> bool {
        if self.first == v || self.more.contains(&v) {
            return false;
        }
        self.more.push(v);
        true
    }

    fn conflicted(&self) -> bool {
        !self.more.is_empty()
    }
}

/// What the rules decided for one staged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The latest row of its key: it counts.
    Counted,
    /// A valid row replaced by a newer one.
    Superseded,
    /// An exact copy of an earlier row.
    Duplicate,
    /// Same key and timestamp as another row, different values.
    Conflicting,
}

/// The rules themselves, for any kind of row: `key`, `ts` and `value` read
/// row `ri` of feed `fi` (`lens[fi]` rows each). Returns an outcome per row.
fn classify<K, V>(
    lens: &[usize],
    key: impl Fn(usize, usize) -> K,
    ts: impl Fn(usize, usize) -> i64,
    value: impl Fn(usize, usize) -> V,
) -> Vec<Vec<Outcome>>
where
    K: std::hash::Hash + Eq + Copy,
    V: PartialEq,
{
    const DUP: u32 = u32::MAX;
    let total: usize = lens.iter().sum();
    // Sized up front: rehashing millions of entries costs more than the
    // memory of a table sized to the row count.
    let mut groups: Vec<Group<V>> = Vec::with_capacity(total);
    let mut gmap: HashMap<(K, i64), u32> = HashMap::with_capacity(total);
    let mut row_group: Vec<Vec<u32>> = Vec::with_capacity(lens.len());
    for (fi, &n) in lens.iter().enumerate() {
        let mut rg = Vec::with_capacity(n);
        for ri in 0..n {
            let next = groups.len() as u32;
            let gid = *gmap.entry((key(fi, ri), ts(fi, ri))).or_insert(next);
            if gid == next {
                groups.push(Group {
                    first: value(fi, ri),
                    more: Vec::new(),
                });
                rg.push(gid);
            } else if groups[gid as usize].add(value(fi, ri)) {
                rg.push(gid);
            } else {
                rg.push(DUP);
            }
        }
        row_group.push(rg);
    }
    drop(gmap);
    // The latest row per key among rows neither duplicated nor conflicting.
    let mut best: HashMap<K, (i64, usize, usize)> = HashMap::new();
    for (fi, rg) in row_group.iter().enumerate() {
        for (ri, &gid) in rg.iter().enumerate() {
            if gid == DUP || groups[gid as usize].conflicted() {
                continue;
            }
            let t = ts(fi, ri);
            let e = best.entry(key(fi, ri)).or_insert((t, fi, ri));
            if t > e.0 {
                *e = (t, fi, ri);
            }
        }
    }
    let mut out: Vec<Vec<Outcome>> = row_group
        .iter()
        .map(|rg| {
            rg.iter()
                .map(|&gid| match gid {
                    DUP => Outcome::Duplicate,
                    g if groups[g as usize].conflicted() => Outcome::Conflicting,
                    _ => Outcome::Superseded,
                })
                .collect()
        })
        .collect();
    for (_, fi, ri) in best.into_values() {
        out[fi][ri] = Outcome::Counted;
    }
    out
}

/// Tallies one feed's outcomes.
fn tally(outcomes: &[Outcome]) -> RuleCounts {
    let mut c = RuleCounts::default();
    for o in outcomes {
        match o {
            Outcome::Counted => c.counted += 1,
            Outcome::Superseded => c.superseded += 1,
            Outcome::Duplicate => c.duplicates += 1,
            Outcome::Conflicting => c.conflicting += 1,
        }
    }
    c
}

/// Runs the rules. `owners[i]` is the provider of feed `i` (for shipments).
pub fn resolve(
    feeds: &[StagedFeed],
    owners: &[Option<String>],
    catalog: &super::Catalog,
) -> Resolved {
    let pid = |p: u32| catalog.products[p as usize].id.as_str();
    let mut global = Interner::default();
    // Map every feed's local string ids to global ones, so keys compare
    // across feeds.
    let remap: Vec<Vec<u32>> = feeds
        .iter()
        .map(|f| f.strings.strings.iter().map(|s| global.intern(s)).collect())
        .collect();
    let provider_ids: Vec<u32> = owners
        .iter()
        .map(|o| global.intern(o.as_deref().unwrap_or("")))
        .collect();
    let g = |fi: usize, id: u32| global.get(remap[fi][id as usize]);
    let stock_rows = |fi: usize| match &feeds[fi].rows {
        Rows::Stock(r) => r.as_slice(),
        Rows::Shipments(_) => &[],
    };
    let ship_rows = |fi: usize| match &feeds[fi].rows {
        Rows::Shipments(r) => r.as_slice(),
        Rows::Stock(_) => &[],
    };
    let stock_lens: Vec<usize> = (0..feeds.len()).map(|fi| stock_rows(fi).len()).collect();
    let ship_lens: Vec<usize> = (0..feeds.len()).map(|fi| ship_rows(fi).len()).collect();

    // Stock and shipments are independent: classify them on two threads.
    let (stock_outcomes, ship_outcomes) = std::thread::scope(|scope| {
        let stock = scope.spawn(|| {
            classify(
                &stock_lens,
                |fi, ri| {
                    let r = &stock_rows(fi)[ri];
                    let m = &remap[fi];
                    (
                        m[r.supplier as usize],
                        m[r.sku as usize],
                        m[r.warehouse as usize],
                    )
                },
                |fi, ri| stock_rows(fi)[ri].as_of,
                |fi, ri| stock_rows(fi)[ri].quantity,
            )
        });
        let ships = classify(
            &ship_lens,
            |fi, ri| {
                (
                    provider_ids[fi],
                    remap[fi][ship_rows(fi)[ri].shipment as usize],
                )
            },
            |fi, ri| ship_rows(fi)[ri].updated_at,
            |fi, ri| {
                let r = &ship_rows(fi)[ri];
                let m = &remap[fi];
                (
                    m[r.supplier as usize],
                    m[r.sku as usize],
                    r.quantity,
                    r.status,
                    r.etd,
                    r.eta,
                )
            },
        );
        (stock.join().expect("the stock rules do not panic"), ships)
    });

    let mut out = Resolved::default();
    for (fi, f) in feeds.iter().enumerate() {
        let (a, b) = (tally(&stock_outcomes[fi]), tally(&ship_outcomes[fi]));
        out.counts.push(RuleCounts {
            counted: a.counted + b.counted,
            superseded: a.superseded + b.superseded,
            duplicates: a.duplicates + b.duplicates,
            conflicting: a.conflicting + b.conflicting,
        });
        for (r, o) in stock_rows(fi).iter().zip(&stock_outcomes[fi]) {
            match o {
                Outcome::Counted => out.stock.push(LatestStock {
                    product: r.product,
                    supplier: g(fi, r.supplier).to_string(),
                    sku: g(fi, r.sku).to_string(),
                    warehouse: g(fi, r.warehouse).to_string(),
                    quantity: r.quantity,
                    units: r.units,
                    as_of: r.as_of,
                    source: fi,
                }),
                Outcome::Conflicting => out.exceptions.push(conflict(
                    f,
                    g(fi, r.supplier),
                    pid(r.product),
                    r.line,
                    "as_of",
                )),
                _ => {}
            }
        }
        for (r, o) in ship_rows(fi).iter().zip(&ship_outcomes[fi]) {
            match o {
                Outcome::Counted => out.shipments.push(LatestShipment {
                    product: r.product,
                    provider: owners[fi].clone().unwrap_or_default(),
                    shipment_id: g(fi, r.shipment).to_string(),
                    supplier: g(fi, r.supplier).to_string(),
                    sku: g(fi, r.sku).to_string(),
                    quantity: r.quantity,
                    units: r.units,
                    status: r.status,
                    etd: r.etd,
                    eta: r.eta,
                    updated_at: r.updated_at,
                    source: fi,
                }),
                Outcome::Conflicting => out.exceptions.push(conflict(
                    f,
                    g(fi, r.supplier),
                    pid(r.product),
                    r.line,
                    "updated_at",
                )),
                _ => {}
            }
        }
    }

    // Sort for deterministic outputs.
    out.stock.sort_by(|a, b| {
        (a.product, &a.supplier, &a.sku, &a.warehouse).cmp(&(
            b.product,
            &b.supplier,
            &b.sku,
            &b.warehouse,
        ))
    });
    out.shipments.sort_by(|a, b| {
        (a.product, &a.supplier, &a.provider, &a.shipment_id).cmp(&(
            b.product,
            &b.supplier,
            &b.provider,
            &b.shipment_id,
        ))
    });
    out.exceptions.sort();
    out
}

fn conflict(f: &StagedFeed, supplier: &str, product: &str, line: u64, ts_field: &str) -> Exception {
    Exception {
        source: f.source_id.clone(),
        supplier_id: supplier.to_string(),
        product_id: product.to_string(),
        line,
        field: ts_field.to_string(),
        reason: Reason::ConflictingDuplicate,
        detail: format!("another row has the same key and `{ts_field}` but different values"),
        // Filled in by `stage::fill_raw` from the feed's raw copy.
        raw: String::new(),
    }
}
