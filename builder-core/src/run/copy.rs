//! Plain copies of images and mount sources: the root of a step where overlayfs is
//! unavailable, the sources of writable bind mounts and the seeds of cache mounts.

use std::io::{self, BufReader};
use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::image::Descriptor;
use rustix::fs::{Mode, OFlags};

use crate::exec::{IdMapping, error_chain, in_user_namespace};
use crate::fsroot;
use crate::layer::{decompress, unpack};
use crate::rootfs::RootfsError;
use crate::store::Store;

use super::RunError;
use super::mounts::Found;

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

/// Copies the mount source `source` (a file or a tree, resolved inside its root) to the
/// new entry `name` of the directory `dest`, and [`copy_into`] the content of a directory
/// source into the directory `dest`: directories, regular files with their modes,
/// symbolic links as links (never followed), with their owners when running as root or
/// in the user namespace of subordinate ids (where the sources may be files the caller
/// cannot read); other types are skipped.
pub(super) fn copy_tree(source: &Found, dest: &Path, name: &str) -> Result<(), RunError> {
    copy_with(source, dest, |from, to| {
        fsroot::copy_tree(from, to, name.as_bytes())
    })
}

/// See [`copy_tree`].
pub(super) fn copy_into(source: &Found, dest: &Path) -> Result<(), RunError> {
    copy_with(source, dest, fsroot::copy_into)
}

/// Runs `copy` from the opened `source` to the opened directory `dest`, in the user
/// namespace of subordinate ids when there is one.
fn copy_with(
    source: &Found,
    dest: &Path,
    copy: impl FnOnce(&OwnedFd, &OwnedFd) -> io::Result<()>,
) -> Result<(), RunError> {
    let from = source.open()?;
    let to = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|error| RunError::Prepare {
        path: dest.to_owned(),
        source: error.into(),
    })?;
    match IdMapping::subordinate()? {
        None => copy(&from, &to).map_err(|error| source.error(error)),
        Some(mapping) => {
            in_user_namespace(&mapping, || {
                copy(&from, &to)
                    .map(|()| Vec::new())
                    .map_err(|error| error_chain(&source.error(error)))
            })?;
            Ok(())
        }
    }
}
