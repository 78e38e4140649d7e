//! The build cache: step keys, the records that map a key to a step's result, and the
//! artifact that shares records between machines.

mod artifact;
mod imported;
mod key;

pub use artifact::{
    ArtifactError, CONFIG_LIMIT, CONFIG_MEDIA_TYPE, CacheConfig, CachedLayer, CachedStep,
    INLINE_KEY, RECORD_LIMIT, SCHEMA,
};
pub use imported::{ImportedCache, ImportedStep};
pub use key::{BaseKey, CacheKey, KeyBuilder, base_key, step_key};
