//! `--cache-from`: reading cache artifacts, then looking steps up in them.
//!
//! Each artifact's manifest and config are read when the build starts; a layer is
//! taken only when a step's key hits its record: from a registry, lazily (see
//! [`lazy`](super::lazy)); from a directory, copied and verified. Whatever fails (the
//! registry is down, access is denied, the artifact is missing, of another version or
//! corrupt) is one warning, and the build goes on without that artifact, or without
//! that record when only its layer cannot be had.

use oci_spec::image::{Descriptor, ImageManifest};

use crate::cache::{
    CONFIG_LIMIT, CONFIG_MEDIA_TYPE, CacheConfig, CacheKey, CachedLayer, ImportedCache,
    ImportedStep,
};
use crate::events::Events;
use crate::registry::{Client, fetch_blob, fetch_manifest};
use crate::store::{RemoteBlob, Store};

use super::layout::LayoutReader;
use super::lazy::{check_diff_id, refused};
use super::{CacheFrom, CacheLocation, RemoteCacheError};
use crate::exec::error_chain;

/// The most bytes an artifact's manifest may have, as a registry's.
const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// The cache artifacts a build imports, in the order given; the first that has a key
/// answers for it.
pub struct ImportedRecords {
    store: Store,
    artifacts: Vec<Artifact>,
}

/// One artifact read.
struct Artifact {
    name: String,
    location: Where,
    config: CacheConfig,
}

/// Where an artifact's layers are fetched from.
enum Where {
    Registry(crate::plan::Reference),
    Local(LayoutReader),
}

impl ImportedRecords {
    /// Reads the artifacts of `from` into `store`'s view, each failure told to `events`
    /// as one warning and that artifact left out.
    pub fn load(
        from: &[CacheFrom],
        store: &Store,
        client: Client,
        events: &dyn Events,
    ) -> ImportedRecords {
        let mut artifacts = Vec::new();
        for source in from {
            match read(&source.location, store, &client, events) {
                Ok(artifact) => artifacts.push(artifact),
                Err(error) => events.warning(&format!(
                    "cache `{}` not used: {}",
                    source.location,
                    error_chain(&error)
                )),
            }
        }
        ImportedRecords {
            store: store.clone(),
            artifacts,
        }
    }

    /// Makes the layer of a record of `artifact` available to the store: remembered
    /// where it is, for a registry (fetched when its bytes are first read, see
    /// [`lazy`](super::lazy)), else copied in and checked against its `diff_id`.
    fn take(&self, artifact: &Artifact, layer: &CachedLayer) -> crate::Result<()> {
        let descriptor = layer.descriptor();
        if let Some(reason) = refused(&self.store, &layer.digest) {
            return Err(RemoteCacheError::Refused {
                digest: layer.digest.clone(),
                reason,
            }
            .into());
        }
        if self.store.has_blob(&layer.digest) {
            return Ok(());
        }
        match &artifact.location {
            Where::Registry(reference) => {
                let remote = RemoteBlob {
                    source: reference.to_string(),
                    media_type: layer.media_type.clone(),
                    size: layer.size,
                    diff_id: Some(layer.diff_id.clone()),
                };
                self.store.remember_remote(&layer.digest, &remote)?;
            }
            Where::Local(reader) => {
                reader.copy_blob(&self.store, &descriptor)?;
                let checked =
                    check_diff_id(&self.store, &artifact.name, &descriptor, &layer.diff_id);
                if checked.is_err() {
                    self.store.remove_blob(&layer.digest)?;
                }
                checked?;
            }
        }
        Ok(())
    }
}

impl ImportedCache for ImportedRecords {
    fn find(&self, key: &CacheKey, events: &dyn Events) -> Option<ImportedStep> {
        for artifact in &self.artifacts {
            let Some(step) = artifact.config.records.get(key) else {
                continue;
            };
            if let Some(layer) = &step.layer
                && let Err(error) = self.take(artifact, layer)
            {
                events.warning(&format!(
                    "cache `{}`: layer `{}` not used: {}",
                    artifact.name,
                    layer.digest,
                    error_chain(&error)
                ));
                continue;
            }
            return Some(ImportedStep {
                step: step.clone(),
                source: artifact.name.clone(),
            });
        }
        None
    }

