//! How long network requests may wait, and how often they are tried.

use std::time::Duration;

/// The longest pause between reports of a wait ([`Events::request_waiting`]).
///
/// [`Events::request_waiting`]: crate::events::Events::request_waiting
const NOTICE: Duration = Duration::from_secs(5);

/// The timeouts, deadline and retries of every request to a registry or a download
/// server. Every wait is bounded: a server that accepts the connection and never answers
/// fails the request after [`first_byte_timeout`](NetOptions::first_byte_timeout), one
/// that stops in the middle of an answer after [`idle_timeout`](NetOptions::idle_timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOptions {
    /// How long resolving the host and opening the connection (TLS included) may take.
    pub connect_timeout: Duration,
    /// How long the answer's status and headers may take to arrive once the request is
    /// sent.
    pub first_byte_timeout: Duration,
    /// How long any read or write of a request or its answer may wait for the server:
    /// a body that stops flowing for this long fails.
    pub idle_timeout: Duration,
    /// How long one transfer (a manifest, a blob, a download) may take in all, its tries
    /// and the pauses between them included.
    pub deadline: Duration,
    /// How many times a failed try is repeated: after a timeout, a broken connection or
    /// a server error (5xx), for requests that may be sent again. Client errors (4xx)
    /// are never retried.
    pub retries: u32,
    /// The pause before the first retry; it doubles with each further one.
    pub backoff: Duration,
}

impl Default for NetOptions {
    /// 30 seconds for each timeout, an hour per transfer, 3 retries after 0.5, 1 and 2 s.
    fn default() -> Self {
        let timeout = Duration::from_secs(30);
        NetOptions {
            connect_timeout: timeout,
            first_byte_timeout: timeout,
            idle_timeout: timeout,
            deadline: Duration::from_secs(3600),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

impl NetOptions {
    /// These options with `timeout` as the connect, first-byte and idle timeouts.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        NetOptions {
            connect_timeout: timeout,
            first_byte_timeout: timeout,
            idle_timeout: timeout,
            ..self
        }
    }

    /// The pause before retry number `retry` (1 for the first).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        self.backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1).min(16)))
    }

    /// How often a wait is reported: every 5 seconds, or at half the shortest timeout
    /// when that is shorter, so that a wait shows before it fails.
    pub(crate) fn notice(&self) -> Duration {
        let shortest = self
            .connect_timeout
            .min(self.first_byte_timeout)
            .min(self.idle_timeout);
        (shortest / 2).clamp(Duration::from_millis(100), NOTICE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let options = NetOptions::default();
        let pauses: Vec<_> = (1..=4).map(|retry| options.backoff(retry)).collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000].map(Duration::from_millis).to_vec()
        );
        assert_eq!(options.backoff(u32::MAX), Duration::from_millis(500 << 16));
    }

    #[test]
    fn waits_show_before_they_time_out() {
        assert_eq!(NetOptions::default().notice(), Duration::from_secs(5));
        let short = NetOptions::default().with_timeout(Duration::from_secs(2));
        assert_eq!(short.notice(), Duration::from_secs(1));
    }
}
