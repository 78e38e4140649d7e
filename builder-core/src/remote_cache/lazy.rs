//! Lazy layers: a step that hits a registry cache's record takes the layer's descriptor
//! into its image without downloading it; the store remembers where the blob is
//! ([`RemoteBlob`]) and [`RegistryFetcher`] fetches it the first time its bytes are
//! read (a later `RUN` over it, `COPY --from` it, an output, `save`). A push to the
//! cache's registry mounts it from the cache's repository, never reading it.
//!
//! A fetched layer is checked twice: its bytes against its digest as they arrive, then
//! its uncompressed tar against the `diff_id` the record claims. A layer that fails the
//! second check fails what needed its bytes (the build is past the step that took it);
//! it is removed with the store's memory of where it is, and marked refused, so that
//! the records that name it, the store's and the cache's, miss from then on.

use std::error::Error;
use std::io;

use oci_spec::image::{Descriptor, Digest};

use crate::NoEvents;
use crate::digest::HashingReader;
use crate::layer::decompress;
use crate::plan::Reference;
use crate::registry::{Client, fetch_blob};
use crate::store::{BlobFetcher, RemoteBlob, Store, StoreError};

use super::RemoteCacheError;
use super::error::DiffIdMismatch;
use crate::exec::error_chain;

/// The store namespace of layers refused for not being what their records claim.
const REFUSED: &str = "refused-cache-layers";

/// Fetches remembered layers from their registries with a client (its credentials,
/// timeouts and retries).
pub struct RegistryFetcher {
    client: Client,
}

impl RegistryFetcher {
    /// A fetcher that reaches registries with `client`.
    pub fn new(client: Client) -> RegistryFetcher {
        RegistryFetcher { client }
    }
}

impl BlobFetcher for RegistryFetcher {
    fn fetch(
        &self,
        store: &Store,
        digest: &Digest,
        remote: &RemoteBlob,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        let reference: Reference = remote.source.parse()?;
        let descriptor = remote.descriptor(digest);
        fetch_blob(&self.client, &reference, store, &descriptor, &NoEvents)?;
        if let Some(diff_id) = &remote.diff_id
            && let Err(error) = check_diff_id(store, &remote.source, &descriptor, diff_id)
        {
            refuse(store, digest, &error)?;
            store.forget_remote(digest)?;
            store.remove_blob(digest)?;
            return Err(error.into());
        }
        Ok(())
    }
}

/// Marks the layer `digest` refused, for `error`.
fn refuse(store: &Store, digest: &Digest, error: &crate::Error) -> Result<(), StoreError> {
    let message = error_chain(error);
    store.records(REFUSED)?.put(digest.digest(), &message, &[])
}

/// Why the layer `digest` was refused before, if it was.
pub(super) fn refused(store: &Store, digest: &Digest) -> Option<String> {
    store.records(REFUSED).ok()?.get(digest.digest()).ok()?
}

/// Checks that the blob `layer` (in the store) uncompresses to a tar of `diff_id`.
///
/// # Errors
///
/// [`RemoteCacheError::DiffId`] when it does not, the errors of reading it.
pub(super) fn check_diff_id(
    store: &Store,
    source_name: &str,
    layer: &Descriptor,
    diff_id: &Digest,
) -> crate::Result<()> {
    let blob = io::BufReader::with_capacity(64 * 1024, store.open_blob(layer.digest())?);
    let tar = decompress(blob, Some(layer.media_type().to_string().as_str()))?;
    let mut hashing = HashingReader::new(tar);
    io::copy(&mut hashing, &mut io::sink()).map_err(|source| RemoteCacheError::ReadLayer {
        digest: layer.digest().clone(),
        source,
    })?;
    let (_, actual, _) = hashing.finish();
    if actual != *diff_id {
        return Err(RemoteCacheError::DiffId(Box::new(DiffIdMismatch {
            source_name: source_name.to_owned(),
            digest: layer.digest().clone(),
            expected: diff_id.clone(),
            actual,
        }))
        .into());
    }
    Ok(())
}
