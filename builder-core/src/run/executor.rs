//! [`Runner`] as the build engine's [`StepExecutor`].

use oci_spec::image::Descriptor;

use crate::build::{NewLayer, RunInput as BuildInput, StepExecutor};

use super::{RunInput, Runner};

impl StepExecutor for Runner {
    /// Runs the step over the image so far, with the layer options of the build.
    fn run(&self, input: &BuildInput<'_>) -> crate::Result<Option<NewLayer>> {
        let stages: Vec<Option<&[Descriptor]>> = input
            .stages
            .iter()
            .map(|stage| stage.as_ref().map(|image| image.layers.as_slice()))
            .collect();
        let images: Vec<(&str, &[Descriptor])> = input
            .images
            .iter()
            .map(|(reference, image)| (reference.as_str(), image.layers()))
            .collect();
        let image = input.image;
        let run = RunInput {
            layers: &image.layers,
            diff_ids: &image.config.rootfs.diff_ids,
            config: &image.config.config,
            run: input.run,
            stages: &stages,
            images: &images,
        };
        let layer = self.run_with(&run, input.layer_options, input.step, input.events)?;
        Ok(layer.map(|layer| NewLayer {
            descriptor: Descriptor::new(layer.media_type, layer.size, layer.digest),
            diff_id: layer.diff_id,
        }))
    }
}
