//! Errors of the `resolver` module.

/// What can make resolving a base image fail, beyond the errors of reading it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// An image the store lists cannot be read: a blob of it is missing, changed or not
    /// valid (the cause names it).
    #[error("the image `{reference}` (`{digest}`) in the local store is corrupt")]
    CorruptImage {
        /// The reference as written.
        reference: String,
        /// The digest of its manifest or index.
        digest: oci_spec::image::Digest,
        /// What could not be read.
        #[source]
        source: Box<crate::Error>,
    },
    /// No resolver knows the image.
    #[error("image `{reference}` is not in the local store")]
    ImageNotFound {
        /// The reference as written.
        reference: String,
    },
}
