//! Registries: pulling and pushing images over the [OCI distribution API].
//!
//! A [`Client`] holds the connection pool, the retry policy and the cached credentials
//! and tokens; [`pull`] resolves a [`Reference`](crate::plan::Reference) (an index to
//! the manifest for a platform) and downloads its blobs into the
//! [`Store`](crate::store::Store), verified, several at a time, resuming broken
//! downloads; [`push`] sends an image's blobs (skipped when present, mounted from another
//! repository when possible, else uploaded whole or in chunks), then its manifests. HTTP
//! is used for loopback registries and those named insecure (see [`registries_conf`] for
//! containers' list); every other registry is reached over TLS.
//!
//! ```no_run
//! use mkimage_core::NoEvents;
//! use mkimage_core::plan::Platform;
//! use mkimage_core::registry::{Client, pull};
//! use mkimage_core::store::Store;
//!
//! let store = Store::open(Store::default_root()?)?;
//! let client = Client::default();
//! let pulled = pull(&client, &store, &"busybox".parse()?, &Platform::host(), &NoEvents)?;
//! println!("{}", pulled.digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [OCI distribution API]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md

mod artifact;
pub(crate) mod auth;
mod client;
pub mod credentials;
mod download;
mod error;
pub(crate) mod manifest;
mod origins;
mod parallel;
mod progress;
mod pull;
mod push;
pub mod registries_conf;
mod repository;
mod resolve;
mod upload;

pub use artifact::{fetch_blob, fetch_manifest};
pub use auth::{Credential, IDENTITY_TOKEN_USER};
pub use client::{Client, ClientOptions};
pub use error::RegistryError;
pub use pull::{Pulled, pull};
pub use push::{Pushed, push};
pub use resolve::RegistryResolver;
