//! Writing a built image's filesystem out (`-o type=local`, `-o type=tar`).

use std::io::Write;
use std::path::Path;

use oci_spec::image::Descriptor;

use crate::layer::{self, Compression, LayerOptions};
use crate::oci::Image;
use crate::plan::Platform;
use crate::store::Store;

use super::staging::{Staging, write_err};

/// Unpacks the image `image` into the directory `dest`, created if missing: its final
/// filesystem for the one platform in `platforms`, or, for several (an image index),
/// each platform's in a subdirectory named as BuildKit names them (`linux_amd64`,
/// `linux_arm_v7`).
///
/// Like BuildKit's local exporter, it writes into `dest` and keeps what is there: a
/// directory of the image merges into one already at its path, anything else already at
/// a path of the image (a file, a symlink, even one to a directory) is replaced as an
/// entry, never followed; paths the image lacks stay. Everything is unpacked first into
/// a staging directory on the same file system (inside `dest`, or beside it when it does
/// not exist yet) and moved into place only once every layer was read whole and
/// verified: a failed export leaves `dest` as it was.
///
/// # Errors
///
/// [`BuildError::WriteOutput`](super::BuildError::WriteOutput) when `dest` cannot be
/// created or written, and the errors of reading and unpacking the layers.
pub fn export_rootfs(
    store: &Store,
    image: &Descriptor,
    platforms: &[Platform],
    dest: &Path,
) -> crate::Result<()> {
    let staging = Staging::new(dest)?;
    unpack_platforms(store, image, platforms, staging.path())?;
    staging.commit()
}

/// Unpacks the layers of `image` for each of `platforms` into `dest`, laid out as
/// [`export_rootfs`] lays them out.
fn unpack_platforms(
    store: &Store,
    image: &Descriptor,
    platforms: &[Platform],
    dest: &Path,
) -> crate::Result<()> {
    match platforms {
        [platform] => unpack_image(store, image, platform, dest),
        _ => platforms.iter().try_for_each(|platform| {
            let name = platform.to_string().replace('/', "_");
            let dir = dest.join(&name);
            std::fs::create_dir(&dir).map_err(|source| write_err(&dir, source))?;
            unpack_image(store, image, platform, &dir)
        }),
    }
}

/// Unpacks the layers of `image` for `platform` into the directory `dest`.
fn unpack_image(
    store: &Store,
    image: &Descriptor,
    platform: &Platform,
    dest: &Path,
) -> crate::Result<()> {
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
    unpack_platforms(store, image, platforms, scratch.path())?;
    let entries = layer::dir_entries(scratch.path())?;
    let options = LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    };
    let (sink, _) = layer::write_layer(sink, entries, &options)?;
    Ok(sink)
}
