//! Tags: `index.json` maps full references to manifest (or index) descriptors.
//!
//! Each tag is one entry of `index.json` whose `org.opencontainers.image.ref.name`
//! annotation holds the full reference (`docker.io/library/busybox:latest`). An image
//! that lost its last tag stays as an entry without the annotation (`<none>`), until
//! [`Store::remove_image`] deletes it. Invariant: per digest, either tagged entries or
//! one untagged entry.

use std::io;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageIndexBuilder, MediaType};

use crate::plan::Reference;
use crate::spec::REF_NAME;

use super::{Store, StoreError};
use crate::atomic;

/// One entry of the store's index: an image and its name, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The full reference, `None` for an untagged image.
    pub name: Option<Reference>,
    /// The manifest or index (without the name annotation).
    pub descriptor: Descriptor,
}

/// What [`Store::remove_image`] did, in order, as `docker rmi` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// This name was removed.
    Untagged(Reference),
    /// The image with this digest left the index (its blobs go at the next prune).
    Deleted(Digest),
}

impl Store {
    /// Every image in the index, tagged ones by name, then untagged ones by digest.
    ///
    /// # Errors
    ///
    /// [`StoreError::ReadIndex`] or [`StoreError::ParseIndex`] when the index is unreadable.
    pub fn tags(&self) -> Result<Vec<Tagged>, StoreError> {
        let mut entries: Vec<Tagged> = self.read_index()?.manifests().iter().map(entry).collect();
        entries.sort_by(|a, b| {
            (a.name.is_none(), &a.name, a.descriptor.digest().as_ref()).cmp(&(
                b.name.is_none(),
                &b.name,
                b.descriptor.digest().as_ref(),
            ))
        });
        Ok(entries)
    }

    /// The image a reference names: by tag, or by digest when it has one (a digest wins
    /// over a tag, as in docker). `None` when the store has no such image.
    ///
    /// # Errors
    ///
    /// [`StoreError::ReadIndex`] or [`StoreError::ParseIndex`] when the index is unreadable.
    pub fn resolve(&self, reference: &Reference) -> Result<Option<Descriptor>, StoreError> {
        let entries = self.tags()?;
        let found = match reference.digest() {
            Some(digest) => entries
                .into_iter()
                .find(|e| e.descriptor.digest() == digest),
            None => entries
                .into_iter()
                .find(|e| e.name.as_ref() == Some(reference)),
        };
        Ok(found.map(|e| e.descriptor))
    }

