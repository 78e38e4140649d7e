//! Resolving a base image (`FROM`, `COPY --from=<image>`) to an image in the store.

use oci_spec::image::Descriptor;

use crate::events::Events;
use crate::oci::{ImageSource, import};
use crate::plan::Platform;
use crate::store::{Store, StoreError};

use super::BuildError;

/// Finds the image a reference names and makes sure it is in the store.
///
/// The engine calls it for every `FROM <image>` and `COPY --from=<image>`; the returned
/// manifest or index must be in `store`, and the engine then picks the manifest for
/// `platform`. A registry resolver (pulling what the store lacks) plugs in here.
pub trait BaseResolver: Send + Sync {
    /// The image `reference` names, for `platform`, now in `store`.
    ///
    /// # Errors
    ///
    /// [`BuildError::ImageNotFound`] when no source has it, or why it could not be read.
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
        events: &dyn Events,
    ) -> crate::Result<Descriptor>;
}

/// Resolves from the local store, or imports from a file: `oci-archive:PATH[:REF]`,
/// `docker-archive:PATH`, `oci:DIR[:REF]` (the first image of the source when no `REF`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalResolver;

impl BaseResolver for LocalResolver {
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        _platform: &Platform,
        _events: &dyn Events,
    ) -> crate::Result<Descriptor> {
        if ImageSource::is_source(reference) {
            let source: ImageSource = reference.parse()?;
            let imported = import(store, &source)?;
            return imported
                .into_iter()
                .next()
                .map(|image| image.descriptor)
                .ok_or_else(|| {
                    BuildError::ImageNotFound {
                        reference: reference.to_owned(),
                    }
                    .into()
                });
        }
        match store.find_image(reference) {
            Ok(descriptor) => Ok(descriptor),
            Err(StoreError::NoSuchImage { .. }) => Err(BuildError::ImageNotFound {
                reference: reference.to_owned(),
            }
            .into()),
            Err(other) => Err(other.into()),
        }
    }
}
