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
