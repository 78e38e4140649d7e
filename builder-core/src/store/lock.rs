//! Inter-process locks of a store: leases against prune, the index lock, scratch dirs.
//!
//! The locks are `flock(2)` locks through the standard library's `File::lock` family
//! (stable since Rust 1.89), so no crate is needed. They belong to an open file
//! description: the kernel drops them when the holder exits, however it exits, and two
//! handles in one process exclude each other just as two processes do.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// A shared hold on the store that keeps [`Store::prune`] from running until it is
/// dropped. Blobs written while a lease is held are safe from garbage collection until
/// the lease ends, so a build holds one from its first blob until its image is tagged or
/// its records are written.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// An exclusive hold on one of the store's lock files, released on drop.
#[derive(Debug)]
pub(super) struct ExclusiveLock {
    _file: File,
}

/// A scratch directory under the store's `tmp/`, on the store's filesystem (so files in
/// it can be renamed into the store), removed with its content on drop. It holds a
/// [`Lease`], so prune never removes it while it is in use.
#[derive(Debug)]
pub struct ScratchDir {
    dir: tempfile::TempDir,
    _lease: Lease,
}

impl ScratchDir {
    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Store {
    /// Takes a shared lease on the store; prune waits until every lease is dropped.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lock`] when the lock file cannot be opened or locked.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let (file, path) = self.open_lock("gc")?;
        file.lock_shared()
            .map_err(|source| StoreError::Lock { path, source })?;
        Ok(Lease { _file: file })
    }

    /// A new scratch directory on the store's filesystem, for unpacking and staging.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lock`] when no lease can be taken, [`StoreError::CreateLayout`] when
    /// the directory cannot be created.
    pub fn temp_dir(&self) -> Result<ScratchDir, StoreError> {
        let lease = self.lease()?;
        let dir = tempfile::Builder::new()
            .prefix("scratch-")
            .tempdir_in(self.tmp_root())
            .map_err(|source| StoreError::CreateLayout {
                path: self.tmp_root(),
                source,
            })?;
        Ok(ScratchDir { dir, _lease: lease })
    }

    /// Waits for and takes the exclusive lock named `name` (`index`, `gc`).
    pub(super) fn lock_exclusive(&self, name: &str) -> Result<ExclusiveLock, StoreError> {
        let (file, path) = self.open_lock(name)?;
        file.lock()
            .map_err(|source| StoreError::Lock { path, source })?;
        Ok(ExclusiveLock { _file: file })
    }

    fn open_lock(&self, name: &str) -> Result<(File, PathBuf), StoreError> {
        let path = self.root.join("locks").join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path);
        match file {
            Ok(file) => Ok((file, path)),
            Err(source) => Err(StoreError::Lock { path, source }),
        }
    }
}
