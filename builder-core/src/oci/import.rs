//! Reading images into the store: OCI image layouts (tarballs and directories) and docker
//! archives (`docker save`).
//!
//! Blobs are copied as they are, streamed and verified against their digests; layers are
//! never recompressed. An OCI layout keeps its manifests and digests. A docker archive
//! has no manifest of its own: its config is kept byte for byte and an OCI manifest is
//! written for it, with each layer's media type taken from its first bytes (a plain
//! `layer.tar` stays an uncompressed layer).

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use crate::archive::{Encoding, decompress};
use crate::digest::sha256;
use crate::layer::Codec;
use crate::plan::Reference;
use crate::spec::{CONTAINERD_NAME, REF_NAME, media_type};
use crate::store::{Store, StoreError};

use super::archive::Files;
use super::manifest::store_manifest;
use super::{ImageConfig, OciError};

/// Where an image comes from, written as skopeo writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `oci-archive:PATH[:REF]`: an OCI image-layout tarball, optionally the image
    /// named `REF` in it.
    OciArchive {
        /// The tarball.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` (or full name) to pick.
        name: Option<String>,
    },
    /// `docker-archive:PATH`: a `docker save` tarball.
    DockerArchive {
        /// The tarball.
        path: PathBuf,
    },
    /// `oci:DIR[:REF]`: an OCI image-layout directory.
    OciDir {
        /// The directory.
        path: PathBuf,
        /// The name to pick.
        name: Option<String>,
    },
}

/// An image read into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Its manifest or index, now in the store.
    pub descriptor: Descriptor,
    /// The names the source gave it (full references), possibly none.
    pub names: Vec<Reference>,
}

impl ImageSource {
    /// Whether `reference` names a file source (`oci-archive:`, `docker-archive:`, `oci:`)
    /// rather than an image by name.
    pub fn is_source(reference: &str) -> bool {
        ["oci-archive:", "docker-archive:", "oci:"]
            .iter()
            .any(|prefix| reference.starts_with(prefix))
    }
}

impl FromStr for ImageSource {
    type Err = OciError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || OciError::InvalidSource {
            text: text.to_owned(),
        };
        let (transport, rest) = text.split_once(':').ok_or_else(invalid)?;
        let (path, name) = match rest.split_once(':') {
            Some((path, name)) if transport != "docker-archive" => (path, Some(name)),
            _ => (rest, None),
        };
        if path.is_empty() || name.is_some_and(str::is_empty) {
            return Err(invalid());
        }
        let path = PathBuf::from(path);
        let name = name.map(str::to_owned);
        match transport {
            "oci-archive" => Ok(ImageSource::OciArchive { path, name }),
            "docker-archive" => Ok(ImageSource::DockerArchive { path }),
            "oci" => Ok(ImageSource::OciDir { path, name }),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, name) = match self {
            ImageSource::OciArchive { path, name } => ("oci-archive", path, name),
            ImageSource::DockerArchive { path } => ("docker-archive", path, &None),
            ImageSource::OciDir { path, name } => ("oci", path, name),
        };
        write!(f, "{transport}:{}", path.display())?;
        if let Some(name) = name {
            write!(f, ":{name}")?;
        }
        Ok(())
    }
}

/// Reads the images of `source` into the store (all of them, or the one it names) and
/// returns them; tags nothing.
///
/// # Errors
///
/// [`OciError::ReadArchive`], [`OciError::MissingEntry`], [`OciError::ParseEntry`],
/// [`OciError::NoSuchName`], [`OciError::DiffIdMismatch`], a store's
/// [`DigestMismatch`](StoreError::DigestMismatch) for a blob whose content does not match
/// its digest, and the store's other errors.
pub fn import(store: &Store, source: &ImageSource) -> crate::Result<Vec<Imported>> {
    let _lease = store.lease()?;
    match source {
        ImageSource::OciArchive { path, name } => {
            import_layout(store, &Files::scan_tar(path)?, name.as_deref())
        }
        ImageSource::OciDir { path, name } => {
            import_layout(store, &Files::Dir { root: path.clone() }, name.as_deref())
        }
        ImageSource::DockerArchive { path } => import_docker(store, &Files::scan_tar(path)?),
    }
}

