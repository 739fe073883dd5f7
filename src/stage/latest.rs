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

const DUP: u32 = u32::MAX;

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
    let mut out = Resolved {
        counts: vec![RuleCounts::default(); feeds.len()],
        ..Default::default()
    };

    let stock_rows: usize = feeds
        .iter()
        .map(|f| {
            if let Rows::Stock(r) = &f.rows {
                r.len()
            } else {
                0
            }
        })
        .sum();
    let ship_rows: usize = feeds
        .iter()
        .map(|f| {
            if let Rows::Shipments(r) = &f.rows {
                r.len()
            } else {
                0
            }
        })
        .sum();
    // Stock and shipments are independent: resolve them on two threads.
    let fresh = || Resolved {
        counts: vec![RuleCounts::default(); feeds.len()],
        ..Default::default()
    };
    let stock_part = || {
        let mut out = fresh();
        {
            type Key = (u32, u32, u32);
            let mut groups: Vec<Group<i64>> = Vec::new();
            // Sized up front: rehashing millions of entries costs more than
            // the memory of a table sized to the row count.
            let mut gmap: HashMap<(Key, i64), u32> = HashMap::with_capacity(stock_rows);
            let mut row_group: Vec<Vec<u32>> = Vec::with_capacity(feeds.len());
            for (fi, f) in feeds.iter().enumerate() {
                let Rows::Stock(rows) = &f.rows else {
                    row_group.push(Vec::new());
                    continue;
                };
                let m = &remap[fi];
                let mut rg = Vec::with_capacity(rows.len());
                for r in rows {
                    let key = (
                        m[r.supplier as usize],
                        m[r.sku as usize],
                        m[r.warehouse as usize],
                    );
                    let next = groups.len() as u32;
                    let gid = *gmap.entry((key, r.as_of)).or_insert(next);
                    if gid == next {
                        groups.push(Group {
                            first: r.quantity,
                            more: Vec::new(),
                        });
                        rg.push(gid);
                    } else if groups[gid as usize].add(r.quantity) {
                        rg.push(gid);
                    } else {
                        rg.push(DUP);
                    }
                }
                row_group.push(rg);
            }
            let mut best: HashMap<Key, (i64, usize, usize)> = HashMap::new();
            for (fi, f) in feeds.iter().enumerate() {
                let Rows::Stock(rows) = &f.rows else { continue };
                let m = &remap[fi];
                for (ri, r) in rows.iter().enumerate() {
                    let gid = row_group[fi][ri];
                    if gid == DUP {
                        out.counts[fi].duplicates += 1;
                        continue;
                    }
                    if groups[gid as usize].conflicted() {
                        out.counts[fi].conflicting += 1;
                        out.exceptions.push(conflict(
                            f,
                            global.get(m[r.supplier as usize]),
                            pid(r.product),
                            r.line,
                            "as_of",
                        ));
                        continue;
                    }
                    let key = (
                        m[r.supplier as usize],
                        m[r.sku as usize],
                        m[r.warehouse as usize],
                    );
                    let e = best.entry(key).or_insert((r.as_of, fi, ri));
                    if r.as_of > e.0 {
                        *e = (r.as_of, fi, ri);
                    }
                }
            }
            for (_, (_, fi, ri)) in best.iter() {
                let Rows::Stock(rows) = &feeds[*fi].rows else {
                    continue;
                };
                let r = &rows[*ri];
                let m = &remap[*fi];
                out.counts[*fi].counted += 1;
                out.stock.push(LatestStock {
                    product: r.product,
                    supplier: global.get(m[r.supplier as usize]).to_string(),
                    sku: global.get(m[r.sku as usize]).to_string(),
                    warehouse: global.get(m[r.warehouse as usize]).to_string(),
                    quantity: r.quantity,
                    units: r.units,
                    as_of: r.as_of,
                    source: *fi,
                });
            }
            for (fi, f) in feeds.iter().enumerate() {
                if let Rows::Stock(rows) = &f.rows {
                    let c = &mut out.counts[fi];
                    c.superseded = rows.len() as u64 - c.counted - c.duplicates - c.conflicting;
                }
            }
        }
        out
    };
    let ship_part = || {
        let mut out = fresh();
        {
            type Key = (u32, u32);
            type Values = (u32, u32, i64, Status, Option<NaiveDate>, Option<NaiveDate>);
            let mut groups: Vec<Group<Values>> = Vec::new();
            let mut gmap: HashMap<(Key, i64), u32> = HashMap::with_capacity(ship_rows);
            let mut row_group: Vec<Vec<u32>> = Vec::with_capacity(feeds.len());
            for (fi, f) in feeds.iter().enumerate() {
                let Rows::Shipments(rows) = &f.rows else {
                    row_group.push(Vec::new());
                    continue;
                };
                let m = &remap[fi];
                let mut rg = Vec::with_capacity(rows.len());
                for r in rows {
                    let key = (provider_ids[fi], m[r.shipment as usize]);
                    let values: Values = (
                        m[r.supplier as usize],
                        m[r.sku as usize],
                        r.quantity,
                        r.status,
                        r.etd,
                        r.eta,
                    );
                    let next = groups.len() as u32;
                    let gid = *gmap.entry((key, r.updated_at)).or_insert(next);
                    if gid == next {
                        groups.push(Group {
                            first: values,
                            more: Vec::new(),
                        });
                        rg.push(gid);
                    } else if groups[gid as usize].add(values) {
                        rg.push(gid);
                    } else {
                        rg.push(DUP);
                    }
                }
                row_group.push(rg);
            }
            let mut best: HashMap<Key, (i64, usize, usize)> = HashMap::new();
            for (fi, f) in feeds.iter().enumerate() {
                let Rows::Shipments(rows) = &f.rows else {
                    continue;
                };
                let m = &remap[fi];
                for (ri, r) in rows.iter().enumerate() {
                    let gid = row_group[fi][ri];
                    if gid == DUP {
                        out.counts[fi].duplicates += 1;
                        continue;
                    }
                    if groups[gid as usize].conflicted() {
                        out.counts[fi].conflicting += 1;
                        out.exceptions.push(conflict(
                            f,
                            global.get(m[r.supplier as usize]),
                            pid(r.product),
                            r.line,
                            "updated_at",
                        ));
                        continue;
                    }
                    let key = (provider_ids[fi], m[r.shipment as usize]);
                    let e = best.entry(key).or_insert((r.updated_at, fi, ri));
                    if r.updated_at > e.0 {
                        *e = (r.updated_at, fi, ri);
                    }
                }
            }
            for (_, (_, fi, ri)) in best.iter() {
                let Rows::Shipments(rows) = &feeds[*fi].rows else {
                    continue;
                };
                let r = &rows[*ri];
                let m = &remap[*fi];
                out.counts[*fi].counted += 1;
                out.shipments.push(LatestShipment {
                    product: r.product,
                    provider: owners[*fi].clone().unwrap_or_default(),
                    shipment_id: global.get(m[r.shipment as usize]).to_string(),
                    supplier: global.get(m[r.supplier as usize]).to_string(),
                    sku: global.get(m[r.sku as usize]).to_string(),
                    quantity: r.quantity,
                    units: r.units,
                    status: r.status,
                    etd: r.etd,
                    eta: r.eta,
                    updated_at: r.updated_at,
                    source: *fi,
                });
            }
            for (fi, f) in feeds.iter().enumerate() {
                if let Rows::Shipments(rows) = &f.rows {
                    let c = &mut out.counts[fi];
                    c.superseded = rows.len() as u64 - c.counted - c.duplicates - c.conflicting;
                }
            }
        }
        out
    };
    let (stock, ships) = std::thread::scope(|s| {
        let a = s.spawn(stock_part);
        let b = ship_part();
        (a.join().expect("stock rules do not panic"), b)
    });
    out.stock = stock.stock;
    out.shipments = ships.shipments;
    out.exceptions = stock.exceptions;
    out.exceptions.extend(ships.exceptions);
    for (i, c) in out.counts.iter_mut().enumerate() {
        let (a, b) = (stock.counts[i], ships.counts[i]);
        *c = RuleCounts {
            counted: a.counted + b.counted,
            superseded: a.superseded + b.superseded,
            duplicates: a.duplicates + b.duplicates,
            conflicting: a.conflicting + b.conflicting,
        };
    }

    // Hash-map order is not stable: sort for deterministic outputs.
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
