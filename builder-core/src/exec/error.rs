//! Errors of the `exec` module.

/// What can fail in the `exec` module.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {}
