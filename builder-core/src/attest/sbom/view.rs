//! The files an SBOM reads, as the image's merged filesystem shows them.
//!
//! The scan reads the layers' tar streams from the store, bottom first, and keeps the
//! regular files a cataloger wants (package databases, package metadata, the OS
//! release), applying each layer's whiteouts to those below it, as an unpacked image
//! would show them. Nothing is written to or read from the host's filesystem, so no link
//! in the image can lead out of it: a link, a directory or a device at a wanted path
//! hides the file below and is not followed. Each blob's digest is checked as it is
//! read. An image is hostile input, so the scan is bounded: no file above
//! [`FILE_LIMIT`], no more than [`COUNT_LIMIT`] files, and [`TOTAL_LIMIT`] bytes in all.
//!
//! Decompressing a base's layers is most of an SBOM's cost, and every image built on
//! that base would pay it again; so what a layer changes (its whiteouts and wanted
//! files) is kept in the store's records under [`RECORDS`], by the layer's digest, for as
//! long as the layer's blob is kept, and read from there the next time.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use crate::archive::decompress;
use crate::store::Store;

use super::super::AttestError;

/// The largest file the scan reads (a big distribution's dpkg status is a few MiB).
pub(super) const FILE_LIMIT: u64 = 32 << 20;
/// The most files the scan keeps.
pub(super) const COUNT_LIMIT: usize = 200_000;
/// The most bytes the scan keeps in all.
pub(super) const TOTAL_LIMIT: u64 = 512 << 20;

/// The records of what each layer changes. The version changes with what [`wanted`]
/// selects, so that no record made before lacks a file a cataloger now reads.
const RECORDS: &str = "sbom-layers-v1";

/// The wanted files of the layers read so far, by path (relative, no leading `/`).
#[derive(Debug, Default)]
pub(super) struct View {
    files: BTreeMap<String, Vec<u8>>,
    total: u64,
}

/// Whether a cataloger reads the file at `path`.
pub(super) fn wanted(path: &str) -> bool {
    const EXACT: [&str; 4] = [
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "etc/os-release",
        "usr/lib/os-release",
    ];
    if EXACT.contains(&path) {
        return true;
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return !name.contains('/') && !name.ends_with(".md5sums");
    }
    if path.contains("-packages/")
        && (path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with(".egg-info"))
    {
        return true;
    }
    (path.ends_with("/package.json") && super::node::is_module_manifest(path))
        || super::cargo::is_lock_file(path)
        || super::gem::is_gemspec(path)
}

impl View {
    /// The file at `path`, if the merged view has it.
    pub(super) fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The files of the view whose path satisfies `keep`.
    pub(super) fn matching<'a>(
        &'a self,
        keep: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files
            .iter()
            .filter(move |(path, _)| keep(path))
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// Reads the layer `layer` from `store` over the view; returns whether a wanted file
    /// changed.
    ///
    /// # Errors
    ///
    /// [`AttestError::ReadLayer`] when the layer cannot be read, is not a tar stream or
    /// does not match its digest; [`AttestError::TooLarge`] and
    /// [`AttestError::TooManyFiles`] past the limits.
    pub(super) fn apply(&mut self, store: &Store, layer: &Descriptor) -> crate::Result<bool> {
        let digest = layer.digest();
        let failed = |source| AttestError::ReadLayer {
            digest: digest.clone(),
            source,
        };
        let records = store.records(RECORDS)?;
        let key = format!("{}-{}", digest.algorithm(), digest.digest());
        let (removed, added) = match records.get::<Recorded>(&key)? {
            Some(recorded) => recorded.decode(),
            None => {
                let mut blob = store.open_verified(digest)?;
                let changes = {
                    let stream = decompress(BufReader::new(&mut blob)).map_err(failed)?;
                    read_changes(tar::Archive::new(stream)).map_err(|e| match e {
                        Change::Io(source) => failed(source).into(),
                        Change::Limit(error) => error,
                    })?
                };
                blob.finish()?;
                records.put_weak(
                    &key,
                    &Recorded::encode(&changes),
                    std::slice::from_ref(digest),
                )?;
                changes
            }
        };
        let mut changed = false;
        for path in removed {
            changed |= self.remove(&path);
        }
        for (path, bytes) in added {
            changed = true;
            self.total += bytes.len() as u64;
            if let Some(old) = self.files.insert(path, bytes) {
                self.total -= old.len() as u64;
            }
        }
        if self.files.len() > COUNT_LIMIT {
            return Err(AttestError::TooManyFiles { limit: COUNT_LIMIT }.into());
        }
        if self.total > TOTAL_LIMIT {
            return Err(AttestError::TooLarge {
                what: "the package metadata of image",
                name: digest.to_string(),
                limit: TOTAL_LIMIT,
            }
            .into());
        }
        Ok(changed)
    }

