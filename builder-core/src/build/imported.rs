//! Step records from imported caches (`--cache-from`), looked up after the store's.
//!
//! A hit is written to the store as a record of its own (its layer's blob was fetched
//! and verified by the [`ImportedCache`](crate::cache::ImportedCache)), so that the
//! next build finds it locally; as a step that ran, only once the step is known to
//! succeed (after the config's size check), so that a record the build fails on is
//! not kept.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::Path;

use crate::cache::{CacheConfig, CacheKey, CachedLayer, CachedStep};
use crate::exec::error_chain;
use crate::layer::{decompress, unpack};
use crate::plan::{Mount, Op, Plan, Run};
use crate::rootfs::RootfsError;
use crate::run::{cache_identity, cache_path};
use crate::store::{Store, StoreError};
use crate::tree::remove_tree;

use super::StepResult;
use super::record::{LayerRecord, StepRecord};
use super::stage::BuildRun;

/// A record found for a step, and where it came from: `None` for the store.
pub(super) type Found = (StepRecord, Option<String>);

impl BuildRun<'_> {
    /// The record of `key`: the store's, else an imported cache's (kept in the store
    /// only by [`BuildRun::keep_imported`]).
    pub(super) fn find_record(&self, key: &CacheKey) -> crate::Result<Option<Found>> {
        if let Some(record) = self.records.get(key)? {
            return Ok(Some((record, None)));
        }
        let Some(imported) = &self.builder.imported else {
            return Ok(None);
        };
        let Some(hit) = imported.find(key, self.events) else {
            return Ok(None);
        };
        let record = StepRecord {
            layer: hit.step.layer.map(|layer| LayerRecord {
                digest: layer.digest,
                size: layer.size,
                media_type: layer.media_type,
                diff_id: layer.diff_id,
            }),
            created: hit.step.created,
        };
        Ok(Some((record, Some(hit.source))))
    }

    /// Keeps `record`, found in an imported cache for a step that succeeded with it, in
    /// the store under `key` and its `definition` key.
    pub(super) fn keep_imported(
        &self,
        key: &CacheKey,
        definition: Option<&CacheKey>,
        record: &StepRecord,
    ) -> crate::Result<()> {
        self.records.put(key, record)?;
        if let Some(definition) = definition {
            self.records.define(definition, record)?;
        }
        Ok(())
    }

    /// Fills each cache mount of `run` that the store does not have yet with the content
    /// an imported cache holds for its id (`cache-mounts=true`); one that cannot be had
    /// is a warning, and the step starts with it empty, as without the import.
    ///
    /// # Errors
    ///
    /// The store's, when its directory of cache mounts cannot be made.
    pub(super) fn restore_cache_mounts(&self, run: &Run) -> crate::Result<()> {
        let Some(imported) = &self.builder.imported else {
            return Ok(());
        };
        let store = &self.builder.store;
        for mount in &run.mounts {
            let Mount::Cache {
                id, mode, uid, gid, ..
            } = mount
            else {
                continue;
            };
            let identity = cache_identity(id, *mode, *uid, *gid);
            let dir = cache_path(store, &identity)?;
            if dir.exists() {
                continue;
            }
            let Some(layer) = imported.cache_mount(&identity, self.events) else {
                continue;
            };
            if let Err(error) = restore(store, &layer, &dir, (*mode, *uid, *gid)) {
                self.events.warning(&format!(
                    "cache mount `{id}` not imported: {}",
                    error_chain(&error)
                ));
            }
        }
        Ok(())
    }

    /// Whether the store or an imported cache has a record of a step with `definition`.
    pub(super) fn defined(&self, definition: &CacheKey) -> bool {
        self.records.defined(definition)
            || self
                .builder
                .imported
                .as_ref()
                .is_some_and(|imported| imported.defined(definition))
    }
}

/// The cache records of `steps`: of every step, or with `image_only` (BuildKit's
/// `mode=min`, and what `type=inline` writes) of the steps in the stages the image is
/// made of.
pub fn cache_config(steps: &[StepResult], image_only: bool) -> CacheConfig {
    let mut config = CacheConfig::new();
    for step in steps.iter().filter(|step| step.in_image || !image_only) {
        config.records.insert(step.key.clone(), step.record.clone());
        if let Some(definition) = &step.definition {
            config.definitions.insert(definition.clone());
        }
    }
    config
}

/// Unpacks the cache mount `layer` into `dir`, through a temp beside it renamed into
/// place (as `RUN` makes a new cache directory), with the mount's mode and owner.
fn restore(
    store: &Store,
    layer: &CachedLayer,
    dir: &Path,
    (mode, uid, gid): (u32, u32, u32),
) -> crate::Result<()> {
    let parent = dir
        .parent()
        .expect("a cache mount is in the cache mounts' directory");
    let write = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::WriteFile { path, source }
    };
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .map_err(write(parent))?;
    let unpacked = store.read_verified(&layer.digest, |blob| -> crate::Result<_> {
        let tar = decompress(blob, Some(&layer.media_type))?;
        Ok(unpack(tar, temp.path())?)
    })?;
    if unpacked.diff_id != layer.diff_id {
        return Err(RootfsError::DiffIdMismatch {
            digest: layer.digest.to_string(),
            expected: layer.diff_id.to_string(),
            actual: unpacked.diff_id.to_string(),
        }
        .into());
    }
    chown(temp.path(), Some(uid), Some(gid)).map_err(write(temp.path()))?;
    fs::set_permissions(temp.path(), fs::Permissions::from_mode(mode))
        .map_err(write(temp.path()))?;
    let temp = temp.keep();
    if let Err(source) = fs::rename(&temp, dir) {
        let _ = remove_tree(&temp);
        // Another step made it first: that one is used.
        if !dir.is_dir() {
            return Err(write(dir)(source).into());
        }
    }
    Ok(())
}

/// The names the cache mounts of the `RUN` steps `plan` builds are kept under
/// ([`cache_identity`]), sorted, each once.
pub(super) fn cache_mount_ids(plan: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = plan
        .needed_stages()
        .into_iter()
        .flat_map(|index| &plan.stages[index].steps)
        .filter_map(|step| match &step.op {
            Op::Run(run) => Some(&run.mounts),
            _ => None,
        })
        .flatten()
        .filter_map(|mount| match mount {
            Mount::Cache {
                id, mode, uid, gid, ..
            } => Some(cache_identity(id, *mode, *uid, *gid)),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A record as a cache artifact holds it.
pub(super) fn cached_step(record: &StepRecord) -> CachedStep {
    CachedStep {
        layer: record.layer.as_ref().map(|layer| CachedLayer {
            digest: layer.digest.clone(),
            size: layer.size,
            media_type: layer.media_type.clone(),
            diff_id: layer.diff_id.clone(),
        }),
        created: record.created.clone(),
    }
}