/// When the file at `path` is compressed, decompresses it to `tar` and returns that path.
fn decompressed(path: &Path, tar: &Path) -> Result<Option<PathBuf>, OciError> {
    let read = |source| OciError::ReadArchive {
        path: path.to_owned(),
        source,
    };
    let mut file = BufReader::new(std::fs::File::open(path).map_err(read)?);
    if Encoding::sniff(file.fill_buf().map_err(read)?) == Encoding::Tar {
        return Ok(None);
    }
    let mut stream = decompress(file).map_err(read)?;
    let mut out = std::fs::File::create(tar).map_err(read)?;
    io::copy(&mut stream, &mut out).map_err(read)?;
    Ok(Some(tar.to_owned()))
}

/// Reads every image of the archive at `path` (an OCI layout tarball, which the docker
/// format written by [`write_archive`](super::write_archive) also is, or a docker
/// archive) into the store and tags each with its names; an image without a name is
/// kept untagged. This is `mkimage load`.
///
/// # Errors
///
/// [`OciError::UnknownArchive`] when the tarball is neither format, and the errors of
/// [`import`].
pub fn load(store: &Store, path: &Path) -> crate::Result<Vec<Imported>> {
    let _lease = store.lease()?;
    // Archive members are read by seeking, so a compressed archive (`docker load` takes
    // gzip, bzip2, xz and zstd) is first decompressed into a scratch file of the store.
    let scratch = store.temp_dir()?;
    let files = match decompressed(path, &scratch.path().join("archive.tar"))? {
        Some(tar) => Files::scan_tar(&tar)?,
        None => Files::scan_tar(path)?,
    };
    let imported = if files.has("index.json") && files.has("oci-layout") {
        import_layout(store, &files, None)?
    } else if files.has("manifest.json") {
        import_docker(store, &files)?
    } else {
        return Err(OciError::UnknownArchive {
            path: path.to_owned(),
        }
        .into());
    };
    for image in &imported {
        if image.names.is_empty() {
            store.add_image(&image.descriptor)?;
        }
        for name in &image.names {
            store.tag(name, &image.descriptor)?;
        }
    }
    Ok(imported)
}

/// Imports the images of an OCI layout's `index.json`, or the one named `name`.
fn import_layout(store: &Store, files: &Files, name: Option<&str>) -> crate::Result<Vec<Imported>> {
    let index: ImageIndex = files.read_json("index.json")?;
    let mut chosen: Vec<&Descriptor> = index.manifests().iter().collect();
    if let Some(name) = name {
        chosen.retain(|d| is_named(d, name));
        if chosen.is_empty() {
            let mut available: Vec<String> = index
                .manifests()
                .iter()
                .filter_map(|d| annotation(d, CONTAINERD_NAME).or_else(|| annotation(d, REF_NAME)))
                .collect();
            available.sort();
            return Err(OciError::NoSuchName {
                path: files.path().to_owned(),
                name: name.to_owned(),
                available: available.join(", "),
            }
            .into());
        }
    }
    let mut imported: Vec<Imported> = Vec::new();
    for descriptor in chosen {
        copy_image(store, files, descriptor, true)?;
        let mut plain = descriptor.clone();
        plain.set_annotations(None);
        let names = names_of(descriptor);
        match imported
            .iter_mut()
            .find(|i| i.descriptor.digest() == plain.digest())
        {
            Some(known) => known.names.extend(names),
            None => imported.push(Imported {
                descriptor: plain,
                names,
            }),
        }
    }
    Ok(imported)
}

