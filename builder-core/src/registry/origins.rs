//! Where blobs of the store came from: the registry repositories a blob was fetched
//! from, so that a push to another repository of the same registry mounts it rather
//! than uploading its bytes (a layer taken from a cache artifact, pushed with the image).
//!
//! Each origin is a record that lives as long as its blob and keeps nothing from prune.
//! A blob not fetched yet has its [`RemoteBlob`](crate::store::RemoteBlob) record instead.

use oci_spec::image::Digest;

use crate::plan::Reference;
use crate::store::{Store, StoreError};

/// The store namespace of blob origins.
const NAMESPACE: &str = "blob-origins";

/// Remembers that the blob `digest` is in the repository of `reference`.
///
/// # Errors
///
/// The store's, when the record cannot be read or written.
pub(crate) fn remember(
    store: &Store,
    digest: &Digest,
    reference: &Reference,
) -> Result<(), StoreError> {
    let records = store.records(NAMESPACE)?;
    let name = format!("{}/{}", reference.domain(), reference.path());
    let mut names: Vec<String> = records.get(digest.digest())?.unwrap_or_default();
    if names.contains(&name) {
        return Ok(());
    }
    names.push(name);
    records.put_weak(digest.digest(), &names, std::slice::from_ref(digest))
}

/// The repositories of the registry of `destination`, other than its own, that the
/// blob `digest` was fetched from (their paths).
pub(crate) fn mount_paths(store: &Store, digest: &Digest, destination: &Reference) -> Vec<String> {
    let Ok(records) = store.records(NAMESPACE) else {
        return Vec::new();
    };
    // An unreadable origin only narrows where the blob may be mounted from.
    let mut names: Vec<String> = records
        .get(digest.digest())
        .ok()
        .flatten()
        .unwrap_or_default();
    // A layer the store may not have fetched is where it is remembered to be: tried
    // first, as only a mount from there sends it without reading it.
    let remote = store.remote_blob(digest);
    if let Some(reference) = remote.and_then(|remote| remote.source.parse::<Reference>().ok()) {
        names.insert(0, format!("{}/{}", reference.domain(), reference.path()));
    }
    names
        .iter()
        .filter_map(|name| name.split_once('/'))
        .filter(|(domain, path)| *domain == destination.domain() && *path != destination.path())
        .map(|(_, path)| path.to_owned())
        .collect()
}