    /// The image a user names on the command line: a reference (as in
    /// [`resolve`](Store::resolve)), a digest `sha256:<hex>`, or a unique prefix of the
    /// hex of an image's digest (its id).
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchImage`] when nothing matches, [`StoreError::AmbiguousId`] when
    /// an id prefix matches several images, and the errors of [`tags`](Store::tags).
    pub fn find_image(&self, name: &str) -> Result<Descriptor, StoreError> {
        let entries = self.tags()?;
        if let Ok(reference) = name.parse::<Reference>()
            && let Some(found) = entries.iter().find(|e| e.name.as_ref() == Some(&reference))
        {
            return Ok(found.descriptor.clone());
        }
        let digest = find_in(&entries, name)?;
        let found = entries
            .into_iter()
            .find(|e| e.descriptor.digest() == &digest)
            .expect("find_in returns the digest of an entry");
        Ok(found.descriptor)
    }

    /// Points `name` at `image`. The image the name pointed at before, if another, stays
    /// in the store, untagged unless it has other names.
    ///
    /// # Errors
    ///
    /// [`StoreError::TagWithDigest`] when `name` has a digest, and the errors of reading
    /// and writing the index.
    pub fn tag(&self, name: &Reference, image: &Descriptor) -> Result<(), StoreError> {
        if name.digest().is_some() {
            return Err(StoreError::TagWithDigest {
                name: name.to_string(),
            });
        }
        // Nothing to write when the name already points there (an unchanged rebuild).
        if self
            .resolve(name)?
            .is_some_and(|current| current.digest() == image.digest())
        {
            return Ok(());
        }
        self.update_index(|entries| {
            let before = take_named(entries, name);
            entries.retain(|e| !(e.name.is_none() && e.descriptor.digest() == image.digest()));
            entries.push(Tagged {
                name: Some(name.clone()),
                descriptor: plain(image),
            });
            if let Some(before) = before {
                keep_untagged(entries, before.descriptor);
            }
            Ok(())
        })
    }

    /// Records `image` in the index without a name, unless it is there already (tagged
    /// or not): an image built or loaded without a tag, listed as `<none>`.
    ///
    /// # Errors
    ///
    /// The errors of reading and writing the index.
    pub fn add_image(&self, image: &Descriptor) -> Result<(), StoreError> {
        if self
            .tags()?
            .iter()
            .any(|entry| entry.descriptor.digest() == image.digest())
        {
            return Ok(());
        }
        self.update_index(|entries| {
            keep_untagged(entries, plain(image));
            Ok(())
        })
    }

    /// Removes the tag `name`; its image stays, untagged unless it has other names.
    /// Returns the image the name pointed at, `None` when there was no such tag.
    ///
    /// # Errors
    ///
    /// The errors of reading and writing the index.
    pub fn untag(&self, name: &Reference) -> Result<Option<Descriptor>, StoreError> {
        self.update_index(|entries| {
            let before = take_named(entries, name);
            Ok(before.map(|before| {
                keep_untagged(entries, before.descriptor.clone());
                before.descriptor
            }))
        })
    }

    /// Removes an image as `docker rmi` does. A tag name removes that tag, and the image
    /// when it was its last name. An id or digest removes every name of the image and the
    /// image, but refuses an image with several names unless `force` is set. The image's
    /// blobs are freed by the next [`prune`](Store::prune).
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchImage`], [`StoreError::AmbiguousId`],
    /// [`StoreError::MultipleTags`], and the errors of reading and writing the index.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Removed>, StoreError> {
        let by_tag = name
            .parse::<Reference>()
            .ok()
            .filter(|reference| reference.digest().is_none());
        self.update_index(|entries| {
            if let Some(reference) = &by_tag
                && let Some(gone) = take_named(entries, reference)
            {
                let mut removed = vec![Removed::Untagged(reference.clone())];
                let digest = gone.descriptor.digest();
                if !entries.iter().any(|e| e.descriptor.digest() == digest) {
                    removed.push(Removed::Deleted(digest.clone()));
                }
                return Ok(removed);
            }
            let image = find_in(entries, name)?;
            let names: Vec<Reference> = entries
                .iter()
                .filter(|e| e.descriptor.digest() == &image)
                .filter_map(|e| e.name.clone())
                .collect();
            if names.len() > 1 && !force {
                return Err(StoreError::MultipleTags {
                    id: name.to_owned(),
                    count: names.len(),
                });
            }
            entries.retain(|e| e.descriptor.digest() != &image);
            let mut removed: Vec<Removed> = names.into_iter().map(Removed::Untagged).collect();
            removed.push(Removed::Deleted(image));
            Ok(removed)
        })
    }

    /// Reads `index.json`.
    pub(super) fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(|source| StoreError::ReadIndex {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::ParseIndex { path, source })
    }

    /// Runs `change` on the index entries under the index lock and writes the result.
    fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Vec<Tagged>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock_exclusive("index")?;
        let mut entries: Vec<Tagged> = self.read_index()?.manifests().iter().map(entry).collect();
        let result = change(&mut entries)?;
        write_index(self, entries)?;
        Ok(result)
    }

    pub(super) fn index_path(&self) -> std::path::PathBuf {
        self.root.join("index.json")
    }
}

/// The bytes of an index without entries.
pub(super) fn empty_index() -> Vec<u8> {
    index_bytes(Vec::new()).expect("an empty index encodes")
}

/// Writes `entries` as `index.json`.
fn write_index(store: &Store, entries: Vec<Tagged>) -> Result<(), StoreError> {
    let path = store.index_path();
    let bytes = index_bytes(entries).map_err(|source| StoreError::WriteFile {
        path: path.clone(),
        source: io::Error::other(source),
    })?;
    atomic::write(&path, &bytes).map_err(|source| StoreError::WriteFile { path, source })
}

