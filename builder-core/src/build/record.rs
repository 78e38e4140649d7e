//! Cache records: what a step produced, by its cache key, kept in the store.
//!
//! A record holds the step's layer (if it made one) and the time its history entry
//! says it was created; the config edit is the step's op itself, which is part of the
//! key, so it is applied again on a hit. A record whose layer blob is gone, or that
//! cannot be read, is a miss.

use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::{Deserialize, Serialize};

use crate::cache::CacheKey;
use crate::store::{Records, Store, StoreError};

use crate::executor::NewLayer;

/// The store namespace of step records.
const NAMESPACE: &str = "build-steps";
/// The store namespace of the marks of step definitions that have a record.
const DEFINITIONS: &str = "build-step-defs";

/// What a step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StepRecord {
    /// The layer, `None` for a step that changed no file.
    pub layer: Option<LayerRecord>,
    /// The `created` of the step's history entry (RFC 3339).
    pub created: String,
}

/// A layer of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LayerRecord {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
    /// The uncompressed tar's digest.
    pub diff_id: Digest,
}

impl LayerRecord {
    /// The record of a new layer.
    pub(super) fn of(layer: &NewLayer) -> LayerRecord {
        LayerRecord {
            digest: layer.descriptor.digest().clone(),
            size: layer.descriptor.size(),
            media_type: layer.descriptor.media_type().to_string(),
            diff_id: layer.diff_id.clone(),
        }
    }

    /// The layer as the image uses it.
    pub(super) fn layer(&self) -> NewLayer {
        NewLayer {
            descriptor: Descriptor::new(
                MediaType::from(self.media_type.as_str()),
                self.size,
                self.digest.clone(),
            ),
            diff_id: self.diff_id.clone(),
            chunks: None,
            reused: 0,
            corrupt_chunks: 0,
        }
    }
}

/// The step records of a store.
#[derive(Clone)]
pub(super) struct StepRecords {
    store: Store,
    records: Records,
    definitions: Records,
}

impl StepRecords {
    /// The step records of `store`.
    pub(super) fn open(store: &Store) -> Result<StepRecords, StoreError> {
        Ok(StepRecords {
            store: store.clone(),
            records: store.records(NAMESPACE)?,
            definitions: store.records(DEFINITIONS)?,
        })
    }

    /// The record of `key`, if there is one whose layer is in the store or remembered
    /// where it is (a lazy layer from a cache).
    pub(super) fn get(&self, key: &CacheKey) -> Result<Option<StepRecord>, StoreError> {
        let record: Option<StepRecord> = self.records.get(key.hex())?;
        Ok(record.filter(|record| {
            record
                .layer
                .as_ref()
                .is_none_or(|layer| self.store.knows_blob(&layer.digest))
        }))
    }

    /// Whether a record was [marked](StepRecords::define) for a step with `definition`:
    /// the [`step_key`](crate::cache::step_key) of its parent and op without inputs. A
    /// step without one is in no record, so it need not hash its inputs before it runs.
    /// A missing or unreadable mark is `false`.
    pub(super) fn defined(&self, definition: &CacheKey) -> bool {
        matches!(
            self.definitions.get::<bool>(definition.hex()),
            Ok(Some(true))
        )
    }

    /// Marks that `record` is a record of a step with `definition`. The mark lives as
    /// long as the record's layer (and keeps nothing); a record without a layer is not
    /// marked.
    ///
    /// # Errors
    ///
    /// The store's, when the mark cannot be written.
    pub(super) fn define(
        &self,
        definition: &CacheKey,
        record: &StepRecord,
    ) -> Result<(), StoreError> {
        let Some(layer) = &record.layer else {
            return Ok(());
        };
        self.definitions
            .put_weak(definition.hex(), &true, std::slice::from_ref(&layer.digest))
    }

    /// Writes the record of `key`, keeping its layer from prune.
    pub(super) fn put(&self, key: &CacheKey, record: &StepRecord) -> Result<(), StoreError> {
        let roots: Vec<Digest> = record
            .layer
            .iter()
            .map(|layer| layer.digest.clone())
            .collect();
        self.records.put(key.hex(), record, &roots)
    }
}
