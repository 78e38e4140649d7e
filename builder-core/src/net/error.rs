//! Errors of network requests.

use std::io;
use std::time::Duration;

use crate::events::RequestRef;

use super::options::NetOptions;

/// A network request that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Every try of a request failed, or one failed in a way that trying again cannot
    /// mend; the cause is the last try's failure.
    #[error("{request} failed after {}", tries(*.attempts))]
    Failed {
        /// The request.
        request: RequestRef,
        /// How many tries were made.
        attempts: u32,
        /// Why the last one failed.
        #[source]
        cause: Failure,
    },
}

/// Why one try of a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The connection was not open (TLS included) within the connect timeout.
    #[error("no connection within the connect timeout of {}", human(.0))]
    ConnectTimeout(Duration),
    /// The answer's headers did not arrive within the first-byte timeout.
    #[error("no answer within the first-byte timeout of {}", human(.0))]
    FirstByteTimeout(Duration),
    /// The server sent or took nothing for the idle timeout.
    #[error("nothing sent or received for the idle timeout of {}", human(.0))]
    IdleTimeout(Duration),
    /// The transfer's deadline passed.
    #[error("not done within the deadline of {}", human(.0))]
    Deadline(Duration),
    /// The server answered with a server error (5xx).
    #[error("the server answered HTTP {status}{}", suffix(.message))]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's own error messages, if it sent any.
        message: String,
    },
    /// The connection could not be opened, broke, or closed before the answer was whole.
    #[error("the connection failed")]
    Connection(#[source] io::Error),
    /// The request could not be made (a refused connection, a TLS or protocol error).
    #[error("the request could not be made")]
    Request(#[source] ureq::Error),
}

impl Failure {
    /// The failure a ureq error stands for; a timeout is named by the option it hit.
    pub(crate) fn from_ureq(error: ureq::Error, options: &NetOptions) -> Failure {
        use ureq::Timeout;
        match error {
            ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
                Failure::ConnectTimeout(options.connect_timeout)
            }
            ureq::Error::Timeout(Timeout::SendRequest | Timeout::RecvResponse) => {
                Failure::FirstByteTimeout(options.first_byte_timeout)
            }
            ureq::Error::Timeout(
                Timeout::PerRead | Timeout::PerWrite | Timeout::SendBody | Timeout::RecvBody,
            ) => Failure::IdleTimeout(options.idle_timeout),
            ureq::Error::Timeout(_) => Failure::Deadline(options.deadline),
            ureq::Error::Io(error) => Failure::Connection(error),
            other => Failure::Request(other),
        }
    }

    /// The failure of reading or writing a body: ureq's errors come wrapped in
    /// `io::Error`.
    pub(crate) fn from_io(error: io::Error, options: &NetOptions) -> Failure {
        Failure::from_ureq(ureq::Error::from(error), options)
    }

    /// Whether another try may succeed: a timeout of one try, a broken connection, a
    /// server error. Not a passed deadline, a client error or a request that cannot be
    /// made (a bad URL, a TLS failure, an unknown host).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Failure::ConnectTimeout(_)
            | Failure::FirstByteTimeout(_)
            | Failure::IdleTimeout(_)
            | Failure::Connection(_) => true,
            Failure::Status { status, .. } => *status >= 500,
            Failure::Request(error) => matches!(
                error,
                ureq::Error::ConnectionFailed | ureq::Error::Protocol(_)
            ),
            Failure::Deadline(_) => false,
        }
    }

    /// The failure and its causes, joined by `: `.
    pub(crate) fn reason(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// `1 attempt`, `3 attempts`.
fn tries(attempts: u32) -> String {
    match attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    }
}

/// `2s`, `500ms`, `1m 30s`.
fn human(duration: &Duration) -> humantime::FormattedDuration {
    humantime::format_duration(*duration)
}

/// `: message`, or nothing for an empty message.
fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_named_by_their_option() {
        let options = NetOptions {
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_millis(1500),
            deadline: Duration::from_secs(90),
            ..NetOptions::default()
        };
        let cases = [
            (
                ureq::Timeout::Connect,
                "no connection within the connect timeout of 1s",
            ),
            (
                ureq::Timeout::RecvResponse,
                "no answer within the first-byte timeout of 2s",
            ),
            (
                ureq::Timeout::PerRead,
                "nothing sent or received for the idle timeout of 1s 500ms",
            ),
            (
                ureq::Timeout::Global,
                "not done within the deadline of 1m 30s",
            ),
        ];
        for (timeout, text) in cases {
            let failure = Failure::from_ureq(ureq::Error::Timeout(timeout), &options);
            assert_eq!(failure.to_string(), text);
        }
    }

    #[test]
    fn a_timeout_wrapped_in_io_keeps_its_kind() {
        let options = NetOptions::default();
        let io = ureq::Error::Timeout(ureq::Timeout::PerRead).into_io();
        assert!(matches!(
            Failure::from_io(io, &options),
            Failure::IdleTimeout(_)
        ));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let failure = Failure::from_io(reset, &options);
        assert!(failure.is_retryable());
        assert_eq!(failure.reason(), "the connection failed: connection reset");
    }

    #[test]
    fn only_what_may_mend_is_retried() {
        let status = |status| Failure::Status {
            status,
            message: String::new(),
        };
        assert!(status(503).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!Failure::Deadline(Duration::from_secs(1)).is_retryable());
        assert!(!Failure::Request(ureq::Error::HostNotFound).is_retryable());
        assert_eq!(
            NetError::Failed {
                request: RequestRef {
                    label: "blob `x`".into()
                },
                attempts: 1,
                cause: status(502),
            }
            .to_string(),
            "blob `x` failed after 1 attempt"
        );
    }
}
