//! The local content-addressed store: blobs by digest, tags, records, scratch space.
//!
//! A store is an [OCI image layout] directory with a few directories of our own beside it:
//!
//! ```text
//! <root>/oci-layout             {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json             tagged and untagged images (ref.name = full reference)
//! <root>/blobs/sha256/<hex>     content-addressed blobs
//! <root>/records/<ns>/<key>     small JSON records (the build cache), with their GC roots
//!                               (`remote-blobs`: blobs known to be in a registry)
//! <root>/data/<name>/           other persistent data (unpacked layers, context metadata)
//! <root>/tmp/                   blobs being written, scratch directories
//! <root>/locks/                 `index` (index.json updates) and `gc` (leases vs prune)
//! ```
//!
//! The store is private to its owner: directories 0700, files 0600, and a store another
//! user owns or may write to is refused (see the `access` module for why, and for what
//! happens to stores that earlier versions made 0755).
//!
//! Every write is atomic: a blob is written to a temp file under `tmp/` and renamed to its
//! digest after an fsync; small files are written to a temp file in their own directory
//! and renamed; the directory is fsynced after each rename. A process killed at any point
//! leaves either the old file or the new one, plus perhaps a stray temp that
//! [`Store::prune`] removes.
//!
//! Blobs are read back verified: [`Store::read_blob`] checks a small blob's digest, and
//! [`Store::open_verified`] hands out a large one's bytes hashed as they flow and fails
//! rather than hand out the last of them when they do not match.
//!
//! Several processes may use one store at once. Blob writes need no lock: two writers of
//! one digest write equal bytes and the last rename wins. Updates of `index.json` take an
//! exclusive lock on `locks/index` around their read-modify-write. Garbage collection is
//! kept apart from writers by `locks/gc`: every writer holds a shared [`Lease`] on it
//! while it works (a build should hold one from its first blob until its image is tagged,
//! so that prune does not see its blobs as garbage), and prune takes it exclusively, so
//! it waits for running writers and no writer starts while it sweeps.
//!
//! ```
//! use std::io::Write as _;
//! use mkimage_core::oci_spec::image::{Descriptor, MediaType};
//! use mkimage_core::store::Store;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let lease = store.lease()?; // keeps prune away until the image is tagged
//! let mut blob = store.begin_blob()?;
//! blob.write_all(br#"{"schemaVersion":2}"#)?;
//! let (digest, size) = blob.commit()?;
//! let image = Descriptor::new(MediaType::ImageManifest, size, digest.clone());
//! store.tag(&"app:1".parse()?, &image)?;
//! drop(lease);
//! assert_eq!(store.find_image("app:1")?.digest(), &digest);
//!
//! let cache = store.records("cache")?;
//! cache.put("step-key", &"layer info", &[digest])?; // the record keeps the blob from prune
//! assert_eq!(cache.get::<String>("step-key")?.as_deref(), Some("layer info"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

mod access;
mod blobs;
mod error;
mod gc;
mod images;
mod lock;
mod records;
mod refs;
mod remote;
mod tags;
mod verified;
mod writeback;

use std::fs;
use std::path::{Path, PathBuf};

pub(crate) use access::create_dir as create_private_dir;
pub use blobs::{BlobWriter, JSON_LIMIT, UnhashedBlobWriter};
pub use error::StoreError;
pub use gc::{GcHook, PruneOptions, Pruned, Swept};
pub use images::ImageSummary;
pub use lock::{Lease, ScratchDir};
pub use records::{RecordInfo, Records};
pub use remote::{BlobFetcher, RemoteBlob};
pub use tags::{Removed, Tagged};
pub use verified::{Checkpoint, VerifiedBlob};

/// The `oci-layout` file's content.
const LAYOUT_VERSION: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A store rooted at a directory. Cheap to clone; every operation goes to the disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    fetcher: remote::FetcherSlot,
}

