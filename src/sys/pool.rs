//! A few plain threads that run the jobs handed to them for as long as a
//! scope lasts (staging's chunk parsers, shared by every feed staged at
//! the time). Jobs may borrow what outlives the scope.

use std::panic::{AssertUnwindSafe, catch_unwind};

type Job<'env> = Box<dyn FnOnce() + Send + 'env>;

/// Hands jobs to the scope's threads, first come first served.
pub struct Pool<'env> {
    jobs: crossbeam_channel::Sender<Job<'env>>,
    threads: usize,
}

impl<'env> Pool<'env> {
    /// Queues `job`. A job reports its own outcome (a panic in it is
    /// stopped there, so the thread goes on; the job must say so itself if
    /// someone waits for it).
    pub fn spawn(&self, job: impl FnOnce() + Send + 'env) {
        self.jobs
            .send(Box::new(job))
            .expect("the pool's threads outlive its handle");
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// Runs `f` with a pool of `threads` threads; returns once `f` has and
/// every job it queued has run.
pub fn scope<'env, R>(threads: usize, f: impl FnOnce(&Pool<'env>) -> R) -> R {
    let threads = threads.max(1);
    let (tx, rx) = crossbeam_channel::unbounded::<Job<'env>>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = rx.clone();
            s.spawn(move || {
                for job in rx {
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            });
        }
        let pool = Pool { jobs: tx, threads };
        let r = f(&pool);
        drop(pool);
        r
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Every job runs, on the pool's threads, before the scope returns;
    /// a panicking job stops no other.
    #[test]
    fn every_job_runs_before_the_scope_ends() {
        let done = AtomicUsize::new(0);
        let n = super::scope(3, |pool| {
            for i in 0..100 {
                let done = &done;
                pool.spawn(move || {
                    if i == 7 {
                        panic!("job 7 fails");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
            pool.threads()
        });
        assert_eq!(n, 3);
        assert_eq!(done.load(Ordering::Relaxed), 99);
    }
}
