//! Errors of the `build` module.

use std::io;
use std::path::PathBuf;

use crate::plan::Span;

/// What can make a build fail, beyond the errors of the modules it uses.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step failed; the cause says why. Carries where the step came from, so that the
    /// caller can point at the Dockerfile line.
    #[error("{span}: `{text}` failed")]
    Step {
        /// Where the step was written.
        span: Span,
        /// The step as shown in progress output.
        text: String,
        /// Why it failed.
        #[source]
        source: Box<crate::Error>,
    },
    /// A stage's base image could not be resolved.
    #[error("{span}: failed to resolve the base image `{reference}`")]
    Base {
        /// Where the stage was declared (its `FROM`).
        span: Span,
        /// The reference as written.
        reference: String,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
    /// A `RUN --security=insecure` step in a build that does not allow it
    /// ([`BuildOptions::allow_insecure`](super::BuildOptions::allow_insecure)).
    #[error(
        "{span}: `{text}` asks for all capabilities, which needs the `security.insecure` \
         entitlement (`--allow security.insecure`)"
    )]
    InsecureNotAllowed {
        /// Where the step was written.
        span: Span,
        /// The step as shown in progress output.
        text: String,
    },
    /// A `RUN --network=host` step in a build that does not allow it
    /// ([`BuildOptions::allow_host_network`](super::BuildOptions::allow_host_network)).
    #[error(
        "{span}: `{text}` asks for the host's network, which needs the `network.host` \
         entitlement (`--allow network.host`)"
    )]
    HostNetworkNotAllowed {
        /// Where the step was written.
        span: Span,
        /// The step as shown in progress output.
        text: String,
    },
    /// A step would make the image config larger than [`CONFIG_LIMIT`](crate::oci::CONFIG_LIMIT).
    #[error("the image config would be larger than the {} MiB an image config may hold", limit >> 20)]
    ConfigTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A `RUN` step, without an executor that runs commands.
    #[error("RUN is not available in this build")]
    RunUnavailable,
    /// A `--chmod` value that is not a mode.
    #[error("invalid `--chmod` value `{value}`")]
    InvalidChmod {
        /// The value as written.
        value: String,
    },
    /// A path of the image's filesystem cannot be used as a destination.
    #[error("`{path}` is not a valid path in the image")]
    InvalidPath {
        /// The path as written.
        path: String,
    },
    /// A destination leads through too many symlinks of the image.
    #[error("`{path}` leads through too many symlinks in the image")]
    SymlinkLoop {
        /// The path.
        path: String,
    },
    /// An output could not be written.
    #[error("failed to write the output `{}`", path.display())]
    WriteOutput {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    /// The place in the Dockerfile this error is about, if any.
    pub fn span(&self) -> Option<Span> {
        match self {
            BuildError::Step { span, .. }
            | BuildError::Base { span, .. }
            | BuildError::InsecureNotAllowed { span, .. }
            | BuildError::HostNetworkNotAllowed { span, .. } => Some(*span),
            _ => None,
        }
    }
}
