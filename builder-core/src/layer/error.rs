//! Errors of the `layer` module.

use std::io;
use std::path::PathBuf;

/// What can fail in the `layer` module.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A path climbs above the layer root with `..`.
    #[error("path `{path}` leaves the layer root")]
    PathEscapes {
        /// The path as given.
        path: String,
    },
    /// A path names the layer root itself.
    #[error("path `{path}` names the layer root, not an entry")]
    EmptyPath {
        /// The path as given.
        path: String,
    },
    /// A path contains a NUL byte.
    #[error("path `{path}` contains a NUL byte")]
    PathHasNul {
        /// The path, lossily decoded.
        path: String,
    },
    /// An entry's name starts with `.wh.`, which layers reserve for whiteouts.
    #[error("`{path}` has a name reserved for whiteouts (`.wh.`)")]
    ReservedName {
        /// The entry's path.
        path: String,
    },
    /// Entries were not given in layer order.
    #[error("layer entry `{path}` comes after `{previous}`; entries must be sorted")]
    Unsorted {
        /// The entry's tar path.
        path: String,
        /// The tar path of the entry before it.
        previous: String,
    },
    /// Two entries have the same tar path.
    #[error("layer has two entries for `{path}`")]
    DuplicatePath {
        /// The tar path.
        path: String,
    },
    /// A path appeared after a hard link that points to it.
    #[error("hard link to `{path}` comes before `{path}` itself")]
    HardLinkBeforeTarget {
        /// The link target.
        path: String,
    },
    /// A device number does not fit a tar header.
    #[error("device numbers of `{path}` do not fit in a tar header")]
    DeviceNumberTooLarge {
        /// The entry's tar name.
        path: String,
    },
    /// A host file given as content could not be opened or read.
    #[error("failed to read layer content from `{}`", path.display())]
    ReadContent {
        /// The host file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A host file given as content is not a regular file.
    #[error("layer content `{}` is not a regular file", path.display())]
    NotRegularFile {
        /// The host file.
        path: PathBuf,
    },
    /// A host file shrank while it was being written into a layer.
    #[error("`{}` changed while it was being written into a layer", path.display())]
    ContentChanged {
        /// The host file.
        path: PathBuf,
    },
    /// Writing the blob to its sink failed.
    #[error("failed to write a layer blob")]
    WriteBlob {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading a layer blob failed.
    #[error("failed to read a layer blob")]
    ReadBlob {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A media type is not one of a layer.
    #[error("media type `{media_type}` is not a layer")]
    UnknownMediaType {
        /// The media type.
        media_type: String,
    },
}
