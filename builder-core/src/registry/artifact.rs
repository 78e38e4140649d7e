//! Single manifests and blobs of a registry, fetched one at a time: what reading a
//! cache artifact takes, where [`pull`](super::pull) would bring a whole image.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::events::Events;
use crate::net::Watch;
use crate::plan::Reference;
use crate::spec::{is_attestation, media_type};
use crate::store::Store;

use super::RegistryError;
use super::client::Client;
use super::origins;
use super::repository::Repository;

/// The image manifest `reference` names (by digest, else by tag, else `latest`),
/// verified against its digest. An index holding one image manifest beside attestation
/// manifests (what a push with provenance makes) stands for that manifest; another index
/// is refused: an artifact, or an image with inline records, is one manifest.
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
    let get = |target: &str| {
        Watch::run(events, notice, |watch| {
            Repository::new(client, reference, false, watch).get_manifest(target)
        })
    };
    let mut fetched = get(&target)?;
    if media_type::is_index(&fetched.media_type) {
        let only = only_image(reference, &fetched.bytes)?;
        fetched = get(only.digest().as_ref())?;
    }
    if !media_type::is_manifest(&fetched.media_type) {
        return Err(unsupported(reference, fetched.media_type).into());
    }
    Ok(parse(reference, &fetched.bytes)?)
}

/// The one entry of the index `bytes` that is not an attestation manifest.
fn only_image(reference: &Reference, bytes: &[u8]) -> Result<Descriptor, RegistryError> {
    let index: ImageIndex = parse(reference, bytes)?;
    let mut images = index
        .manifests()
        .iter()
        .filter(|entry| !is_attestation(entry));
    match (images.next(), images.next()) {
        (Some(image), None) => Ok(image.clone()),
        _ => Err(unsupported(reference, index_media_type(&index))),
    }
}

/// The media type `index` says it has, OCI's when it says none.
fn index_media_type(index: &ImageIndex) -> String {
    index
        .media_type()
        .as_ref()
        .map_or_else(|| media_type::OCI_INDEX.to_owned(), ToString::to_string)
}

/// What is not one image manifest.
fn unsupported(reference: &Reference, media_type: String) -> RegistryError {
    RegistryError::UnsupportedManifest {
        reference: reference.to_string(),
        media_type,
    }
}

/// `bytes` as JSON of `T`, a parse error naming `reference` otherwise.
fn parse<T: serde::de::DeserializeOwned>(
    reference: &Reference,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| RegistryError::ParseManifest {
        reference: reference.to_string(),
        source,
    })
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
