//! Errors of the `oci` module.

use std::io;
use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::store::StoreError;

/// What can fail in the `oci` module.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A manifest, index or config in the store is not valid JSON of its kind.
    #[error("{what} `{digest}` is not valid")]
    ParseBlob {
        /// `manifest`, `index` or `config`.
        what: &'static str,
        /// The blob's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest uses Docker's deprecated schema 1.
    #[error("manifest `{digest}` uses Docker image schema 1, which mkimage does not read")]
    Schema1 {
        /// The manifest's digest.
        digest: Digest,
    },
    /// A descriptor that should name an image names something else.
    #[error("`{digest}` has media type `{media_type}`, not an image manifest or index")]
    NotAnImage {
        /// The blob's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A manifest and its config disagree on the number of layers.
    #[error("image `{digest}` has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCount {
        /// The manifest's digest.
        digest: Digest,
        /// Layers in the manifest.
        layers: usize,
        /// `diff_ids` in the config.
        diff_ids: usize,
    },
    /// No manifest of an index is for the wanted platform.
    #[error("image `{digest}` has no manifest for `{wanted}`; it has: {available}")]
    NoPlatform {
        /// The index's digest.
        digest: Digest,
        /// The wanted platform.
        wanted: String,
        /// The platforms it has, comma-separated.
        available: String,
    },
    /// An image config larger than [`CONFIG_LIMIT`](super::CONFIG_LIMIT).
    #[error("the image config is {size} bytes, more than the {limit} an image config may hold")]
    ConfigTooLarge {
        /// Its size as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A JSON document could not be encoded.
    #[error("failed to encode the image {what}")]
    Encode {
        /// `config`, `manifest`, `index`.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An image source (`oci-archive:PATH`) is not written as expected.
    #[error(
        "invalid image source `{text}`: expected `oci-archive:PATH[:REF]`, `docker-archive:PATH` or `oci:DIR[:REF]`"
    )]
    InvalidSource {
        /// The source as given.
        text: String,
    },
    /// An archive or layout could not be opened or read.
    #[error("failed to read `{}`", path.display())]
    ReadArchive {
        /// The archive or layout directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An archive has neither an OCI `index.json` nor a docker `manifest.json`.
    #[error("`{}` is neither an OCI image layout nor a docker archive", path.display())]
    UnknownArchive {
        /// The archive.
        path: PathBuf,
    },
    /// A file that an archive's index or manifest names is not in the archive.
    #[error("`{}` has no entry `{entry}`", path.display())]
    MissingEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's path in the archive.
        entry: String,
    },
    /// A JSON file of an archive is not valid.
    #[error("`{entry}` in `{}` is not valid", path.display())]
    ParseEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's path in the archive.
        entry: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON file of an archive is larger than a JSON document may be.
    #[error("`{entry}` in `{}` is too large for a JSON document", path.display())]
    EntryTooLarge {
        /// The archive.
        path: PathBuf,
        /// The entry's path in the archive.
        entry: String,
    },
    /// No image of an archive has the requested name.
    #[error("`{}` has no image named `{name}`; it has: {available}", path.display())]
    NoSuchName {
        /// The archive.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// The names it has, comma-separated.
        available: String,
    },
    /// An archive holds several images and none was named.
    #[error("`{}` holds {count} images; name one as `{}:REF`", path.display(), path.display())]
    AmbiguousArchive {
        /// The archive.
        path: PathBuf,
        /// How many images it holds.
        count: usize,
    },
    /// An uncompressed layer of a docker archive does not have the config's `diff_id`.
    #[error("layer `{entry}` of `{}` has digest `{actual}`, but the config says `{expected}`", path.display())]
    DiffIdMismatch {
        /// The archive.
        path: PathBuf,
        /// The layer's path in the archive.
        entry: String,
        /// The config's `diff_id`.
        expected: String,
        /// The layer's digest.
        actual: String,
    },
    /// A blob of an image being written to an archive is corrupt in the store; the
    /// archive is left incomplete.
    #[error("cannot write `{image}` to the archive: a blob of it is corrupt in the store")]
    CorruptBlob {
        /// The image: its first name, or its digest.
        image: String,
        /// The corrupt blob ([`StoreError::BlobCorrupt`]).
        #[source]
        source: Box<StoreError>,
    },
    /// An archive could not be written.
    #[error("failed to write the image archive")]
    WriteArchive {
        /// The cause.
        #[source]
        source: io::Error,
    },
}
