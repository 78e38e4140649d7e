//! Files replaced atomically: the new content is written to a temp file in the
//! destination's directory, synced, renamed over the destination, and the directory is
//! synced, so that a reader, or the file system after a crash, finds the old content or
//! the new one and never a part. The store's files, the credentials file and the
//! archives a build or `save` writes all go through here.

use std::fs::File;
use std::io::{self, BufWriter, IntoInnerError, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The name prefix of the temp files [`write`] makes; the store's pruning removes files
/// with it that a dead process left.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// A file being written that replaces its destination only when [committed]; dropped
/// before that, it is removed and the destination is left as it was.
///
/// [committed]: AtomicFile::commit
///
/// ```no_run
/// use std::io::Write as _;
/// use mkimage_core::atomic::AtomicFile;
///
/// let mut file = AtomicFile::new("out/image.tar", ".mkimage-")?;
/// file.write_all(b"...")?;
/// file.commit()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    temp: BufWriter<NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts replacing `path` (or creating it) with a temp file, mode `0600`, whose
    /// name starts with `prefix`, in the directory of `path`.
    ///
    /// # Errors
    ///
    /// When the temp file cannot be created.
    pub fn new(path: impl Into<PathBuf>, prefix: &str) -> io::Result<AtomicFile> {
        let path = path.into();
        let temp = tempfile::Builder::new()
            .prefix(prefix)
            .tempfile_in(parent(&path))?;
        Ok(AtomicFile {
            temp: BufWriter::new(temp),
            path,
        })
    }

    /// Flushes and syncs what was written, renames it to the destination and syncs the
    /// destination's directory.
    ///
    /// # Errors
    ///
    /// When a step fails; the temp file is removed then and the destination is left as
    /// it was, unless only the last sync failed.
    pub fn commit(self) -> io::Result<()> {
        let temp = self.temp.into_inner().map_err(IntoInnerError::into_error)?;
        persist(temp, &self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Replaces `path` with `bytes` through an [`AtomicFile`].
///
/// # Errors
///
/// As [`AtomicFile::new`], writing, and [`AtomicFile::commit`].
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::new(path, TEMP_PREFIX)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Syncs `temp`, renames it to `path` (in the same file system) and syncs the directory
/// of `path`.
pub(crate) fn persist(temp: NamedTempFile, path: &Path) -> io::Result<()> {
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(parent(path))
}

/// Makes the entries of `dir` (a rename into it, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path`.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list the test directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_replaces_the_file_and_leaves_no_temp() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.tar");
        fs::write(&path, b"old")?;
        let mut file = AtomicFile::new(&path, ".mkimage-test-")?;
        file.write_all(b"new ")?;
        file.write_all(&[b'x'; 100_000])?;
        // Not replaced before the commit.
        assert_eq!(fs::read(&path)?, b"old");
        file.commit()?;
        let written = fs::read(&path)?;
        assert_eq!(&written[..4], b"new ");
        assert_eq!(written.len(), 100_004);
        assert_eq!(names(dir.path()), ["out.tar"]);
        Ok(())
    }

    #[test]
    fn a_dropped_file_leaves_the_old_content() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.json");
        write(&path, b"{}")?;
        let mut file = AtomicFile::new(&path, TEMP_PREFIX)?;
        file.write_all(b"{\"half")?;
        drop(file);
        assert_eq!(fs::read(&path)?, b"{}");
        assert_eq!(names(dir.path()), ["config.json"]);
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("absent/out.tar");
        let err = AtomicFile::new(&path, TEMP_PREFIX).expect_err("no directory to write in");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
