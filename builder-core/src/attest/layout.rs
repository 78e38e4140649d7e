//! Attestation manifests in an image index, laid out as BuildKit lays them out
//! (`docs/attestations/attestation-storage.md` of moby/buildkit).
//!
//! Each platform's image manifest gets one attestation manifest beside it in the index,
//! after the image manifests. Its descriptor has the platform `unknown/unknown`, so that
//! no runtime picks it, and the annotations `vnd.docker.reference.type:
//! attestation-manifest` and `vnd.docker.reference.digest: <image manifest digest>`.
//! Its config is an image config of that platform whose `diff_ids` are its layers,
//! which registries and tools that expect an image accept; each layer is one in-toto
//! statement (`application/vnd.in-toto+json`) annotated with its predicate type.

use std::collections::HashMap;

use oci_spec::image::{
    Arch, Descriptor, ImageIndex, ImageManifest, MediaType, Os, PlatformBuilder,
};

use crate::oci::image_manifest;
use crate::plan::Platform;
use crate::spec::{
    ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE, canonical_json, is_attestation,
    media_type,
};
use crate::store::Store;

use super::{AttestError, Statement};

/// The media type of a layer holding an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The layer annotation naming the statement's predicate type.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// Writes `statements` about the image manifest `subject` into the store as an
/// attestation manifest; returns its descriptor, as the image index lists it.
///
/// # Errors
///
/// [`AttestError::Encode`], and the store's errors.
pub fn write_attestations(
    store: &Store,
    subject: &Descriptor,
    statements: &[Statement],
) -> crate::Result<Descriptor> {
    let encode = |what| move |source| AttestError::Encode { what, source };
    let mut layers = Vec::new();
    for statement in statements {
        let bytes = canonical_json(statement).map_err(encode("statement"))?;
        let digest = store.put_blob(&bytes)?;
        let mut layer = Descriptor::new(MediaType::from(IN_TOTO), bytes.len() as u64, digest);
        layer.set_annotations(Some(HashMap::from([(
            PREDICATE_TYPE.to_owned(),
            statement.predicate_type.clone(),
        )])));
        layers.push(layer);
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let config = serde_json::json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = canonical_json(&config).map_err(encode("config"))?;
    let config_digest = store.put_blob(&config_bytes)?;
    let config = Descriptor::new(
        MediaType::ImageConfig,
        config_bytes.len() as u64,
        config_digest,
    );
    let manifest = image_manifest(config, layers);
    let bytes = canonical_json(&manifest).map_err(encode("manifest"))?;
    let digest = store.put_blob(&bytes)?;
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest);
    descriptor.set_platform(Some(
        PlatformBuilder::default()
            .os(Os::from("unknown"))
            .architecture(Arch::from("unknown"))
            .build()
            .expect("a platform with os and architecture is complete"),
    ));
    descriptor.set_annotations(Some(HashMap::from([
        (REFERENCE_TYPE.to_owned(), ATTESTATION_MANIFEST.to_owned()),
        (REFERENCE_DIGEST.to_owned(), subject.digest().to_string()),
    ])));
    Ok(descriptor)
}

/// The statements of predicate type `predicate_type` that the attestation manifests of
/// the image `image` (an index) carry, with the platform (`linux/amd64`) of the
/// manifest each is about; none for an image that is a single manifest. Every blob is read with its digest
/// verified.
///
/// # Errors
///
/// [`AttestError::ParseBlob`], and the store's errors.
pub fn predicates(
    store: &Store,
    image: &Descriptor,
    predicate_type: &str,
) -> crate::Result<Vec<(String, Statement)>> {
    if !media_type::is_index(image.media_type().as_ref()) {
        return Ok(Vec::new());
    }
    let index: ImageIndex = read_json(store, image, "image index")?;
    let mut found = Vec::new();
    for entry in index.manifests().iter().filter(|d| is_attestation(d)) {
        let about = entry
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REFERENCE_DIGEST))
            .map(|digest| platform_of(&index, digest))
            .unwrap_or_default();
        let manifest: ImageManifest = read_json(store, entry, "attestation manifest")?;
        for layer in manifest.layers() {
            let kind = layer
                .annotations()
                .as_ref()
                .and_then(|a| a.get(PREDICATE_TYPE));
            if layer.media_type().as_ref() == IN_TOTO && kind.is_some_and(|k| k == predicate_type) {
                found.push((about.clone(), read_json(store, layer, "in-toto statement")?));
            }
        }
    }
    Ok(found)
}

/// The platform of the manifest `digest` of `index`, as `os/arch[/variant]`; the digest
/// itself when the index has no such manifest.
fn platform_of(index: &ImageIndex, digest: &str) -> String {
    let entry = index
        .manifests()
        .iter()
        .find(|d| d.digest().as_ref() == digest);
    match entry.and_then(|d| d.platform().as_ref()) {
        Some(p) => {
            let platform = Platform::new(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            );
            platform.to_string()
        }
        None => digest.to_owned(),
    }
}

/// The JSON blob `descriptor` names, read whole with its digest verified (the store
/// reads no JSON blob larger than [`JSON_LIMIT`](crate::store::JSON_LIMIT)).
fn read_json<T: serde::de::DeserializeOwned>(
    store: &Store,
    descriptor: &Descriptor,
    what: &'static str,
) -> crate::Result<T> {
    let bytes = store.read_blob(descriptor.digest())?;
    serde_json::from_slice(&bytes).map_err(|source| {
        AttestError::ParseBlob {
            what,
            digest: descriptor.digest().clone(),
            source,
        }
        .into()
    })
}
