//! The seam through which a build finds step records that another machine made.

use crate::events::Events;

use super::CacheKey;
use super::artifact::{CachedLayer, CachedStep};

/// A step record found in an imported cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedStep {
    /// What the step produced; its layer's blob is in the store, or the store knows
    /// where to fetch it from ([`Store::knows_blob`](crate::store::Store::knows_blob)).
    pub step: CachedStep,
    /// Where the record came from, for display (`registry.example/app:cache`).
    pub source: String,
}

/// Step records imported from elsewhere (`--cache-from`), which a build looks a step's
/// key up in when the store has no record of it.
pub trait ImportedCache: Send + Sync {
    /// The record of `key`, with its layer's blob brought into the store (verified) or
    /// remembered where it is, to be fetched when its bytes are read;
    /// `None` when no imported cache has it, or when its layer cannot be had (which is
    /// told to `events` as a warning: the step then runs).
    fn find(&self, key: &CacheKey, events: &dyn Events) -> Option<ImportedStep>;

    /// Whether an imported cache has a record of a `COPY` step with the definition key
    /// `definition` (see [`CacheConfig::definitions`](super::CacheConfig::definitions)).
    fn defined(&self, definition: &CacheKey) -> bool;

    /// The layer holding the content of the cache mount `id`, available to the store
    /// as a record's is (see [`ImportedCache::find`]); `None` when no imported cache has
    /// it or it cannot be had (told to `events`).
    fn cache_mount(&self, id: &str, events: &dyn Events) -> Option<CachedLayer>;
}
