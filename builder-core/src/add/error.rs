//! Errors of the `add` module.

use std::io;
use std::path::PathBuf;

use crate::layer::LayerError;

/// What can fail when an `ADD` source is recognized or extracted as an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file cannot be opened or read, or its compression is corrupt.
    #[error("failed to read the archive `{}`", path.display())]
    ReadArchive {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An entry of the archive is malformed, leaves the destination (`..`) or has a type
    /// a layer cannot hold.
    #[error("archive `{}` has an entry that cannot be extracted", path.display())]
    ReadEntry {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// An entry's name starts with `.wh.`, which layers reserve for whiteouts.
    #[error("archive `{}` holds `{entry}`, a name that layers reserve for whiteouts (`.wh.`)", path.display())]
    ReservedName {
        /// The archive.
        path: PathBuf,
        /// The entry's name in the archive.
        entry: String,
    },
    /// An entry lies below a path that the archive made a file, not a directory.
    #[error("archive `{}` puts `{entry}` below `{parent}`, which is not a directory", path.display())]
    NotADirectory {
        /// The archive.
        path: PathBuf,
        /// The entry's name in the archive.
        entry: String,
        /// The path, symlinks resolved, that is not a directory.
        parent: String,
    },
    /// Resolving an entry's parent followed too many symlinks.
    #[error("archive `{}`: too many levels of symbolic links below `{entry}`", path.display())]
    SymlinkLoop {
        /// The archive.
        path: PathBuf,
        /// The entry's name in the archive.
        entry: String,
    },
    /// A hard link's target is neither an earlier non-directory entry of the archive nor
    /// a regular file of the image below the destination.
    #[error("archive `{}` links `{entry}` to `{target}`, which is neither an earlier file of the archive nor a file of the image", path.display())]
    HardLinkTarget {
        /// The archive.
        path: PathBuf,
        /// The link's name in the archive.
        entry: String,
        /// The target as written.
        target: String,
    },
    /// The file of the image that a hard link of the archive points at cannot be copied.
    #[error("archive `{}` links `{entry}` to `{target}`, which cannot be copied from the image", path.display())]
    ReadBelow {
        /// The archive.
        path: PathBuf,
        /// The link's name in the archive.
        entry: String,
        /// The target as written.
        target: String,
        /// The cause.
        #[source]
        source: Box<crate::Error>,
    },
    /// An extracted file's content cannot be written to the staging directory.
    #[error("failed to write `{}` while extracting an archive", path.display())]
    WriteStaging {
        /// The staging file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
