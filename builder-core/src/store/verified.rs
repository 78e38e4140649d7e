//! Reading a blob with its digest checked as the bytes flow, in the same pass as whoever
//! consumes them (an archive writer, an upload, a decompressor).
//!
//! A blob is named by its digest, but the file holding it can change on disk (a failing
//! disk, a hand edit). [`VerifiedBlob`] hashes what it hands out and, on the read that
//! would hand out the blob's last bytes, compares: when the content does not have the
//! blob's digest, that read fails instead, so a consumer never sees the whole of a
//! corrupt blob. An archive then lacks the rest of its entries and an upload its last
//! bytes, and neither can look complete. A blob cut short or grown since it was opened
//! has another digest too.
//!
//! [`Store::remove_if_corrupt`] reads a blob whole to tell whether it is corrupt, and
//! removes it when it is, for a reader that found it suspect (see `layer::Reuse`): what
//! uses it later then finds it missing (a cache record whose layer is gone is a miss, a
//! pull fetches it again) rather than reading bytes that are not its content.

use std::fs::{self, File};
use std::io::{self, Read, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use crate::digest::digest_of;

use super::{Store, StoreError};

/// A blob of the store being read; read through a digest check, as `store/verified.rs` explains.
#[derive(Debug)]
pub struct VerifiedBlob {
    file: File,
    digest: Digest,
    /// The size when the blob was opened: what is read, and where it is checked.
    size: u64,
    read: u64,
    hasher: Sha256,
    /// The digest of the content, once all of it was read.
    actual: Option<Digest>,
}

/// Where a [`VerifiedBlob`] stands, to come back to with [`VerifiedBlob::rewind`].
#[derive(Debug, Clone)]
pub struct Checkpoint {
    read: u64,
    hasher: Sha256,
}

impl Store {
    /// Opens the blob `digest` for reading, verified as it is read (see [`VerifiedBlob`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobMissing`] when it is not in the store, [`StoreError::ReadBlob`]
    /// when it cannot be opened.
    pub fn open_verified(&self, digest: &Digest) -> Result<VerifiedBlob, StoreError> {
        let file = self.open_blob(digest)?;
        let size = file
            .metadata()
            .map_err(|source| StoreError::ReadBlob {
                digest: digest.clone(),
                source,
            })?
            .len();
        Ok(VerifiedBlob {
            file,
            digest: digest.clone(),
            size,
            read: 0,
            hasher: Sha256::new(),
            actual: None,
        })
    }

    /// Reads the blob `digest` whole and removes it when its content does not have its
    /// digest; returns that corruption ([`StoreError::BlobCorrupt`]), or `None` for an
    /// intact blob.
    ///
    /// Only the file read is removed: a blob written again since (a build or a pull of the
    /// same digest renames a new file there) is kept.
    ///
    /// # Errors
    ///
    /// The errors of [`open_verified`](Store::open_verified), [`StoreError::ReadBlob`]
    /// when it cannot be read and [`StoreError::Remove`] when it cannot be removed.
    pub fn remove_if_corrupt(&self, digest: &Digest) -> Result<Option<StoreError>, StoreError> {
        let mut blob = self.open_verified(digest)?;
        let corrupt = match blob.finish() {
            Ok(()) => return Ok(None),
            Err(corrupt @ StoreError::BlobCorrupt { .. }) => corrupt,
            Err(error) => return Err(error),
        };
        let read = blob
            .file
            .metadata()
            .map_err(|source| StoreError::ReadBlob {
                digest: digest.clone(),
                source,
            })?;
        let path = self.blob_path(digest);
        let gone = |result: io::Result<()>| match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Remove {
                path: path.clone(),
                source: e,
            }),
            _ => Ok(()),
        };
        match fs::symlink_metadata(&path) {
            Ok(now) if now.dev() == read.dev() && now.ino() == read.ino() => {
                gone(fs::remove_file(&path))?;
            }
            Ok(_) => {}
            Err(e) => gone(Err(e))?,
        }
        Ok(Some(corrupt))
    }

    /// Reads the blob `digest` with `read` and checks its digest, reading whatever `read`
    /// left of it (a decompressor stops at its end marker): the result of `read` is only
    /// returned for a blob whose content has its digest, and a corrupt blob is reported as
    /// [`StoreError::BlobCorrupt`] even when `read` failed first on what it read.
    ///
    /// # Errors
    ///
    /// The errors of [`open_verified`](Store::open_verified), those of `read`,
    /// [`StoreError::BlobCorrupt`] and [`StoreError::ReadBlob`].
    pub fn read_verified<T, E: From<StoreError>>(
        &self,
        digest: &Digest,
        read: impl FnOnce(&mut VerifiedBlob) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut blob = self.open_verified(digest)?;
        let result = read(&mut blob);
        match (result, blob.finish()) {
            (_, Err(corrupt @ StoreError::BlobCorrupt { .. })) => Err(corrupt.into()),
            (Err(error), _) => Err(error),
            (Ok(_), Err(error)) => Err(error.into()),
            (Ok(value), Ok(())) => Ok(value),
        }
    }
}

