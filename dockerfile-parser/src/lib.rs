//! The Dockerfile frontend of mkimage.
//!
//! [`parse`] reads a Dockerfile with a pest grammar into a [`Dockerfile`]: its
//! [`Directives`], its [`Instruction`]s exactly as written (keyword, [`Flag`]s,
//! [`Arguments`] split as Docker splits them, [`Heredoc`]s) and its warnings. Variables are
//! then expanded with Docker's shell-word rules ([`Expander`]), and the result is lowered
//! into a [`mkimage_plan::Plan`]. This crate does no I/O: it takes text and returns data,
//! warnings included.
//!
//! ```
//! let dockerfile = mkimage_dockerfile::parse("FROM alpine AS base\nENV A=1 B=2\n")?;
//! assert_eq!(dockerfile.instructions.len(), 2);
//! assert_eq!(dockerfile.instructions[0].arg_strings(), ["alpine", "AS", "base"]);
//! # Ok::<(), mkimage_dockerfile::ParseError>(())
//! ```

#![deny(missing_docs)]

mod args;
mod ast;
pub mod checks;
mod chmod;
mod directives;
mod duration;
mod error;
mod expand;
mod expose;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod grammar;
mod healthcheck;
mod json;
mod lines;
mod lower;
mod mount;
mod nesting;
mod parse;
mod platform;
mod sandbox;
mod signal;
mod span;
mod suggest;
mod validate;

pub use ast::{Arguments, Dockerfile, Flag, Heredoc, Instruction, Keyword, Pair, ParseWarning};
pub use chmod::ChmodError;
pub use directives::Directives;
pub use duration::DurationError;
pub use error::ParseError;
pub use expand::{Env, ExpandError, Expanded, Expander, MAX_DEPTH, Vars};
pub use expose::ExposeError;
pub use healthcheck::HealthcheckError;
pub use lower::source::is_git;
pub use lower::{
    BaseImage, LowerError, LowerOptions, Lowered, NamedContext, PLAN_TEXT_LIMIT, Warning, lower,
};
pub use mount::MountError;
pub use parse::parse;
pub use platform::PlatformError;
pub use sandbox::SandboxError;
pub use signal::SignalError;
pub use span::{Position, Span};
pub use validate::{FlagKind, FlagSpec};
