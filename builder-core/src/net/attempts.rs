//! The tries of one transfer: counted, paused between, bounded by the deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::Body;
use ureq::http::Response;

use crate::events::{RequestRef, Retry};

use super::error::{Failure, NetError};
use super::http::{Http, TimedAgent};
use super::options::NetOptions;
use super::watch::{Tracked, Watch};

/// The budget of tries of one transfer (a manifest, a blob, a download): at most
/// `1 + retries` tries, all within the deadline, each failure but the last followed by
/// a pause and a [`Retry`] event. Its request is watched until it is dropped.
pub(crate) struct Attempts<'a> {
    http: &'a Http,
    watch: &'a Watch<'a>,
    tracked: Arc<Tracked>,
    started: Instant,
    retries: u32,
    failed: u32,
}

/// Tells the watch that data moved for a request; cheap to clone and to call.
#[derive(Debug, Clone)]
pub(crate) struct Pulse(Arc<Tracked>);

impl Pulse {
    /// Data moved.
    pub(crate) fn beat(&self) {
        self.0.beat();
    }
}

impl<'a> Attempts<'a> {
    /// The budget of a transfer of `request`, watched by `watch`.
    pub(crate) fn new(http: &'a Http, watch: &'a Watch<'a>, request: RequestRef) -> Self {
        Attempts {
            http,
            watch,
            tracked: watch.track(request),
            started: Instant::now(),
            retries: http.options().retries,
            failed: 0,
        }
    }

    /// A budget of one try for one part of this transfer, with its deadline and its
    /// request: its error's cause goes to [`retry`](Attempts::retry) of this one, which
    /// tries the part again (a download from where it broke, an upload from its start).
    pub(crate) fn once(&self) -> Attempts<'a> {
        Attempts {
            tracked: self.tracked.clone(),
            retries: 0,
            failed: 0,
            ..*self
        }
    }

    /// The options.
    pub(crate) fn options(&self) -> &'a NetOptions {
        self.http.options()
    }

    /// The request.
    pub(crate) fn request(&self) -> &RequestRef {
        self.tracked.request()
    }

    /// What tells the watch that data moved.
    pub(crate) fn pulse(&self) -> Pulse {
        Pulse(self.tracked.clone())
    }

    /// Starts a try: the agent for its requests, which end by the deadline.
    ///
    /// # Errors
    ///
    /// [`NetError::Failed`] when the deadline has passed.
    pub(crate) fn start(&self) -> Result<TimedAgent<'a>, NetError> {
        let left = self.left();
        if left.is_zero() {
            return Err(self.error(Failure::Deadline(self.http.options().deadline)));
        }
        self.tracked.start();
        Ok(self.http.timed(left))
    }

    /// After a try failed with `failure`: pauses and returns `Ok` when another try may
    /// be made (the failure may mend, retries are left and the pause ends before the
    /// deadline), reporting the retry.
    ///
    /// # Errors
    ///
    /// [`NetError::Failed`] with `failure` as its cause otherwise.
    pub(crate) fn retry(&mut self, failure: Failure) -> Result<(), NetError> {
        self.failed += 1;
        self.tracked.pause();
        let delay = self.http.options().backoff(self.failed);
        if !failure.is_retryable() || self.failed > self.retries || delay >= self.left() {
            return Err(self.error(failure));
        }
        let retry = Retry {
            attempt: self.failed + 1,
            attempts: self.retries + 1,
            delay,
            reason: failure.reason(),
        };
        self.watch.events().request_retrying(self.request(), &retry);
        std::thread::sleep(delay);
        Ok(())
    }

    /// Sends the request `send` makes until an answer other than a server error comes,
    /// within this budget. `message` reads a server error's message from its body.
    /// `send` is called once per try, so a request body is made anew for each.
    ///
    /// # Errors
    ///
    /// [`NetError::Failed`] when no try got such an answer.
    pub(crate) fn execute(
        &mut self,
        mut send: impl FnMut(&TimedAgent<'_>) -> Result<Response<Body>, ureq::Error>,
        message: impl Fn(&mut Response<Body>) -> String,
    ) -> Result<Response<Body>, NetError> {
        loop {
            let agent = self.start()?;
            let failure = match send(&agent) {
                Ok(mut response) if response.status().is_server_error() => Failure::Status {
                    status: response.status().as_u16(),
                    message: message(&mut response),
                },
                Ok(response) => return Ok(response),
                Err(error) => Failure::from_ureq(error, self.http.options()),
            };
            self.retry(failure)?;
        }
    }

    /// The time left until the deadline.
    fn left(&self) -> Duration {
        self.http
            .options()
            .deadline
            .saturating_sub(self.started.elapsed())
    }

    /// The error of this transfer failing with `failure`.
    fn error(&self, failure: Failure) -> NetError {
        NetError::Failed {
            request: self.request().clone(),
            attempts: self.failed.max(1),
            cause: failure,
        }
    }
}
