//! Errors of the `store` module.

use std::io;
use std::path::PathBuf;

use oci_spec::image::Digest;

/// What can fail in the `store` module.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store root was given and none could be derived from the environment.
    #[error("cannot find a store root: set `MKIMAGE_ROOT`, `XDG_DATA_HOME` or `HOME`")]
    NoDefaultRoot,
    /// A directory or file of the store layout could not be created.
    #[error("failed to create `{}` in the store", path.display())]
    CreateLayout {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store's top directory belongs to another user, who could change what builds
    /// run.
    #[error(
        "store `{}` is owned by uid {owner}, not by this user (uid {user}): its owner could \
         change what builds run; use a store of your own (`--root` or `MKIMAGE_ROOT`)",
        path.display()
    )]
    ForeignOwner {
        /// The store's top directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        user: u32,
    },
    /// Group or others may write to the store's top directory.
    #[error(
        "store `{}` is writable by group or others (mode {mode:04o}): anyone could have \
         changed its content; remove it, or `chmod 700` it if you trust what it holds",
        path.display()
    )]
    OpenToOthers {
        /// The store's top directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A store that others could read could not be made private.
    #[error("failed to make `{}` private to the store's owner", path.display())]
    MakePrivate {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The directory is not an OCI image layout this store can use.
    #[error("`{}` is not an OCI image layout (version 1.0.0)", path.display())]
    NotALayout {
        /// The `oci-layout` file.
        path: PathBuf,
    },
    /// A lock file could not be opened or locked.
    #[error("failed to lock `{}`", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `index.json` could not be read.
    #[error("failed to read the store index `{}`", path.display())]
    ReadIndex {
        /// The index file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `index.json` is not a valid image index.
    #[error("the store index `{}` is not a valid image index", path.display())]
    ParseIndex {
        /// The index file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A small file (the index, a record) could not be written.
    #[error("failed to write `{}`", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Bytes could not be written into a new blob.
    #[error("failed to write a blob into the store")]
    WriteBlob {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A written blob could not be moved to its place.
    #[error("failed to commit blob `{digest}`")]
    CommitBlob {
        /// The blob's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A blob's content does not have the digest it was expected to have.
    #[error("blob content has digest `{actual}`, expected `{expected}`")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the bytes written.
        actual: Digest,
    },
    /// A blob is not in the store.
    #[error("blob `{digest}` is not in the store")]
    BlobMissing {
        /// The blob's digest.
        digest: Digest,
    },
    /// A blob remembered to be in a registry could not be fetched.
    #[error("failed to fetch blob `{digest}` from `{source_name}`")]
    FetchRemote {
        /// The blob's digest.
        digest: Digest,
        /// Where it was remembered to be.
        source_name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A blob could not be read.
    #[error("failed to read blob `{digest}`")]
    ReadBlob {
        /// The blob's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A blob read whole is larger than the limit for JSON documents.
    #[error("blob `{digest}` has {size} bytes, more than the {limit} allowed for a JSON document")]
    BlobTooLarge {
        /// The blob's digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A blob's content no longer matches its name.
    #[error("blob `{digest}` is corrupt: its content has digest `{actual}`")]
    BlobCorrupt {
        /// The blob's name.
        digest: Digest,
        /// The digest of its content.
        actual: Digest,
    },
    /// A manifest or index in the store is not valid JSON of its kind.
    #[error("blob `{digest}` is not a valid manifest or index")]
    ParseBlob {
        /// The blob's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No image has this name or id.
    #[error("no such image `{name}`")]
    NoSuchImage {
        /// The name or id as given.
        name: String,
    },
    /// An id prefix matches several images.
    #[error("image id `{prefix}` is ambiguous: it matches {count} images")]
    AmbiguousId {
        /// The prefix as given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// A tag name carries a digest.
    #[error("cannot tag `{name}`: a tag name must not contain a digest")]
    TagWithDigest {
        /// The name as given.
        name: String,
    },
    /// An image removed by id has several names and removal was not forced.
    #[error("unable to delete `{id}` (must be forced): image is tagged in {count} repositories")]
    MultipleTags {
        /// The id as given.
        id: String,
        /// How many names it has.
        count: usize,
    },
    /// A record namespace, record key or data name is not a plain file name.
    #[error(
        "invalid {what} `{name}`: use letters, digits, `.`, `_` and `-`, not starting with `.`"
    )]
    InvalidName {
        /// What the name is for (`record key`).
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A record could not be read.
    #[error("failed to read record `{}`", path.display())]
    ReadRecord {
        /// The record file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A record could not be encoded.
    #[error("failed to encode record `{key}`")]
    EncodeRecord {
        /// The record key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A file could not be removed from the store.
    #[error("failed to remove `{}` from the store", path.display())]
    Remove {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A directory of the store could not be listed.
    #[error("failed to list `{}`", path.display())]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
