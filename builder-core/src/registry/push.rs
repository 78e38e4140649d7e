//! Pushing an image from the store to a registry.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};

use crate::events::Events;
use crate::net::Watch;
use crate::plan::Reference;
use crate::spec::media_type;
use crate::store::{Store, StoreError};

use super::RegistryError;
use super::client::{Client, header, status_error};
use super::origins;
use super::parallel;
use super::repository::Repository;
use super::upload::Sent;

/// What [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The digest of the manifest (or index) pushed: the image's digest in the registry.
    pub digest: Digest,
    /// Blobs whose bytes were uploaded.
    pub uploaded: usize,
    /// Blobs the registry linked from another repository of its own.
    pub mounted: usize,
    /// Blobs the repository had already.
    pub existing: usize,
}

/// Pushes the image `image` names (a manifest, or an index and its manifests) from the
/// store to `destination`, tagged with its tag (or by digest when it has none).
///
/// Blobs go first, a few at a time: each is skipped when the repository has it
/// (`HEAD`), mounted when another repository of the same registry that the store has
/// images from may have it, else uploaded whole or, above
/// [`ClientOptions::chunk_size`](super::ClientOptions::chunk_size), in chunks. Then the
/// manifests, then the index. Pushing again changes nothing.
///
/// Every blob is verified as it is sent; a corrupt one is not committed, and no manifest
/// that references it is sent.
///
/// # Errors
///
/// [`RegistryError`]s for the registry's answers, [`RegistryError::MissingManifest`]
/// when a manifest of an index is not in the store (only one platform was pulled),
/// [`RegistryError::CorruptBlob`] when a blob of the image is corrupt in the store, and
/// the store's errors.
pub fn push(
    client: &Client,
    store: &Store,
    image: &Descriptor,
    destination: &Reference,
    events: &dyn Events,
) -> crate::Result<Pushed> {
    let notice = client.http().options().notice();
    Watch::run(events, notice, |watch| {
        let repository = Repository::new(client, destination, true, watch);
        push_to(&repository, store, image, destination)
    })
    .map_err(|error| match error {
        crate::Error::Store(corrupt @ StoreError::BlobCorrupt { .. }) => {
            RegistryError::CorruptBlob {
                image: destination.to_string(),
                source: Box::new(corrupt),
            }
            .into()
        }
        other => other,
    })
}

/// [`push`] to `repository`, its waits watched; a corrupt blob is reported as the
/// store's error.
fn push_to(
    repository: &Repository<'_>,
    store: &Store,
    image: &Descriptor,
    destination: &Reference,
) -> crate::Result<Pushed> {
    let events = repository.watch().events();
    let _lease = store.lease()?;
    let target = match (destination.tag(), destination.digest()) {
        (Some(tag), _) => tag.to_owned(),
        (None, Some(digest)) => digest.to_string(),
        (None, None) => "latest".to_owned(),
    };
    let sources = mount_sources(store, destination)?;
    let mut pushed = Pushed {
        digest: image.digest().clone(),
        uploaded: 0,
        mounted: 0,
        existing: 0,
    };
    let kind = image.media_type().to_string();
    if media_type::is_index(&kind) {
        let bytes = store.read_blob(image.digest())?;
        let index: ImageIndex = parse(image.digest(), &bytes)?;
        for manifest in index.manifests() {
            if !store.has_blob(manifest.digest()) {
                return Err(RegistryError::MissingManifest {
                    index: image.digest().clone(),
                    manifest: manifest.digest().clone(),
                }
                .into());
            }
            push_image(
                repository,
                store,
                manifest,
                destination,
                &sources,
                events,
                &mut pushed,
            )?;
            let digest = manifest.digest().to_string();
            let manifest_bytes = store.read_blob(manifest.digest())?;
            put_manifest(repository, &digest, &manifest_bytes, manifest)?;
        }
        put_manifest(repository, &target, &bytes, image)?;
    } else {
        push_image(
            repository,
            store,
            image,
            destination,
            &sources,
            events,
            &mut pushed,
        )?;
        put_manifest(
            repository,
            &target,
            &store.read_blob(image.digest())?,
            image,
        )?;
    }
    Ok(pushed)
}

