//! Removing unpacked layers that no blob of the store backs any more.

use std::fs;
use std::io;
use std::path::Path;

use oci_spec::image::Digest;

use super::{LAYOUT, TEMP_PREFIX, usable};
use crate::store::{GcHook, Store, StoreError, Swept};
use crate::tree::{remove_tree, tree_size};

/// The [`GcHook`] of the unpacked layers: pass it to [`Store::prune`] so that it removes
/// the unpacked layers of the images it removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerSweeper;

impl GcHook for LayerSweeper {
    /// Removes every unpacked layer directory of `store` whose chain has a layer blob
    /// that is no longer in the store or that another boot made and never synced, every
    /// temp and the directories of other layout versions.
    fn sweep(&self, store: &Store) -> Result<Swept, StoreError> {
        sweep(store)
    }
}

/// [`LayerSweeper::sweep`].
fn sweep(store: &Store) -> Result<Swept, StoreError> {
    let rootfs = store.root().join("data").join("rootfs");
    let mut freed = 0;
    let mut remove = |dir: &Path| {
        freed += tree_size(dir);
        remove_tree(dir).map_err(|source| StoreError::Remove {
            path: dir.to_owned(),
            source,
        })
    };
    let mut removed = 0;
    for version in list(&rootfs)? {
        if version.file_name() != Some(std::ffi::OsStr::new(LAYOUT)) {
            for namespace in list(&version)? {
                removed += list(&namespace)?.len();
            }
            remove(&version)?;
        }
    }
    for namespace in list(&rootfs.join(LAYOUT))? {
        for dir in list(&namespace)? {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let keep = !name.starts_with(TEMP_PREFIX) && usable(&dir) && chain_present(store, &dir);
            if !keep {
                remove(&dir)?;
                removed += 1;
            }
        }
    }
    Ok(Swept {
        dirs: removed,
        bytes: freed,
    })
}

/// Whether every layer blob listed in `<dir>/layers` is in the store.
fn chain_present(store: &Store, dir: &Path) -> bool {
    let Ok(bytes) = fs::read(dir.join("layers")) else {
        return false;
    };
    let Ok(blobs) = serde_json::from_slice::<Vec<Digest>>(&bytes) else {
        return false;
    };
    blobs.iter().all(|digest| store.has_blob(digest))
}

/// The directories in `dir` (none when it does not exist).
fn list(dir: &Path) -> Result<Vec<std::path::PathBuf>, StoreError> {
    let err = |source| StoreError::ListDir {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(err)?;
        if entry.file_type().map_err(err)?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}
