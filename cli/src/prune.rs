//! `mkimage prune`: remove untagged images, trim the build cache when asked, then every
//! blob nothing references, and leftovers; report the bytes all of that freed.

use std::process::ExitCode;

use mkimage_core::rootfs::LayerSweeper;
use mkimage_core::store::{PruneOptions, Store};

use crate::args::PruneArgs;
use crate::{human, render};

/// Runs `mkimage prune`, reporting as `docker image prune` does.
pub(crate) fn run(store: &Store, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let mut deleted = Vec::new();
    for entry in store.tags()? {
        if entry.name.is_none() {
            let digest = entry.descriptor.digest().to_string();
            store.remove_image(&digest, false)?;
            deleted.push(digest);
        }
    }
    let options = PruneOptions {
        keep_storage: args.keep_storage,
    };
    let pruned = store.prune_with(&options, &[&LayerSweeper])?;
    if !deleted.is_empty() {
        render::line("Deleted Images:")?;
        for digest in deleted {
            render::line(&format!("deleted: {digest}"))?;
        }
        render::line("")?;
    }
    if args.keep_storage.is_some() {
        render::line(&format!(
            "Build cache: {} entries removed, {} kept",
            pruned.trimmed,
            human::size(pruned.cache_bytes)
        ))?;
    }
    render::line(&format!(
        "Total reclaimed space: {}",
        human::size(pruned.freed)
    ))?;
    Ok(ExitCode::SUCCESS)
}
