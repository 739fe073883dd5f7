//! Jobs shared among a few plain threads (never the async runtime): each
//! thread takes the next job as soon as it is free, so with the largest
//! jobs listed first every core stays busy to the end.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job(i)` for each `i` of `order`, in that order, on up to
/// `workers` threads; returns the results by index, `None` for an index
/// of `0..n` not in `order`.
pub fn run<R: Send>(
    n: usize,
    order: &[usize],
    workers: usize,
    job: impl Fn(usize) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, order.len().max(1)) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let r = job(i);
                    *slots[i].lock().expect("no poisoned slot") = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().expect("no poisoned slot"))
        .collect()
}

#[cfg(test)]
mod tests {
    /// Every listed job runs once, its result in its own place.
    #[test]
    fn results_by_index() {
        let r = super::run(5, &[4, 0, 2], 2, |i| i * 10);
        assert_eq!(r, vec![Some(0), None, Some(20), None, Some(40)]);
        assert_eq!(super::run(0, &[], 3, |i| i), Vec::<Option<usize>>::new());
    }
}
