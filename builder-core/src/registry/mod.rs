//! Registries: image references.

mod reference;

pub use reference::{ParseReferenceError, Reference};
