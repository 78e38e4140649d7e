//! `mkimage prune`: remove untagged images, then every blob nothing references.

use std::process::ExitCode;

use mkimage_core::store::Store;

use crate::{human, render};

/// Runs `mkimage prune`, reporting as `docker image prune` does.
pub fn run(store: &Store) -> anyhow::Result<ExitCode> {
    let mut deleted = Vec::new();
    for entry in store.tags()? {
        if entry.name.is_none() {
            let digest = entry.descriptor.digest().to_string();
            store.remove_image(&digest, false)?;
            deleted.push(digest);
        }
    }
    let pruned = store.prune()?;
    if !deleted.is_empty() {
        render::line("Deleted Images:")?;
        for digest in deleted {
            render::line(&format!("deleted: {digest}"))?;
        }
        render::line("")?;
    }
    render::line(&format!(
        "Total reclaimed space: {}",
        human::size(pruned.bytes)
    ))?;
    Ok(ExitCode::SUCCESS)
}
