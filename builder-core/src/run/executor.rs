//! [`Runner`] as the build engine's [`StepExecutor`].

use oci_spec::image::Descriptor;

use crate::executor::{NewLayer, RunInput, StepExecutor};

use super::{ImageLayers, RunStep, Runner};

impl StepExecutor for Runner {
    /// Runs the step over the image so far, with the layer options of the build.
    fn run(&self, input: &RunInput<'_>) -> crate::Result<Option<NewLayer>> {
        let stages: Vec<Option<ImageLayers<'_>>> = input
            .stages
            .iter()
            .map(|stage| {
                stage.get().map(|image| ImageLayers {
                    layers: &image.layers,
                    diff_ids: &image.config.rootfs.diff_ids,
                })
            })
            .collect();
        let images: Vec<(&str, ImageLayers<'_>)> = input
            .images
            .iter()
            .map(|(reference, image)| {
                let layers = ImageLayers {
                    layers: image.layers(),
                    diff_ids: image.diff_ids(),
                };
                (reference.as_str(), layers)
            })
            .collect();
        let image = input.image;
        let run = RunStep {
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
            chunks: layer.chunks,
            reused: layer.reused,
            corrupt_chunks: layer.corrupt_chunks,
        }))
    }
}