/// The bytes of an index of `entries`, sorted so that equal content gives equal bytes.
fn index_bytes(mut entries: Vec<Tagged>) -> Result<Vec<u8>, serde_json::Error> {
    entries.sort_by(|a, b| {
        (&a.name, a.descriptor.digest().as_ref()).cmp(&(&b.name, b.descriptor.digest().as_ref()))
    });
    let manifests: Vec<Descriptor> = entries
        .into_iter()
        .map(|tagged| {
            let mut descriptor = tagged.descriptor;
            if let Some(name) = tagged.name {
                descriptor.set_annotations(Some(
                    [(REF_NAME.to_owned(), name.to_string())]
                        .into_iter()
                        .collect(),
                ));
            }
            descriptor
        })
        .collect();
    let index = ImageIndexBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("an index with schema version and manifests is complete");
    crate::spec::canonical_json(&index)
}

/// An index entry as a [`Tagged`]: its name from the annotation (an annotation that is
/// not a valid reference, written by another tool, counts as no name).
fn entry(descriptor: &Descriptor) -> Tagged {
    let name = descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .and_then(|name| name.parse::<Reference>().ok())
        .filter(|name| name.digest().is_none());
    Tagged {
        name,
        descriptor: plain(descriptor),
    }
}

/// `descriptor` without annotations.
fn plain(descriptor: &Descriptor) -> Descriptor {
    let mut plain = descriptor.clone();
    plain.set_annotations(None);
    plain
}

/// Removes and returns the entry named `name`.
fn take_named(entries: &mut Vec<Tagged>, name: &Reference) -> Option<Tagged> {
    let at = entries.iter().position(|e| e.name.as_ref() == Some(name))?;
    Some(entries.remove(at))
}

/// Adds an untagged entry for `image` unless another entry still has its digest.
fn keep_untagged(entries: &mut Vec<Tagged>, image: Descriptor) {
    if !entries
        .iter()
        .any(|e| e.descriptor.digest() == image.digest())
    {
        entries.push(Tagged {
            name: None,
            descriptor: image,
        });
    }
}

