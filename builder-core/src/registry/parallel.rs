//! Running blob transfers a few at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Calls `work` on each item with up to `threads` threads and returns the results in no
/// particular order; after the first error no new item is started, and that error is
/// returned.
pub(crate) fn each<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> crate::Result<R> + Sync,
) -> crate::Result<Vec<R>> {
    let queue = Mutex::new(items.into_iter());
    let failed = AtomicBool::new(false);
    let outcomes: Vec<crate::Result<Vec<R>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .next();
                        let Some(item) = next else { break };
                        match work(item) {
                            Ok(result) => done.push(result),
                            Err(error) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(error);
                            }
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a transfer thread does not panic"))
            .collect()
    });
    let mut results = Vec::new();
    for outcome in outcomes {
        results.extend(outcome?);
    }
    Ok(results)
}
