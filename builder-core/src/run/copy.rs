//! Plain copies of images and directories: the root of a step where overlayfs is
//! unavailable, and the sources of writable or stage bind mounts.

use std::fs;
use std::io::BufReader;
use std::os::unix::fs::{MetadataExt as _, lchown, symlink};
use std::path::Path;

use oci_spec::image::Descriptor;

use crate::exec::{IdMapping, error_chain, in_user_namespace};
use crate::layer::{decompress, unpack};
use crate::rootfs::RootfsError;
use crate::store::Store;

use super::RunError;

/// Unpacks `layers` (bottom first) from `store` into the directory `root`, one over the
/// other.
pub(super) fn unpack_layers(
    store: &Store,
    layers: &[Descriptor],
    root: &Path,
) -> Result<(), RunError> {
    for layer in layers {
        let unpack_err = |source| RootfsError::Unpack {
            digest: layer.digest().to_string(),
            source,
        };
        store.read_verified(layer.digest(), |blob| -> Result<_, RunError> {
            let blob = BufReader::with_capacity(64 * 1024, blob);
            let tar = decompress(blob, Some(layer.media_type().to_string().as_str()))
                .map_err(unpack_err)?;
            Ok(unpack(tar, root).map_err(unpack_err)?)
        })?;
    }
    Ok(())
}

/// Copies the file or tree `source` to `dest` (which must not exist): directories,
/// regular files with their modes, symbolic links as links, with their owners when
/// running as root or in the user namespace of subordinate ids (where the sources may
/// be files the caller cannot read); other types are skipped.
pub(super) fn copy_tree(source: &Path, dest: &Path) -> Result<(), RunError> {
    match IdMapping::subordinate()? {
        None => copy_here(source, dest),
        Some(mapping) => {
            in_user_namespace(&mapping, || {
                copy_here(source, dest)
                    .map(|()| Vec::new())
                    .map_err(|error| error_chain(&error))
            })?;
            Ok(())
        }
    }
}

/// [`copy_tree`] with the rights of this process.
fn copy_here(source: &Path, dest: &Path) -> Result<(), RunError> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::Prepare { path, source }
    };
    let is_root = rustix::process::geteuid().is_root();
    for entry in walkdir::WalkDir::new(source).follow_links(false) {
        let entry = entry.map_err(|e| err(source)(e.into()))?;
        let rel = entry
            .path()
            .strip_prefix(source)
            .expect("walkdir yields paths under its root");
        let to = if rel.as_os_str().is_empty() {
            dest.to_owned()
        } else {
            dest.join(rel)
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir(&to).map_err(err(&to))?;
            let mode = entry.metadata().map_err(|e| err(entry.path())(e.into()))?;
            fs::set_permissions(&to, mode.permissions()).map_err(err(&to))?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &to).map_err(err(&to))?;
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(err(entry.path()))?;
            symlink(target, &to).map_err(err(&to))?;
        } else {
            continue;
        }
        if is_root {
            let metadata = entry.metadata().map_err(|e| err(entry.path())(e.into()))?;
            lchown(&to, Some(metadata.uid()), Some(metadata.gid())).map_err(err(&to))?;
            if !kind.is_symlink() {
                // `chown` clears the set-id bits.
                fs::set_permissions(&to, metadata.permissions()).map_err(err(&to))?;
            }
        }
    }
    Ok(())
}
