//! OCI image config, manifests and indexes; OCI-layout and docker-archive readers and
//! writers.
//!
//! [`ImageConfig`] is Docker's image config; [`write_image`] stores a config and a
//! manifest for layers already in the store; [`Image`] loads them back. Manifests,
//! indexes and descriptors are [`oci_spec`]'s types; Docker schema-2 media types are read
//! as well as OCI's ([`media_type`](crate::spec::media_type)).

mod archive;
mod config;
mod error;
mod export;
mod image;
mod import;
mod manifest;
mod platform;

pub use config::{Extra, HealthConfig, History, ImageConfig, RootFs, RunConfig};
pub use error::OciError;
pub use export::{ArchiveFormat, ArchiveImage, write_archive};
pub use image::Image;
pub use import::{ImageSource, Imported, import, load};
pub use manifest::{image_manifest, write_image, write_index};
pub use mkimage_plan::CONFIG_LIMIT;
pub use platform::select_manifest;
