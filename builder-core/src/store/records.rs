//! Small records in named namespaces (the build cache), each declaring the blobs it keeps.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use oci_spec::image::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, check_name};
use crate::atomic::{self, TEMP_PREFIX};

/// A namespace of records: `<root>/records/<namespace>/<key>`, each a JSON file holding a
/// value and the blob digests it references, which [`Store::prune`] keeps.
///
/// Writes are atomic. A record that is missing, cut short or not of the expected shape
/// reads as `None`: a record is a hint (a cache entry), never the only copy of anything.
#[derive(Debug, Clone)]
pub struct Records {
    store: Store,
    dir: PathBuf,
}

/// What [`Records::list`] tells about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    /// The record's key.
    pub key: String,
    /// When it was last written.
    pub modified: SystemTime,
}

/// A record file: the value, the blobs it keeps alive, those it lives as long as, and
/// those it lives as long as something references.
#[derive(Serialize)]
struct RecordOut<'a, T> {
    roots: &'a [Digest],
    #[serde(skip_serializing_if = "<[Digest]>::is_empty")]
    weak: &'a [Digest],
    #[serde(skip_serializing_if = "<[Digest]>::is_empty")]
    referenced: &'a [Digest],
    value: &'a T,
}

#[derive(Deserialize)]
struct RecordIn<T> {
    value: T,
}

/// The roots of a record, read by prune without knowing the value's type.
#[derive(Deserialize)]
pub(super) struct RecordRoots {
    pub(super) roots: Vec<Digest>,
    /// Blobs the record lives as long as, without keeping them (see [`Records::put_weak`]).
    #[serde(default)]
    pub(super) weak: Vec<Digest>,
    /// Digests the record lives as long as an image or a record references, whether
    /// their blobs are in the store or not (see [`Records::put_referenced`]).
    #[serde(default)]
    pub(super) referenced: Vec<Digest>,
}

impl Store {
    /// The records of `namespace` (created if missing).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidName`] when `namespace` is not a plain file name,
    /// [`StoreError::CreateLayout`] when its directory cannot be created.
    pub fn records(&self, namespace: &str) -> Result<Records, StoreError> {
        check_name("record namespace", namespace)?;
        let dir = self.root.join("records").join(namespace);
        super::access::create_dir(&dir).map_err(|source| StoreError::CreateLayout {
            path: dir.clone(),
            source,
        })?;
        Ok(Records {
            store: self.clone(),
            dir,
        })
    }
}

