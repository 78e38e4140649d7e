//! The seam through which steps that run commands (`RUN`) are executed.

use std::sync::OnceLock;

use oci_spec::image::{Descriptor, Digest};

use crate::events::{Events, StepRef};
use crate::layer::{ChunkIndex, LayerOptions};
use crate::oci::Image;
use crate::plan::{Platform, Run};
use crate::store::Store;

use super::{BuildError, StageImage};

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

/// A [`StepExecutor`] for builds without a sandbox: every `RUN` fails with
/// [`BuildError::RunUnavailable`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRun;

impl StepExecutor for NoRun {
    fn run(&self, _input: &RunInput<'_>) -> crate::Result<Option<NewLayer>> {
        Err(BuildError::RunUnavailable.into())
    }
}
