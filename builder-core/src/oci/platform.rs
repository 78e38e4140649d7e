//! Picking the manifest of an index for a platform.

use oci_spec::image::{Descriptor, Digest, ImageIndex};

use crate::plan::Platform;

use super::OciError;

/// The manifest of `index` for `wanted`: same OS and architecture, and the same variant
/// when both name one. A manifest with exactly the wanted variant wins over one without
/// a variant; with no variant wanted, the first manifest of the OS and architecture wins.
/// Manifests without a platform (attestations) are never picked.
///
/// # Errors
///
/// [`OciError::NoPlatform`], listing the platforms the index has.
pub fn select_manifest(
    index: &ImageIndex,
    digest: &Digest,
    wanted: &Platform,
) -> Result<Descriptor, OciError> {
    let candidates: Vec<(&Descriptor, Platform)> = index
        .manifests()
        .iter()
        .filter_map(|descriptor| {
            let platform = descriptor.platform().as_ref()?;
            let os = platform.os().to_string();
            let architecture = platform.architecture().to_string();
            (os != "unknown" && architecture != "unknown").then(|| {
                (
                    descriptor,
                    Platform::new(&os, &architecture, platform.variant().as_deref()),
                )
            })
        })
        .collect();
    let same_machine =
        |p: &Platform| p.os() == wanted.os() && p.architecture() == wanted.architecture();
    let exact = candidates
        .iter()
        .find(|(_, p)| same_machine(p) && p.variant() == wanted.variant());
    let loose = candidates.iter().find(|(_, p)| {
        same_machine(p)
            && match (wanted.variant(), p.variant()) {
                (Some(w), Some(v)) => w == v,
                _ => true,
            }
    });
    match exact.or(loose) {
        Some((descriptor, _)) => Ok((*descriptor).clone()),
        None => Err(OciError::NoPlatform {
            digest: digest.clone(),
            wanted: wanted.to_string(),
            available: candidates
                .iter()
                .map(|(_, p)| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> (ImageIndex, Digest) {
        let text = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"os":"linux","architecture":"arm","variant":"v6"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","platform":{"os":"linux","architecture":"arm64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:5555555555555555555555555555555555555555555555555555555555555555","platform":{"os":"unknown","architecture":"unknown"}}
        ]}"#;
        let index: ImageIndex = serde_json::from_str(text).expect("a valid index");
        (index, crate::digest::sha256(text.as_bytes()))
    }

    fn pick(wanted: &str) -> Result<char, OciError> {
        let (index, digest) = index();
        let wanted: Platform = wanted.parse().expect("a valid platform");
        let found = select_manifest(&index, &digest, &wanted)?;
        Ok(found.digest().digest().chars().next().expect("a hex digit"))
    }

    #[test]
    fn picks_by_os_architecture_and_variant() -> Result<(), OciError> {
        assert_eq!(pick("linux/amd64")?, '1');
        assert_eq!(pick("linux/arm/v7")?, '3');
        assert_eq!(pick("linux/arm")?, '2');
        assert_eq!(pick("linux/arm64/v8")?, '4');
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.ends_with("has no manifest for `linux/s390x`; it has: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64"),
            "{err}"
        );
        Ok(())
    }
}
