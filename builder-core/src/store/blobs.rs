//! Content-addressed blobs: streamed in through a temp file, renamed to their digest.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::atomic;
use crate::digest::{HashingWriter, sha256};

use super::writeback::WritebackFile;
use super::{Lease, Store, StoreError};

/// The most bytes [`Store::read_blob`] reads: JSON documents (manifests, indexes,
/// configs) are far smaller; registries cap manifests at 4 MiB.
pub const JSON_LIMIT: u64 = 16 * 1024 * 1024;

/// A blob being written: a temp file under the store's `tmp/`, hashed as bytes flow in.
///
/// [`commit`](BlobWriter::commit) moves it to `blobs/sha256/<hex>`. Dropping the writer
/// without committing removes the temp; a killed process leaves a temp that
/// [`Store::prune`] removes. The writer holds a [`Lease`] until it is committed or
/// dropped.
#[derive(Debug)]
pub struct BlobWriter {
    temp: HashingWriter<BufWriter<WritebackFile>>,
    blobs: PathBuf,
    _lease: Lease,
}

impl BlobWriter {
    /// The number of bytes written so far.
    pub fn written(&self) -> u64 {
        self.temp.written()
    }

    /// Syncs the temp to disk and moves it to its digest; returns the digest and size.
    ///
    /// # Errors
    ///
    /// [`StoreError::WriteBlob`] or [`StoreError::CommitBlob`] when the file system fails;
    /// the temp is removed.
    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        let (buffered, digest, size) = self.temp.finish();
        let temp = buffered.into_inner().map_err(|e| StoreError::WriteBlob {
            source: e.into_error(),
        })?;
        persist(temp.into_inner(), &self.blobs, &digest)?;
        Ok((digest, size))
    }

    /// Like [`commit`](BlobWriter::commit), but only when the content has the `expected`
    /// digest.
    ///
    /// # Errors
    ///
    /// [`StoreError::DigestMismatch`] when it does not (the temp is removed), and the
    /// errors of [`commit`](BlobWriter::commit).
    pub fn commit_verified(self, expected: &Digest) -> Result<u64, StoreError> {
        let (buffered, digest, size) = self.temp.finish();
        if digest != *expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let temp = buffered.into_inner().map_err(|e| StoreError::WriteBlob {
            source: e.into_error(),
        })?;
        persist(temp.into_inner(), &self.blobs, &digest)?;
        Ok(size)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// A blob being written by a writer that computes its digest itself, as a
/// [layer writer](crate::layer::LayerWriter) does: like [`BlobWriter`], without hashing
/// the bytes a second time (a SHA-256 pass over the whole blob on the thread that feeds
/// the layer).
#[derive(Debug)]
pub struct UnhashedBlobWriter {
    temp: BufWriter<WritebackFile>,
    blobs: PathBuf,
    _lease: Lease,
}

impl UnhashedBlobWriter {
    /// Syncs the temp to disk and moves it to `digest`, which must be the digest of the
    /// bytes written.
    ///
    /// # Errors
    ///
    /// [`StoreError::WriteBlob`] or [`StoreError::CommitBlob`] when the file system fails;
    /// the temp is removed.
    pub fn commit_as(self, digest: &Digest) -> Result<(), StoreError> {
        let temp = self.temp.into_inner().map_err(|e| StoreError::WriteBlob {
            source: e.into_error(),
        })?;
        persist(temp.into_inner(), &self.blobs, digest)
    }
}

impl Write for UnhashedBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Moves `temp` to `blobs/<algorithm>/<hex>` atomically ([`atomic::persist`]).
fn persist(
    temp: tempfile::NamedTempFile,
    blobs: &std::path::Path,
    digest: &Digest,
) -> Result<(), StoreError> {
    let commit = |source| StoreError::CommitBlob {
        digest: digest.clone(),
        source,
    };
    let dir = blobs.join(digest.algorithm().as_ref());
    super::access::create_dir(&dir).map_err(commit)?;
    // When the blob exists already, replacing it with equal bytes is harmless and saves
    // a check that another writer could race anyway.
    atomic::persist(temp, &dir.join(digest.digest())).map_err(commit)
}

impl Store {
    /// Starts writing a blob.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lock`] when no lease can be taken, [`StoreError::WriteBlob`] when the
    /// temp cannot be created.
    pub fn begin_blob(&self) -> Result<BlobWriter, StoreError> {
        let (temp, lease) = self.blob_temp()?;
        Ok(BlobWriter {
            temp: HashingWriter::new(temp),
            blobs: self.root.join("blobs"),
            _lease: lease,
        })
    }

    /// Starts writing a blob whose digest the caller computes (see
    /// [`UnhashedBlobWriter`]).
    ///
    /// # Errors
    ///
    /// As [`begin_blob`](Store::begin_blob).
    pub fn begin_unhashed_blob(&self) -> Result<UnhashedBlobWriter, StoreError> {
        let (temp, lease) = self.blob_temp()?;
        Ok(UnhashedBlobWriter {
            temp,
            blobs: self.root.join("blobs"),
            _lease: lease,
        })
    }

    /// A new temp file for a blob, buffered, and the lease that keeps it from pruning.
    fn blob_temp(&self) -> Result<(BufWriter<WritebackFile>, Lease), StoreError> {
        let lease = self.lease()?;
        let temp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(self.tmp_root())
            .map_err(|source| StoreError::WriteBlob { source })?;
        Ok((
            BufWriter::with_capacity(64 * 1024, WritebackFile::new(temp)),
            lease,
        ))
    }

    /// Writes `bytes` as a blob and returns its digest.
    ///
    /// # Errors
    ///
    /// The errors of [`begin_blob`](Store::begin_blob) and [`BlobWriter::commit`].
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        // A blob already there has these bytes: rewriting it would only cost an fsync
        // (an unchanged rebuild writes its config and manifest again).
        let digest = sha256(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut blob = self.begin_blob()?;
        blob.write_all(bytes)
            .map_err(|source| StoreError::WriteBlob { source })?;
        Ok(blob.commit()?.0)
    }

    /// Where the blob with `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_ref())
            .join(digest.digest())
    }

    /// Whether the blob with `digest` is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The size of the blob with `digest`.
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobMissing`] when it is not in the store, [`StoreError::ReadBlob`]
    /// when it cannot be examined.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(metadata) => Ok(metadata.len()),
            Err(source) => Err(blob_error(digest, source)),
        }
    }

    /// Opens the blob with `digest` for reading, fetched first when the store only
    /// remembers where it is (see [`Store::ensure_blob`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobMissing`] when it is not in the store, [`StoreError::ReadBlob`]
    /// when it cannot be opened, [`StoreError::FetchRemote`] when it cannot be fetched.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        match File::open(self.blob_path(digest)) {
            Err(source) if source.kind() == io::ErrorKind::NotFound => {
                self.ensure_blob(digest)?;
                File::open(self.blob_path(digest)).map_err(|source| blob_error(digest, source))
            }
            opened => opened.map_err(|source| blob_error(digest, source)),
        }
    }

    /// Removes the blob with `digest` (one that is not what it should be); one not in
    /// the store is fine.
    ///
    /// # Errors
    ///
    /// [`StoreError::Remove`] when it cannot be removed.
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Err(source) if source.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::Remove { path, source })
            }
            _ => Ok(()),
        }
    }

    /// Reads a small blob (a manifest, an index, a config) whole and checks its digest.
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobTooLarge`] above [`JSON_LIMIT`], [`StoreError::BlobCorrupt`] when
    /// the content does not match the digest, and the errors of
    /// [`open_blob`](Store::open_blob).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let file = self.open_blob(digest)?;
        let read = |source| StoreError::ReadBlob {
            digest: digest.clone(),
            source,
        };
        let size = file.metadata().map_err(read)?.len();
        if size > JSON_LIMIT {
            return Err(StoreError::BlobTooLarge {
                digest: digest.clone(),
                size,
                limit: JSON_LIMIT,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(JSON_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        let actual = sha256(&bytes);
        if actual != *digest && digest.algorithm().as_ref() == "sha256" {
            return Err(StoreError::BlobCorrupt {
                digest: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

/// The error for a blob that cannot be opened: missing or unreadable.
fn blob_error(digest: &Digest, source: io::Error) -> StoreError {
    if source.kind() == io::ErrorKind::NotFound {
        StoreError::BlobMissing {
            digest: digest.clone(),
        }
    } else {
        StoreError::ReadBlob {
            digest: digest.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        (dir, store)
    }

    fn temps(store: &Store) -> usize {
        fs::read_dir(store.tmp_root()).expect("tmp").count()
    }

    #[test]
    fn put_and_read_a_blob() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let digest = store.put_blob(b"{}")?;
        assert_eq!(
            digest.to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(store.has_blob(&digest));
        assert_eq!(store.read_blob(&digest)?, b"{}");
        assert_eq!(store.blob_size(&digest)?, 2);
        assert_eq!(temps(&store), 0);
        Ok(())
    }

    #[test]
    fn dropped_writer_leaves_nothing() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let mut blob = store.begin_blob()?;
        blob.write_all(b"half").expect("write");
        assert_eq!(temps(&store), 1);
        drop(blob);
        assert_eq!(temps(&store), 0);
        assert!(!store.has_blob(&sha256(b"half")));
        Ok(())
    }

    #[test]
    fn verified_commit_refuses_a_mismatch() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let mut blob = store.begin_blob()?;
        blob.write_all(b"tampered").expect("write");
        let err = blob.commit_verified(&sha256(b"original")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "blob content has digest `{}`, expected `{}`",
                sha256(b"tampered"),
                sha256(b"original")
            )
        );
        assert_eq!(temps(&store), 0);
        assert!(!store.has_blob(&sha256(b"tampered")));
        Ok(())
    }

    #[test]
    fn unhashed_blob_is_stored_under_the_given_digest() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let mut blob = store.begin_unhashed_blob()?;
        blob.write_all(b"[3]").expect("write");
        let digest = sha256(b"[3]");
        blob.commit_as(&digest)?;
        assert_eq!(store.read_blob(&digest)?, b"[3]");
        assert_eq!(temps(&store), 0);
        Ok(())
    }

    #[test]
    fn missing_and_corrupt_blobs_are_errors() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let digest = store.put_blob(b"[1]")?;
        fs::write(store.blob_path(&digest), b"[2]").expect("corrupt it");
        assert!(matches!(
            store.read_blob(&digest),
            Err(StoreError::BlobCorrupt { .. })
        ));
        let missing = sha256(b"nothing");
        assert_eq!(
            store.open_blob(&missing).unwrap_err().to_string(),
            format!("blob `{missing}` is not in the store")
        );
        Ok(())
    }
}
