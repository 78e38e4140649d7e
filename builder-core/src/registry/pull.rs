//! Pulling an image from a registry into the store.

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};

use crate::events::Events;
use crate::net::Watch;
use crate::oci::{OciError, select_manifest};
use crate::plan::{Platform, Reference};
use crate::spec::media_type;
use crate::store::{JSON_LIMIT, Store};

use super::RegistryError;
use super::client::Client;
use super::manifest::Fetched;
use super::parallel;
use super::repository::Repository;

/// What [`pull`] brought into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image's manifest, now in the store; tagged with the reference when it has a
    /// tag, kept untagged when it names a digest only.
    pub descriptor: Descriptor,
    /// The digest the reference has in the registry: the index's for a multi-platform
    /// image, else the manifest's (`docker pull`'s `Digest:` line).
    pub digest: Digest,
    /// How many blobs were downloaded; the others were in the store already.
    pub downloaded: usize,
}

/// Pulls the image `reference` names for `platform` into the store.
///
/// The manifest is found by digest when the reference has one, else by tag; an index is
/// followed to the manifest for `platform`. The config and layers are downloaded several
/// at a time ([`ClientOptions::concurrency`](super::ClientOptions::concurrency)),
/// skipping blobs the store has, each verified against its digest. Only when every blob
/// is in, the manifest is stored and tagged: a pull that fails leaves no tag and no
/// partial blob (completed blobs stay, untagged, for the next try; prune removes them).
///
/// # Errors
///
/// [`RegistryError`]s for the registry's answers ([`RegistryError::Net`] when a
/// request got no answer within the client's timeouts and retries), [`OciError::Schema1`]
/// for a Docker schema-1 manifest, [`RegistryError::ConfigTooLarge`] for a config larger
/// than the store reads, [`OciError::NoPlatform`] (listing the index's platforms),
/// [`StoreError::DigestMismatch`](crate::store::StoreError::DigestMismatch) for a blob
/// whose content does not match its digest, and the store's errors.
pub fn pull(
    client: &Client,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    events: &dyn Events,
) -> crate::Result<Pulled> {
    let notice = client.http().options().notice();
    Watch::run(events, notice, |watch| {
        let repository = Repository::new(client, reference, false, watch);
        pull_from(&repository, store, reference, platform)
    })
}

/// [`pull`] from `repository`, its waits watched.
fn pull_from(
    repository: &Repository<'_>,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
) -> crate::Result<Pulled> {
    let _lease = store.lease()?;
    let target = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    let top = match reference.digest() {
        None => known_manifest(repository, store, &target)?,
        Some(_) => None,
    };
    let top = match top {
        Some(known) => known,
        None => repository.get_manifest(&target)?,
    };
    let manifest = if top.is_index() {
        let index: ImageIndex = parse(repository, &target, &top.bytes)?;
        let chosen = select_manifest(&index, &top.digest, platform)?;
        repository.get_manifest(chosen.digest().as_ref())?
    } else {
        top.clone()
    };
    let image: ImageManifest = check_manifest(repository, &manifest)?;
    let config = image.config();
    if config.size() > JSON_LIMIT {
        return Err(RegistryError::ConfigTooLarge {
            reference: repository.display(manifest.digest.as_ref()),
            digest: config.digest().clone(),
            size: config.size(),
            limit: JSON_LIMIT,
        }
        .into());
    }

    let mut blobs = vec![image.config().clone()];
    blobs.extend(image.layers().iter().cloned());
    let downloaded = download_all(repository, store, blobs)?;

    let mut writer = store.begin_blob()?;
    std::io::Write::write_all(&mut writer, &manifest.bytes)
        .map_err(|source| crate::store::StoreError::WriteBlob { source })?;
    let size = writer.commit_verified(&manifest.digest)?;
    let descriptor = Descriptor::new(
        MediaType::from(manifest.media_type.as_str()),
        size,
        manifest.digest.clone(),
    );
    if let Some(tag) = reference.tag() {
        store.tag(&reference.with_tag(tag)?, &descriptor)?;
    } else {
        store.add_image(&descriptor)?;
    }
    Ok(Pulled {
        descriptor,
        digest: top.digest,
        downloaded,
    })
}

/// The manifest a tag names when the registry's HEAD answer gives a digest the store
/// has: a pull of an unchanged image costs one request.
fn known_manifest(
    repository: &Repository<'_>,
    store: &Store,
    tag: &str,
) -> crate::Result<Option<Fetched>> {
    match repository.head_manifest(tag)? {
        Some(digest) if store.has_blob(&digest) => {
            let bytes = store.read_blob(&digest)?;
            Ok(Some(Fetched::from_store(bytes, digest)))
        }
        _ => Ok(None),
    }
}

/// Checks that `fetched` is an image manifest (not schema 1, not something else) and
/// parses it.
fn check_manifest(repository: &Repository<'_>, fetched: &Fetched) -> crate::Result<ImageManifest> {
    let reference = fetched.digest.as_ref();
    if media_type::DOCKER_SCHEMA1.contains(&fetched.media_type.as_str()) {
        return Err(OciError::Schema1 {
            digest: fetched.digest.clone(),
        }
        .into());
    }
    if !media_type::is_manifest(&fetched.media_type) {
        return Err(RegistryError::UnsupportedManifest {
            reference: repository.display(reference),
            media_type: fetched.media_type.clone(),
        }
        .into());
    }
    Ok(parse(repository, reference, &fetched.bytes)?)
}

/// Parses a manifest or index.
fn parse<T: serde::de::DeserializeOwned>(
    repository: &Repository<'_>,
    target: &str,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| RegistryError::ParseManifest {
        reference: repository.display(target),
        source,
    })
}

/// Downloads `blobs` a few at a time; returns how many were downloaded.
fn download_all(
    repository: &Repository<'_>,
    store: &Store,
    blobs: Vec<Descriptor>,
) -> crate::Result<usize> {
    let events = repository.watch().events();
    let threads = repository.client().options().concurrency;
    let fetched = parallel::each(blobs, threads, |descriptor| {
        repository.download(store, &descriptor, events)
    })?;
    Ok(fetched.into_iter().filter(|&downloaded| downloaded).count())
}
