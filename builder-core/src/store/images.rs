//! The image list: each index entry with its creation time and size.

use oci_spec::image::{Descriptor, Digest};
use serde::Deserialize;

use crate::plan::Reference;
use crate::spec::media_type;

use super::{Store, StoreError, Tagged};

/// One line of `mkimage images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The full reference, `None` for an untagged image.
    pub name: Option<Reference>,
    /// The manifest or index.
    pub descriptor: Descriptor,
    /// The config's `created` (RFC 3339), when it has one.
    pub created: Option<String>,
    /// The bytes of the image's blobs in the store: manifests, configs and layers (layers
    /// as stored, usually compressed).
    pub size: u64,
}

/// The only field of a config the list needs.
#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    created: Option<String>,
}

impl Store {
    /// Every image of the index (as [`tags`](Store::tags) orders them), with its
    /// creation time and size. An index's time is that of its first manifest in the
    /// store; its size counts the manifests in the store.
    ///
    /// # Errors
    ///
    /// The errors of reading the index and the manifests and configs it references.
    pub fn images(&self) -> Result<Vec<ImageSummary>, StoreError> {
        self.tags()?
            .into_iter()
            .map(|Tagged { name, descriptor }| {
                let (created, size) =
                    self.created_and_size(descriptor.digest(), descriptor.media_type().as_ref())?;
                Ok(ImageSummary {
                    name,
                    descriptor,
                    created,
                    size,
                })
            })
            .collect()
    }

    /// The creation time and total size of the manifest or index `digest`.
    fn created_and_size(
        &self,
        digest: &Digest,
        media_type: &str,
    ) -> Result<(Option<String>, u64), StoreError> {
        let mut size = self.blob_size(digest)?;
        let node = self.read_node(digest)?;
        if media_type::is_index(media_type) {
            let mut created = None;
            for child in node.manifests {
                if !self.has_blob(&child.digest) {
                    continue;
                }
                let child_type = child.media_type.unwrap_or_default();
                let (child_created, child_size) =
                    self.created_and_size(&child.digest, &child_type)?;
                created = created.or(child_created);
                size += child_size;
            }
            return Ok((created, size));
        }
        let created = match &node.config {
            Some(config) => {
                let bytes = self.read_blob(&config.digest)?;
                serde_json::from_slice::<Created>(&bytes)
                    .ok()
                    .and_then(|c| c.created)
            }
            None => None,
        };
        size += node
            .config
            .iter()
            .chain(&node.layers)
            .map(|link| link.size)
            .sum::<u64>();
        Ok((created, size))
    }
}
