//! Errors of the `context` module.

use std::io;
use std::path::PathBuf;

use super::Origin;
use crate::layer::LayerError;

/// What can fail in the `context` module.
///
/// Errors about a `COPY`/`ADD` source name the source as written, so that the caller can
/// put the Dockerfile line in front.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context directory cannot be opened.
    #[error("failed to open the build context `{}`", path.display())]
    OpenContext {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file or directory of the context (or of a stage's or an image's tree) cannot be
    /// read.
    #[error("failed to read `{}` from {origin}", path.display())]
    ReadContext {
        /// The host path.
        path: PathBuf,
        /// What the context is: the build context, a stage, an image.
        origin: Origin,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A selected file is not among the contents a layer writer copied: it was replaced
    /// while the build ran.
    #[error("`{}` of {origin} changed while it was copied into the layer", path.display())]
    ContentNotCopied {
        /// The host path.
        path: PathBuf,
        /// What the context is: the build context, a stage, an image.
        origin: Origin,
    },
    /// A tar stream of the context cannot be extracted.
    #[error("failed to extract the build context from a tar stream")]
    ExtractContext {
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// The ignore file cannot be read.
    #[error("failed to read the ignore file `{}`", path.display())]
    ReadIgnoreFile {
        /// The ignore file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The ignore file is larger than [`IGNORE_FILE_LIMIT`](super::IGNORE_FILE_LIMIT).
    #[error("the ignore file `{}` is larger than {limit} bytes", path.display())]
    IgnoreFileTooLarge {
        /// The ignore file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A line of the ignore file is not a valid pattern.
    #[error("`{}` has an invalid pattern `{pattern}`", path.display())]
    IgnorePattern {
        /// The ignore file.
        path: PathBuf,
        /// The pattern.
        pattern: String,
    },
    /// An `--exclude` value is not a valid pattern.
    #[error("invalid `--exclude` pattern `{pattern}`")]
    ExcludePattern {
        /// The pattern.
        pattern: String,
    },
    /// A source holds a malformed wildcard.
    #[error("source `{source_path}` has an invalid wildcard pattern")]
    SourcePattern {
        /// The source as written.
        source_path: String,
    },
    /// A source matches nothing in the context (or only what `.dockerignore` excludes).
    #[error("source `{source_path}` matches no file in {origin}")]
    SourceNotFound {
        /// The source as written.
        source_path: String,
        /// What the context is: the build context, a stage, an image.
        origin: Origin,
    },
    /// A source names only what the context's ignore file excludes: not found, as in
    /// BuildKit, with the hint of its `CopyIgnoredFile` check.
    #[error(
        "source `{source_path}` matches no file in {origin}: `{ignore_file}` excludes it \
         (CopyIgnoredFile)"
    )]
    SourceIgnored {
        /// The source as written.
        source_path: String,
        /// What the context is.
        origin: Origin,
        /// The name of the ignore file (`.dockerignore`, `<Dockerfile>.dockerignore`).
        ignore_file: String,
    },
    /// A source climbs above the context root with `..`.
    #[error("source `{source_path}` leaves {origin}")]
    SourceEscapes {
        /// The source as written.
        source_path: String,
        /// What the context is.
        origin: Origin,
    },
    /// A symlink on the way to a source points out of the context.
    #[error("source `{source_path}` leaves {origin} through the symlink `{link}`")]
    SymlinkEscapes {
        /// The source as written.
        source_path: String,
        /// The symlink, relative to the context root.
        link: String,
        /// What the context is.
        origin: Origin,
    },
    /// Symlinks on the way to a source form a loop or a chain too long to follow.
    #[error("source `{source_path}` leads through too many symlinks")]
    SymlinkLoop {
        /// The source as written.
        source_path: String,
    },
    /// The file of remembered content digests cannot be written.
    #[error("failed to write the file hashes of the build context to `{}`", path.display())]
    WriteFileHashes {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A destination that names no path in an image.
    #[error("invalid destination `{dest}`")]
    InvalidDest {
        /// The destination as written.
        dest: String,
        /// Why.
        #[source]
        source: LayerError,
    },
    /// Several sources are copied to a destination that is not a directory.
    #[error(
        "copying more than one source needs a destination directory ending in `/`, not `{dest}`"
    )]
    DestNotDir {
        /// The destination as written.
        dest: String,
    },
}
