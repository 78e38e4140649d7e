//! Who may use a store: its owner alone.
//!
//! Unpacked layers keep the owners, modes and set-id bits their images give them, and
//! cache mounts the owners their steps give them, so a store that another local user can
//! reach lets that user change what the next build runs (a file of an image owned by
//! their uid, a world-writable directory). A store is therefore private, as docker's and
//! podman's are: its directories are made 0700 and its files 0600 (temps are created so),
//! and [`Store::open`] refuses a store whose top directory belongs to another user or
//! that group or others may write to, since anything in it may have been changed.
//!
//! No mode wider than 0700 is needed, rootless with subordinate ids too: the sandbox
//! mounts the layers and cache directories (as the caller, root of its user namespace)
//! before it runs a step as another id, and overlayfs reads lower directories with the
//! mounter's rights, so no other id ever walks the store's paths.
//!
//! Stores made by earlier versions have 0755 directories. When the caller owns one and
//! only reading and traversal are open to others, opening it makes it private (under
//! the `gc` lock, so no build uses it meanwhile) and removes its unpacked layers and
//! cache mounts, which other users could have changed; the layers are unpacked again
//! from the blobs, whose digests are verified, and the caches start empty. Blobs,
//! records and the index were always written 0600 and stay.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use super::{Store, StoreError};

/// The mode of every directory of a store.
const PRIVATE: u32 = 0o700;

/// The directories under `data/` that hold what other users could change in a store
/// that was open to them: unpacked layers and cache mounts.
const CHANGEABLE: [&str; 2] = ["rootfs", "cache-mounts"];

/// Creates `path` and its missing parents inside a store, 0700.
pub(crate) fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(PRIVATE).create(path)
}

impl Store {
    /// Creates the store's top directory 0700 if it is missing (its parents with the
    /// usual modes), checks who may use it and makes an old store private.
    pub(super) fn secure_root(&self) -> Result<(), StoreError> {
        let create = |source| StoreError::CreateLayout {
            path: self.root.clone(),
            source,
        };
        if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(create)?;
        }
        match DirBuilder::new().mode(PRIVATE).create(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(create(e)),
            _ => {}
        }
        if self.check_access()? {
            return Ok(());
        }
        create_dir(&self.root.join("locks")).map_err(create)?;
        // Waits for running builds; another process may have made it private meanwhile.
        let _gc = self.lock_exclusive("gc")?;
        if !self.check_access()? {
            self.make_private()?;
        }
        Ok(())
    }

    /// Whether the top directory is private; an error when it belongs to another user or
    /// others may write to it.
    fn check_access(&self) -> Result<bool, StoreError> {
        let metadata = fs::metadata(&self.root).map_err(|source| StoreError::CreateLayout {
            path: self.root.clone(),
            source,
        })?;
        let user = rustix::process::geteuid().as_raw();
        if metadata.uid() != user {
            return Err(StoreError::ForeignOwner {
                path: self.root.clone(),
                owner: metadata.uid(),
                user,
            });
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(StoreError::OpenToOthers {
                path: self.root.clone(),
                mode,
            });
        }
        Ok(mode & 0o077 == 0)
    }

    /// Makes a store that others could read and traverse private: 0700 on its own
    /// directories, and the unpacked layers and cache mounts removed.
    fn make_private(&self) -> Result<(), StoreError> {
        let private = |path: &Path| {
            fs::set_permissions(path, Permissions::from_mode(PRIVATE)).map_err(|source| {
                StoreError::MakePrivate {
                    path: path.to_owned(),
                    source,
                }
            })
        };
        // First the top: from here on no other user reaches anything below.
        private(&self.root)?;
        let data = self.root.join("data");
        for name in CHANGEABLE {
            let dir = data.join(name);
            match crate::tree::remove_tree(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(StoreError::Remove {
                        path: dir,
                        source: e,
                    });
                }
                _ => {}
            }
        }
        let mut dirs = vec![self.root.join("blobs"), self.tmp_root()];
        for name in ["locks", "records", "data"] {
            dirs.push(self.root.join(name));
        }
        for parent in ["blobs", "records", "data"] {
            let Ok(entries) = fs::read_dir(self.root.join(parent)) else {
                continue;
            };
            dirs.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
        for dir in dirs.iter().filter(|dir| dir.is_dir()) {
            private(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_new_store_is_private() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("a/store"))?;
        store.records("cache")?;
        store.path_for("rootfs")?;
        for sub in [
            "",
            "blobs",
            "blobs/sha256",
            "tmp",
            "locks",
            "records",
            "records/cache",
            "data",
            "data/rootfs",
        ] {
            assert_eq!(mode(&store.root().join(sub)), 0o700, "`{sub}`");
        }
        assert_eq!(mode(&store.root().join("locks/index")), 0o600);
        assert_eq!(mode(&store.root().join("index.json")), 0o600);
        let digest = store.put_blob(b"{}")?;
        assert_eq!(mode(&store.blob_path(&digest)), 0o600);
        Ok(())
    }

    #[test]
    fn refuses_a_store_others_may_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), Permissions::from_mode(0o777)).expect("chmod");
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "store `{}` is writable by group or others (mode 0777): anyone could have \
                 changed its content; remove it, or `chmod 700` it if you trust what it holds",
                dir.path().display()
            )
        );
        assert!(!dir.path().join("blobs").exists(), "nothing was created");
    }

    #[test]
    fn refuses_a_store_of_another_user() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("store");
        fs::create_dir(&root).expect("mkdir");
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::fs::chown(&root, Some(nobody), None).expect("chown (needs root)");
        let user = rustix::process::geteuid().as_raw();
        let err = Store::open(&root).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "store `{}` is owned by uid 65534, not by this user (uid {user}): its owner \
                 could change what builds run; use a store of your own (`--root` or \
                 `MKIMAGE_ROOT`)",
                root.display()
            )
        );
    }

    #[test]
    fn an_old_store_is_made_private_without_its_unpacked_layers() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path())?;
        let digest = store.put_blob(b"kept")?;
        let layer = store.path_for("rootfs")?.join("2/trusted/abc/diff");
        fs::create_dir_all(&layer).expect("layer dir");
        fs::write(layer.join("file"), "changed by another user").expect("file");
        fs::create_dir_all(store.path_for("cache-mounts")?.join("id")).expect("cache");
        for sub in ["", "blobs", "data", "records"] {
            fs::set_permissions(store.root().join(sub), Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let store = Store::open(dir.path())?;
        for sub in ["", "blobs", "data", "records"] {
            assert_eq!(mode(&store.root().join(sub)), 0o700, "`{sub}`");
        }
        assert!(!store.root().join("data/rootfs").exists());
        assert!(!store.root().join("data/cache-mounts").exists());
        assert_eq!(store.read_blob(&digest)?, b"kept");
        Ok(())
    }
}
