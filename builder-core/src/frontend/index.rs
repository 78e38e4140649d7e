//! The image index of a build for several platforms.

use oci_spec::image::Descriptor;

use crate::oci::write_index;
use crate::plan::Reference;
use crate::store::Store;

/// Writes an index of `manifests` (one per platform, built untagged) and after them
/// their `attestations` manifests into `store`, lists it as an image named `tags`, and
/// stops listing the manifests on their own unless something names them: the index
/// keeps them.
///
/// # Errors
///
/// The store's.
pub(super) fn write(
    store: &Store,
    manifests: &[Descriptor],
    attestations: &[Descriptor],
    tags: &[Reference],
) -> crate::Result<Descriptor> {
    let entries: Vec<Descriptor> = manifests.iter().chain(attestations).cloned().collect();
    let index = write_index(store, &entries)?;
    store.add_image(&index)?;
    for tag in tags {
        store.tag(tag, &index)?;
    }
    let named: Vec<Descriptor> = store
        .tags()?
        .into_iter()
        .filter(|entry| entry.name.is_some())
        .map(|entry| entry.descriptor)
        .collect();
    for manifest in manifests {
        if !named
            .iter()
            .any(|entry| entry.digest() == manifest.digest())
        {
            store.remove_image(manifest.digest().as_ref(), false)?;
        }
    }
    Ok(index)
}