    fn cache_mount(&self, id: &str, events: &dyn Events) -> Option<CachedLayer> {
        for artifact in &self.artifacts {
            let Some(layer) = artifact.config.cache_mounts.get(id) else {
                continue;
            };
            match self.take(artifact, layer) {
                Ok(()) => return Some(layer.clone()),
                Err(error) => events.warning(&format!(
                    "cache `{}`: cache mount `{id}` not used: {}",
                    artifact.name,
                    error_chain(&error)
                )),
            }
        }
        None
    }

    fn defined(&self, definition: &CacheKey) -> bool {
        self.artifacts
            .iter()
            .any(|artifact| artifact.config.definitions.contains(definition))
    }
}

/// Reads the artifact at `location`: its manifest and config, checked.
fn read(
    location: &CacheLocation,
    store: &Store,
    client: &Client,
    events: &dyn Events,
) -> crate::Result<Artifact> {
    let name = location.to_string();
    // Keeps prune from removing the manifest and config between download and read.
    let _lease = store.lease()?;
    let (manifest, location) = match location {
        CacheLocation::Registry(reference) => {
            let manifest = fetch_manifest(client, reference, events)?;
            check_config(&name, &manifest)?;
            fetch_blob(client, reference, store, manifest.config(), events)?;
            (manifest, Where::Registry(reference.clone()))
        }
        CacheLocation::Inline => return Err(super::export::inline_elsewhere().into()),
        CacheLocation::Local(dir) => {
            let reader = LayoutReader::open(dir)?;
            let descriptor = reader.manifest()?;
            if descriptor.size() > MANIFEST_LIMIT {
                return Err(RemoteCacheError::BlobSize {
                    dir: dir.clone(),
                    digest: descriptor.digest().to_string(),
                    size: descriptor.size(),
                }
                .into());
            }
            reader.copy_blob(store, &descriptor)?;
            let manifest: ImageManifest = serde_json::from_slice(
                &store.read_blob(descriptor.digest())?,
            )
            .map_err(|source| crate::registry::RegistryError::ParseManifest {
                reference: name.clone(),
                source,
            })?;
            check_config(&name, &manifest)?;
            reader.copy_blob(store, manifest.config())?;
            (manifest, Where::Local(reader))
        }
    };
    let bytes = store.read_blob(manifest.config().digest())?;
    let parsed = if is_image_config(manifest.config()) {
        CacheConfig::parse_inline(&bytes, manifest.layers())
    } else {
        CacheConfig::parse(&bytes, manifest.layers())
    };
    let config = parsed.map_err(|source| RemoteCacheError::Artifact {
        source_name: name.clone(),
        source,
    })?;
    Ok(Artifact {
        name,
        location,
        config,
    })
}

/// Whether `config` is an image's config, which may hold inline cache records, rather
/// than a cache artifact's.
fn is_image_config(config: &Descriptor) -> bool {
    matches!(
        config.media_type().as_ref(),
        "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json"
    )
}

/// Checks that `manifest`'s config is a cache config, or an image's, of a size that is
/// read.
fn check_config(name: &str, manifest: &ImageManifest) -> Result<(), RemoteCacheError> {
    let config = manifest.config();
    let artifact = |source| RemoteCacheError::Artifact {
        source_name: name.to_owned(),
        source,
    };
    if config.media_type().as_ref() != CONFIG_MEDIA_TYPE && !is_image_config(config) {
        return Err(artifact(crate::cache::ArtifactError::NotCache {
            media_type: config.media_type().to_string(),
        }));
    }
    if config.size() > CONFIG_LIMIT {
        return Err(artifact(crate::cache::ArtifactError::TooLarge {
            size: config.size(),
            limit: CONFIG_LIMIT,
        }));
    }
    Ok(())
}