/// The digest of the image `name` (a digest, `name@digest`, or an id prefix) among
/// `entries`.
fn find_in(entries: &[Tagged], name: &str) -> Result<Digest, StoreError> {
    if let Ok(reference) = name.parse::<Reference>()
        && let Some(digest) = reference.digest()
        && entries.iter().any(|e| e.descriptor.digest() == digest)
    {
        return Ok(digest.clone());
    }
    let no_such = || StoreError::NoSuchImage {
        name: name.to_owned(),
    };
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.is_empty() || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(no_such());
    }
    let mut found: Vec<&Digest> = entries
        .iter()
        .map(|e| e.descriptor.digest())
        .filter(|d| d.algorithm().as_ref() == "sha256" && d.digest().starts_with(hex))
        .collect();
    found.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    found.dedup();
    match found.as_slice() {
        [] => Err(no_such()),
        [one] => Ok((*one).clone()),
        many => Err(StoreError::AmbiguousId {
            prefix: name.to_owned(),
            count: many.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        (dir, store)
    }

    fn image(store: &Store, content: &str) -> Descriptor {
        let digest = store.put_blob(content.as_bytes()).expect("put blob");
        Descriptor::new(MediaType::ImageManifest, content.len() as u64, digest)
    }

    fn r(text: &str) -> Reference {
        text.parse().expect("valid test reference")
    }

    fn listing(store: &Store) -> Vec<(Option<String>, Digest)> {
        store
            .tags()
            .expect("tags")
            .into_iter()
            .map(|t| (t.name.map(|n| n.familiar()), t.descriptor.digest().clone()))
            .collect()
    }

    #[test]
    fn retagging_leaves_the_old_image_untagged() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let (one, two) = (image(&store, "one"), image(&store, "two"));
        store.tag(&r("app"), &one)?;
        assert_eq!(store.resolve(&r("app:latest"))?, Some(one.clone()));
        store.tag(&r("app"), &two)?;
        assert_eq!(
            listing(&store),
            [
                (Some("app:latest".to_owned()), two.digest().clone()),
                (None, one.digest().clone())
            ]
        );
        // Tagging the untagged image again replaces its `<none>` entry.
        store.tag(&r("old"), &one)?;
        assert_eq!(listing(&store).len(), 2);
        let index = std::fs::read_to_string(store.index_path()).expect("index");
        assert!(
            index.contains(r#""org.opencontainers.image.ref.name":"docker.io/library/app:latest""#)
        );
        Ok(())
    }

    #[test]
    fn an_image_with_two_names_stays_tagged_when_one_moves() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let (one, two) = (image(&store, "one"), image(&store, "two"));
        store.tag(&r("a"), &one)?;
        store.tag(&r("b"), &one)?;
        store.tag(&r("a"), &two)?;
        assert_eq!(
            listing(&store),
            [
                (Some("a:latest".to_owned()), two.digest().clone()),
                (Some("b:latest".to_owned()), one.digest().clone()),
            ]
        );
        assert_eq!(store.untag(&r("b"))?, Some(one.clone()));
        assert_eq!(store.untag(&r("b"))?, None);
        assert_eq!(listing(&store)[1], (None, one.digest().clone()));
        Ok(())
    }

    #[test]
    fn find_image_by_name_digest_and_id_prefix() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let one = image(&store, "one");
        store.tag(&r("localhost:5000/app:1"), &one)?;
        let hex = one.digest().digest().to_owned();
        for name in [
            "localhost:5000/app:1".to_owned(),
            one.digest().to_string(),
            hex[..12].to_owned(),
            format!("sha256:{}", &hex[..5]),
            format!("localhost:5000/app@{}", one.digest()),
        ] {
            assert_eq!(store.find_image(&name)?, one, "{name}");
        }
        assert_eq!(
            store.find_image("app:2").unwrap_err().to_string(),
            "no such image `app:2`"
        );
        Ok(())
    }

    #[test]
    fn tag_names_must_not_have_a_digest() {
        let (_dir, store) = store();
        let one = image(&store, "one");
        let name = r(&format!("app@{}", one.digest()));
        assert_eq!(
            store.tag(&name, &one).unwrap_err().to_string(),
            format!(
                "cannot tag `docker.io/library/app@{}`: a tag name must not contain a digest",
                one.digest()
            )
        );
    }

    #[test]
    fn rmi_follows_docker() -> Result<(), StoreError> {
        let (_dir, store) = store();
        let (one, two) = (image(&store, "one"), image(&store, "two"));
        store.tag(&r("a"), &one)?;
        store.tag(&r("b"), &one)?;
        store.tag(&r("c"), &two)?;
        // A tag of an image with another name only untags.
        assert_eq!(store.remove_image("a", false)?, [Removed::Untagged(r("a"))]);
        // The last tag deletes the image.
        assert_eq!(
            store.remove_image("b", false)?,
            [
                Removed::Untagged(r("b")),
                Removed::Deleted(one.digest().clone())
            ]
        );
        // By id: refused with several names unless forced.
        store.tag(&r("d"), &two)?;
        let id = &two.digest().digest()[..12];
        assert_eq!(
            store.remove_image(id, false).unwrap_err().to_string(),
            format!("unable to delete `{id}` (must be forced): image is tagged in 2 repositories")
        );
        assert_eq!(
            store.remove_image(id, true)?,
            [
                Removed::Untagged(r("c")),
                Removed::Untagged(r("d")),
                Removed::Deleted(two.digest().clone())
            ]
        );
        assert!(store.tags()?.is_empty());
        // An untagged image goes by id.
        store.tag(&r("e"), &one)?;
        store.tag(&r("e"), &two)?;
        assert_eq!(
            store.remove_image(one.digest().as_ref(), false)?,
            [Removed::Deleted(one.digest().clone())]
        );
        assert_eq!(
            store
                .remove_image("nothing", false)
                .unwrap_err()
                .to_string(),
            "no such image `nothing`"
        );
        Ok(())
    }
}
