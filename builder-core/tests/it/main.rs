//! mkimage-core's integration tests, one module per area.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod add;
mod build;
mod busybox;
mod context;
mod exec;
mod frontend;
mod fuzz_corpus;
mod imports;
mod layer;
mod oci;
mod registry;
mod registry_server;
mod remote_cache;
mod run;
mod run_rootfs;
mod store;

/// An error and its causes, a line each, as the CLI shows them.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut lines = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        lines.push(cause.to_string());
        source = cause.source();
    }
    lines.join("\n")
}
