//! Blobs the store knows of without holding them: layers of a cache artifact that a
//! build took into an image without downloading them (lazy layers).
//!
//! A [`RemoteBlob`] record (`records/remote-blobs/<hex>`) names where such a blob is and
//! what it holds. It lives as long as an image or a record references the digest, and
//! keeps nothing from prune. Reading the blob ([`Store::open_blob`] and everything built
//! on it) fetches it first, through the [`BlobFetcher`] the store's user installed with
//! [`Store::set_fetcher`]: the store does not know registries, which know the store.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The store namespace of remote blob records.
const NAMESPACE: &str = "remote-blobs";

/// Where a blob the store does not hold is, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteBlob {
    /// The reference of the repository that has it (`registry.example/app:cache`).
    pub source: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// For a layer, the digest of its uncompressed tar that the record claims, checked
    /// when the blob is fetched.
    pub diff_id: Option<Digest>,
}

impl RemoteBlob {
    /// The blob's descriptor.
    pub fn descriptor(&self, digest: &Digest) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.size,
            digest.clone(),
        )
    }
}

/// What fetches remote blobs into a store.
pub trait BlobFetcher: Send + Sync {
    /// Brings the blob `digest`, which `remote` describes, into `store`, verified.
    ///
    /// # Errors
    ///
    /// Why it could not be had (the repository is gone, access is denied, the bytes
    /// are not what the record says).
    fn fetch(
        &self,
        store: &Store,
        digest: &Digest,
        remote: &RemoteBlob,
    ) -> Result<(), Box<dyn Error + Send + Sync>>;
}

/// The fetcher of a store and its clones.
#[derive(Clone, Default)]
pub(super) struct FetcherSlot(Arc<RwLock<Option<Arc<dyn BlobFetcher>>>>);

impl fmt::Debug for FetcherSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FetcherSlot")
    }
}

impl Store {
    /// Fetches remote blobs with `fetcher` from now on, in this store and its clones
    /// (replacing the fetcher set before).
    pub fn set_fetcher(&self, fetcher: Arc<dyn BlobFetcher>) {
        *self
            .fetcher
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(fetcher);
    }

    /// Remembers that the blob `digest`, not in the store, is where `remote` says.
    ///
    /// # Errors
    ///
    /// The store's, when the record cannot be written.
    pub fn remember_remote(&self, digest: &Digest, remote: &RemoteBlob) -> Result<(), StoreError> {
        self.records(NAMESPACE)?.put_referenced(
            digest.digest(),
            remote,
            std::slice::from_ref(digest),
        )
    }

    /// Where the blob `digest` is remembered to be, if it is; an unreadable record is
    /// none.
    pub fn remote_blob(&self, digest: &Digest) -> Option<RemoteBlob> {
        self.records(NAMESPACE)
            .ok()?
            .get(digest.digest())
            .ok()
            .flatten()
    }

    /// Forgets where the blob `digest` is (its bytes were not what they should be).
    ///
    /// # Errors
    ///
    /// The store's, when the record cannot be removed.
    pub fn forget_remote(&self, digest: &Digest) -> Result<(), StoreError> {
        self.records(NAMESPACE)?.remove(digest.digest()).map(drop)
    }

    /// Whether the blob `digest` is in the store, or remembered to be elsewhere.
    pub fn knows_blob(&self, digest: &Digest) -> bool {
        self.has_blob(digest) || self.remote_blob(digest).is_some()
    }

    /// Makes sure the blob `digest` is in the store, fetching it when it is remembered
    /// to be elsewhere.
    ///
    /// # Errors
    ///
    /// [`StoreError::BlobMissing`] when it is neither here nor remembered elsewhere,
    /// [`StoreError::FetchRemote`] when it cannot be fetched.
    pub fn ensure_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let Some(remote) = self.remote_blob(digest) else {
            return Err(StoreError::BlobMissing {
                digest: digest.clone(),
            });
        };
        let fetcher = self
            .fetcher
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let failed = |source| StoreError::FetchRemote {
            digest: digest.clone(),
            source_name: remote.source.clone(),
            source,
        };
        let fetcher = fetcher.ok_or_else(|| failed("this store has no fetcher set".into()))?;
        fetcher.fetch(self, digest, &remote).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use oci_spec::image::{ImageManifestBuilder, SCHEMA_VERSION};

    use super::*;
    use crate::digest::sha256;

    /// Fetches by writing `bytes`, counting its calls.
    struct Fetcher {
        bytes: &'static [u8],
        calls: AtomicUsize,
    }

    impl BlobFetcher for Fetcher {
        fn fetch(
            &self,
            store: &Store,
            _: &Digest,
            _: &RemoteBlob,
        ) -> Result<(), Box<dyn Error + Send + Sync>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            store.put_blob(self.bytes)?;
            Ok(())
        }
    }

    fn remote() -> RemoteBlob {
        RemoteBlob {
            source: "registry.example/app:cache".to_owned(),
            media_type: "application/vnd.oci.image.layer.v1.tar".to_owned(),
            size: 5,
            diff_id: None,
        }
    }

    #[test]
    fn a_remote_blob_is_fetched_once_when_first_read() -> Result<(), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let digest = sha256(b"layer");
        store.remember_remote(&digest, &remote())?;
        assert!(!store.has_blob(&digest) && store.knows_blob(&digest));
        let error = store.read_blob(&digest).unwrap_err();
        assert_eq!(
            crate::exec::error_chain(&error),
            format!(
                "failed to fetch blob `{digest}` from `registry.example/app:cache`: this store has no fetcher set"
            )
        );

        let fetcher = Arc::new(Fetcher {
            bytes: b"layer",
            calls: AtomicUsize::new(0),
        });
        store.set_fetcher(fetcher.clone());
        assert_eq!(store.clone().read_blob(&digest)?, b"layer");
        assert_eq!(store.read_blob(&digest)?, b"layer");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        Ok(())
    }

    #[test]
    fn prune_keeps_a_remote_record_while_an_image_references_it() -> Result<(), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let layer = remote().descriptor(&sha256(b"layer"));
        store.remember_remote(layer.digest(), &remote())?;
        let config = store.put_blob(b"{}")?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, 2, config))
            .layers(vec![layer.clone()])
            .build()?;
        let bytes = serde_json::to_vec(&manifest)?;
        let image = Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            store.put_blob(&bytes)?,
        );
        store.tag(&"app:1".parse()?, &image)?;
        store.prune(&[])?;
        assert!(store.remote_blob(layer.digest()).is_some());
        store.remove_image("app:1", false)?;
        store.prune(&[])?;
        assert_eq!(store.remote_blob(layer.digest()), None);
        Ok(())
    }
}
