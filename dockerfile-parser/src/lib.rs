//! The Dockerfile frontend of mkimage.
//!
//! Text is parsed by a pest grammar into a typed AST, variables are expanded with Docker's
//! shell-word rules ([`Expander`]), and the result is lowered into a
//! [`mkimage_core::Plan`]. This crate does no I/O: it takes text and returns data, warnings
//! included.

#![deny(missing_docs)]

mod expand;

pub use expand::{Env, ExpandError, Expanded, Expander, Vars};
