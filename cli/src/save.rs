//! `mkimage save`: write images to an OCI or docker archive.

use std::process::ExitCode;

use anyhow::Context as _;
use mkimage_core::atomic::AtomicFile;
use mkimage_core::oci::{ArchiveFormat, ArchiveImage, write_archive};
use mkimage_core::plan::{Platform, Reference};
use mkimage_core::store::Store;

use crate::args::{SaveArgs, SaveFormat};

/// Runs `mkimage save`. The archive is written to a temp file beside the output and
/// renamed when complete, so an interrupted save leaves no partial archive.
pub(crate) fn run(store: &Store, args: &SaveArgs) -> anyhow::Result<ExitCode> {
    let mut images: Vec<ArchiveImage> = Vec::new();
    for name in &args.images {
        let descriptor = store.find_image(name)?;
        // A name given as a tag names the image in the archive; an id does not.
        let tag = name
            .parse::<Reference>()
            .ok()
            .filter(|r| r.digest().is_none() && store.resolve(r).ok().flatten().is_some());
        match images
            .iter_mut()
            .find(|i| i.descriptor.digest() == descriptor.digest())
        {
            Some(known) => known.names.extend(tag),
            None => images.push(ArchiveImage {
                descriptor,
                names: tag.into_iter().collect(),
            }),
        }
    }
    let format = match args.format {
        SaveFormat::Oci => ArchiveFormat::Oci,
        SaveFormat::Docker => ArchiveFormat::Docker,
    };
    let output = &args.output;
    let write = || format!("failed to write `{}`", output.display());
    let sink = AtomicFile::new(output, ".mkimage-save-").with_context(write)?;
    let sink = write_archive(store, &images, format, &Platform::host(), sink)?;
    sink.commit().with_context(write)?;
    Ok(ExitCode::SUCCESS)
}