/// Copies the image `descriptor` names, with everything it references, from `files`
/// into the store. An index's manifests that the layout lacks (platforms left out of a
/// save) are skipped; a missing blob of a manifest is an error. Returns whether the
/// image was there.
fn copy_image(
    store: &Store,
    files: &Files,
    descriptor: &Descriptor,
    required: bool,
) -> crate::Result<bool> {
    let digest = descriptor.digest();
    let kind = descriptor.media_type().to_string();
    if media_type::DOCKER_SCHEMA1.contains(&kind.as_str()) {
        return Err(OciError::Schema1 {
            digest: digest.clone(),
        }
        .into());
    }
    if !media_type::is_index(&kind) && !media_type::is_manifest(&kind) {
        return Err(OciError::NotAnImage {
            digest: digest.clone(),
            media_type: kind,
        }
        .into());
    }
    let entry = blob_entry(descriptor);
    let bytes = if store.has_blob(digest) {
        store.read_blob(digest)?
    } else if !required && !files.has(&entry) {
        return Ok(false);
    } else {
        let bytes = files.read_small(&entry)?;
        let actual = sha256(&bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            }
            .into());
        }
        bytes
    };
    let parse = |what, source| OciError::ParseEntry {
        path: files.path().to_owned(),
        entry: format!("{entry} ({what})"),
        source,
    };
    if media_type::is_index(&kind) {
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| parse("index", e))?;
        for child in index.manifests() {
            copy_image(store, files, child, false)?;
        }
    } else {
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| parse("manifest", e))?;
        for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
            copy_blob(store, files, blob)?;
        }
    }
    // The manifest goes in last, so that a store never has a manifest without its blobs.
    if !store.has_blob(digest) {
        store.put_blob(&bytes)?;
    }
    Ok(true)
}

/// Streams one blob from `files` into the store, verifying its digest.
fn copy_blob(store: &Store, files: &Files, descriptor: &Descriptor) -> crate::Result<()> {
    if store.has_blob(descriptor.digest()) {
        return Ok(());
    }
    let (mut reader, _) = files.open(&blob_entry(descriptor))?;
    let mut blob = store.begin_blob()?;
    copy(&mut reader, &mut blob, files.path())?;
    blob.commit_verified(descriptor.digest())?;
    Ok(())
}

/// Copies `reader` into `blob`, naming the archive when reading fails.
fn copy(reader: &mut dyn io::Read, blob: &mut impl Write, archive: &Path) -> crate::Result<u64> {
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(OciError::ReadArchive {
                    path: archive.to_owned(),
                    source,
                }
                .into());
            }
        };
        blob.write_all(&buffer[..n])
            .map_err(|source| StoreError::WriteBlob { source })?;
        total += n as u64;
    }
}

/// The path of a blob in an image layout.
fn blob_entry(descriptor: &Descriptor) -> String {
    let digest = descriptor.digest();
    format!("blobs/{}/{}", digest.algorithm(), digest.digest())
}

fn annotation(descriptor: &Descriptor, key: &str) -> Option<String> {
    descriptor.annotations().as_ref()?.get(key).cloned()
}

/// The names an index entry gives its image: containerd's full name (what BuildKit,
/// `docker save` and we write, beside a `ref.name` holding the tag), or a `ref.name`
/// that is a reference with a repository (`app:1`, `host/app`, as older mkimage and
/// skopeo wrote); a bare `ref.name` such as `latest` is only a tag, naming no
/// repository, and gives none.
fn names_of(descriptor: &Descriptor) -> Vec<Reference> {
    let text = annotation(descriptor, CONTAINERD_NAME)
        .or_else(|| annotation(descriptor, REF_NAME).filter(|name| name.contains([':', '/', '@'])));
    let Some(reference) = text.and_then(|text| text.parse::<Reference>().ok()) else {
        return Vec::new();
    };
    match (reference.digest(), reference.tag()) {
        (None, _) => vec![reference],
        (Some(_), Some(tag)) => reference.with_tag(tag).into_iter().collect(),
        (Some(_), None) => Vec::new(),
    }
}

