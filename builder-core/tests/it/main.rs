//! mkimage-core's integration tests, one module per area.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod add;
mod build;
mod busybox;
mod context;
mod exec;
mod layer;
mod oci;
mod registry;
mod registry_server;
mod run;
mod run_rootfs;
mod store;
