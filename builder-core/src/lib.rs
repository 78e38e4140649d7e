//! The mkimage build engine.
//!
//! A [`Plan`] describes a build as stages of steps; it and the other leaf
//! types (image references, platforms, digests) come from the I/O-free crate
//! `mkimage-plan`, re-exported as [`plan`]. The engine executes a plan:
//! files come from a build [`context`], each step that changes files becomes a [`layer`],
//! other steps edit the image config ([`oci`]), `RUN` steps ([`run`]) run in a sandbox
//! ([`exec`]) over the base's layers unpacked once into the store ([`rootfs`]),
//! and the result is kept in a content-addressed [`store`] under a
//! [`Reference`](plan::Reference), or written out as an OCI or docker archive. Progress
//! is reported through [`Events`]; the engine never prints.
//! [Registries](registry) and `ADD` downloads ([`fetch`]) reach their servers through
//! [`net`], which bounds every wait.

#![deny(missing_docs)]

pub mod add;
pub mod build;
pub mod cache;
pub mod context;
pub mod digest;
mod error;
pub mod events;
pub mod exec;
pub mod fetch;
mod fsroot;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod layer;
pub mod net;
pub mod oci;
pub mod registry;
pub mod rootfs;
pub mod run;
pub mod store;
#[cfg(feature = "testutil")]
pub mod testutil;
pub mod user;

pub use error::{Error, Result};
pub use events::{Events, NoEvents, RequestRef, Retry, StepRef, Stream, TaskRef};
/// The build plan and the other leaf types (image references, platforms, digests): the
/// crate `mkimage-plan`, which the Dockerfile frontend shares with the engine.
pub use mkimage_plan as plan;
pub use oci_spec;
pub use plan::{Plan, Stage, Step};
