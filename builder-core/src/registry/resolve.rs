//! Base images from the store, else from their registry.

use oci_spec::image::Descriptor;

use crate::Error;
use crate::events::Events;
use crate::oci::{Image, OciError};
use crate::plan::{Platform, Reference};
use crate::resolver::{BaseResolver, LocalResolver, ResolveError, image_id};
use crate::store::Store;

use super::client::Client;
use super::pull::pull;

/// Resolves `FROM <image>` as docker does: the store's image when it has one for the
/// platform, else the registry's, pulled into the store. With `always_pull` (`--pull`),
/// the registry is asked every time (a `HEAD`, when nothing changed). Archives
/// (`oci-archive:…`) and image ids are read as [`LocalResolver`] reads them. A local
/// image that cannot be read is an error, never a reason to pull one of that name.
#[derive(Debug)]
pub struct RegistryResolver {
    client: Client,
    always_pull: bool,
}

impl RegistryResolver {
    /// A resolver pulling with `client`; `always_pull` skips the store.
    pub fn new(client: Client, always_pull: bool) -> Self {
        RegistryResolver {
            client,
            always_pull,
        }
    }
}

impl BaseResolver for RegistryResolver {
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
        events: &dyn Events,
    ) -> crate::Result<Descriptor> {
        // An image id (`sha256:<hex>`) names no repository to pull from.
        if image_id(reference).is_some() || crate::oci::ImageSource::is_source(reference) {
            return LocalResolver.resolve(store, reference, platform, events);
        }
        if !self.always_pull {
            match LocalResolver.resolve(store, reference, platform, events) {
                Ok(found) => match fits(store, &found, platform) {
                    Ok(true) => return Ok(found),
                    Ok(false) => {}
                    Err(source) => {
                        return Err(ResolveError::CorruptImage {
                            reference: reference.to_owned(),
                            digest: found.digest().clone(),
                            source: Box::new(source),
                        }
                        .into());
                    }
                },
                Err(Error::Resolve(ResolveError::ImageNotFound { .. })) => {}
                Err(other) => return Err(other),
            }
        }
        let parsed: Reference = reference.parse()?;
        Ok(pull(&self.client, store, &parsed, platform, events)?.descriptor)
    }
}

/// Whether the store's image `descriptor` can serve `platform`: an index with a manifest
/// for it in the store, or a manifest whose config has its OS and architecture (or
/// names none). An index without such a manifest in the store, or with none for
/// `platform`, cannot: the registry may have it.
///
/// # Errors
///
/// Why an image the store lists cannot be read: a blob missing, changed or not valid.
fn fits(store: &Store, descriptor: &Descriptor, platform: &Platform) -> crate::Result<bool> {
    let manifest = match Image::manifest_for(store, descriptor, platform) {
        Ok(manifest) => manifest,
        Err(Error::Oci(OciError::NoPlatform { .. })) => return Ok(false),
        Err(other) => return Err(other),
    };
    if manifest.digest() != descriptor.digest() && !store.has_blob(manifest.digest()) {
        return Ok(false);
    }
    let config = Image::load(store, descriptor, platform)?.config().clone();
    if config.os.is_empty() || config.architecture.is_empty() {
        return Ok(true);
    }
    let found = Platform::new(&config.os, &config.architecture, None);
    Ok(found.os() == platform.os() && found.architecture() == platform.architecture())
}
