//! Reporting waits. A request blocked in a read cannot report on itself, so while a
//! pull, push or download runs, a thread of its own looks at the requests in flight a
//! few times per notice interval and tells [`Events::request_waiting`] about each one
//! whose server has done nothing for a multiple of the interval. A request stops
//! being watched when its [`Tracked`] is dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::events::{Events, RequestRef};

/// The requests of one pull, push or download, and the events their waits go to.
pub(crate) struct Watch<'e> {
    events: &'e dyn Events,
    notice: Duration,
    epoch: Instant,
    requests: Mutex<Vec<Weak<Tracked>>>,
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// One watched request: whether a try of it is under way, and when its server last
/// did something.
#[derive(Debug)]
pub(crate) struct Tracked {
    request: RequestRef,
    epoch: Instant,
    /// A try is under way (not a pause between tries).
    active: AtomicBool,
    /// When the try started or data last moved, in milliseconds since `epoch`.
    last: AtomicU64,
    /// How many notices the current wait has had; only the watch thread writes it.
    reported: AtomicU64,
}

impl Tracked {
    /// The request.
    pub(crate) fn request(&self) -> &RequestRef {
        &self.request
    }

    /// A try starts: the wait counts from now.
    pub(crate) fn start(&self) {
        self.beat();
        self.active.store(true, Ordering::Relaxed);
    }

    /// A pause between tries: no wait for the server.
    pub(crate) fn pause(&self) {
        self.active.store(false, Ordering::Relaxed);
    }

    /// Data moved: the wait starts again.
    pub(crate) fn beat(&self) {
        self.last
            .store(millis(self.epoch.elapsed()), Ordering::Relaxed);
    }
}

impl<'e> Watch<'e> {
    /// Runs `work` while a thread reports the waits of the requests it tracks to
    /// `events`, every `notice`; the thread ends with `work`, even when it panics.
    pub(crate) fn run<R>(
        events: &'e dyn Events,
        notice: Duration,
        work: impl FnOnce(&Watch<'e>) -> R,
    ) -> R {
        let watch = Watch {
            events,
            notice: notice.max(Duration::from_millis(1)),
            epoch: Instant::now(),
            requests: Mutex::default(),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        };
        std::thread::scope(|scope| {
            scope.spawn(|| watch.report_until_stopped());
            let _stop = Stop(&watch);
            work(&watch)
        })
    }

    /// The events waits and retries go to.
    pub(crate) fn events(&self) -> &'e dyn Events {
        self.events
    }

    /// Watches `request` until the result is dropped; it waits for nothing until
    /// [`Tracked::start`].
    pub(crate) fn track(&self, request: RequestRef) -> Arc<Tracked> {
        let tracked = Arc::new(Tracked {
            request,
            epoch: self.epoch,
            active: AtomicBool::new(false),
            last: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        });
        let mut requests = lock(&self.requests);
        requests.retain(|request| request.strong_count() > 0);
        requests.push(Arc::downgrade(&tracked));
        tracked
    }

    /// The watch thread: looks at the requests a few times per notice interval until
    /// stopped.
    fn report_until_stopped(&self) {
        let every = (self.notice / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        loop {
            let stopped = lock(&self.stopped);
            let (stopped, _) = self
                .wake
                .wait_timeout_while(stopped, every, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner);
            if *stopped {
                return;
            }
            drop(stopped);
            self.report();
        }
    }

    /// Reports each request whose wait has reached a further multiple of the interval.
    fn report(&self) {
        let live: Vec<Arc<Tracked>> = lock(&self.requests)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let now = millis(self.epoch.elapsed());
        let notice = millis(self.notice).max(1);
        for tracked in live {
            let notices = if tracked.active.load(Ordering::Relaxed) {
                now.saturating_sub(tracked.last.load(Ordering::Relaxed)) / notice
            } else {
                0
            };
            if notices > tracked.reported.swap(notices, Ordering::Relaxed) {
                let waited = Duration::from_millis(notices.saturating_mul(notice));
                self.events.request_waiting(&tracked.request, waited);
            }
        }
    }
}

/// Stops the watch thread when dropped.
struct Stop<'w, 'e>(&'w Watch<'e>);

impl Drop for Stop<'_, '_> {
    fn drop(&mut self) {
        *lock(&self.0.stopped) = true;
        self.0.wake.notify_all();
    }
}

/// Whole milliseconds of `duration`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Locks a mutex, even one a panicking thread left poisoned: the data stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the waits reported.
    #[derive(Default)]
    struct Waits(Mutex<Vec<(String, Duration)>>);

    impl Events for Waits {
        fn request_waiting(&self, request: &RequestRef, waited: Duration) {
            lock(&self.0).push((request.label.clone(), waited));
        }
    }

    #[test]
    fn a_long_wait_is_reported_at_each_interval_and_data_restarts_it() {
        let waits = Waits::default();
        let ms = Duration::from_millis;
        let mut before_beat = Vec::new();
        Watch::run(&waits, ms(200), |watch| {
            let slow = watch.track(RequestRef {
                label: "slow".into(),
            });
            let _idle = watch.track(RequestRef {
                label: "not started".into(),
            });
            slow.start();
            std::thread::sleep(ms(500));
            before_beat = lock(&waits.0).clone();
            slow.beat();
            std::thread::sleep(ms(300));
        });
        let after_beat = lock(&waits.0)[before_beat.len()..].to_vec();
        let slow = |waited| ("slow".to_owned(), waited);
        // A busy machine may run the watch late and skip a notice, never the last one.
        assert_eq!(before_beat.last(), Some(&slow(ms(400))), "{before_beat:?}");
        assert!(
            before_beat.windows(2).all(|w| w[0].1 < w[1].1),
            "{before_beat:?}"
        );
        assert_eq!(after_beat, [slow(ms(200))]);
    }
}
