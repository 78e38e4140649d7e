//! Telling whether a local `ADD` source is an archive to extract.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::ArchiveError;
use crate::archive::reads_as_tar;

/// Whether the file at `path` is a tar archive that `ADD` extracts: a regular file (not
/// followed if a symlink) whose content, once decompressed as its magic number says, starts
/// with a valid tar header. An empty file, a tar of zeros or a corrupt stream is not one,
/// as in Docker.
///
/// # Errors
///
/// [`ArchiveError::ReadArchive`] when the file cannot be opened or its first bytes read.
pub fn is_archive(path: &Path) -> Result<bool, ArchiveError> {
    let read_err = |source| ArchiveError::ReadArchive {
        path: path.to_owned(),
        source,
    };
    if !fs::symlink_metadata(path).map_err(read_err)?.is_file() {
        return Ok(false);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(read_err)?;
    reads_as_tar(file).map_err(read_err)
}
