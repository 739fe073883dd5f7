//! The rows of a partition in (key, timestamp, read order) order, sorted
//! cheaply: a compact (group, timestamp, index) array radix-sorted, two
//! numbers packed into one where they fit, and the few runs that order
//! leaves wrong put right by the exact comparison.

/// Calls `f` with each run of rows that share a key, as the last
/// [`sort_into`] found them (the ends of its key runs).
pub(super) fn key_runs<T>(recs: &[T], scratch: &SortScratch, mut f: impl FnMut(&[T])) {
    let mut a = 0;
    for &end in &scratch.ends {
        let end = end as usize;
        f(&recs[a..end]);
        a = end;
    }
    debug_assert_eq!(a, recs.len(), "the runs are of these records");
}

/// How the records' keys are grouped for [`sort_into`].
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Group {
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
pub(super) struct Step(i64);

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
    room_for(packed, keys.len());
    match step {
        60_000_000 => with::<60_000_000>(keys, packed, g0, t0, ts_bits),
        1_000_000 => with::<1_000_000>(keys, packed, g0, t0, ts_bits),
        1_000 => with::<1_000>(keys, packed, g0, t0, ts_bits),
        _ => with::<1>(keys, packed, g0, t0, ts_bits),
    }
}

/// `v` emptied, with room for `n` items. A buffer too small is replaced,
/// not grown: growing would copy its stale contents, and double it where
/// the next partition is only a little larger. The 1/16 over lets a
/// slightly larger partition to come fit.
fn room_for<T>(v: &mut Vec<T>, n: usize) {
    v.clear();
    if v.capacity() < n {
        *v = Vec::new();
        v.reserve_exact(n + n / 16);
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
pub(super) fn sort_into<T: Copy>(
    recs: &[T],
    scratch: &mut SortScratch,
    out: &mut Vec<T>,
    kind: Group,
    group_ts: impl Fn(&T) -> (u64, i64),
    same: impl Fn(&T, &T) -> bool,
    exact: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    let keys = &mut scratch.keys;
    room_for(keys, recs.len());
    room_for(out, recs.len());
    scratch.ends.clear();
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
        fix_runs(
            out,
            &mut scratch.ends,
            kind,
            |i| packed[i].0.checked_shr(t_bits).unwrap_or(0),
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
        &mut scratch.ends,
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
/// sorted whole. Pushes the end of each run of one key to `ends`.
fn fix_runs<T>(
    out: &mut [T],
    ends: &mut Vec<u32>,
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
            for i in a + 1..end {
                if !same(&out[i - 1], &out[i]) {
                    ends.push(i as u32);
                }
            }
            ends.push(end as u32);
            a = end;
            continue;
        }
        ends.push(end as u32);
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
pub(super) struct SortScratch {
    keys: Vec<(u64, u64, u32)>,
    packed: Vec<(u64, u32)>,
    /// Where each run of one key ends in the sorted records.
    ends: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::numbers;

    /// `sort_into` gives the order of a full sort by the exact comparison:
    /// packed or not (timestamps in whole minutes, seconds or any
    /// microsecond, spans narrow or too wide to pack), by key or by a
    /// colliding hash, with ties on timestamps; and its key runs are the
    /// runs of equal keys a plain walk over the sorted rows finds.
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
                let mut runs = Vec::new();
                key_runs(&out, &scratch, |r| runs.push(r.to_vec()));
                let plain: Vec<Vec<Row>> = expected
                    .chunk_by(|x, y| x.0 == y.0)
                    .map(<[Row]>::to_vec)
                    .collect();
                assert!(runs == plain, "round {round}: runs of keys differ");
            }
        }
    }
}
