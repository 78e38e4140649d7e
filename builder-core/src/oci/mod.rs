//! OCI image config, manifests and indexes; OCI-layout and docker-archive readers and writers.

mod error;

pub use error::OciError;