impl VerifiedBlob {
    /// The blob's size, as it was when opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where reading stands now.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            read: self.read,
            hasher: self.hasher.clone(),
        }
    }

    /// Goes back to `checkpoint`, to read the bytes from there again (a retried request).
    ///
    /// # Errors
    ///
    /// When the file cannot seek.
    pub fn rewind(&mut self, checkpoint: &Checkpoint) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(checkpoint.read))?;
        self.read = checkpoint.read;
        self.hasher = checkpoint.hasher.clone();
        self.actual = None;
        Ok(())
    }

    /// The error for a blob whose content, read to its end, does not have its digest;
    /// `None` while it is not read to the end, or when it matches.
    pub fn corruption(&self) -> Option<StoreError> {
        let actual = self.actual.as_ref().filter(|a| **a != self.digest)?;
        Some(StoreError::BlobCorrupt {
            digest: self.digest.clone(),
            actual: actual.clone(),
        })
    }

    /// Reads the rest of the blob and checks its digest.
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobCorrupt`] when the content does not have the blob's digest,
    /// [`StoreError::ReadBlob`] when the file cannot be read.
    pub fn finish(&mut self) -> Result<(), StoreError> {
        match io::copy(self, &mut io::sink()) {
            Ok(_) => Ok(()),
            Err(source) => Err(self.corruption().unwrap_or(StoreError::ReadBlob {
                digest: self.digest.clone(),
                source,
            })),
        }
    }

    /// At the end: checks the content once, then answers end of file or the corruption.
    fn end(&mut self) -> io::Result<usize> {
        let hasher = &self.hasher;
        self.actual.get_or_insert_with(|| digest_of(hasher.clone()));
        match self.corruption() {
            None => Ok(0),
            Some(corrupt) => Err(io::Error::new(io::ErrorKind::InvalidData, corrupt)),
        }
    }
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.size - self.read;
        if left == 0 {
            return self.end();
        }
        let len = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..len])?;
        if n == 0 {
            // Cut short since it was opened: the content read is all there is.
            self.size = self.read;
            return self.end();
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read == self.size {
            // The last bytes are handed out only with the content checked.
            self.end()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::digest::sha256;

    fn store_with(content: &[u8]) -> (tempfile::TempDir, Store, Digest) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        let digest = store.put_blob(content).expect("put");
        (dir, store, digest)
    }

    /// Reads `blob` in reads of at most `step` bytes until an error or the end.
    fn read_all(blob: &mut VerifiedBlob, step: usize) -> (Vec<u8>, io::Result<()>) {
        let mut out = Vec::new();
        let mut buf = vec![0; step];
        loop {
            match blob.read(&mut buf) {
                Ok(0) => return (out, Ok(())),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    #[test]
    fn an_intact_blob_reads_whole() -> Result<(), StoreError> {
        let content: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        let (_dir, store, digest) = store_with(&content);
        let mut blob = store.open_verified(&digest)?;
        assert_eq!(blob.size(), 100_000);
        let (read, end) = read_all(&mut blob, 4096);
        assert!(end.is_ok());
        assert_eq!(read, content);
        assert!(blob.corruption().is_none());
        blob.finish()?;
        let (_dir, store, empty) = store_with(b"");
        store.open_verified(&empty)?.finish()
    }

    #[test]
    fn a_changed_blob_withholds_its_last_bytes() -> Result<(), StoreError> {
        let (_dir, store, digest) = store_with(b"0123456789");
        fs::write(store.blob_path(&digest), b"0123456780").expect("flip a byte");
        let mut blob = store.open_verified(&digest)?;
        let (read, end) = read_all(&mut blob, 4);
        assert_eq!(read, b"01234567", "the last read is withheld");
        let error = end.unwrap_err();
        let expected = format!(
            "blob `{digest}` is corrupt: its content has digest `{}`",
            sha256(b"0123456780")
        );
        assert_eq!(error.to_string(), expected);
        // Asked again, it still does not end cleanly.
        assert!(blob.read(&mut [0; 4]).is_err());
        assert_eq!(blob.finish().unwrap_err().to_string(), expected);
        Ok(())
    }

    #[test]
    fn a_cut_blob_is_corrupt() -> Result<(), StoreError> {
        let (_dir, store, digest) = store_with(b"0123456789");
        let mut blob = store.open_verified(&digest)?;
        // Cut after it was opened, and before.
        fs::write(store.blob_path(&digest), b"01234").expect("truncate");
        assert!(matches!(
            blob.finish(),
            Err(StoreError::BlobCorrupt { actual, .. }) if actual == sha256(b"01234")
        ));
        let result = store.read_verified(&digest, |blob| -> Result<(), StoreError> {
            let mut first = [0; 2];
            blob.read_exact(&mut first).expect("two bytes");
            Ok(())
        });
        assert!(matches!(result, Err(StoreError::BlobCorrupt { .. })));
        Ok(())
    }

    // See: issue 13
    #[test]
    fn only_a_corrupt_blob_is_removed() -> Result<(), StoreError> {
        let (_dir, store, digest) = store_with(b"0123456789");
        assert!(store.remove_if_corrupt(&digest)?.is_none());
        assert!(store.has_blob(&digest));
        fs::write(store.blob_path(&digest), b"0123456780").expect("flip a byte");
        let corrupt = store.remove_if_corrupt(&digest)?.expect("corrupt");
        assert_eq!(
            corrupt.to_string(),
            format!(
                "blob `{digest}` is corrupt: its content has digest `{}`",
                sha256(b"0123456780")
            )
        );
        assert!(!store.has_blob(&digest));
        assert!(matches!(
            store.remove_if_corrupt(&digest),
            Err(StoreError::BlobMissing { .. })
        ));
        Ok(())
    }

    #[test]
    fn rewinding_reads_the_same_bytes_again() -> Result<(), StoreError> {
        let (_dir, store, digest) = store_with(b"0123456789");
        let mut blob = store.open_verified(&digest)?;
        let mut head = [0; 6];
        blob.read_exact(&mut head).expect("read");
        let mark = blob.checkpoint();
        let (tail, end) = read_all(&mut blob, 3);
        assert!(end.is_ok());
        blob.rewind(&mark).expect("rewind");
        assert_eq!(read_all(&mut blob, 100).0, tail);
        assert!(blob.corruption().is_none());
        Ok(())
    }
}
