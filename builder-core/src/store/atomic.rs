//! Atomic replacement of small files: temp in the same directory, fsync, rename, fsync.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The name prefix of temps; prune removes files with it that a dead process left.
pub(super) const TEMP_PREFIX: &str = ".tmp-";

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old content or the
/// new one, never a mix.
pub(super) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes the entries of `dir` (a rename into it, a removal) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path`.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
