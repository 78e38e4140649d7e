//! Running `RUN` steps in a sandbox (Linux namespaces) over an image's filesystem.

mod error;

pub use error::ExecError;
