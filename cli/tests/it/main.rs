//! Integration tests of the `mkimage` binary, one module per subcommand.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod add;
mod archive;
mod attest;
mod build;
mod build_instructions;
mod build_outputs;
mod cache;
mod checks;
mod container;
mod contexts;
mod hostile;
mod isolation;
mod limits;
mod network;
mod parse;
mod registry;
#[allow(clippy::unwrap_used, dead_code)]
#[path = "../../../builder-core/tests/it/registry_server.rs"]
mod registry_server;
mod run;
mod sandbox;
mod store;
