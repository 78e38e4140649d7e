//! Resolving a base image (`FROM`, `COPY --from=<image>`) to an image in the store: the
//! [`BaseResolver`] trait the build engine and the Dockerfile frontend call, and the
//! [`LocalResolver`] that reads the store and image files. The registry's resolver
//! implements the same trait above this module, and the frontend picks one.
//!
//! A base is named by a reference (a tag, or a digest: `alpine@sha256:…`), by an image's
//! full id (`sha256:<hex>`, or its 64 hex digits alone), or by an image source
//! (`oci-archive:PATH`). Unlike the command line (`mkimage rmi 3f2a`), a base is never
//! found by a prefix of an id: `FROM 3f2a` names the image `3f2a`, as it does for docker,
//! whose builder takes a full id or a digest there and no prefix.

mod error;

use oci_spec::image::{Descriptor, Digest};

use crate::events::Events;
use crate::oci::{ImageSource, import};
use crate::plan::{Platform, Reference};
use crate::store::Store;

pub use error::ResolveError;

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
    /// [`ResolveError::ImageNotFound`] when no source has it, or why it could not be read.
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
                    ResolveError::ImageNotFound {
                        reference: reference.to_owned(),
                    }
                    .into()
                });
        }
        let found = match image_id(reference) {
            Some(id) => store
                .tags()?
                .into_iter()
                .map(|entry| entry.descriptor)
                .find(|descriptor| descriptor.digest() == &id),
            None => store.resolve(&reference.parse::<Reference>()?)?,
        };
        found.ok_or_else(|| {
            ResolveError::ImageNotFound {
                reference: reference.to_owned(),
            }
            .into()
        })
    }
}

/// The image id `reference` is, when it is one: `sha256:` and 64 hex digits, or the 64
/// digits alone. Such a name is never a repository, so it is never pulled.
pub(crate) fn image_id(reference: &str) -> Option<Digest> {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    let is_id = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_id
        .then(|| format!("sha256:{hex}").parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoEvents;
    use crate::oci::{ImageConfig, write_image};

    // See: issue 13
    #[test]
    fn bases_are_found_by_name_digest_or_full_id_never_by_prefix() -> crate::Result<()> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path())?;
        let image = write_image(&store, &ImageConfig::default(), &[])?;
        store.tag(&"localhost/app:1".parse()?, &image)?;
        let hex = image.digest().digest().to_owned();
        let find = |name: &str| LocalResolver.resolve(&store, name, &Platform::host(), &NoEvents);
        for name in [
            "localhost/app:1".to_owned(),
            format!("localhost/app@{}", image.digest()),
            format!("sha256:{hex}"),
            hex.clone(),
        ] {
            assert_eq!(find(&name)?.digest(), image.digest(), "{name}");
        }
        // A prefix of the id is a name, here of no image.
        for name in [&hex[..12], &format!("sha256:{}", &hex[..12])] {
            assert_eq!(
                find(name).unwrap_err().to_string(),
                format!("image `{name}` is not in the local store")
            );
        }
        Ok(())
    }
}
