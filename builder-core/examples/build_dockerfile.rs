//! Builds `CONTEXT/Dockerfile` into the default store, as `mkimage build CONTEXT` does:
//! base images from the store, else pulled from their registry, and `RUN` steps in
//! mkimage's own sandbox. Prints the warnings, then the image id.
//!
//! ```sh
//! cargo run -p mkimage-core --example build_dockerfile -- CONTEXT
//! ```
//!
//! The default store is `$MKIMAGE_ROOT`, else `$XDG_DATA_HOME/mkimage`, else
//! `~/.local/share/mkimage`: the one `mkimage` uses.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use mkimage_core::Frontend;
use mkimage_core::NoEvents;
use mkimage_core::frontend::{ContextSource, Request};
use mkimage_core::store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let context = std::env::args()
        .nth(1)
        .ok_or("usage: build_dockerfile CONTEXT")?;
    let store = Store::open(Store::default_root()?)?;
    let request = Request::new(ContextSource::Dir(context.into()));
    let built = Frontend::new(store).build(request, &NoEvents)?;
    for warning in &built.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", built.image.digest());
    Ok(())
}
