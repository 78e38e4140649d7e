//! Writing a built image's filesystem out (`-o type=local`).

use std::path::Path;

use oci_spec::image::Descriptor;

use crate::layer;
use crate::oci::Image;
use crate::plan::Platform;
use crate::store::Store;

use super::BuildError;

/// Unpacks the layers of the image `image` (for `platform`) into the directory `dest`,
/// created if missing: the image's final filesystem.
///
/// # Errors
///
/// [`BuildError::WriteOutput`] when `dest` cannot be created, and the errors of reading
/// and unpacking the layers.
pub fn export_rootfs(
    store: &Store,
    image: &Descriptor,
    platform: &Platform,
    dest: &Path,
) -> crate::Result<()> {
    std::fs::create_dir_all(dest).map_err(|source| BuildError::WriteOutput {
        path: dest.to_owned(),
        source,
    })?;
    let image = Image::load(store, image, platform)?;
    for descriptor in image.layers() {
        let blob = store.open_blob(descriptor.digest())?;
        let tar = layer::decompress(blob, Some(descriptor.media_type().as_ref()))?;
        layer::unpack(tar, dest)?;
    }
    Ok(())
}
