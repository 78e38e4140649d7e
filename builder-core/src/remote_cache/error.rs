//! Why a cache could not be imported or exported.

use std::io;
use std::path::PathBuf;

use crate::cache::ArtifactError;

/// A failure of `--cache-from` or `--cache-to`.
#[derive(Debug, thiserror::Error)]
pub enum RemoteCacheError {
    /// A `--cache-from`/`--cache-to` value does not parse.
    #[error("invalid cache option `{text}`: {problem}")]
    InvalidOption {
        /// The value as given.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The artifact's config is not a cache config this mkimage reads.
    #[error("`{source_name}` is not a cache this mkimage reads")]
    Artifact {
        /// The cache's reference or directory.
        source_name: String,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// The artifact could not be had from its registry or written to it.
    #[error("the cache `{source_name}` could not be transferred")]
    Transfer {
        /// The cache's reference.
        source_name: String,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
    /// A file of a cache directory could not be read.
    #[error("failed to read `{}` of the cache directory", path.display())]
    ReadLayout {
        /// The file, inside the directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file of a cache directory could not be written.
    #[error("failed to write `{}` of the cache directory", path.display())]
    WriteLayout {
        /// The file, inside the directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cache directory's `index.json` is not valid.
    #[error("the `index.json` of the cache directory `{}` is not valid", dir.display())]
    ParseIndex {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A cache directory's `index.json` names no image manifest.
    #[error("the cache directory `{}` holds no manifest", dir.display())]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// A blob of a cache directory has another size than its descriptor says.
    #[error("blob `{digest}` of the cache directory `{}` has another size than {size}", dir.display())]
    BlobSize {
        /// The directory.
        dir: PathBuf,
        /// The blob.
        digest: String,
        /// The size its descriptor gives.
        size: u64,
    },
}
