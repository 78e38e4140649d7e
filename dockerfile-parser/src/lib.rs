//! The Dockerfile frontend of mkimage.
//!
//! Text is parsed by a pest grammar into a typed AST, variables are expanded with Docker's
//! shell-word rules ([`Expander`]), and the result is lowered into a
//! [`mkimage_core::Plan`]. This crate does no I/O: it takes text and returns data, warnings
//! included.

#![deny(missing_docs)]

// Semantic helpers for lowering; they are used once `lower` is in.
#[allow(dead_code)]
mod args;
#[allow(dead_code)]
mod chmod;
#[allow(dead_code)]
mod duration;
mod expand;
#[allow(dead_code)]
mod expose;
#[allow(dead_code)]
mod healthcheck;
#[allow(dead_code)]
mod mount;
#[allow(dead_code)]
mod platform;
#[allow(dead_code)]
mod sandbox;
#[allow(dead_code)]
mod signal;
#[allow(dead_code)]
mod slash_path;

pub use expand::{Env, ExpandError, Expanded, Expander, Vars};
