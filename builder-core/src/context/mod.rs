//! The build context: walking it, `.dockerignore`, and content digests of its files.

mod error;

pub use error::ContextError;
