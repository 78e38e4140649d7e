//! `cache-mounts=true`: the content of the build's `RUN --mount=type=cache` directories,
//! exported as layers of the cache artifact, so that an empty store's first `RUN` with
//! such a mount starts warm (moby/buildkit#1474 asks this of BuildKit).
//!
//! Each directory is written as one layer of its files, as the store holds them, read
//! without following a link in it; its blob's digest is its content's, so a cache whose
//! files did not change is the blob the registry or directory has already, and is not
//! sent again. A directory larger than `cache-mounts-max` is left out, with a warning.
//! Secrets never are in one: they are mounted on a tmpfs of their own.

use crate::cache::{CacheConfig, CachedLayer};
use crate::events::Events;
use crate::layer::{LayerOptions, dir_entries, write_layer};
use crate::run::cache_path;
use crate::store::Store;
use crate::tree::tree_size;

use super::CacheTo;

/// Adds to `config` the cache mounts `ids` as layers written into `store` as `to` asks
/// (its compression), except those not in the store and those larger than its
/// `cache-mounts-max` (told to `events`).
///
/// # Errors
///
/// The errors of reading a cache directory and writing its layer.
pub(super) fn export_mounts(
    config: &mut CacheConfig,
    ids: &[String],
    to: &CacheTo,
    store: &Store,
    events: &dyn Events,
) -> crate::Result<()> {
    for id in ids {
        let dir = cache_path(store, id)?;
        if !dir.is_dir() {
            continue;
        }
        let size = tree_size(&dir);
        let max = to.cache_mounts_max;
        if size > max {
            events.warning(&format!(
                "cache mount `{id}` not exported: it holds {size} bytes, more than cache-mounts-max ({max})"
            ));
            continue;
        }
        let options = LayerOptions {
            compression: to.compression,
            ..LayerOptions::default()
        };
        let (blob, written) = write_layer(store.begin_blob()?, dir_entries(&dir)?, &options)?;
        let (digest, size) = blob.commit()?;
        let layer = CachedLayer {
            digest,
            size,
            media_type: written.media_type.to_string(),
            diff_id: written.diff_id,
        };
        config.cache_mounts.insert(id.clone(), layer);
    }
    Ok(())
}
