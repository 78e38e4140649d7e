//! A fixed set of worker threads that run the jobs given to them, for the compressor.
//!
//! Written here rather than taken from `rayon`: rayon's idle workers spin (yielding)
//! before they sleep, and a compressor's workers go idle between every two chunks. On a
//! 2-core machine that spinning took ≈10 % of a cold build's CPU from the thread reading
//! the files. These workers block on a channel instead.

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A job for a worker.
type Job = Box<dyn FnOnce() + Send>;

/// Worker threads taking jobs from one queue, in the order given.
pub(crate) struct Workers {
    /// `None` once dropped, which ends the workers.
    tx: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers named `name-<n>`.
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub(crate) fn start(count: usize, name: &str) -> io::Result<Workers> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..count)
            .map(|n| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("{name}-{n}"))
                    .spawn(move || {
                        loop {
                            // The lock is held only while waiting for the next job.
                            let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => break,
                            }
                        }
                    })
            })
            .collect::<io::Result<_>>()?;
        Ok(Workers {
            tx: Some(tx),
            threads,
        })
    }

    /// Queues `job` for the next idle worker.
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = &self.tx {
            // The workers outlive the sender; a send fails only if every one of them
            // panicked, and then the job's own channel tells its caller.
            let _ = tx.send(Box::new(job));
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.tx = None;
        for thread in self.threads.drain(..) {
            // A job that panicked has already been reported through its own channel.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_job_and_ends_when_dropped() -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        let workers = Workers::start(3, "test-worker")?;
        for n in 0..100u32 {
            let tx = tx.clone();
            workers.spawn(move || {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((n, name)).expect("the test keeps the receiver");
            });
        }
        drop(workers);
        drop(tx);
        let mut done: Vec<(u32, Option<String>)> = rx.iter().collect();
        done.sort();
        assert_eq!(done.len(), 100);
        assert!(done.iter().enumerate().all(|(i, (n, _))| *n == i as u32));
        assert!(done.iter().all(|(_, name)| {
            name.as_deref()
                .is_some_and(|n| n.starts_with("test-worker-"))
        }));
        Ok(())
    }
}
