//! `--cache-to`: the step records of a build written as a cache artifact, to a
//! registry or a directory.
//!
//! The config and manifest are written into the store first, then sent as any image
//! is: to a registry by [`push`] (a blob the repository has is not sent again, one that
//! another repository of the registry has is mounted), to a directory by
//! [`layout::write`] (a blob it has is not written again).

use oci_spec::image::{Descriptor, MediaType};

use crate::build::{StepResult, cache_config};
use crate::cache::{CONFIG_MEDIA_TYPE, CacheConfig};
use crate::events::Events;
use crate::oci::{OciError, image_manifest};
use crate::registry::{Client, push};
use crate::spec::canonical_json;
use crate::store::Store;

use super::{CacheLocation, CacheMode, CacheTo, RemoteCacheError, layout, mounts};

/// The artifact of `steps` for `mode`: the records of every step (`max`), or of the
/// steps in the image's stages (`min`).
pub fn artifact(steps: &[StepResult], mode: CacheMode) -> CacheConfig {
    cache_config(steps, mode == CacheMode::Min)
}

/// Writes the records of `steps` that `to` asks for to its location, with the content
/// of the cache mounts `cache_mounts` when it asks for them; returns the artifact's
/// manifest.
///
/// # Errors
///
/// [`RemoteCacheError::Transfer`] naming the cache, with the registry's or the store's
/// error as its cause, and [`RemoteCacheError::WriteLayout`] for a directory.
pub fn export(
    to: &CacheTo,
    steps: &[StepResult],
    cache_mounts: &[String],
    store: &Store,
    client: &Client,
    events: &dyn Events,
) -> crate::Result<Descriptor> {
    let mut config = artifact(steps, to.mode);
    let failed = |error: crate::Error| match error {
        crate::Error::RemoteCache(error) => crate::Error::RemoteCache(error),
        other => RemoteCacheError::Transfer {
            source_name: to.location.to_string(),
            source: Box::new(other),
        }
        .into(),
    };
    // Keeps prune from removing the config and manifest before they are sent.
    let _lease = store.lease()?;
    if to.cache_mounts {
        mounts::export_mounts(&mut config, cache_mounts, to, store, events).map_err(failed)?;
    }
    let (manifest, blobs) = write_artifact(store, &config).map_err(failed)?;
    match &to.location {
        CacheLocation::Registry(reference) => {
            push(client, store, &manifest, reference, events).map_err(failed)?;
        }
        CacheLocation::Local(dir) => {
            layout::write(dir, store, &manifest, &blobs).map_err(failed)?
        }
        CacheLocation::Inline => return Err(inline_elsewhere().into()),
    }
    Ok(manifest)
}

/// Why `type=inline` is no artifact to write: the build writes it into the image.
pub(super) fn inline_elsewhere() -> RemoteCacheError {
    RemoteCacheError::InvalidOption {
        text: "type=inline".to_owned(),
        problem: "the build writes inline records into the image's config".to_owned(),
    }
}

/// Writes `config` and a manifest of it and its layers into the store; returns the
/// manifest's descriptor, and the config's and layers'.
fn write_artifact(
    store: &Store,
    config: &CacheConfig,
) -> crate::Result<(Descriptor, Vec<Descriptor>)> {
    let encode = |what, source| OciError::Encode { what, source };
    let bytes = canonical_json(config).map_err(|source| encode("cache config", source))?;
    let digest = store.put_blob(&bytes)?;
    let config_descriptor = Descriptor::new(
        MediaType::Other(CONFIG_MEDIA_TYPE.to_owned()),
        bytes.len() as u64,
        digest,
    );
    let layers = config.layers();
    let manifest = image_manifest(config_descriptor.clone(), layers.clone());
    let bytes = canonical_json(&manifest).map_err(|source| encode("cache manifest", source))?;
    let digest = store.put_blob(&bytes)?;
    let descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest);
    let mut blobs = vec![config_descriptor];
    blobs.extend(layers);
    Ok((descriptor, blobs))
}
