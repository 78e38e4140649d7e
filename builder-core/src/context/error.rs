//! Errors of the `context` module.

/// What can fail in the `context` module.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {}
