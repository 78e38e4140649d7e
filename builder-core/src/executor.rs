//! The contract between the build engine and whatever runs its `RUN` steps: the
//! [`StepExecutor`] trait and the types it takes and returns.
//!
//! The engine (`build`) calls an executor and the sandboxed runner (`run`) is one; both
//! depend on this module and not on each other, and the frontend wires them together.

use std::sync::OnceLock;

use oci_spec::image::{Descriptor, Digest};

use crate::cache::CacheKey;
use crate::events::{Events, StepRef};
use crate::layer::{ChunkIndex, LayerOptions};
use crate::oci::{Image, ImageConfig};
use crate::plan::{Platform, Run};
use crate::store::Store;

/// The image a stage produced (or a stage is at): its config and layers.
#[derive(Debug, Clone, PartialEq)]
pub struct StageImage {
    /// The config; its `rootfs.diff_ids` match `layers`.
    pub config: ImageConfig,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// The cache key of the last step (or of the base).
    pub key: CacheKey,
}

/// A layer a step wrote into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    /// The blob's descriptor (media type, digest, size).
    pub descriptor: Descriptor,
    /// The SHA-256 of the uncompressed tar.
    pub diff_id: Digest,
    /// The blob's compressed chunks, for the next build of the step to reuse; `None`
    /// when unknown or uncompressed.
    pub chunks: Option<ChunkIndex>,
    /// The bytes of the tar whose compressed form was copied from the step's previous
    /// layer ([`LayerOptions::reuse`]) rather than compressed.
    pub reused: u64,
    /// The chunks of the step's previous layer that could not be read or did not match
    /// its chunk index: compressed instead, and a sign that the layer's blob or index is
    /// corrupt ([`WrittenLayer::corrupt_chunks`](crate::layer::WrittenLayer::corrupt_chunks)).
    pub corrupt_chunks: u64,
}

/// What a `RUN` step runs over and with.
pub struct RunInput<'a> {
    /// The store holding every layer and where the new layer goes.
    pub store: &'a Store,
    /// The step, for events.
    pub step: &'a StepRef,
    /// What to run.
    pub run: &'a Run,
    /// The image so far: its config (env, user, working directory, shell) and layers.
    pub image: &'a StageImage,
    /// The results of the stages built so far, by plan index (empty: not built), for
    /// `--mount=from=<stage>`.
    pub stages: &'a [OnceLock<StageImage>],
    /// The images `--mount=from=<image>` names, by reference, resolved for `platform`.
    pub images: &'a [(String, Image)],
    /// The platform the stage is built for.
    pub platform: &'a Platform,
    /// How to write the layer.
    pub layer_options: &'a LayerOptions,
    /// Where to report output.
    pub events: &'a dyn Events,
}

/// Executes `RUN` steps: runs the command over the image and writes its changes as a
/// layer.
pub trait StepExecutor: Send + Sync {
    /// Runs `input.run`; returns the layer of its changes, `None` when it changed nothing.
    ///
    /// # Errors
    ///
    /// Why the command could not run or failed.
    fn run(&self, input: &RunInput<'_>) -> crate::Result<Option<NewLayer>>;
}
