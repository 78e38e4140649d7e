//! Step records from imported caches (`--cache-from`), looked up after the store's.
//!
//! A hit is written to the store as a record of its own (its layer's blob was fetched
//! and verified by the [`ImportedCache`](crate::cache::ImportedCache)), so that the
//! next build finds it locally; as a step that ran, only once the step is known to
//! succeed (after the config's size check), so that a record the build fails on is
//! not kept.

use crate::cache::{CacheConfig, CacheKey, CachedLayer, CachedStep};

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
