//! Cache artifacts in an OCI image layout directory (`type=local`): `oci-layout`,
//! `index.json` naming the artifact's manifest, and `blobs/<algorithm>/<hex>`.
//!
//! The directory is untrusted when read (a CI system restores it from anywhere): every
//! path is resolved inside it ([`Root`]), nothing larger than its descriptor says is
//! read, and each blob is checked against its digest as it is copied into the store.
//! When written, files are made through descriptors of its directories, so a symlink
//! planted in it cannot send a write elsewhere; blobs it has already are not written
//! again.

use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::atomic::AtomicFile;
use crate::fsroot::{Root, proc_path};
use crate::spec::{canonical_json, media_type};
use crate::store::{JSON_LIMIT, Store, StoreError};

use super::RemoteCacheError;

/// The content of `oci-layout`.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A cache directory being read.
pub(super) struct LayoutReader {
    dir: PathBuf,
    root: Root,
}

impl LayoutReader {
    /// Opens the directory `dir`.
    pub(super) fn open(dir: &Path) -> Result<LayoutReader, RemoteCacheError> {
        let root = Root::open(dir).map_err(|source| RemoteCacheError::ReadLayout {
            path: dir.to_owned(),
            source,
        })?;
        Ok(LayoutReader {
            dir: dir.to_owned(),
            root,
        })
    }

    /// The descriptor of the last image manifest `index.json` names.
    pub(super) fn manifest(&self) -> Result<Descriptor, RemoteCacheError> {
        let path = Path::new("index.json");
        let mut bytes = Vec::new();
        self.root
            .open_file(path)
            .and_then(|file| file.take(JSON_LIMIT + 1).read_to_end(&mut bytes))
            .map_err(|source| self.read_failed(path, source))?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| RemoteCacheError::ParseIndex {
                dir: self.dir.clone(),
                source,
            })?;
        index
            .manifests()
            .iter()
            .rev()
            .find(|manifest| media_type::is_manifest(manifest.media_type().as_ref()))
            .cloned()
            .ok_or_else(|| RemoteCacheError::NoManifest {
                dir: self.dir.clone(),
            })
    }

    /// Copies the blob `descriptor` names into the store (unless it is there), reading
    /// no more than its size and keeping it only with its digest.
    pub(super) fn copy_blob(&self, store: &Store, descriptor: &Descriptor) -> crate::Result<()> {
        let digest = descriptor.digest();
        if store.has_blob(digest) {
            return Ok(());
        }
        let path = blob_path(descriptor);
        let file = self
            .root
            .open_file(&path)
            .map_err(|source| self.read_failed(&path, source))?;
        let mut blob = store.begin_blob()?;
        io::copy(&mut file.take(descriptor.size() + 1), &mut blob)
            .map_err(|source| self.read_failed(&path, source))?;
        if blob.written() != descriptor.size() {
            return Err(RemoteCacheError::BlobSize {
                dir: self.dir.clone(),
                digest: digest.to_string(),
                size: descriptor.size(),
            }
            .into());
        }
        blob.commit_verified(digest)?;
        Ok(())
    }

    fn read_failed(&self, path: &Path, source: io::Error) -> RemoteCacheError {
        RemoteCacheError::ReadLayout {
            path: self.dir.join(path),
            source,
        }
    }
}

/// Writes the artifact `manifest` (and `blobs`, its config and layers, from the store)
/// into the directory `dir`, created if missing; its `index.json` then names only it.
pub(super) fn write(
    dir: &Path,
    store: &Store,
    manifest: &Descriptor,
    blobs: &[Descriptor],
) -> crate::Result<()> {
    let failed = |path: &Path, source| RemoteCacheError::WriteLayout {
        path: dir.join(path),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|source| failed(Path::new(""), source))?;
    let root = Root::open(dir).map_err(|source| failed(Path::new(""), source))?;
    for blob in blobs.iter().chain([manifest]) {
        let path = blob_path(blob);
        let parent = path.parent().expect("a blob path has a directory");
        let at = root
            .dir(parent, true)
            .map_err(|source| failed(parent, source))?;
        write_blob(&at, store, blob).map_err(|error| match error {
            crate::Error::Store(StoreError::WriteBlob { source }) => failed(&path, source).into(),
            other => other,
        })?;
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest.clone()])
        .build()
        .expect("an index with schema version and manifests is complete");
    let index = canonical_json(&index).expect("an index encodes as JSON");
    let top = root
        .dir(Path::new(""), false)
        .map_err(|source| failed(Path::new(""), source))?;
    for (name, bytes) in [("oci-layout", OCI_LAYOUT), ("index.json", index.as_slice())] {
        replace(&top, name, |file| file.write_all(bytes))
            .map_err(|source| failed(Path::new(name), source))?;
    }
    Ok(())
}

/// Writes the blob `descriptor` names into the directory `at` from the store, verified,
/// unless a regular file of its size is there.
fn write_blob(at: &OwnedFd, store: &Store, descriptor: &Descriptor) -> crate::Result<()> {
    let name = descriptor.digest().digest();
    let existing = rustix::fs::statat(at, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
    if existing.is_ok_and(|stat| {
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile
            && u64::try_from(stat.st_size) == Ok(descriptor.size())
    }) {
        return Ok(());
    }
    let write_failed = |source| StoreError::WriteBlob { source };
    store.read_verified(descriptor.digest(), |blob| {
        replace(at, name, |file| io::copy(blob, file).map(drop)).map_err(write_failed)
    })?;
    Ok(())
}

/// Replaces the entry `name` of the directory `at` with a file `write` fills, through
/// the crate's atomic writer (a symlink there is replaced, not followed).
fn replace(
    at: &OwnedFd,
    name: &str,
    write: impl FnOnce(&mut AtomicFile) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = AtomicFile::new(proc_path(at).join(name), ".tmp-")?;
    write(&mut file)?;
    file.commit()
}

/// `blobs/<algorithm>/<hex>` of a blob.
fn blob_path(descriptor: &Descriptor) -> PathBuf {
    let digest = descriptor.digest();
    Path::new("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest())
}
