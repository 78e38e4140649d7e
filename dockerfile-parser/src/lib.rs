//! The Dockerfile frontend of mkimage.
//!
//! Text is parsed by a pest grammar into a typed AST, variables are expanded with Docker's
//! shell-word rules ([`Expander`]), and the result is lowered into a
//! [`mkimage_core::Plan`]. This crate does no I/O: it takes text and returns data, warnings
//! included.

#![deny(missing_docs)]

mod args;
mod chmod;
mod duration;
mod expand;
mod expose;
mod healthcheck;
mod lower;
mod mount;
mod platform;
mod sandbox;
mod signal;
mod slash_path;
mod suggest;

pub use chmod::ChmodError;
pub use duration::DurationError;
pub use expand::{Env, ExpandError, Expanded, Expander, Vars};
pub use expose::ExposeError;
pub use healthcheck::HealthcheckError;
pub use lower::{BaseImage, LowerError, LowerOptions, Lowered, Warning};
pub use mount::MountError;
pub use platform::PlatformError;
pub use sandbox::SandboxError;
pub use signal::SignalError;
