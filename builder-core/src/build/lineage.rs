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
//! or found in the cache last, and `blob-chunks/<blob>` holds the chunk index of each blob
//! a step wrote. A cache hit points its lineage at the layer it found, so that the next
//! miss reuses that layer even when another lineage wrote it (a context in another
//! directory, a `build -` context). Neither record keeps a blob from prune, which removes
//! them with their blob ([`Records::put_weak`](crate::store::Records::put_weak)): a
//! pruned or unreadable blob, like a missing or corrupt record, means nothing is reused,
//! never an error. Chunks are matched by a strong hash of their raw bytes, so a lineage
//! that points at an unrelated layer only reuses less.
//!
//! Reuse checks every chunk it copies against the index (see `layer::Reuse`). When
//! chunks fail, [`corrupt`] finds out which of the two is wrong by reading the blob whole,
//! once: a corrupt blob is removed from the store (see [`Store::remove_if_corrupt`]),
//! and its index is removed either way, since it no longer describes what the store
//! holds. The build goes on with the chunks compressed again, and a warning says what
//! was found.
//!
//! A context extracted from a stream (`mkimage build -`) lives in a new temporary
//! directory each build, so its lineage names no directory (see [`Context::streamed`]).

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use crate::cache::{CacheKey, KeyBuilder, step_key};
use crate::context::Context;
use crate::exec::error_chain;
use crate::layer::{ChunkIndex, Reuse};
use crate::plan::{Base, Op, Platform};
use crate::store::{Store, StoreError};

use crate::executor::NewLayer;

/// The store namespace of lineage records.
const NAMESPACE: &str = "layer-chunks";
/// The store namespace of the chunk indexes of blobs.
const CHUNKS: &str = "blob-chunks";

/// The lineage a stage starts from: its base as written, the platform and the context
/// directory (`-` for a [streamed](Context::streamed) context). The build options are
/// added by the caller, as for cache keys.
pub(super) fn root(base: &Base, platform: &Platform, context: &Context) -> CacheKey {
    let mut key = KeyBuilder::new("lineage");
    match base {
        Base::Scratch => key.tag(0),
        Base::Image(reference) => key.tag(1).str(reference),
        Base::Stage(index) => key.tag(2).u64(*index as u64),
    };
    key.str(&platform.to_string());
    // A canonical directory is absolute, so `-` names none.
    if context.is_streamed() {
        key.bytes(b"-");
    } else {
        key.bytes(std::os::unix::ffi::OsStrExt::as_bytes(
            context.root().as_os_str(),
        ));
    }
    key.finish()
}

/// The lineage of a step: its parent's lineage and its op, without the digests of what
/// it reads.
pub(super) fn step(parent: &CacheKey, op: &Op) -> CacheKey {
    step_key(parent, op, &[])
}

/// The blob a lineage wrote or found last.
#[derive(Serialize, Deserialize)]
struct LineageRecord {
    /// The blob.
    digest: Digest,
}

/// The layer `lineage` wrote or found last, to reuse; `None` when there is none or it
/// cannot be read.
pub(super) fn previous(store: &Store, lineage: &CacheKey) -> Option<Reuse> {
    let record: LineageRecord = store.records(NAMESPACE).ok()?.get(lineage.hex()).ok()??;
    let chunks: ChunkIndex = store
        .records(CHUNKS)
        .ok()?
        .get(record.digest.digest())
        .ok()??;
    let size = store.blob_size(&record.digest).ok()?;
    let blob = store.open_blob(&record.digest).ok()?;
    Reuse::new(record.digest, blob, size, &chunks)
}

/// Records `layer`, just written, as what `lineage` wrote last, with its chunk index.
///
/// # Errors
///
/// The store's, when a record cannot be written.
pub(super) fn remember(
    store: &Store,
    lineage: &CacheKey,
    layer: &NewLayer,
) -> Result<(), StoreError> {
    let Some(chunks) = &layer.chunks else {
        return Ok(());
    };
    let digest = layer.descriptor.digest();
    store
        .records(CHUNKS)?
        .put_weak(digest.digest(), chunks, std::slice::from_ref(digest))?;
    point(store, lineage, digest)
}

/// When `layer`, written reusing `reuse`, found chunks of it corrupt: checks the earlier
/// blob whole, removes it if it is corrupt and its chunk index in any case, and returns
/// the warning that says so; `None` when every chunk checked.
pub(super) fn corrupt(store: &Store, reuse: &Reuse, layer: &NewLayer) -> Option<String> {
    if layer.corrupt_chunks == 0 {
        return None;
    }
    let digest = reuse.digest();
    let found = format!(
        "layer `{digest}` of an earlier build did not match its chunk index in {} of the \
         chunks this step would have copied, which it compressed instead",
        layer.corrupt_chunks
    );
    if layer.descriptor.digest() == digest {
        // The new blob, with the same digest, has replaced the file and its index.
        return Some(format!("{found}: the new layer, equal to it, replaced it"));
    }
    let index = store
        .records(CHUNKS)
        .and_then(|records| records.remove(digest.digest()));
    let outcome = match (store.remove_if_corrupt(digest), index) {
        // Without its blob, the index is never read again.
        (Ok(Some(corrupt)), _) => format!("{corrupt}; it was removed from the store"),
        (Ok(None), Ok(_)) => {
            "the blob is intact, and its index, which was wrong, was removed".to_owned()
        }
        (Ok(None), Err(error)) => format!(
            "the blob is intact, but its index, which is wrong, could not be removed: {}",
            error_chain(&error)
        ),
        (Err(error), _) => format!("the blob could not be checked: {}", error_chain(&error)),
    };
    Some(format!("{found}: {outcome}"))
}

/// Records the layer `digest`, found in the cache, as what `lineage` has last, unless it
/// is already.
///
/// # Errors
///
/// The store's, when the record cannot be written.
pub(super) fn found(store: &Store, lineage: &CacheKey, digest: &Digest) -> Result<(), StoreError> {
    let known = store
        .records(NAMESPACE)?
        .get::<LineageRecord>(lineage.hex())
        .ok()
        .flatten()
        .is_some_and(|record| record.digest == *digest);
    if known {
        return Ok(());
    }
    point(store, lineage, digest)
}

/// Points `lineage` at the blob `digest`.
fn point(store: &Store, lineage: &CacheKey, digest: &Digest) -> Result<(), StoreError> {
    let record = LineageRecord {
        digest: digest.clone(),
    };
    store
        .records(NAMESPACE)?
        .put_weak(lineage.hex(), &record, std::slice::from_ref(digest))
}