impl Records {
    /// Writes the record `key` (replacing any), keeping the blobs `roots` from prune for
    /// as long as the record exists.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidName`] for a key that is not a plain file name,
    /// [`StoreError::EncodeRecord`] when `value` cannot be encoded as JSON,
    /// [`StoreError::WriteFile`] when the file cannot be written.
    pub fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        roots: &[Digest],
    ) -> Result<(), StoreError> {
        self.write(key, value, roots, &[], &[])
    }

    /// Writes the record `key` (replacing any), which lives only as long as the blobs
    /// `refers_to`: it keeps none of them from prune, and prune removes it once one of
    /// them is gone. It is no cache entry for [`PruneOptions::keep_storage`].
    ///
    /// # Errors
    ///
    /// As [`Records::put`].
    ///
    /// [`PruneOptions::keep_storage`]: super::PruneOptions::keep_storage
    pub fn put_weak<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        refers_to: &[Digest],
    ) -> Result<(), StoreError> {
        self.write(key, value, &[], refers_to, &[])
    }

    /// Writes the record `key` (replacing any), which lives as long as an image or
    /// another record references each of `digests`, whose blobs need not be in the
    /// store (a layer known to be in a registry): it keeps none of them from prune, and
    /// prune removes it once one of them is referenced no more.
    ///
    /// # Errors
    ///
    /// As [`Records::put`].
    pub fn put_referenced<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        digests: &[Digest],
    ) -> Result<(), StoreError> {
        self.write(key, value, &[], &[], digests)
    }

    fn write<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        roots: &[Digest],
        weak: &[Digest],
        referenced: &[Digest],
    ) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let record = RecordOut {
            roots,
            weak,
            referenced,
            value,
        };
        let bytes = serde_json::to_vec(&record).map_err(|source| StoreError::EncodeRecord {
            key: key.to_owned(),
            source,
        })?;
        // The lease keeps prune from running between the blobs being written and the
        // record naming them.
        let _lease = self.store.lease()?;
        atomic::write(&path, &bytes).map_err(|source| StoreError::WriteFile { path, source })
    }

    /// Reads the record `key`; `None` when it is missing or unreadable as a `T`. A record
    /// read is marked used now (its mtime), so [`Store::prune_with`] trims the least
    /// recently used records first.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidName`] for a key that is not a plain file name,
    /// [`StoreError::ReadRecord`] when the file exists but cannot be read.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => {
                let value = serde_json::from_slice::<RecordIn<T>>(&bytes)
                    .ok()
                    .map(|record| record.value);
                if value.is_some() {
                    // Best effort: a record whose time cannot be set only looks older to
                    // prune, which is no reason to fail a cache hit.
                    let _ = fs::File::open(&path)
                        .and_then(|file| file.set_modified(std::time::SystemTime::now()));
                }
                Ok(value)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::ReadRecord { path, source }),
        }
    }

    /// Removes the record `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidName`] for a key that is not a plain file name,
    /// [`StoreError::Remove`] when it cannot be removed.
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(StoreError::Remove { path, source }),
        }
    }

    /// Every record of the namespace, sorted by key.
    ///
    /// # Errors
    ///
    /// [`StoreError::ListDir`] when the namespace cannot be listed.
    pub fn list(&self) -> Result<Vec<RecordInfo>, StoreError> {
        let list = |source| StoreError::ListDir {
            path: self.dir.clone(),
            source,
        };
        let mut records = Vec::new();
        for dirent in fs::read_dir(&self.dir).map_err(list)? {
            let dirent = dirent.map_err(list)?;
            let Some(key) = dirent.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if key.starts_with(TEMP_PREFIX) || check_name("record key", &key).is_err() {
                continue;
            }
            // A record removed since the listing began is simply not listed.
            let Ok(modified) = dirent.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            records.push(RecordInfo { key, modified });
        }
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_name("record key", key)?;
        Ok(self.dir.join(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Hit {
        layer: String,
        size: u64,
    }

    #[test]
    fn put_get_list_remove() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = Store::open(dir.path())?.records("cache")?;
        assert_eq!(records.get::<Hit>("k1")?, None);
        let hit = Hit {
            layer: "a".into(),
            size: 3,
        };
        records.put("k1", &hit, &[crate::digest::sha256(b"a")])?;
        records.put("k0", &hit, &[])?;
        assert_eq!(records.get::<Hit>("k1")?, Some(hit));
        let keys: Vec<String> = records.list()?.into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["k0", "k1"]);
        assert!(records.remove("k1")?);
        assert!(!records.remove("k1")?);
        assert_eq!(records.get::<Hit>("k1")?, None);
        Ok(())
    }

    #[test]
    fn corrupt_records_read_as_none() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = Store::open(dir.path())?.records("cache")?;
        records.put("k", &7_u32, &[])?;
        assert_eq!(records.get::<u32>("k")?, Some(7));
        assert_eq!(records.get::<String>("k")?, None);
        fs::write(dir.path().join("records/cache/k"), b"{\"roots\":[],\"val").expect("cut");
        assert_eq!(records.get::<u32>("k")?, None);
        Ok(())
    }

    #[test]
    fn a_weak_record_keeps_no_blob_and_goes_with_it() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path())?;
        let (kept, loose) = (store.put_blob(b"kept")?, store.put_blob(b"loose")?);
        let cache = store.records("cache")?;
        cache.put("root", &1, std::slice::from_ref(&kept))?;
        let hints = store.records("hints")?;
        hints.put_weak("on-kept", &2, std::slice::from_ref(&kept))?;
        hints.put_weak("on-loose", &3, std::slice::from_ref(&loose))?;

        let pruned = store.prune(&[])?;
        assert_eq!(pruned.blobs, [loose]);
        assert_eq!((pruned.records, pruned.trimmed), (0, 0));
        assert_eq!(hints.get::<u32>("on-kept")?, Some(2));
        assert_eq!(hints.get::<u32>("on-loose")?, None);
        assert_eq!(hints.list()?.len(), 1);

        // Trimming the cache to nothing counts and removes only the cache record; the
        // weak one goes with the blob.
        let pruned = store.prune_with(
            &crate::store::PruneOptions {
                keep_storage: Some(0),
            },
            &[],
        )?;
        assert_eq!(pruned.trimmed, 1);
        assert_eq!(pruned.blobs, [kept]);
        assert!(hints.list()?.is_empty());
        Ok(())
    }

    #[test]
    fn keys_must_be_file_names() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = Store::open(dir.path())?.records("cache")?;
        assert_eq!(
            records.put("../escape", &1, &[]).unwrap_err().to_string(),
            "invalid record key `../escape`: use letters, digits, `.`, `_` and `-`, not starting with `.`"
        );
        Ok(())
    }
}
