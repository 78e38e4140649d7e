//! Lineage keys, and the chunk index of the layer each lineage wrote last, so that a
//! rebuilt step compresses only what changed (see `layer::Reuse`).
//!
//! A step's cache key changes with the content it reads, so it cannot find the step's
//! previous layer once a file changed. Its *lineage* key is the same chain without the
//! content: the stage's base as written (not its digest), the platform, the build
//! options, the context directory, and the ops of the steps up to this one. The same
//! Dockerfile built again from the same directory gives the same lineage keys whatever
//! changed in the files; two projects with equal Dockerfiles differ by their directory.
//!
//! For each lineage, the record `layer-chunks/<lineage>` names the blob the step wrote
//! last and its chunk index. It keeps no blob from prune, which removes it with its blob
//! ([`Records::put_weak`](crate::store::Records::put_weak)): a pruned or unreadable
//! blob, like a missing or corrupt record, means nothing is reused, never an error. Chunks
//! are matched by a strong hash of their raw bytes, so a lineage that points at an
//! unrelated layer only reuses less.

use std::path::Path;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use crate::cache::{CacheKey, KeyBuilder, step_key};
use crate::layer::{ChunkIndex, Reuse};
use crate::plan::{Base, Op, Platform};
use crate::store::{Store, StoreError};

use super::executor::NewLayer;

/// The store namespace of lineage records.
const NAMESPACE: &str = "layer-chunks";

/// The lineage a stage starts from: its base as written, the platform and the context
/// directory. The build options are added by the caller, as for cache keys.
pub(super) fn root(base: &Base, platform: &Platform, context: &Path) -> CacheKey {
    let mut key = KeyBuilder::new("lineage");
    match base {
        Base::Scratch => key.tag(0),
        Base::Image(reference) => key.tag(1).str(reference),
        Base::Stage(index) => key.tag(2).u64(*index as u64),
    };
    key.str(&platform.to_string());
    key.bytes(std::os::unix::ffi::OsStrExt::as_bytes(context.as_os_str()));
    key.finish()
}

/// The lineage of a step: its parent's lineage and its op, without the digests of what
/// it reads.
pub(super) fn step(parent: &CacheKey, op: &Op) -> CacheKey {
    step_key(parent, op, &[])
}

/// What a lineage wrote last.
#[derive(Serialize, Deserialize)]
struct LineageRecord {
    /// The blob.
    digest: Digest,
    /// Its chunks.
    chunks: ChunkIndex,
}

/// The layer `lineage` wrote last, to reuse; `None` when there is none or it cannot be
/// read.
pub(super) fn previous(store: &Store, lineage: &CacheKey) -> Option<Reuse> {
    let record: LineageRecord = store.records(NAMESPACE).ok()?.get(lineage.hex()).ok()??;
    let size = store.blob_size(&record.digest).ok()?;
    let blob = store.open_blob(&record.digest).ok()?;
    Reuse::new(blob, size, &record.chunks)
}

/// Records `layer` as what `lineage` wrote last.
///
/// # Errors
///
/// The store's, when the record cannot be written.
pub(super) fn remember(
    store: &Store,
    lineage: &CacheKey,
    layer: &NewLayer,
) -> Result<(), StoreError> {
    let Some(chunks) = &layer.chunks else {
        return Ok(());
    };
    let record = LineageRecord {
        digest: layer.descriptor.digest().clone(),
        chunks: chunks.clone(),
    };
    let digest = [record.digest.clone()];
    store
        .records(NAMESPACE)?
        .put_weak(lineage.hex(), &record, &digest)
}
