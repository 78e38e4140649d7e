//! Sharing the build cache through registries and directories, as BuildKit's
//! `--cache-to`/`--cache-from` do: CI runners that start with an empty store import the
//! step records another runner exported.
//!
//! [`export`] writes a build's step records as one cache artifact (see
//! [`crate::cache::CacheConfig`] for its format) to a registry or an OCI layout
//! directory ([`CacheTo`]), with the content of its cache mounts when asked
//! (`cache-mounts=true`); `type=inline` records are written into the image's config by
//! the build itself. [`ImportedRecords::load`] reads artifacts, or an image's inline
//! records ([`CacheFrom`]), for a [`Builder`](crate::build::Builder) to look steps up in
//! after its store. A hit from a registry takes its layer lazily: the store remembers
//! where it is, and [`RegistryFetcher`] fetches it when its bytes are first read.
//!
//! This module sits above `registry` and `build`, apart from the format in `cache`:
//! `cache` is a leaf that `build` imports, and the transfer needs the registry client,
//! which imports `build`.

mod error;
mod export;
mod import;
mod layout;
mod lazy;
mod mounts;
mod options;

pub use error::{DiffIdMismatch, RemoteCacheError};
pub use export::{artifact, export};
pub use import::ImportedRecords;
pub use lazy::RegistryFetcher;
pub use options::{CACHE_MOUNTS_MAX, CacheFrom, CacheLocation, CacheMode, CacheTo};
