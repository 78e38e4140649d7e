//! An image loaded from the store: manifest, config and digests.

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};

use crate::plan::Platform;
use crate::spec::media_type;
use crate::store::Store;

use super::{ImageConfig, OciError, select_manifest};

/// An image in the store, read whole except its layers: what inspect and history show
/// and what a build starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    descriptor: Descriptor,
    manifest: ImageManifest,
    config: ImageConfig,
}

impl Image {
    /// Loads the image `descriptor` names; an index is followed to its manifest for
    /// `platform`.
    ///
    /// # Errors
    ///
    /// [`OciError::Schema1`], [`OciError::NotAnImage`], [`OciError::ParseBlob`],
    /// [`OciError::NoPlatform`], [`OciError::LayerCount`], and the store's errors.
    pub fn load(
        store: &Store,
        descriptor: &Descriptor,
        platform: &Platform,
    ) -> crate::Result<Image> {
        let descriptor = Image::manifest_for(store, descriptor, platform)?;
        let kind = descriptor.media_type().to_string();
        let digest = descriptor.digest().clone();
        if media_type::DOCKER_SCHEMA1.contains(&kind.as_str()) {
            return Err(OciError::Schema1 { digest }.into());
        }
        if !media_type::is_manifest(&kind) {
            return Err(OciError::NotAnImage {
                digest,
                media_type: kind,
            }
            .into());
        }
        let manifest: ImageManifest = parse("manifest", &digest, &store.read_blob(&digest)?)?;
        let config_digest = manifest.config().digest();
        let config: ImageConfig = parse("config", config_digest, &store.read_blob(config_digest)?)?;
        if manifest.layers().len() != config.rootfs.diff_ids.len() {
            return Err(OciError::LayerCount {
                digest,
                layers: manifest.layers().len(),
                diff_ids: config.rootfs.diff_ids.len(),
            }
            .into());
        }
        Ok(Image {
            descriptor,
            manifest,
            config,
        })
    }

    /// The manifest `descriptor` stands for on `platform`: itself for a manifest, and
    /// for an index its manifest for `platform`, which may not be in the store (an index
    /// is pulled for one platform).
    ///
    /// # Errors
    ///
    /// [`OciError::ParseBlob`] and the store's errors for an index that cannot be read,
    /// [`OciError::NoPlatform`] for one without a manifest for `platform`.
    pub fn manifest_for(
        store: &Store,
        descriptor: &Descriptor,
        platform: &Platform,
    ) -> crate::Result<Descriptor> {
        if !media_type::is_index(descriptor.media_type().as_ref()) {
            return Ok(descriptor.clone());
        }
        let bytes = store.read_blob(descriptor.digest())?;
        let index: ImageIndex = parse("index", descriptor.digest(), &bytes)?;
        Ok(select_manifest(&index, descriptor.digest(), platform)?)
    }

    /// The manifest's descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The manifest's digest: the image's id.
    pub fn digest(&self) -> &Digest {
        self.descriptor.digest()
    }

    /// The manifest.
    pub fn manifest(&self) -> &ImageManifest {
        &self.manifest
    }

    /// The config.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The config's descriptor.
    pub fn config_descriptor(&self) -> &Descriptor {
        self.manifest.config()
    }

    /// The layers' descriptors, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// The layers' `diff_id`s, bottom first.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }
}

/// Parses a JSON blob, naming what it should be on failure.
fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    digest: &Digest,
    bytes: &[u8],
) -> Result<T, OciError> {
    serde_json::from_slice(bytes).map_err(|source| OciError::ParseBlob {
        what,
        digest: digest.clone(),
        source,
    })
}
