//! `RUN`: a command run over the image by the builder's executor, its changes as one
//! layer; keyed by what its bind mounts read besides the parent image.

use oci_spec::image::Digest;

use super::OpHandler;
use crate::build::stage::{BuildRun, StageState};
use crate::context::{Context, FileHashes, SelectOptions};
use crate::events::StepRef;
use crate::executor::{NewLayer, RunInput};
use crate::oci::Image;
use crate::plan::{Mount, Platform, Run, Source};
use crate::resolver::ResolveError;

/// A `RUN` step with the images its mounts name resolved.
pub(super) struct RunOp<'o> {
    run: &'o Run,
    /// The images `--mount=from=<image>` names, by reference.
    images: Vec<(String, Image)>,
}

impl<'o> RunOp<'o> {
    /// Resolves the images the mounts of `run` name, for `platform`.
    pub(super) fn prepare(
        build: &BuildRun<'_>,
        run: &'o Run,
        platform: &Platform,
    ) -> crate::Result<RunOp<'o>> {
        let images = build.mount_images(run, platform)?;
        Ok(RunOp { run, images })
    }
}

impl OpHandler for RunOp<'_> {
    fn inputs(&self, build: &BuildRun<'_>) -> crate::Result<Vec<Digest>> {
        mount_inputs(
            self.run,
            build.context,
            build.hashes,
            |stage| Ok(build.stage_image(stage)?.key.digest().clone()),
            |reference| {
                self.images
                    .iter()
                    .find(|(name, _)| name == reference)
                    .map(|(_, image)| image.digest().clone())
                    .ok_or_else(|| {
                        ResolveError::ImageNotFound {
                            reference: reference.to_owned(),
                        }
                        .into()
                    })
            },
        )
    }

    fn reuses_layer(&self) -> bool {
        true
    }

    fn execute(
        &mut self,
        build: &mut BuildRun<'_>,
        state: &mut StageState,
        step: &StepRef,
    ) -> crate::Result<Option<NewLayer>> {
        build.restore_cache_mounts(self.run)?;
        let input = RunInput {
            store: &build.builder.store,
            step,
            run: self.run,
            image: &state.image,
            stages: &build.stages,
            images: &self.images,
            platform: &state.platform,
            layer_options: &build.layer_options,
            events: build.events,
        };
        build.builder.executor.run(&input)
    }
}

/// The digests of what `run`'s bind mounts read: the content of the selected context
/// path (so a changed file there reruns the step, as in BuildKit), the cache key of
/// the stage, given by `stage_key`, or the digest of the image, given by `image_digest`.
/// Secrets, SSH agents and caches are not keyed.
///
/// # Errors
///
/// The context's errors for a source that is missing or leaves the context.
fn mount_inputs(
    run: &Run,
    context: &Context,
    hashes: &FileHashes,
    stage_key: impl Fn(usize) -> crate::Result<Digest>,
    image_digest: impl Fn(&str) -> crate::Result<Digest>,
) -> crate::Result<Vec<Digest>> {
    let mut inputs = Vec::new();
    for mount in &run.mounts {
        if let Mount::Bind { source, from, .. } = mount {
            match from {
                Source::Context => {
                    let path = match source.trim_start_matches('/') {
                        "" => ".",
                        path => path,
                    };
                    let mut selection = context.select(&[path], &SelectOptions::default())?;
                    inputs.push(selection.digest(hashes)?);
                }
                Source::Stage(index) => inputs.push(stage_key(*index)?),
                Source::Image(reference) => inputs.push(image_digest(reference)?),
            }
        }
    }
    Ok(inputs)
}
