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
    /// Walking a host directory or reading a path's metadata failed.
    #[error("failed to read `{}` while listing a directory for a layer", path.display())]
    ScanHost {
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A layer tar is malformed or could not be read.
    #[error("failed to read a layer tar")]
    ReadTar {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A tar entry's name or hard link target leaves the root.
    #[error("layer entry `{path}` leaves the root")]
    UnsafeTarPath {
        /// The name or link target, lossily decoded.
        path: String,
    },
    /// A tar entry is of a type a layer cannot hold.
    #[error("layer entry `{path}` has unsupported type `{kind}`")]
    UnknownEntryType {
        /// The entry's name.
        path: String,
        /// The tar type.
        kind: String,
    },
    /// A tar entry's owner or group id does not fit in 32 bits.
    #[error("layer entry `{path}` has an owner or group id above 2^32")]
    IdOutOfRange {
        /// The entry's name.
        path: String,
    },
    /// Writing a path of a layer into the root directory failed.
    #[error("failed to unpack `{path}`")]
    Unpack {
        /// The path in the layer (or the root directory).
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
