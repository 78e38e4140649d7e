//! Manifests in a registry: fetched by tag or digest (GET, HEAD), verified, and classified.

use oci_spec::image::Digest;

use crate::digest::sha256;
use crate::net::{Failure, NetError, read_small};
use crate::spec::media_type;

use super::RegistryError;
use super::client::{header, status_error};
use super::repository::Repository;

/// The most bytes a manifest may have; distribution refuses larger ones too.
pub(crate) const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// The manifest types asked for: OCI's and Docker schema-2's, images and indexes.
/// Schema 1 is left out so that a registry that can convert does not send it.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as the registry sent it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    /// Its bytes, whose SHA-256 is `digest`.
    pub bytes: Vec<u8>,
    /// Its media type: from the document, else from `Content-Type`.
    pub media_type: String,
    /// The digest of `bytes`.
    pub digest: Digest,
}

impl Fetched {
    /// A manifest already in the store, as if fetched.
    pub(crate) fn from_store(bytes: Vec<u8>, digest: Digest) -> Self {
        let media_type = classify(&bytes, None);
        Fetched {
            bytes,
            media_type,
            digest,
        }
    }

    /// Whether it is an index of manifests (OCI index, Docker manifest list).
    pub(crate) fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }
}

impl Repository<'_> {
    /// The digest the registry gives for `target` (a tag or digest) without fetching the
    /// manifest, or `None` when it does not say (or does not answer HEAD, even with
    /// server errors until the last try).
    pub(crate) fn head_manifest(&self, target: &str) -> Result<Option<Digest>, RegistryError> {
        let url = self.manifest_url(target);
        let mut attempts = self.attempts(format!("manifest `{}`", self.display(target)));
        let sent = self.send(&mut attempts, |agent, auth| {
            auth.apply(agent.head(&url).header("Accept", ACCEPT)).call()
        });
        let response = match sent {
            Ok(response) => response,
            Err(RegistryError::Net(NetError::Failed {
                cause: Failure::Status { .. },
                ..
            })) => return Ok(None),
            Err(other) => return Err(other),
        };
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(header(&response, "Docker-Content-Digest").and_then(|d| d.parse().ok()))
    }

    /// Fetches the manifest `target` names (a tag or digest) and checks its digest:
    /// against `target` when it is one, else against the `Docker-Content-Digest` the
    /// registry announces.
    pub(crate) fn get_manifest(&self, target: &str) -> Result<Fetched, RegistryError> {
        let url = self.manifest_url(target);
        let reference = self.display(target);
        let mut attempts = self.attempts(format!("manifest `{reference}`"));
        loop {
            let mut response = self.send(&mut attempts, |agent, auth| {
                auth.apply(agent.get(&url).header("Accept", ACCEPT)).call()
            })?;
            match response.status().as_u16() {
                200..=299 => {}
                404 => {
                    return Err(RegistryError::ManifestUnknown {
                        reference,
                        message: super::client::error_message(&mut response),
                    });
                }
                _ => return Err(status_error("GET", &url, &mut response)),
            }
            let announced = header(&response, "Docker-Content-Digest").map(str::to_owned);
            let content_type = header(&response, "Content-Type")
                .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned());
            let options = self.client().http().options();
            match read_small(&mut response, MANIFEST_LIMIT, options) {
                Ok(Some(bytes)) => {
                    return verified(&reference, target, announced, content_type, bytes);
                }
                Ok(None) => {
                    return Err(RegistryError::ManifestTooLarge {
                        reference,
                        limit: MANIFEST_LIMIT,
                    });
                }
                Err(failure) => attempts.retry(failure)?,
            }
        }
    }
}

/// The manifest `bytes` fetched for `target`, when its digest is the one asked for
/// (`target` is a digest) or announced (`Docker-Content-Digest`).
fn verified(
    reference: &str,
    target: &str,
    announced: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
) -> Result<Fetched, RegistryError> {
    let digest = sha256(&bytes);
    let expected = match target.parse::<Digest>() {
        Ok(asked) => Some(asked.to_string()),
        // Only a SHA-256 announcement can be checked against our SHA-256.
        Err(_) => announced.filter(|d| d.starts_with("sha256:")),
    };
    if let Some(expected) = expected
        && expected != digest.as_ref()
    {
        return Err(RegistryError::ManifestDigest {
            reference: reference.to_owned(),
            expected,
            actual: digest,
        });
    }
    let media_type = classify(&bytes, content_type.as_deref());
    Ok(Fetched {
        bytes,
        media_type,
        digest,
    })
}

/// The media type of a manifest: its `mediaType` field, else `Content-Type`, else guessed
/// from its shape (an OCI manifest may omit `mediaType`). A schema-1 document gives a
/// schema-1 type whatever the header says.
pub(crate) fn classify(bytes: &[u8], content_type: Option<&str>) -> String {
    let value: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
    let field = |name: &str| value.as_ref().and_then(|v| v.get(name).cloned());
    if field("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return media_type::DOCKER_SCHEMA1[0].to_owned();
    }
    if let Some(declared) = field("mediaType").and_then(|v| v.as_str().map(str::to_owned)) {
        return declared;
    }
    match content_type {
        Some(t) if media_type::is_index(t) || media_type::is_manifest(t) => t.to_owned(),
        _ if field("manifests").is_some() => media_type::OCI_INDEX.to_owned(),
        _ if field("layers").is_some() => media_type::OCI_MANIFEST.to_owned(),
        Some(t) => t.to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_field_then_header_then_shape() {
        assert_eq!(
            classify(
                br#"{"schemaVersion":1,"fsLayers":[]}"#,
                Some(media_type::OCI_MANIFEST)
            ),
            media_type::DOCKER_SCHEMA1[0]
        );
        assert_eq!(
            classify(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
                Some("application/json")
            ),
            media_type::DOCKER_MANIFEST
        );
        assert_eq!(
            classify(br#"{"schemaVersion":2,"manifests":[]}"#, None),
            media_type::OCI_INDEX
        );
        assert_eq!(
            classify(
                br#"{"schemaVersion":2,"layers":[]}"#,
                Some("application/json")
            ),
            media_type::OCI_MANIFEST
        );
    }
}
