//! `mkimage tag`: give an image another name.

use std::process::ExitCode;

use mkimage_core::plan::Reference;
use mkimage_core::store::Store;

use crate::args::TagArgs;

/// Runs `mkimage tag`.
pub(crate) fn run(store: &Store, args: &TagArgs) -> anyhow::Result<ExitCode> {
    let target: Reference = args.target.parse()?;
    let image = store.find_image(&args.source)?;
    store.tag(&target, &image)?;
    Ok(ExitCode::SUCCESS)
}
