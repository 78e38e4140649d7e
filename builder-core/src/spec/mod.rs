//! Names and encodings the OCI image spec fixes, shared by the store, the OCI readers
//! and writers and the registry client: media types, annotation keys and the canonical
//! JSON that manifests, indexes and configs are hashed as; and docker's notation of
//! sizes.
//!
//! Nothing here does I/O or knows another module of the crate, so every module that
//! reads or writes images can use it.

mod annotation;
mod canonical;
pub mod media_type;
mod size;

pub use annotation::{
    ATTESTATION_MANIFEST, CONTAINERD_NAME, REF_NAME, REFERENCE_DIGEST, REFERENCE_TYPE,
    is_attestation,
};
pub use canonical::canonical_json;
pub use size::parse_size;
