//! Network requests with bounded waits, shared by the registry client (`registry`) and
//! `ADD` downloads (`fetch`), which both sit above this module.
//!
//! A registry or a download server is untrusted: it may accept a connection and never
//! answer, or stop in the middle of a blob. Every request therefore goes through one
//! [`Http`] (a connection pool) configured by [`NetOptions`]:
//!
//! - the *connect* timeout bounds resolving the host and opening the connection, TLS
//!   included;
//! - the *first-byte* timeout bounds the wait for the answer's headers once the request
//!   is sent;
//! - the *idle* timeout bounds every read and write: a body that stops flowing fails;
//! - the *deadline* bounds a whole transfer (a manifest, a blob, a download), its tries
//!   and the pauses between them included, so a server trickling a byte at a time
//!   cannot hold a pull forever.
//!
//! A failed try (a timeout, a broken connection, a server error) is repeated up to
//! [`NetOptions::retries`] times with doubling pauses, when the request may be sent
//! again: `GET` and `HEAD`, a blob download (resumed with `Range` where the registry
//! allows), an upload (started again from its session). Each retry is reported with
//! [`Events::request_retrying`](crate::Events::request_retrying). While a request waits
//! for its server, a thread of the pull, push or download reports the wait every few
//! seconds with [`Events::request_waiting`](crate::Events::request_waiting). When every
//! try fails, [`NetError::Failed`] names the request (and so the host), the tries made
//! and, as its cause, the last [`Failure`]: which timeout, which status, which broken
//! connection.

mod attempts;
mod body;
mod error;
mod http;
mod options;
mod watch;

pub(crate) use attempts::{Attempts, Pulse};
pub(crate) use body::read_small;
pub use error::{Failure, NetError};
pub use http::Http;
pub(crate) use http::TimedAgent;
pub use options::NetOptions;
pub(crate) use watch::Watch;