/// Whether an index entry is the one `name` asks for: its `ref.name` (a tag, or an older
/// archive's full reference) or containerd name as written, or a name equal to `name`
/// once both are normalized.
fn is_named(descriptor: &Descriptor, name: &str) -> bool {
    let literal = [REF_NAME, CONTAINERD_NAME]
        .iter()
        .any(|key| annotation(descriptor, key).as_deref() == Some(name));
    literal
        || name
            .parse::<Reference>()
            .is_ok_and(|wanted| names_of(descriptor).contains(&wanted))
}

/// One image of docker's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Imports the images of a docker archive.
fn import_docker(store: &Store, files: &Files) -> crate::Result<Vec<Imported>> {
    let entries: Vec<DockerEntry> = files.read_json("manifest.json")?;
    let mut imported = Vec::new();
    for entry in entries {
        let config_bytes = files.read_small(&entry.config)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|source| OciError::ParseEntry {
                path: files.path().to_owned(),
                entry: entry.config.clone(),
                source,
            })?;
        let config_digest = sha256(&config_bytes);
        if entry.layers.len() != config.rootfs.diff_ids.len() {
            return Err(OciError::LayerCount {
                digest: config_digest,
                layers: entry.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            }
            .into());
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            layers.push(copy_docker_layer(store, files, path, diff_id)?);
        }
        if !store.has_blob(&config_digest) {
            store.put_blob(&config_bytes)?;
        }
        let descriptor = store_manifest(
            store,
            Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                config_digest,
            ),
            layers,
            &config,
        )?;
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|tag| tag.parse::<Reference>().ok())
            .collect();
        imported.push(Imported { descriptor, names });
    }
    Ok(imported)
}

/// Streams one layer of a docker archive into the store as it is, its media type taken
/// from its first bytes. A plain tar must have the config's `diff_id`.
fn copy_docker_layer(
    store: &Store,
    files: &Files,
    path: &str,
    diff_id: &oci_spec::image::Digest,
) -> crate::Result<Descriptor> {
    let (reader, _) = files.open(path)?;
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let head = reader.fill_buf().map_err(|source| OciError::ReadArchive {
        path: files.path().to_owned(),
        source,
    })?;
    let codec = Codec::sniff(head);
    let media_type = match codec {
        Codec::Gzip => MediaType::ImageLayerGzip,
        Codec::Zstd => MediaType::ImageLayerZstd,
        Codec::None => MediaType::ImageLayer,
    };
    let mut blob = store.begin_blob()?;
    copy(&mut reader, &mut blob, files.path())?;
    let (digest, size) = if codec == Codec::None {
        let size = blob.commit_verified(diff_id).map_err(|e| match e {
            StoreError::DigestMismatch { expected, actual } => {
                crate::Error::from(OciError::DiffIdMismatch {
                    path: files.path().to_owned(),
                    entry: path.to_owned(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                })
            }
            other => other.into(),
        })?;
        (diff_id.clone(), size)
    } else {
        blob.commit()?
    };
    Ok(Descriptor::new(media_type, size, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources_as_skopeo_writes_them() -> Result<(), OciError> {
        assert_eq!(
            "oci-archive:/tmp/a.tar:app:1".parse::<ImageSource>()?,
            ImageSource::OciArchive {
                path: "/tmp/a.tar".into(),
                name: Some("app:1".into())
            }
        );
        assert_eq!(
            "oci:dir".parse::<ImageSource>()?,
            ImageSource::OciDir {
                path: "dir".into(),
                name: None
            }
        );
        assert_eq!(
            "docker-archive:a:b.tar".parse::<ImageSource>()?,
            ImageSource::DockerArchive {
                path: "a:b.tar".into()
            }
        );
        assert_eq!(
            "oci-archive:x.tar:latest"
                .parse::<ImageSource>()?
                .to_string(),
            "oci-archive:x.tar:latest"
        );
        for bad in ["docker:x", "oci-archive:", "x.tar", "oci:dir:"] {
            assert_eq!(
                bad.parse::<ImageSource>().unwrap_err().to_string(),
                format!(
                    "invalid image source `{bad}`: expected `oci-archive:PATH[:REF]`, `docker-archive:PATH` or `oci:DIR[:REF]`"
                )
            );
        }
        Ok(())
    }
}
