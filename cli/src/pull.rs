//! `mkimage pull`: download an image from a registry into the store.

use std::process::ExitCode;

use mkimage_core::plan::{Platform, Reference};
use mkimage_core::registry::pull;
use mkimage_core::store::Store;

use crate::args::PullArgs;
use crate::render;

/// Runs `mkimage pull`, showing a progress bar per blob and then, as `docker pull` does,
/// the digest, the status and the image's full name.
pub(crate) fn run(store: &Store, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference: Reference = args.reference.parse()?;
    let platform = match &args.platform {
        Some(platform) => platform.parse()?,
        None => Platform::host(),
    };
    let client = crate::registry::client(&args.registry)?;
    let progress = render::Transfers::new(args.quiet);
    let pulled = pull(&client, store, &reference, &platform, &progress)?;
    drop(progress);
    if !args.quiet {
        render::line(&format!("Digest: {}", pulled.digest))?;
        let status = if pulled.downloaded > 0 {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        render::line(&format!("Status: {status} {}", reference.familiar()))?;
    }
    render::line(&reference.to_string())?;
    Ok(ExitCode::SUCCESS)
}
