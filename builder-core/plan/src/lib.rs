//! The leaf types of mkimage: the build [`Plan`] and the values it is made of, image
//! [`Reference`]s, [`Platform`]s and [`Digest`]s.
//!
//! A plan is plain data. The Dockerfile frontend (`mkimage-dockerfile`) lowers a
//! Dockerfile into one, and a Rust program may build one by hand; both give the same
//! image. Every value in a plan is final: variables are already expanded, flags already
//! parsed. What can only be known while building (the base image's config, its `SHELL`,
//! its `/etc/passwd`) is applied by the engine (`mkimage-core`).
//!
//! A [`Plan`] holds [`Stage`]s; a stage starts from a [`Base`] for a [`Platform`] and
//! applies [`Step`]s. Each step separates what it does ([`Op`], which goes into cache
//! keys) from where it came from ([`StepMeta`], which does not), so moving a line in a
//! Dockerfile keeps the cache. [`CONFIG_LIMIT`] bounds the image config that both the
//! frontend and the engine check.
//!
//! A [`Reference`] names an image in a registry (`docker.io/library/busybox:latest`),
//! normalized as docker does; the engine's store tags images with them and its registry
//! client pulls and pushes them. A [`Digest`] is OCI's `algorithm:hex`, the type of
//! [`oci_spec`], which the engine's manifests and descriptors use too. [`slash_path`]
//! cleans paths as Go's `path` package does, for the frontend and the engine alike.
//!
//! # Why a leaf
//!
//! Both the frontend and the engine need these types, and the frontend does no I/O: it
//! takes text and returns data. Keeping the types here, apart from the engine, means the
//! frontend and its fuzz target compile no network, TLS, compression or archive crate.
//! This crate parses and holds data only: its dependencies are `serde`, `thiserror`,
//! `regex` and `oci-spec` (for [`Digest`]).
//!
//! ```
//! use mkimage_plan::{Base, Command, Op, Plan, Span, Stage, Step, StepMeta};
//!
//! let step = Step {
//!     op: Op::Cmd(Command::Exec(vec!["/bin/sh".into()])),
//!     meta: StepMeta { span: Span { line: 2, col: 1 }, text: "CMD [\"/bin/sh\"]".into() },
//! };
//! let stage = Stage {
//!     name: None,
//!     base: Base::Image("busybox".into()),
//!     platform: Some("linux/amd64".parse()?),
//!     steps: vec![step],
//!     span: Span { line: 1, col: 1 },
//!     from_text: None,
//! };
//! let plan = Plan { stages: vec![stage], target: 0 };
//! plan.validate()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod limits;
mod op;
mod platform;
mod reference;
pub mod slash_path;
mod stage;

pub use limits::CONFIG_LIMIT;
pub use oci_spec::image::Digest;
pub use op::{
    AddOptions, Command, Copy, CopySource, Healthcheck, HealthcheckOptions, InlineFile, KeyValue,
    Mount, Network, Op, Run, Security, Sharing, Source,
};
pub use platform::{ParsePlatformError, Platform};
pub use reference::{ParseReferenceError, Reference};
pub use stage::{Base, Plan, PlanError, Span, Stage, Step, StepMeta};
