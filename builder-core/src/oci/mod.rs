//! OCI image config, manifests and indexes; OCI-layout and docker-archive readers and writers.

mod error;
mod json;
pub mod media_type;

pub use error::OciError;
pub use json::canonical_json;
