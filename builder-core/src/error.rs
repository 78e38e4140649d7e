//! The crate's error type.

use crate::add::ArchiveError;
use crate::attest::AttestError;
use crate::build::BuildError;
use crate::context::ContextError;
use crate::exec::ExecError;
use crate::fetch::FetchError;
use crate::layer::LayerError;
use crate::oci::OciError;
use crate::plan::{ParseReferenceError, PlanError};
use crate::registry::RegistryError;
use crate::remote_cache::RemoteCacheError;
use crate::resolver::ResolveError;
use crate::rootfs::RootfsError;
use crate::run::RunError;
use crate::store::StoreError;
use crate::user::UserError;

/// Everything that can make a build, pull or push fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan is not well formed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An image reference is not valid.
    #[error(transparent)]
    Reference(#[from] ParseReferenceError),
    /// Talking to a registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Importing or exporting a build cache failed.
    #[error(transparent)]
    RemoteCache(#[from] RemoteCacheError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing an OCI structure failed.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// Writing or unpacking a layer failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Reading the build context failed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Running a step failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A `RUN` step failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Unpacking an image's layers for a sandbox failed.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// An `ADD` archive could not be recognized or extracted.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A base image could not be found or read.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A build step failed, or what a build needs is missing.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// An `ADD` source could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A user or group could not be resolved.
    #[error(transparent)]
    User(#[from] UserError),
    /// An attestation could not be made or read.
    #[error(transparent)]
    Attest(#[from] AttestError),
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
