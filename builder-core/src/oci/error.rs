//! Errors of the `oci` module.

/// What can fail in the `oci` module.
#[derive(Debug, thiserror::Error)]
pub enum OciError {}