impl Store {
    /// Opens the store at `root`, creating the layout when it does not exist yet. A store
    /// that others could read (made by an earlier version) is made private first, without
    /// its unpacked layers and cache mounts.
    ///
    /// # Errors
    ///
    /// [`StoreError::ForeignOwner`] when `root` belongs to another user,
    /// [`StoreError::OpenToOthers`] when group or others may write to it,
    /// [`StoreError::MakePrivate`] when an old store cannot be made private,
    /// [`StoreError::CreateLayout`] when a directory or file cannot be created,
    /// [`StoreError::NotALayout`] when `root` holds an `oci-layout` of another version.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store {
            root: root.into(),
            fetcher: remote::FetcherSlot::default(),
        };
        store.secure_root()?;
        for dir in [
            store.root.join("blobs/sha256"),
            store.tmp_root(),
            store.root.join("locks"),
            store.root.join("records"),
            store.root.join("data"),
        ] {
            access::create_dir(&dir)
                .map_err(|source| StoreError::CreateLayout { path: dir, source })?;
        }
        store.create_layout_files()?;
        Ok(store)
    }

    /// The default store root: `$MKIMAGE_ROOT`, else `$XDG_DATA_HOME/mkimage`, else
    /// `~/.local/share/mkimage`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoDefaultRoot`] when none of these variables is set.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(root) = var("MKIMAGE_ROOT") {
            return Ok(PathBuf::from(root));
        }
        // The XDG spec says to ignore a relative XDG_DATA_HOME.
        if let Some(data) = var("XDG_DATA_HOME").map(PathBuf::from)
            && data.is_absolute()
        {
            return Ok(data.join("mkimage"));
        }
        var("HOME")
            .map(|home| PathBuf::from(home).join(".local/share/mkimage"))
            .ok_or(StoreError::NoDefaultRoot)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A directory for other persistent per-store data, `<root>/data/<name>`, created if
    /// missing (for example `rootfs` for unpacked layers keyed by chain id). Prune leaves
    /// it to its owner, which keeps it tidy (a [`GcHook`] that prune calls).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidName`] when `name` is not a plain file name,
    /// [`StoreError::CreateLayout`] when the directory cannot be created.
    pub fn path_for(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name("data name", name)?;
        let path = self.root.join("data").join(name);
        access::create_dir(&path).map_err(|source| StoreError::CreateLayout {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Writes `oci-layout` and an empty `index.json` unless they exist, under the index
    /// lock so that two processes opening a new store do not race.
    fn create_layout_files(&self) -> Result<(), StoreError> {
        let layout = self.root.join("oci-layout");
        let index = self.index_path();
        if layout.is_file() && index.is_file() {
            return self.check_layout(&layout);
        }
        let _lock = self.lock_exclusive("index")?;
        let create = |path: &Path, bytes: &[u8]| {
            crate::atomic::write(path, bytes).map_err(|source| StoreError::CreateLayout {
                path: path.to_owned(),
                source,
            })
        };
        if !layout.is_file() {
            create(&layout, LAYOUT_VERSION)?;
        }
        if !index.is_file() {
            create(&index, &tags::empty_index())?;
        }
        self.check_layout(&layout)
    }

    /// Checks that `oci-layout` names version 1.0.0.
    fn check_layout(&self, layout: &Path) -> Result<(), StoreError> {
        let bytes = fs::read(layout).map_err(|source| StoreError::CreateLayout {
            path: layout.to_owned(),
            source,
        })?;
        let value: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        let version = value
            .as_ref()
            .and_then(|v| v.get("imageLayoutVersion"))
            .and_then(|v| v.as_str());
        if version == Some("1.0.0") {
            Ok(())
        } else {
            Err(StoreError::NotALayout {
                path: layout.to_owned(),
            })
        }
    }

    /// The directory holding temps and scratch directories.
    fn tmp_root(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// Checks that `name` can be used as one file name: ASCII letters, digits, `.`, `_`, `-`,
/// not starting with `.` (which would also hide it among our temps).
fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_an_oci_layout() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("store"))?;
        let layout = fs::read_to_string(store.root().join("oci-layout")).expect("oci-layout");
        assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
        let index = fs::read_to_string(store.root().join("index.json")).expect("index.json");
        assert_eq!(
            index,
            r#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
        assert!(store.root().join("blobs/sha256").is_dir());
        // Opening again keeps what is there.
        Store::open(store.root())?;
        Ok(())
    }

    #[test]
    fn refuses_another_layout_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"2.0"}"#,
        )
        .expect("write");
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` is not an OCI image layout (version 1.0.0)",
                dir.path().join("oci-layout").display()
            )
        );
    }

    #[test]
    fn names_must_be_plain() {
        assert!(check_name("record key", "sha256-abc_1.json").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b"] {
            let err = check_name("record key", bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid record key"), "{bad}");
        }
    }
}
