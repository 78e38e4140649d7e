//! Errors of the `store` module.

/// What can fail in the `store` module.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {}
