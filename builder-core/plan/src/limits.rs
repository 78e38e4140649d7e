//! Bounds that the frontend and the engine must agree on.

/// The most bytes an image config may have as JSON.
///
/// The frontend refuses a Dockerfile whose `ENV`, `LABEL` and other config edits would
/// pass it, and the engine refuses to write a larger config: its store reads JSON blobs
/// back only up to this size. It is also what BuildKit's frontends can hand over (its gRPC
/// messages carry at most 16 MiB). No Dockerfile needs more; a `LABEL` of megabytes is an
/// attack.
pub const CONFIG_LIMIT: usize = 16 * 1024 * 1024;
