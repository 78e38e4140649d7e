//! Errors of the `rootfs` module.

use std::io;
use std::path::PathBuf;

use crate::exec::ExecError;
use crate::layer::LayerError;
use crate::store::StoreError;

/// What can fail when unpacking an image's layers for a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The image lists a different number of layers and `diff_id`s.
    #[error("the image has {layers} layers but {diff_ids} diff ids")]
    LayerCount {
        /// Layers in the manifest.
        layers: usize,
        /// `diff_id`s in the config.
        diff_ids: usize,
    },
    /// Unpacking in the user namespace of a rootless build failed.
    #[error(transparent)]
    UserNamespace(#[from] ExecError),
    /// A layer blob could not be read from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer could not be decompressed or unpacked.
    #[error("failed to unpack layer `{digest}`")]
    Unpack {
        /// The layer blob's digest.
        digest: String,
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// A layer's uncompressed content does not have the `diff_id` the image says.
    #[error("layer `{digest}` has diff id `{actual}`, the image says `{expected}`")]
    DiffIdMismatch {
        /// The layer blob's digest.
        digest: String,
        /// The image config's `diff_id`.
        expected: String,
        /// The digest of the tar read.
        actual: String,
    },
    /// A directory for unpacked layers could not be written.
    #[error("failed to write the unpacked layer directory `{}`", path.display())]
    WriteDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
