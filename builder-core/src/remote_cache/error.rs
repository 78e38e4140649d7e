//! Why a cache could not be imported or exported.

use std::io;
use std::path::PathBuf;

use oci_spec::image::Digest;

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
    /// A layer of a cache could not be read to check its `diff_id`.
    #[error("failed to read the layer `{digest}` of a cache")]
    ReadLayer {
        /// The layer's blob.
        digest: Digest,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A layer of a cache was found before not to be what its record claims.
    #[error("the layer `{digest}` was refused before: {reason}")]
    Refused {
        /// The layer's blob.
        digest: Digest,
        /// Why, as told then.
        reason: String,
    },
    /// A layer of a cache does not uncompress to the tar its record claims.
    #[error(
        "the layer `{}` of the cache `{}` uncompresses to `{}`, not to the `{}` its record claims",
        .0.digest, .0.source_name, .0.actual, .0.expected
    )]
    DiffId(Box<DiffIdMismatch>),
}

/// A layer whose uncompressed tar is not what its record claims.
#[derive(Debug)]
pub struct DiffIdMismatch {
    /// The cache's reference or directory.
    pub source_name: String,
    /// The layer's blob.
    pub digest: Digest,
    /// The `diff_id` of the record.
    pub expected: Digest,
    /// That of the bytes.
    pub actual: Digest,
}
