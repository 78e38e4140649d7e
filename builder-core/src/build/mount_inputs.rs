//! What a `RUN` step reads besides its parent image, for its cache key.

use oci_spec::image::Digest;

use crate::context::{Context, FileHashes, SelectOptions};
use crate::plan::{Mount, Run, Source};

/// The digests of what `run`'s bind mounts read: the content of the selected context
/// path (so a changed file there reruns the step, as in BuildKit), the cache key of
/// the stage, given by `stage_key`, or the digest of the image, given by `image_digest`.
/// Secrets, SSH agents and caches are not keyed.
///
/// # Errors
///
/// The context's errors for a source that is missing or leaves the context.
pub(super) fn mount_inputs(
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
