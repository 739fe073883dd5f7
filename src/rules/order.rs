//! The latest shipments in the shipments table's order (product, supplier,
//! provider name, shipment id): each worker sorts its own, then the
//! workers' lists are merged.

use super::{CHUNK, LatestShipment};

/// Each provider's place when providers are ordered by name.
pub(super) fn provider_ranks(names: &[Box<str>]) -> Vec<u32> {
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    by_name.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    let mut rank = vec![0u32; names.len()];
    for (r, &n) in by_name.iter().enumerate() {
        rank[n as usize] = r as u32;
    }
    rank
}

/// What the shipments table's order needs besides the rows.
pub(super) struct TableOrder {
    /// Each provider's place when providers are ordered by name.
    pub rank: Vec<u32>,
    /// The supplier of each SKU map entry.
    pub suppliers: Vec<u32>,
}

impl TableOrder {
    /// The table's order, but for the id: product, supplier, provider
    /// name.
    pub fn group(&self, s: &LatestShipment) -> (u32, u32, u32) {
        (
            s.product,
            self.suppliers[s.sku as usize],
            self.rank[s.provider as usize],
        )
    }
}

/// A shipment's id in the arena `ids` its row points into.
pub(super) fn id_in<'i>(ids: &'i str, s: &LatestShipment) -> &'i str {
    &ids[s.id_start as usize..(s.id_start + s.id_len) as usize]
}

/// Shipments (chunks of at most [`CHUNK`] rows, ids in `ids`) in the
/// table's order: by product, supplier, provider name and id.
pub(super) fn in_table_order(
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
    // Each run by id: by the ids' first eight bytes, read once per row,
    // then (on a tie) by the whole ids.
    let mut by_id: Vec<(u64, u32)> = Vec::new();
    for run in keys.chunk_by_mut(|x, y| x.0 == y.0) {
        if run.len() > 1 {
            by_id.clear();
            by_id.extend(run.iter().map(|&(_, i)| (id_prefix(id_in(ids, at(i))), i)));
            by_id.sort_unstable_by(|x, y| {
                x.0.cmp(&y.0)
                    .then_with(|| id_in(ids, at(x.1)).cmp(id_in(ids, at(y.1))))
            });
            for (k, &(_, i)) in run.iter_mut().zip(&by_id) {
                k.1 = i;
            }
        }
    }
    keys.iter().map(|&(_, i)| *at(i)).collect()
}

/// An id's first eight bytes as a number that orders as they do (zeros
/// after a shorter id): ids whose numbers differ compare as their
/// numbers; equal numbers say nothing.
fn id_prefix(id: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// Two lists in table order (each with its own ids) as one, ids back to
/// back.
pub(super) fn merge_in_table_order(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::numbers;

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
                // Ids of varying length, so a prefix sorts first; long
                // ones that share their first eight bytes, and zero bytes.
                let digits = 1 + next(3) as u32;
                let n = next(10u64.pow(digits));
                let id = match next(4) {
                    0 => format!("SHIPMENT-{n}"),
                    1 => format!("SH\0{n}"),
                    _ => format!("SH{n}"),
                };
                if !seen.insert((provider, id.clone())) {
                    continue; // one latest row per (provider, id)
                }
                let (rows, ids) = &mut lists[next(parts as u64) as usize];
                let at = (ids.len() as u32, id.len() as u32);
                rows.push(LatestShipment::booked(product, sku, provider, at));
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
