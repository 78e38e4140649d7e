//! Removing a tree that the sandbox's users may own files in.

use std::fs;
use std::io;
use std::path::Path;

use crate::exec::{IdMapping, in_user_namespace};

/// Removes a directory tree, making directories writable first where a non-root owner
/// needs that (an image may hold read-only directories); rootless with subordinate ids,
/// what the caller may not remove (files of the sandbox's users) is removed in the user
/// namespace.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match remove_own_tree(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let Ok(Some(mapping)) = IdMapping::subordinate() else {
                return Err(e);
            };
            in_user_namespace(&mapping, || {
                remove_own_tree(path)
                    .map(|()| Vec::new())
                    .map_err(|error| error.to_string())
            })
            .map(drop)
            .map_err(io::Error::other)
        }
        other => other,
    }
}

/// [`remove_tree`] with the rights of this process.
fn remove_own_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            use std::os::unix::fs::PermissionsExt as _;
            for entry in walkdir::WalkDir::new(path).follow_links(false) {
                let entry = entry.map_err(io::Error::from)?;
                if entry.file_type().is_dir() {
                    fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o700))?;
                }
            }
            fs::remove_dir_all(path)
        }
        other => other,
    }
}
