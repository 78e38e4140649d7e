//! What a manifest or index blob references, read without caring about its exact schema
//! (OCI and Docker schema-2 manifests and indexes have the same shape).

use oci_spec::image::Digest;
use serde::Deserialize;

use crate::spec::media_type;

use super::{Store, StoreError};

/// A reference from one blob to another.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Link {
    pub(super) digest: Digest,
    #[serde(default)]
    pub(super) media_type: Option<String>,
    #[serde(default)]
    pub(super) size: u64,
}

/// The links of a manifest (config, layers, subject) or an index (manifests, subject).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Node {
    #[serde(default)]
    pub(super) media_type: Option<String>,
    #[serde(default)]
    pub(super) config: Option<Link>,
    #[serde(default)]
    pub(super) layers: Vec<Link>,
    #[serde(default)]
    pub(super) manifests: Vec<Link>,
    #[serde(default)]
    pub(super) subject: Option<Link>,
}

impl Node {
    /// Every blob this one references.
    pub(super) fn links(self) -> impl Iterator<Item = Link> {
        self.config
            .into_iter()
            .chain(self.layers)
            .chain(self.manifests)
            .chain(self.subject)
    }
}

impl Store {
    /// Reads the manifest or index `digest` as a [`Node`].
    pub(super) fn read_node(&self, digest: &Digest) -> Result<Node, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::ParseBlob {
            digest: digest.clone(),
            source,
        })
    }
}

/// Whether blobs of this media type are manifests or indexes, whose links count.
pub(super) fn has_links(media_type: &str) -> bool {
    media_type::is_manifest(media_type) || media_type::is_index(media_type)
}
