//! The mkimage build engine, and the Dockerfile build on top of it.
//!
//! A Dockerfile build is one call: a [`Frontend`] over a store takes a
//! [`frontend::Request`] (the Dockerfile, the context, build arguments, platforms,
//! outputs…) and returns a [`frontend::Outcome`] (the image, each step's cache hit or
//! miss, the warnings), as `mkimage build` does. This is `examples/build_dockerfile.rs`:
//!
//! ```no_run
#![doc = include_str!("../examples/build_dockerfile.rs")]
//! ```
//!
//! Underneath, a [`Plan`] describes a build as stages of steps; it and the other leaf
//! types (image references, platforms, digests) come from the I/O-free crate
//! `mkimage-plan`, re-exported as [`plan`], and the Dockerfile crate lowers text into it.
//! The engine ([`build`]) executes a plan:
//! files come from a build [`context`], each step that changes files becomes a [`layer`],
//! other steps edit the image config ([`oci`]), `RUN` steps ([`run`]) run in a sandbox
//! ([`exec`]) over the base's layers unpacked once into the store ([`rootfs`]),
//! and the result is kept in a content-addressed [`store`] under a
//! [`Reference`](plan::Reference), or written out as an OCI or docker archive; every
//! file the engine or its caller replaces goes through [`atomic`]. Progress is reported
//! through [`Events`]; the engine never prints.
//! [Registries](registry) and `ADD` downloads ([`fetch`]) reach their servers through
//! [`net`], which bounds every wait. Step records travel between machines as cache
//! artifacts in registries or directories ([`remote_cache`]).

#![deny(missing_docs)]

pub mod add;
pub mod archive;
pub mod atomic;
pub mod attest;
pub mod build;
pub mod cache;
pub mod context;
pub mod digest;
mod error;
pub mod events;
pub mod exec;
pub mod executor;
pub mod fetch;
pub mod frontend;
mod fsroot;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod layer;
pub mod net;
pub mod oci;
pub mod registry;
pub mod remote_cache;
pub mod resolver;
pub mod rootfs;
pub mod run;
pub mod spec;
pub mod store;
#[cfg(feature = "testutil")]
pub mod testutil;
mod tree;
pub mod user;

pub use error::{Error, Result};
pub use events::{Events, NoEvents, RequestRef, Retry, StepRef, Stream, TaskRef};
pub use frontend::Frontend;
/// The build plan and the other leaf types (image references, platforms, digests): the
/// crate `mkimage-plan`, which the Dockerfile frontend shares with the engine.
pub use mkimage_plan as plan;
pub use oci_spec;
pub use plan::{Plan, Stage, Step};
