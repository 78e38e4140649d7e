//! In-toto statements: what an attestation layer holds.
//!
//! A statement names its subjects (here the image manifest, by digest) and carries one
//! predicate of a declared type
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>). BuildKit
//! writes `https://in-toto.io/Statement/v0.1` for both of its predicates, and so do we;
//! the v1 statement type is used with SLSA provenance v1.

use std::collections::BTreeMap;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

/// The statement type BuildKit writes.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// The statement type of in-toto attestation v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// One in-toto statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// REQUIRED: the statement's own type (`_type`).
    #[serde(rename = "_type")]
    pub kind: String,
    /// REQUIRED: what the predicate is about.
    pub subject: Vec<Subject>,
    /// REQUIRED: the URI of the predicate's type.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: serde_json::Value,
}

/// An artifact a statement is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Its name: a package URL of the image, or `_` when it has no name.
    pub name: String,
    /// Its digests, by algorithm.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with the digest `digest`.
    pub fn new(name: String, digest: &Digest) -> Subject {
        let digest = BTreeMap::from([(digest.algorithm().to_string(), digest.digest().to_owned())]);
        Subject { name, digest }
    }
}
