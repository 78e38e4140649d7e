//! The build plan: stages of steps that the engine executes.
//!
//! A plan is plain data. The Dockerfile frontend lowers a Dockerfile into one, and a Rust
//! program may build one by hand; both give the same image. Every value in a plan is final:
//! variables are already expanded, flags already parsed. What can only be known while
//! building (the base image's config, its `SHELL`, its `/etc/passwd`) is applied by the
//! engine.
//!
//! Each [`Step`] separates what it does ([`Op`], which goes into cache keys) from where it
//! came from ([`StepMeta`], which does not), so moving a line in a Dockerfile keeps the
//! cache.

mod op;
mod platform;
mod stage;

pub use op::{
    AddOptions, Command, Copy, CopySource, Healthcheck, HealthcheckOptions, InlineFile, KeyValue,
    Mount, Network, Op, Run, Security, Sharing, Source,
};
pub use platform::{ParsePlatformError, Platform};
pub use stage::{Base, Plan, PlanError, Span, Stage, Step, StepMeta};
