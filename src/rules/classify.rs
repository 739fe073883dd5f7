//! The latest-row rules for one key's rows: which row counts, which are
//! superseded, exact duplicates, or conflicting duplicates.

/// What the rules decided for one row, before tallying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Counted,
    Superseded,
    Duplicate,
    Conflicting,
}

/// The rules for one key's rows, sorted by (timestamp, read order):
/// calls `out(row index, outcome)` for every row.
pub fn classify_key<V: PartialEq>(
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
        if b == a + 1 {
            // One row at this timestamp (nearly every group): what the
            // general case below makes of it, without its list.
            if let Some(prev) = candidate.replace(a) {
                out(prev, Outcome::Superseded);
            }
            a = b;
            continue;
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

#[cfg(test)]
mod tests {
    use super::Outcome::{self, *};
    use super::classify_key;

    /// The outcome of each row of one key: rows as (timestamp, value), in
    /// (timestamp, read) order.
    fn classify(rows: &[(i64, char)]) -> Vec<Outcome> {
        let mut out = vec![None; rows.len()];
        classify_key(
            rows.len(),
            |i| rows[i].0,
            |i| rows[i].1,
            |i, o| {
                assert!(out[i].is_none(), "row {i} decided twice");
                out[i] = Some(o);
            },
        );
        out.into_iter()
            .map(|o| o.expect("every row decided"))
            .collect()
    }

    #[test]
    fn the_latest_row_counts_and_older_ones_are_superseded() {
        assert_eq!(classify(&[(1, 'a')]), [Counted]);
        assert_eq!(
            classify(&[(1, 'a'), (2, 'b'), (3, 'a')]),
            [Superseded, Superseded, Counted]
        );
    }

    /// Exact duplicates collapse to the first one read, whatever their
    /// timestamp.
    #[test]
    fn exact_duplicates_keep_the_first_read() {
        assert_eq!(classify(&[(1, 'a'), (1, 'a')]), [Counted, Duplicate]);
        assert_eq!(
            classify(&[(1, 'a'), (1, 'a'), (2, 'b'), (2, 'b')]),
            [Superseded, Duplicate, Counted, Duplicate]
        );
    }

    /// Same key and timestamp, different values: all of them conflict, and
    /// the key falls back to its latest older valid row.
    #[test]
    fn conflicts_fall_back_to_the_latest_older_row() {
        assert_eq!(
            classify(&[(1, 'a'), (2, 'b'), (2, 'c')]),
            [Counted, Conflicting, Conflicting]
        );
        // A repeat inside a conflict is a duplicate of its first.
        assert_eq!(
            classify(&[(2, 'b'), (2, 'b'), (2, 'c')]),
            [Conflicting, Duplicate, Conflicting]
        );
        // Nothing older to fall back to: nothing counts.
        assert_eq!(classify(&[(2, 'b'), (2, 'c')]), [Conflicting, Conflicting]);
        // A conflict at an older timestamp does not stop a newer row.
        assert_eq!(
            classify(&[(1, 'a'), (1, 'b'), (2, 'c')]),
            [Conflicting, Conflicting, Counted]
        );
    }

    /// The rules as the SPEC states them, written out plainly: per
    /// timestamp, the distinct values; more than one is a conflict; the
    /// latest timestamp without one counts.
    fn reference(rows: &[(i64, char)]) -> Vec<Outcome> {
        use std::collections::BTreeMap;
        let mut out = vec![Duplicate; rows.len()];
        let mut by_ts: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_ts.entry(r.0).or_default().push(i);
        }
        let mut valid = Vec::new();
        for rows_at in by_ts.values() {
            let mut firsts: Vec<usize> = Vec::new();
            for &i in rows_at {
                if !firsts.iter().any(|&f| rows[f].1 == rows[i].1) {
                    firsts.push(i);
                }
            }
            if firsts.len() > 1 {
                firsts.iter().for_each(|&f| out[f] = Conflicting);
            } else {
                valid.push(firsts[0]);
            }
        }
        if let Some((&last, older)) = valid.split_last() {
            older.iter().for_each(|&v| out[v] = Superseded);
            out[last] = Counted;
        }
        out
    }

    #[test]
    fn classification_agrees_with_the_plain_rules() {
        let mut rng = fastrand::Rng::with_seed(23);
        for _ in 0..20_000 {
            let mut rows: Vec<(i64, char)> = (0..rng.usize(1..9))
                .map(|_| (rng.i64(0..4), ['a', 'b', 'c'][rng.usize(..3)]))
                .collect();
            rows.sort_by_key(|r| r.0);
            assert_eq!(classify(&rows), reference(&rows), "{rows:?}");
        }
    }
}