/// Pushes the config and layers of the manifest `manifest` names.
fn push_image(
    repository: &Repository<'_>,
    store: &Store,
    manifest: &Descriptor,
    destination: &Reference,
    sources: &HashMap<Digest, Vec<String>>,
    events: &dyn Events,
    pushed: &mut Pushed,
) -> crate::Result<()> {
    let image: ImageManifest = parse(manifest.digest(), &store.read_blob(manifest.digest())?)?;
    let mut blobs = vec![image.config().clone()];
    blobs.extend(image.layers().iter().cloned());
    let threads = repository.client().options().concurrency;
    let sent = parallel::each(blobs, threads, |blob| {
        // A repository the blob was fetched from has it; one with an image of it may.
        let mut from = origins::mount_paths(store, blob.digest(), destination);
        from.extend(sources.get(blob.digest()).into_iter().flatten().cloned());
        repository.upload(store, &blob, &from, events)
    })?;
    for outcome in sent {
        match outcome {
            Sent::Exists => pushed.existing += 1,
            Sent::Mounted => pushed.mounted += 1,
            Sent::Uploaded => pushed.uploaded += 1,
        }
    }
    Ok(())
}

/// `PUT …/manifests/<target>` with the manifest's bytes and media type.
fn put_manifest(
    repository: &Repository<'_>,
    target: &str,
    bytes: &[u8],
    descriptor: &Descriptor,
) -> Result<(), RegistryError> {
    let url = repository.manifest_url(target);
    let content_type = descriptor.media_type().to_string();
    let label = format!("push of manifest `{}`", repository.display(target));
    let mut attempts = repository.attempts(label);
    let mut response = repository.send(&mut attempts, |agent, auth| {
        auth.apply(agent.put(&url))
            .header("Content-Type", &content_type)
            .send(bytes)
    })?;
    if response.status().as_u16() != 201 {
        return Err(status_error("PUT", &url, &mut response));
    }
    if let Some(stored) = header(&response, "Docker-Content-Digest")
        && stored.starts_with("sha256:")
        && stored != descriptor.digest().as_ref()
    {
        return Err(RegistryError::ManifestDigest {
            reference: repository.display(target),
            expected: descriptor.digest().to_string(),
            actual: stored
                .parse()
                .unwrap_or_else(|_| descriptor.digest().clone()),
        });
    }
    Ok(())
}

/// For each blob of the store's images named in other repositories of the destination's
/// registry, those repositories' paths: where a blob may be mounted from.
fn mount_sources(
    store: &Store,
    destination: &Reference,
) -> crate::Result<HashMap<Digest, Vec<String>>> {
    let mut sources: HashMap<Digest, Vec<String>> = HashMap::new();
    for tagged in store.tags()? {
        let Some(name) = tagged.name else { continue };
        if name.domain() != destination.domain() || name.path() == destination.path() {
            continue;
        }
        for blob in image_blobs(store, &tagged.descriptor) {
            let paths = sources.entry(blob).or_default();
            if !paths.iter().any(|p| p == name.path()) {
                paths.push(name.path().to_owned());
            }
        }
    }
    Ok(sources)
}

/// The config and layer digests of an image in the store (of each manifest in the store,
/// for an index); what cannot be read is skipped, as it only narrows the mount sources.
fn image_blobs(store: &Store, descriptor: &Descriptor) -> Vec<Digest> {
    let Ok(bytes) = store.read_blob(descriptor.digest()) else {
        return Vec::new();
    };
    if media_type::is_index(descriptor.media_type().as_ref()) {
        let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else {
            return Vec::new();
        };
        return index
            .manifests()
            .iter()
            .flat_map(|manifest| image_blobs(store, manifest))
            .collect();
    }
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&bytes) else {
        return Vec::new();
    };
    std::iter::once(manifest.config().digest().clone())
        .chain(manifest.layers().iter().map(|l| l.digest().clone()))
        .collect()
}

/// Parses a manifest or index from the store.
fn parse<T: serde::de::DeserializeOwned>(
    digest: &Digest,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| RegistryError::ParseManifest {
        reference: digest.to_string(),
        source,
    })
}
