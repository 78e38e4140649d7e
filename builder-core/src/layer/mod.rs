//! Layers: deterministic tar writing, compression and digests in one pass; unpacking with whiteouts; diffs of a filesystem.

mod error;

pub use error::LayerError;
