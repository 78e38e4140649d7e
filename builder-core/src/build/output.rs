//! Writing a built image's filesystem out (`-o type=local`, `-o type=tar`).

use std::io::Write;
use std::path::Path;

use oci_spec::image::Descriptor;

use crate::layer::{self, Compression, LayerOptions};
use crate::oci::Image;
use crate::plan::Platform;
use crate::store::Store;

use super::BuildError;

/// Unpacks the image `image` into the directory `dest`, created if missing: its final
/// filesystem for the one platform in `platforms`, or, for several (an image index),
/// each platform's in a subdirectory named as BuildKit names them (`linux_amd64`,
/// `linux_arm_v7`).
///
/// # Errors
///
/// [`BuildError::WriteOutput`] when `dest` cannot be created, and the errors of reading
/// and unpacking the layers.
pub fn export_rootfs(
    store: &Store,
    image: &Descriptor,
    platforms: &[Platform],
    dest: &Path,
) -> crate::Result<()> {
    match platforms {
        [platform] => unpack_image(store, image, platform, dest),
        _ => platforms.iter().try_for_each(|platform| {
            let dir = platform.to_string().replace('/', "_");
            unpack_image(store, image, platform, &dest.join(dir))
        }),
    }
}

/// Unpacks the layers of `image` for `platform` into `dest`, created if missing.
fn unpack_image(
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
        store.read_verified(descriptor.digest(), |blob| -> crate::Result<_> {
            let tar = layer::decompress(blob, Some(descriptor.media_type().as_ref()))?;
            Ok(layer::unpack(tar, dest)?)
        })?;
    }
    Ok(())
}

/// Writes the filesystem of the image `image` to `sink` as one plain, deterministic tar
/// (`-o type=tar`), laid out as [`export_rootfs`] lays out `platforms`; returns the sink.
///
/// # Errors
///
/// The errors of unpacking the layers into a scratch directory of the store and of
/// writing the tar.
pub fn export_rootfs_tar<W: Write + Send + 'static>(
    store: &Store,
    image: &Descriptor,
    platforms: &[Platform],
    sink: W,
) -> crate::Result<W> {
    let scratch = store.temp_dir()?;
    export_rootfs(store, image, platforms, scratch.path())?;
    let entries = layer::dir_entries(scratch.path())?;
    let options = LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    };
    let (sink, _) = layer::write_layer(sink, entries, &options)?;
    Ok(sink)
}
