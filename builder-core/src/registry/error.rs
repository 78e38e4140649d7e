//! Errors of talking to a registry.

use oci_spec::image::Digest;

use crate::net::NetError;

/// What can fail while pulling from or pushing to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request got no usable answer: every try timed out, broke or met a server
    /// error. It names the request, the tries and (as its cause) the last failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The registry answered a request with an error status.
    #[error("`{method} {url}` failed with HTTP {status}{}", message_suffix(.message))]
    Status {
        /// The request's method.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's own error messages, joined, if it sent any.
        message: String,
    },
    /// The registry has no manifest for the reference.
    #[error("manifest for `{reference}` not found{}", message_suffix(.message))]
    ManifestUnknown {
        /// The reference as requested.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// The registry refused access, even after authenticating when it asked to.
    #[error(
        "access to `{reference}` denied: not found, or authentication required{}",
        message_suffix(.message)
    )]
    Denied {
        /// The repository or reference.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// A manifest is larger than registries allow.
    #[error("manifest for `{reference}` is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The reference.
        reference: String,
        /// The limit.
        limit: u64,
    },
    /// A manifest's bytes do not have the digest they were asked for or announced with.
    #[error("manifest for `{reference}` has digest `{actual}`, expected `{expected}`")]
    ManifestDigest {
        /// The reference.
        reference: String,
        /// The digest asked for or announced.
        expected: String,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// A manifest is not a manifest or index mkimage reads.
    #[error("`{reference}` has media type `{media_type}`, not an image manifest or index")]
    UnsupportedManifest {
        /// The reference.
        reference: String,
        /// The media type.
        media_type: String,
    },
    /// A manifest or index is not valid JSON of its kind.
    #[error("the manifest of `{reference}` is not valid")]
    ParseManifest {
        /// The reference.
        reference: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An image's config is larger than mkimage reads.
    #[error(
        "the config `{digest}` of `{reference}` has {size} bytes, more than the {limit} allowed"
    )]
    ConfigTooLarge {
        /// The image.
        reference: String,
        /// The config's digest.
        digest: Digest,
        /// Its size, as the manifest gives it.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A downloaded blob does not have the size its descriptor gives.
    #[error("blob `{digest}` of `{repository}` has {actual} bytes, expected {expected}")]
    BlobSize {
        /// The blob's digest.
        digest: Digest,
        /// The repository it was downloaded from (`registry/path`).
        repository: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// The registry's answer to a request is missing something the protocol requires.
    #[error("`{method} {url}`: {what}")]
    Protocol {
        /// The request's method.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// What is wrong.
        what: String,
    },
    /// A manifest of an index to push is not in the store.
    #[error(
        "cannot push index `{index}`: its manifest `{manifest}` is not in the store (pull every platform first)"
    )]
    MissingManifest {
        /// The index.
        index: Digest,
        /// The missing manifest.
        manifest: Digest,
    },
    /// A blob of the image being pushed is corrupt in the store; it was not committed
    /// in the registry, nor was any manifest that references it.
    #[error("cannot push `{image}`: a blob of it is corrupt in the store")]
    CorruptBlob {
        /// The destination reference.
        image: String,
        /// The corrupt blob ([`StoreError::BlobCorrupt`](crate::store::StoreError::BlobCorrupt)).
        #[source]
        source: Box<crate::store::StoreError>,
    },
    /// Stored credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] super::credentials::CredentialsError),
    /// A registry's authentication challenge cannot be followed.
    #[error("cannot authenticate to `{registry}`: {what}")]
    Challenge {
        /// The registry.
        registry: String,
        /// What is wrong.
        what: String,
    },
    /// A token service refused to issue a token.
    #[error("the token service `{realm}` answered HTTP {status}{}", message_suffix(.message))]
    Token {
        /// The token service's URL.
        realm: String,
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// A token service's answer is larger than a token needs.
    #[error("the token service `{realm}` sent an answer larger than {limit} bytes")]
    TokenTooLarge {
        /// The token service's URL.
        realm: String,
        /// The limit.
        limit: u64,
    },
    /// A token service's answer is not the JSON the spec describes.
    #[error("the token service `{realm}` sent an invalid answer")]
    TokenReply {
        /// The token service's URL.
        realm: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// `: message`, or nothing for an empty message.
fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}
