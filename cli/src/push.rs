//! `mkimage push`: upload an image from the store to a registry.

use std::process::ExitCode;

use anyhow::Context as _;
use mkimage_core::plan::Reference;
use mkimage_core::registry::push;
use mkimage_core::store::Store;

use crate::args::PushArgs;
use crate::render;

/// Runs `mkimage push`, showing a progress bar per uploaded blob and then, as
/// `docker push` does, `TAG: digest: DIGEST`.
pub(crate) fn run(store: &Store, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let destination = args.destination.as_deref().unwrap_or(&args.image);
    let destination: Reference = destination
        .parse()
        .with_context(|| format!("`{destination}` is not a valid destination"))?;
    let image = store.find_image(&args.image)?;
    let client = crate::registry::client(&args.registry)?;
    let progress = render::Transfers::new(args.quiet);
    let pushed = push(&client, store, &image, &destination, &progress)?;
    drop(progress);
    if args.quiet {
        render::line(pushed.digest.as_ref())?;
    } else {
        let tag = destination.tag().unwrap_or("latest");
        render::line(&format!("{tag}: digest: {}", pushed.digest))?;
    }
    Ok(ExitCode::SUCCESS)
}