    /// Removes `path` and everything below it (a whiteout, or an opaque directory's
    /// `path/`); returns whether a file went.
    fn remove(&mut self, path: &str) -> bool {
        let below = if path.is_empty() || path.ends_with('/') {
            path.to_owned()
        } else {
            format!("{path}/")
        };
        // The paths below sort together, right after `below`: found in `log n`, so a
        // layer of many links costs no scan of the view per link.
        let mut gone: Vec<String> = self
            .files
            .range(below.clone()..)
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(&below))
            .cloned()
            .collect();
        gone.push(path.to_owned());
        let mut removed = false;
        for key in gone {
            if let Some(bytes) = self.files.remove(&key) {
                self.total -= bytes.len() as u64;
                removed = true;
            }
        }
        removed
    }
}

/// Why reading a layer's changes stopped.
enum Change {
    Io(io::Error),
    Limit(crate::Error),
}

/// What one layer removes from the layers below (whiteouts, opaque directories, and
/// anything not a regular file at a wanted path) and the wanted files it adds.
type Changes = (Vec<String>, Vec<(String, Vec<u8>)>);

/// A layer's [`Changes`] as a record keeps them: the files' bytes in base64.
#[derive(Serialize, Deserialize)]
struct Recorded {
    removed: Vec<String>,
    added: Vec<(String, String)>,
}

impl Recorded {
    fn encode((removed, added): &Changes) -> Recorded {
        let added = added
            .iter()
            .map(|(path, bytes)| (path.clone(), BASE64.encode(bytes)))
            .collect();
        Recorded {
            removed: removed.clone(),
            added,
        }
    }

    /// The changes; a file whose base64 does not decode (a record changed by hand) is
    /// left out.
    fn decode(self) -> Changes {
        let added = self
            .added
            .into_iter()
            .filter_map(|(path, text)| Some((path, BASE64.decode(text).ok()?)))
            .collect();
        (self.removed, added)
    }
}

/// Reads the changes of one layer's tar stream.
fn read_changes(mut archive: tar::Archive<impl Read>) -> Result<Changes, Change> {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for entry in archive.entries().map_err(Change::Io)? {
        let mut entry = entry.map_err(Change::Io)?;
        let raw = entry
            .path()
            .map_err(Change::Io)?
            .to_string_lossy()
            .into_owned();
        let Some(path) = clean(&raw) else { continue };
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path.as_str()),
        };
        if name == ".wh..wh..opq" {
            removed.push(dir);
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            removed.push(format!("{dir}{hidden}"));
            continue;
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            if !kind.is_dir() {
                removed.push(path);
            }
            continue;
        }
        if !wanted(&path) {
            continue;
        }
        let size = entry.size();
        if size > FILE_LIMIT {
            return Err(Change::Limit(
                AttestError::TooLarge {
                    what: "package metadata file",
                    name: format!("/{path}"),
                    limit: FILE_LIMIT,
                }
                .into(),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .by_ref()
            .take(FILE_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(Change::Io)?;
        added.push((path, bytes));
    }
    Ok((removed, added))
}

/// A tar entry's path relative to the root, without `./`, a leading `/` or a trailing
/// `/`; `None` for the root itself or a path with `..`.
fn clean(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_paths_are_the_catalogers_files() {
        for path in [
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/base",
            "lib/apk/db/installed",
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json",
            "src/app/Cargo.lock",
            "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        ] {
            assert!(wanted(path), "{path}");
        }
        for path in [
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/status.d/base.md5sums",
            "app/package.json",
            "etc/passwd",
        ] {
            assert!(!wanted(path), "{path}");
        }
    }

    #[test]
    fn whiteouts_remove_a_path_and_what_is_below_it_only() {
        let mut view = View::default();
        for path in ["a/b", "a/b/c", "a/bc", "z"] {
            view.files.insert(path.to_owned(), vec![0; 2]);
            view.total += 2;
        }
        assert!(view.remove("a/b"));
        assert_eq!(view.files.keys().collect::<Vec<_>>(), ["a/bc", "z"]);
        assert_eq!(view.total, 4);
        assert!(view.remove("a/"));
        assert!(!view.remove("missing"));
        assert_eq!(view.files.keys().collect::<Vec<_>>(), ["z"]);
        assert_eq!(view.total, 2);
    }

    #[test]
    fn paths_are_cleaned_and_dot_dot_dropped() {
        assert_eq!(clean("./var/lib/").as_deref(), Some("var/lib"));
        assert_eq!(clean("/etc//os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(clean("./"), None);
        assert_eq!(clean("a/../../etc/passwd"), None);
    }
}
