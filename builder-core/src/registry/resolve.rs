//! Base images from the store, else from their registry.

use oci_spec::image::Descriptor;

use crate::Error;
use crate::build::{BaseResolver, BuildError, LocalResolver};
use crate::events::Events;
use crate::oci::Image;
use crate::plan::Platform;
use crate::store::Store;

use super::client::Client;
use super::pull::pull;
use super::reference::Reference;

/// Resolves `FROM <image>` as docker does: the store's image when it has one for the
/// platform, else the registry's, pulled into the store. With `always_pull` (`--pull`),
/// the registry is asked every time (a `HEAD`, when nothing changed). Archives
/// (`oci-archive:…`) are read as [`LocalResolver`] reads them.
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
        // A bare image digest (`sha256:<hex>`) names no repository to pull from.
        let image_id = reference
            .strip_prefix("sha256:")
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if image_id || crate::oci::ImageSource::is_source(reference) {
            return LocalResolver.resolve(store, reference, platform, events);
        }
        if !self.always_pull {
            match LocalResolver.resolve(store, reference, platform, events) {
                Ok(found) if fits(store, &found, platform) => return Ok(found),
                Ok(_) | Err(Error::Build(BuildError::ImageNotFound { .. })) => {}
                Err(other) => return Err(other),
            }
        }
        let parsed: Reference = reference.parse()?;
        Ok(pull(&self.client, store, &parsed, platform, events)?.descriptor)
    }
}

/// Whether the store's image `descriptor` can serve `platform`: an index with a manifest
/// for it in the store, or a manifest whose config has its OS and architecture (or
/// names none).
fn fits(store: &Store, descriptor: &Descriptor, platform: &Platform) -> bool {
    match Image::load(store, descriptor, platform) {
        Ok(image) => {
            let config = image.config();
            if config.os.is_empty() || config.architecture.is_empty() {
                return true;
            }
            let found = Platform::new(&config.os, &config.architecture, None);
            found.os() == platform.os() && found.architecture() == platform.architecture()
        }
        Err(_) => false,
    }
}
