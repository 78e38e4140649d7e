//! Writing images from the store as an OCI image-layout tarball or a docker archive.
//!
//! Both formats are one tar stream, written in one pass with blobs streamed from the
//! store and their digests checked as they flow ([`Store::open_verified`]): a corrupt
//! blob fails the write before its last bytes, and before `index.json`, which comes last. The tar is deterministic: entries sorted by path, mode 0644 (0755 for
//! directories), owner 0:0, mtime 0, no user names. The docker format is an OCI layout
//! too, plus docker's `manifest.json` (as `docker save` writes since Docker 25), so
//! OCI tools and `docker load`/`podman load` read the same file.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use oci_spec::image::{
    Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};
use serde::Serialize;

use crate::plan::{Platform, Reference};
use crate::spec::{CONTAINERD_NAME, REF_NAME, canonical_json, media_type};
use crate::store::{Store, StoreError};

use super::{Image, OciError};

/// The kind of archive [`write_archive`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI image layout (`oci-layout`, `index.json`, `blobs/`): an index entry per
    /// name, its tag in `org.opencontainers.image.ref.name` and its full name in
    /// `io.containerd.image.name`, as BuildKit's OCI exporter writes them.
    Oci,
    /// An OCI image layout that is also a docker archive: the same `index.json`, plus
    /// `manifest.json` with `Config`, `RepoTags` and `Layers` pointing into `blobs/`.
    Docker,
}

/// An image to write, with the names it gets in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The image's manifest or index, in the store.
    pub descriptor: Descriptor,
    /// Its names; none leaves it unnamed.
    pub names: Vec<Reference>,
}

