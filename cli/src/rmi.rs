//! `mkimage rmi`: remove images as `docker rmi` does.

use std::process::ExitCode;

use mkimage_core::store::{Removed, Store};

use crate::args::RmiArgs;
use crate::render;

/// Runs `mkimage rmi`: each image in turn; a failure is reported and the others still
/// go, and the exit status says whether all went.
pub(crate) fn run(store: &Store, args: &RmiArgs) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for name in &args.images {
        match store.remove_image(name, args.force) {
            Ok(removed) => {
                for step in removed {
                    match step {
                        Removed::Untagged(name) => {
                            render::line(&format!("Untagged: {}", name.familiar()))?;
                        }
                        Removed::Deleted(digest) => render::line(&format!("Deleted: {digest}"))?,
                    }
                }
            }
            Err(error) => {
                render::error(&error.into());
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
