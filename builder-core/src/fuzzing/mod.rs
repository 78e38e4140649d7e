//! The entry points of the cargo-fuzz targets in `builder-core/fuzz/`: each takes the
//! fuzzer's bytes, runs them through the code that reads that kind of untrusted input,
//! and panics when an invariant breaks. A bad input must give an error, never a panic,
//! a hang or a write outside the directory it was meant for.
//!
//! The targets are one-line wrappers, and the corpus replay test
//! (`tests/it/fuzz_corpus.rs`) calls the same functions for every committed corpus input,
//! so a regression fails `cargo test` on stable Rust without a fuzzer. Enabled by the
//! `fuzzing` feature.

mod challenge;
mod ignore;
mod layer;
mod manifest;
mod reference;

pub use challenge::auth_challenge;
pub use ignore::dockerignore;
pub use layer::{LAYER_SEPARATOR, unpack_layers};
pub use manifest::manifest;
pub use reference::reference;
