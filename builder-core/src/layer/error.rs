//! Errors of the `layer` module.

/// What can fail in the `layer` module.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {}