/// One entry of docker's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Writes `images` from `store` to `sink` as one archive of `format`. For the docker
/// format, an image that is an index appears in `manifest.json` by its manifest for
/// `platform`.
///
/// # Errors
///
/// [`OciError::WriteArchive`] when the sink fails, and the errors of reading the images
/// from the store.
pub fn write_archive<W: Write>(
    store: &Store,
    images: &[ArchiveImage],
    format: ArchiveFormat,
    platform: &Platform,
    sink: W,
) -> crate::Result<W> {
    // Each blob's path in the archive, its digest and the first image it is of.
    let mut blobs: BTreeMap<String, (Digest, String)> = BTreeMap::new();
    for image in images {
        let name = image_name(image);
        collect(store, &image.descriptor, &name, &mut blobs).map_err(corrupt_in(&name))?;
    }

    let mut manifests = Vec::new();
    for image in images {
        if image.names.is_empty() {
            manifests.push(image.descriptor.clone());
        }
        for name in &image.names {
            let mut annotations = std::collections::HashMap::new();
            // A name with only a digest has no tag to put in `ref.name`.
            if let Some(tag) = name.tag() {
                annotations.insert(REF_NAME.to_owned(), tag.to_owned());
            }
            annotations.insert(CONTAINERD_NAME.to_owned(), name.to_string());
            let mut descriptor = image.descriptor.clone();
            descriptor.set_annotations(Some(annotations));
            manifests.push(descriptor);
        }
    }
    let index: ImageIndex = ImageIndexBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("an index with schema version and manifests is complete");
    let encode = |what| move |source| OciError::Encode { what, source };
    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    small.insert(
        "index.json".to_owned(),
        canonical_json(&index).map_err(encode("index"))?,
    );
    small.insert(
        "oci-layout".to_owned(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    if format == ArchiveFormat::Docker {
        let mut entries = Vec::new();
        for image in images {
            let loaded = Image::load(store, &image.descriptor, platform)
                .map_err(corrupt_in(&image_name(image)))?;
            entries.push(DockerEntry {
                config: blob_path(loaded.config_descriptor().digest()),
                repo_tags: image
                    .names
                    .iter()
                    .filter(|name| name.tag().is_some() && name.digest().is_none())
                    .map(Reference::familiar)
                    .collect(),
                layers: loaded
                    .layers()
                    .iter()
                    .map(|l| blob_path(l.digest()))
                    .collect(),
            });
        }
        small.insert(
            "manifest.json".to_owned(),
            serde_json::to_vec(&entries).map_err(encode("manifest"))?,
        );
    }

    let write = |source| OciError::WriteArchive { source };
    let mut tar = tar::Builder::new(sink);
    let mut dirs: Vec<String> = vec!["blobs/".to_owned()];
    for path in blobs.keys() {
        let dir = path[..=path.rfind('/').expect("blob paths have a directory")].to_owned();
        if dirs.last() != Some(&dir) {
            dirs.push(dir);
        }
    }
    for dir in &dirs {
        append(&mut tar, dir, tar::EntryType::Directory, 0, io::empty()).map_err(write)?;
    }
    for (path, (digest, image)) in &blobs {
        let mut blob = store.open_verified(digest)?;
        let size = blob.size();
        append(&mut tar, path, tar::EntryType::Regular, size, &mut blob).map_err(|source| {
            match blob.corruption() {
                Some(corrupt) => corrupt_blob(image, corrupt),
                None => write(source).into(),
            }
        })?;
    }
    for (path, bytes) in &small {
        append(
            &mut tar,
            path,
            tar::EntryType::Regular,
            bytes.len() as u64,
            &bytes[..],
        )
        .map_err(write)?;
    }
    Ok(tar.into_inner().map_err(write)?)
}

/// How messages name `image`: by its first name, else by its digest.
fn image_name(image: &ArchiveImage) -> String {
    match image.names.first() {
        Some(name) => name.familiar(),
        None => image.descriptor.digest().to_string(),
    }
}

/// Makes an error of a corrupt blob of the store name the image `image` it is of.
fn corrupt_in(image: &str) -> impl Fn(crate::Error) -> crate::Error + '_ {
    move |error| match error {
        crate::Error::Store(corrupt @ StoreError::BlobCorrupt { .. }) => {
            corrupt_blob(image, corrupt)
        }
        other => other,
    }
}

/// The error of the corrupt blob `corrupt` of the image `image`.
fn corrupt_blob(image: &str, corrupt: StoreError) -> crate::Error {
    OciError::CorruptBlob {
        image: image.to_owned(),
        source: Box::new(corrupt),
    }
    .into()
}

/// The path of a blob in an image layout.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.digest())
}

/// Adds the blobs of the image `descriptor` names to `blobs`: an index with the
/// manifests of it that the store has, a manifest with its config and layers.
fn collect(
    store: &Store,
    descriptor: &Descriptor,
    image: &str,
    blobs: &mut BTreeMap<String, (Digest, String)>,
) -> crate::Result<()> {
    let digest = descriptor.digest();
    let kind = descriptor.media_type().to_string();
    let bytes = store.read_blob(digest)?;
    let mut add = |digest: &Digest| {
        blobs
            .entry(blob_path(digest))
            .or_insert_with(|| (digest.clone(), image.to_owned()));
    };
    add(digest);
    let parse = |what, source| OciError::ParseBlob {
        what,
        digest: digest.clone(),
        source,
    };
    if media_type::is_index(&kind) {
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| parse("index", e))?;
        for child in index.manifests() {
            if store.has_blob(child.digest()) {
                collect(store, child, image, blobs)?;
            }
        }
    } else if media_type::is_manifest(&kind) {
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| parse("manifest", e))?;
        for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
            // Fails now, before anything is written, when a blob is missing; fetches a
            // layer the store only knows the place of.
            store.ensure_blob(blob.digest())?;
            add(blob.digest());
        }
    } else {
        return Err(OciError::NotAnImage {
            digest: digest.clone(),
            media_type: kind,
        }
        .into());
    }
    Ok(())
}

/// Appends one entry with fixed metadata.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    tar.append(&header, data)
}
