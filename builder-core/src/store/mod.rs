//! The local content-addressed store: blobs by digest, tags, cache records, locks.

mod error;

pub use error::StoreError;
