//! The build cache: step keys and the records that map a key to a step's result.

mod key;

pub use key::{BaseKey, CacheKey, KeyBuilder, base_key, step_key};
