//! Building and storing image manifests.

use oci_spec::image::{
    Arch, Descriptor, ImageIndexBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder,
};

use crate::spec::canonical_json;
use crate::store::Store;

use super::{CONFIG_LIMIT, ImageConfig, OciError};

/// An OCI image manifest for a config and its layers, bottom first.
pub fn image_manifest(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("a manifest with schema version, config and layers is complete")
}

/// Writes an OCI image index of `manifests` (each with its platform) into the store;
/// returns its descriptor. Canonical JSON, so equal manifests give an equal index.
///
/// # Errors
///
/// [`OciError::Encode`] when the index cannot be encoded, and the store's errors.
pub fn write_index(store: &Store, manifests: &[Descriptor]) -> crate::Result<Descriptor> {
    let index = ImageIndexBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests.to_vec())
        .build()
        .expect("an index with schema version and manifests is complete");
    let bytes = canonical_json(&index).map_err(|source| OciError::Encode {
        what: "index",
        source,
    })?;
    let digest = store.put_blob(&bytes)?;
    Ok(Descriptor::new(
        MediaType::ImageIndex,
        bytes.len() as u64,
        digest,
    ))
}

/// Writes `config` and a manifest for it and `layers` (already in the store) into the
/// store; returns the manifest's descriptor, with the config's platform.
///
/// The JSON is canonical (sorted keys, compact), so equal images get equal digests.
///
/// # Errors
///
/// [`OciError::Encode`] when the config cannot be encoded, [`OciError::ConfigTooLarge`]
/// when it is larger than [`CONFIG_LIMIT`] (it is not written then: no store could read it
/// back), and the store's errors.
pub fn write_image(
    store: &Store,
    config: &ImageConfig,
    layers: &[Descriptor],
) -> crate::Result<Descriptor> {
    let config_bytes = canonical_json(config).map_err(|source| OciError::Encode {
        what: "config",
        source,
    })?;
    if config_bytes.len() > CONFIG_LIMIT {
        return Err(OciError::ConfigTooLarge {
            size: config_bytes.len(),
            limit: CONFIG_LIMIT,
        }
        .into());
    }
    let config_digest = store.put_blob(&config_bytes)?;
    store_manifest(
        store,
        Descriptor::new(
            MediaType::ImageConfig,
            config_bytes.len() as u64,
            config_digest,
        ),
        layers.to_vec(),
        config,
    )
}

/// Writes a manifest for the config blob `config` (whose content is `parsed`) and
/// `layers` into the store; returns its descriptor, with the config's platform.
pub(super) fn store_manifest(
    store: &Store,
    config: Descriptor,
    layers: Vec<Descriptor>,
    parsed: &ImageConfig,
) -> crate::Result<Descriptor> {
    let manifest = image_manifest(config, layers);
    let bytes = canonical_json(&manifest).map_err(|source| OciError::Encode {
        what: "manifest",
        source,
    })?;
    let digest = store.put_blob(&bytes)?;
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest);
    if !parsed.os.is_empty() && !parsed.architecture.is_empty() {
        let mut platform = PlatformBuilder::default()
            .os(Os::from(parsed.os.as_str()))
            .architecture(Arch::from(parsed.architecture.as_str()));
        if let Some(variant) = &parsed.variant {
            platform = platform.variant(variant.clone());
        }
        descriptor.set_platform(Some(
            platform
                .build()
                .expect("a platform with os and architecture is complete"),
        ));
    }
    Ok(descriptor)
}
