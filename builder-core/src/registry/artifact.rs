//! Single manifests and blobs of a registry, fetched one at a time: what reading a
//! cache artifact takes, where [`pull`](super::pull) would bring a whole image.

use oci_spec::image::{Descriptor, ImageManifest};

use crate::events::Events;
use crate::net::Watch;
use crate::plan::Reference;
use crate::spec::media_type;
use crate::store::Store;

use super::RegistryError;
use super::client::Client;
use super::origins;
use super::repository::Repository;

/// The image manifest `reference` names (by digest, else by tag, else `latest`),
/// verified against its digest. An index is refused: an artifact is one manifest.
///
/// # Errors
///
/// [`RegistryError`]s for the registry's answers (unknown manifest, denied access, no
/// answer), [`RegistryError::UnsupportedManifest`] for what is not an image manifest,
/// [`RegistryError::ParseManifest`] for one that does not parse.
pub fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    events: &dyn Events,
) -> crate::Result<ImageManifest> {
    let target = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    let notice = client.http().options().notice();
    let fetched = Watch::run(events, notice, |watch| {
        Repository::new(client, reference, false, watch).get_manifest(&target)
    })?;
    if !media_type::is_manifest(&fetched.media_type) {
        return Err(RegistryError::UnsupportedManifest {
            reference: reference.to_string(),
            media_type: fetched.media_type,
        }
        .into());
    }
    let manifest =
        serde_json::from_slice(&fetched.bytes).map_err(|source| RegistryError::ParseManifest {
            reference: reference.to_string(),
            source,
        })?;
    Ok(manifest)
}

/// Downloads the blob `descriptor` names from the repository of `reference` into the
/// store, unless it is there; verified against its size and digest before it is kept.
/// The store remembers the repository, from which a push to another repository of the
/// registry mounts the blob. Returns whether it was downloaded.
///
/// # Errors
///
/// [`RegistryError`]s for the registry's answers and a blob of another size,
/// [`StoreError::DigestMismatch`](crate::store::StoreError::DigestMismatch) for one of
/// another digest, and the store's errors.
pub fn fetch_blob(
    client: &Client,
    reference: &Reference,
    store: &Store,
    descriptor: &Descriptor,
    events: &dyn Events,
) -> crate::Result<bool> {
    let notice = client.http().options().notice();
    let downloaded = Watch::run(events, notice, |watch| {
        Repository::new(client, reference, false, watch).download(store, descriptor, events)
    })?;
    origins::remember(store, descriptor.digest(), reference)?;
    Ok(downloaded)
}
