//! The store the global `--root` option (or `MKIMAGE_ROOT`) names.

use std::path::Path;

use mkimage_core::store::Store;

/// Opens the store at `root`, or at the default root.
pub(crate) fn open(root: Option<&Path>) -> anyhow::Result<Store> {
    let root = match root {
        Some(root) => root.to_owned(),
        None => Store::default_root()?,
    };
    Ok(Store::open(root)?)
}
