//! `mkimage save`: write images to an OCI or docker archive.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use mkimage_core::oci::{ArchiveFormat, ArchiveImage, write_archive};
use mkimage_core::plan::{Platform, Reference};
use mkimage_core::store::Store;

use crate::args::{SaveArgs, SaveFormat};

/// Runs `mkimage save`. The archive is written to a temp file beside the output and
/// renamed when complete, so an interrupted save leaves no partial archive.
pub fn run(store: &Store, args: &SaveArgs) -> anyhow::Result<ExitCode> {
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
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let write = || format!("failed to write `{}`", output.display());
    let temp = tempfile::Builder::new()
        .prefix(".mkimage-save-")
        .tempfile_in(dir)
        .with_context(write)?;
    let sink = BufWriter::new(temp);
    let mut sink = write_archive(store, &images, format, &Platform::host(), sink)?;
    sink.flush().with_context(write)?;
    let temp = sink
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(write)?;
    temp.as_file().sync_all().with_context(write)?;
    let file: File = temp
        .persist(output)
        .map_err(|e| e.error)
        .with_context(write)?;
    drop(file);
    Ok(ExitCode::SUCCESS)
}
