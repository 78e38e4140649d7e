//! `mkimage load`: read images from an OCI or docker archive into the store.

use std::process::ExitCode;

use mkimage_core::store::Store;

use crate::args::LoadArgs;
use crate::render;

/// Runs `mkimage load`, printing each image loaded as `docker load` does.
pub(crate) fn run(store: &Store, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let imported = mkimage_core::oci::load(store, &args.input)?;
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    for image in imported {
        if image.names.is_empty() {
            render::line(&format!("Loaded image ID: {}", image.descriptor.digest()))?;
        }
        for name in image.names {
            render::line(&format!("Loaded image: {}", name.familiar()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
