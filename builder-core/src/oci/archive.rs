//! The files of an image layout, in a directory or a tarball, read by path.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::fsroot::Root;
use crate::plan::slash_path;
use crate::store::JSON_LIMIT;

use super::OciError;

/// Links followed at most when resolving a path of a tarball.
const MAX_LINKS: usize = 16;

/// The files of an image layout or a docker archive.
#[derive(Debug)]
pub(super) enum Files {
    /// A tarball, indexed once: a path's content is read by seeking to it.
    Tar {
        path: PathBuf,
        entries: HashMap<String, TarEntry>,
    },
    /// A directory, whose paths are resolved inside it: a symlink of the layout never
    /// leads to a host file.
    Dir { root: PathBuf },
}

/// A path of a tarball: a regular file's data, or a link to another path.
#[derive(Debug)]
pub(super) enum TarEntry {
    File { offset: u64, size: u64 },
    Link(String),
}

impl Files {
    /// Indexes the tarball at `path`, skipping over file data.
    pub(super) fn scan_tar(path: &Path) -> Result<Files, OciError> {
        let read = |source| OciError::ReadArchive {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read)?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        for entry in archive.entries_with_seek().map_err(read)? {
            let entry = entry.map_err(read)?;
            let name = clean("", &String::from_utf8_lossy(&entry.path_bytes()));
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            };
            let value = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => TarEntry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Symlink => {
                    let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                    TarEntry::Link(clean(dir, &link()))
                }
                tar::EntryType::Link => TarEntry::Link(clean("", &link())),
                _ => continue,
            };
            entries.insert(name, value);
        }
        Ok(Files::Tar {
            path: path.to_owned(),
            entries,
        })
    }

    /// The archive or directory, for messages.
    pub(super) fn path(&self) -> &Path {
        match self {
            Files::Tar { path, .. } => path,
            Files::Dir { root } => root,
        }
    }

    /// Whether the file `name` exists.
    pub(super) fn has(&self, name: &str) -> bool {
        match self {
            Files::Tar { entries, .. } => resolve(entries, name).is_some(),
            Files::Dir { root } => {
                Root::open(root).is_ok_and(|dir| dir.open_file(Path::new(name)).is_ok())
            }
        }
    }

    /// Opens the file `name`, with its size.
    pub(super) fn open(&self, name: &str) -> Result<(Box<dyn Read>, u64), OciError> {
        let read = |source| OciError::ReadArchive {
            path: self.path().to_owned(),
            source,
        };
        let missing = || OciError::MissingEntry {
            path: self.path().to_owned(),
            entry: name.to_owned(),
        };
        match self {
            Files::Tar { path, entries } => {
                let (offset, size) = resolve(entries, name).ok_or_else(missing)?;
                let mut file = File::open(path).map_err(read)?;
                file.seek(SeekFrom::Start(offset)).map_err(read)?;
                Ok((Box::new(file.take(size)), size))
            }
            Files::Dir { root } => {
                let file = match Root::open(root).and_then(|dir| dir.open_file(Path::new(name))) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                    Err(source) => return Err(read(source)),
                };
                let size = file.metadata().map_err(read)?.len();
                Ok((Box::new(file), size))
            }
        }
    }

    /// Reads the small file `name` whole (at most [`JSON_LIMIT`] bytes).
    pub(super) fn read_small(&self, name: &str) -> Result<Vec<u8>, OciError> {
        let (reader, size) = self.open(name)?;
        if size > JSON_LIMIT {
            return Err(OciError::EntryTooLarge {
                path: self.path().to_owned(),
                entry: name.to_owned(),
            });
        }
        let mut bytes = Vec::new();
        reader
            .take(JSON_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|source| OciError::ReadArchive {
                path: self.path().to_owned(),
                source,
            })?;
        Ok(bytes)
    }

    /// Reads and parses the JSON file `name`.
    pub(super) fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, OciError> {
        serde_json::from_slice(&self.read_small(name)?).map_err(|source| OciError::ParseEntry {
            path: self.path().to_owned(),
            entry: name.to_owned(),
            source,
        })
    }
}

/// The data of `name` in a tarball, following links.
fn resolve(entries: &HashMap<String, TarEntry>, name: &str) -> Option<(u64, u64)> {
    let mut name = clean("", name);
    for _ in 0..MAX_LINKS {
        match entries.get(&name)? {
            TarEntry::File { offset, size } => return Some((*offset, *size)),
            TarEntry::Link(target) => name = target.clone(),
        }
    }
    None
}

/// `path` resolved against the directory `base` of the archive, lexically: no leading
/// `/` or `./`, no `.` components, `..` removing the previous one (never above the root).
fn clean(base: &str, path: &str) -> String {
    let rooted = if path.starts_with('/') {
        slash_path::clean(path)
    } else {
        slash_path::clean(&format!("/{base}/{path}"))
    };
    rooted.trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths_lexically() {
        assert_eq!(clean("", "./index.json"), "index.json");
        assert_eq!(clean("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(clean("a/b", "/c"), "c");
        assert_eq!(clean("", "../../x"), "x");
    }
}
