//! Attestations of a build: an SBOM and SLSA provenance, made natively and laid out
//! as BuildKit lays them out.
//!
//! A build asked for them ([`Attestations`], from `--sbom`, `--provenance` and
//! `--attest`) makes, per platform, in-toto [statements](Statement) about its image
//! manifest: the [SBOM](sbom()) of the packages in the image's filesystem (an SPDX 2.3
//! document) and the [provenance] of the build (SLSA v0.2, or v1). They go into one
//! attestation manifest beside the image manifest in the image's index
//! ([`write_attestations`]), which the store, registries and archives then carry like
//! any index; [`predicates`] reads them back.

mod error;
mod layout;
mod options;
mod provenance;
mod sbom;
mod statement;

pub use error::AttestError;
pub use layout::{IN_TOTO, PREDICATE_TYPE, predicates, write_attestations};
pub use options::{
    Attestations, ProvenanceMode, ProvenanceOptions, SbomOptions, Setting, SlsaVersion,
};
pub use provenance::{
    BuildFacts, Material, SLSA_V1, SLSA_V02, image_purl, predicate_type, provenance, redact_url,
};
pub use sbom::{SPDX_DOCUMENT, sbom};
pub use statement::{STATEMENT_V01, STATEMENT_V1, Statement, Subject};
