//! The `manifest` target: a manifest, index or config as a registry, an archive or the
//! store hands it over.

use oci_spec::image::{Digest, ImageIndex, ImageManifest};

use crate::digest::sha256;
use crate::layer::Codec;
use crate::oci::{ImageConfig, select_manifest};
use crate::plan::Platform;
use crate::registry::manifest::classify;
use crate::spec::{canonical_json, media_type};

/// The `Content-Type`s a registry may send with a manifest (none, a generic one, and
/// one that contradicts the document).
const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some(media_type::OCI_MANIFEST),
    Some(media_type::DOCKER_MANIFEST_LIST),
];

/// The platforms an index is searched for.
const PLATFORMS: [&str; 4] = [
    "linux/amd64",
    "linux/arm/v7",
    "linux/arm64",
    "windows/amd64",
];

/// Classifies `data` as a pull does, decodes it as the manifest or index it says it is
/// and picks a manifest for a few platforms, and decodes it as an image config.
///
/// # Panics
///
/// When a digest in a document is not one path component of the store's blob directory
/// or does not parse back from its text; when the manifest picked for a platform is not
/// one of the index's, for that platform; when a config does not read back the same
/// after it is written; or when the code under test panics.
pub fn manifest(data: &[u8]) {
    for content_type in CONTENT_TYPES {
        let kind = classify(data, content_type);
        if media_type::is_index(&kind) {
            index(data);
        } else if media_type::is_manifest(&kind) {
            image_manifest(data);
        }
    }
    config(data);
}

fn index(data: &[u8]) {
    let Ok(index) = serde_json::from_slice::<ImageIndex>(data) else {
        return;
    };
    for descriptor in index.manifests() {
        check_digest(descriptor.digest());
    }
    let digest = sha256(data);
    for wanted in PLATFORMS {
        let wanted: Platform = wanted.parse().expect("a valid platform");
        let Ok(chosen) = select_manifest(&index, &digest, &wanted) else {
            continue;
        };
        assert!(index.manifests().contains(&chosen));
        let platform = chosen
            .platform()
            .as_ref()
            .expect("a picked manifest's platform");
        let found = Platform::new(
            &platform.os().to_string(),
            &platform.architecture().to_string(),
            platform.variant().as_deref(),
        );
        assert_eq!(
            (found.os(), found.architecture()),
            (wanted.os(), wanted.architecture())
        );
    }
}

fn image_manifest(data: &[u8]) {
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(data) else {
        return;
    };
    check_digest(manifest.config().digest());
    for layer in manifest.layers() {
        check_digest(layer.digest());
        let _ = Codec::from_media_type(layer.media_type().as_ref());
    }
}

fn config(data: &[u8]) {
    let Ok(config) = serde_json::from_slice::<ImageConfig>(data) else {
        return;
    };
    for diff_id in &config.rootfs.diff_ids {
        check_digest(diff_id);
    }
    let written = serde_json::to_vec(&config).expect("a config serializes");
    let back: ImageConfig = serde_json::from_slice(&written).expect("a written config reads");
    assert_eq!(back, config, "a config changed when written and read back");
    canonical_json(&config).expect("a config has a canonical form");
}

/// Asserts that `digest` names a blob inside the store's blob directory
/// (`blobs/<algorithm>/<encoded>`) and reads back from its text.
fn check_digest(digest: &Digest) {
    for part in [digest.algorithm().as_ref(), digest.digest()] {
        assert!(
            !matches!(part, "" | "." | "..") && !part.contains(['/', '\0']),
            "digest `{digest}` is not a path component"
        );
    }
    let text = digest.to_string();
    let back: Result<Digest, _> = text.parse();
    assert!(
        back.is_ok_and(|back| back == *digest),
        "`{text}` does not read back"
    );
}
