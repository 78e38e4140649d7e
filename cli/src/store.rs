//! The store the global `--root` option (or `MKIMAGE_ROOT`) names.

use std::path::Path;
use std::sync::Arc;

use mkimage_core::registry::Client;
use mkimage_core::remote_cache::RegistryFetcher;
use mkimage_core::store::Store;

/// Opens the store at `root`, or at the default root, fetching the layers a build took
/// lazily from a cache registry with default registry options (a build sets its own).
pub(crate) fn open(root: Option<&Path>) -> anyhow::Result<Store> {
    let root = match root {
        Some(root) => root.to_owned(),
        None => Store::default_root()?,
    };
    let store = Store::open(root)?;
    store.set_fetcher(Arc::new(RegistryFetcher::new(Client::default())));
    Ok(store)
}
