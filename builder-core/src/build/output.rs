//! Writing a built image's filesystem out (`-o type=local`, `-o type=tar`).

use std::io::Write;
use std::path::Path;

use oci_spec::image::Descriptor;

use crate::layer::{self, Compression, LayerOptions};
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

/// Writes the filesystem of the image `image` (for `platform`) to `sink` as one plain,
/// deterministic tar (`-o type=tar`); returns the sink.
///
/// # Errors
///
/// The errors of unpacking the layers into a scratch directory of the store and of
/// writing the tar.
pub fn export_rootfs_tar<W: Write>(
    store: &Store,
    image: &Descriptor,
    platform: &Platform,
    sink: W,
) -> crate::Result<W> {
    let scratch = store.temp_dir()?;
    export_rootfs(store, image, platform, scratch.path())?;
    let entries = layer::dir_entries(scratch.path())?;
    let options = LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    };
    let (sink, _) = layer::write_layer(sink, entries, &options)?;
    Ok(sink)
}
