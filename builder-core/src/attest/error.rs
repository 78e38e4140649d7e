//! The errors of making and reading attestations.

use oci_spec::image::Digest;

/// Why an attestation could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// An `--sbom`, `--provenance` or `--attest` value is not one buildx takes.
    #[error("invalid attestation option `{text}`: {problem}")]
    InvalidOption {
        /// The value as given.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A statement or manifest could not be encoded.
    #[error("failed to encode the {what} of an attestation")]
    Encode {
        /// What was encoded.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A blob of an attestation is not the JSON it should be.
    #[error("attestation blob `{digest}` is not a valid {what}")]
    ParseBlob {
        /// What was expected.
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A blob is larger than an attestation or package database may be.
    #[error("{what} `{name}` is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What it is.
        what: &'static str,
        /// Its digest or path.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// A layer of the image could not be read for its SBOM.
    #[error("failed to read layer `{digest}` of the image for its SBOM")]
    ReadLayer {
        /// The layer's blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image has more files of package databases than the scan reads.
    #[error("the image has more than {limit} package database files; the SBOM scan stops")]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
}
