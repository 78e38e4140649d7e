//! What the image being built holds, path by path, without unpacking it: enough to place
//! a `COPY`'s destination (does it exist, is it a directory, does it lead through a
//! symlink) and to read `/etc/passwd` and `/etc/group`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use oci_spec::image::Descriptor;

use crate::add::{ArchiveError, Below};
use crate::layer::{self, Content, Entry, EntryKind, LayerError, LayerPath};
use crate::store::Store;

use super::BuildError;

/// How many symlinks resolving one path may follow, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// One path of the image and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    /// What the path is.
    pub kind: NodeKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: i64,
}

/// What a path of the image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NodeKind {
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink(PathBuf),
    /// Anything else.
    Other,
}

/// The paths of an image's layers, applied bottom first.
#[derive(Debug, Clone, Default)]
pub(super) struct FsView {
    nodes: BTreeMap<LayerPath, Node>,
    /// How many layers are applied.
    applied: usize,
}

impl FsView {
    /// Applies the layers of `layers` not applied yet (the view always belongs to one
    /// growing list of layers).
    pub(super) fn update(&mut self, store: &Store, layers: &[Descriptor]) -> crate::Result<()> {
        for descriptor in layers.iter().skip(self.applied) {
            let entries = store.read_verified(descriptor.digest(), |blob| -> crate::Result<_> {
                let tar = layer::decompress(blob, Some(descriptor.media_type().as_ref()))?;
                Ok(layer::list(tar)?)
            })?;
            self.apply(entries);
            self.applied += 1;
        }
        Ok(())
    }

    /// Applies the entries of one layer.
    pub(super) fn apply<F>(&mut self, entries: Vec<Entry<F>>) {
        for entry in entries {
            match entry.kind {
                EntryKind::Whiteout => {
                    self.remove_below(&entry.path);
                    self.nodes.remove(&entry.path);
                }
                EntryKind::Opaque => self.remove_below(&entry.path),
                kind => {
                    let kind = match kind {
                        EntryKind::Dir => NodeKind::Dir,
                        EntryKind::Symlink(target) => NodeKind::Symlink(target),
                        _ => NodeKind::Other,
                    };
                    if kind != NodeKind::Dir {
                        self.remove_below(&entry.path);
                    }
                    let node = Node {
                        kind,
                        mode: entry.mode,
                        uid: entry.uid,
                        gid: entry.gid,
                        mtime: entry.mtime,
                    };
                    self.nodes.insert(entry.path, node);
                }
            }
        }
    }

    /// Removes every path strictly below `dir`.
    fn remove_below(&mut self, dir: &LayerPath) {
        let below: Vec<LayerPath> = self
            .nodes
            .range(dir.clone()..)
            .skip_while(|(path, _)| *path == dir)
            .take_while(|(path, _)| path.starts_with(dir))
            .map(|(path, _)| path.clone())
            .collect();
        for path in below {
            self.nodes.remove(&path);
        }
    }

    /// The node at `path`, not following a final symlink.
    pub(super) fn get(&self, path: &LayerPath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// `path` with every symlink on the way followed, within the image (`..` and absolute
    /// targets stop at its root); a missing component ends the resolution with the rest
    /// appended. `None` is the root.
    pub(super) fn resolve(&self, path: Option<&LayerPath>) -> crate::Result<Option<LayerPath>> {
        let Some(path) = path else { return Ok(None) };
        let mut pending: Vec<String> = components(path.as_path()).into_iter().rev().collect();
        let mut real: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                real.pop();
                continue;
            }
            real.push(name);
            let here = LayerPath::new(real.join("/")).map_err(|_| BuildError::InvalidPath {
                path: path.to_string(),
            })?;
            let Some(Node {
                kind: NodeKind::Symlink(target),
                ..
            }) = self.nodes.get(&here)
            else {
                continue;
            };
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(BuildError::SymlinkLoop {
                    path: path.to_string(),
                }
                .into());
            }
            real.pop();
            if target.is_absolute() {
                real.clear();
            }
            pending.extend(components(target).into_iter().rev());
        }
        if real.is_empty() {
            return Ok(None);
        }
        Ok(Some(LayerPath::new(real.join("/")).map_err(|_| {
            BuildError::InvalidPath {
                path: path.to_string(),
            }
        })?))
    }
}

/// The normal and `..` components of `path`, as strings.
fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect()
}

/// The content of the regular file `path` in the image of `layers`, its first `limit`
/// bytes; `None` when it does not exist. Reads the layers from the top down and stops at
/// the first that has the file or hides it.
pub(super) fn read_file(
    store: &Store,
    layers: &[Descriptor],
    path: &LayerPath,
    limit: u64,
) -> crate::Result<Option<Vec<u8>>> {
    for descriptor in layers.iter().rev() {
        let found = in_layer(store, descriptor, path, |entry| {
            if !entry.header().entry_type().is_file() {
                return Ok(None);
            }
            let mut content = Vec::new();
            entry
                .take(limit)
                .read_to_end(&mut content)
                .map_err(|source| LayerError::ReadTar { source })?;
            Ok(Some(content))
        })?;
        match found {
            InLayer::Found(content) => return Ok(content),
            InLayer::Hidden => return Ok(None),
            InLayer::Absent => {}
        }
    }
    Ok(None)
}

/// How many hard links of one layer [`copy_file`] follows before giving up.
const MAX_HARD_LINKS: usize = 8;

/// Copies the regular file `path` of the image of `layers` (the directories above it
/// resolved through the symlinks of `view`, the same image) into a new file `into`, and
/// returns its entry with `into` as content; `None` when the image has no regular file
/// there. A hard link of the layer that holds the path is followed to its target there.
pub(super) fn copy_file(
    store: &Store,
    layers: &[Descriptor],
    view: &FsView,
    path: &LayerPath,
    into: &Path,
) -> crate::Result<Option<Entry>> {
    let path = LayerPath::child(
        view.resolve(path.parent().as_ref())?.as_ref(),
        path.file_name(),
    );
    if view
        .get(&path)
        .is_none_or(|node| node.kind != NodeKind::Other)
    {
        return Ok(None);
    }
    let mut wanted = path;
    let mut links = 0;
    for descriptor in layers.iter().rev() {
        loop {
            let found = in_layer(store, descriptor, &wanted, |item| {
                let Some(entry) = layer::decode(item)? else {
                    return Ok(None);
                };
                let kind = match entry.kind {
                    EntryKind::File(_) => {
                        let write_err = |source| ArchiveError::WriteStaging {
                            path: into.to_owned(),
                            source,
                        };
                        let mut file = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(into)
                            .map_err(write_err)?;
                        std::io::copy(item, &mut file).map_err(write_err)?;
                        EntryKind::File(Content::Host(into.to_owned()))
                    }
                    EntryKind::HardLink(target) => EntryKind::HardLink(target),
                    _ => return Ok(None),
                };
                Ok(Some(Entry {
                    path: entry.path,
                    kind,
                    mode: entry.mode,
                    uid: entry.uid,
                    gid: entry.gid,
                    mtime: entry.mtime,
                    xattrs: entry.xattrs,
                }))
            })?;
            match found {
                // A link names a path of its layer or of one below: look there next.
                InLayer::Found(Some(Entry {
                    kind: EntryKind::HardLink(target),
                    ..
                })) if links < MAX_HARD_LINKS => {
                    links += 1;
                    wanted = target;
                }
                InLayer::Found(Some(entry)) if matches!(entry.kind, EntryKind::File(_)) => {
                    return Ok(Some(entry));
                }
                InLayer::Found(_) | InLayer::Hidden => return Ok(None),
                InLayer::Absent => break,
            }
        }
    }
    Ok(None)
}

/// The image a step builds on, as the [`Below`] of an `ADD`ed archive.
pub(super) struct ImageFiles<'a> {
    /// The store holding the layers.
    pub store: &'a Store,
    /// The image's layers, bottom first.
    pub layers: &'a [Descriptor],
    /// The same layers' paths.
    pub view: &'a FsView,
}

impl Below for ImageFiles<'_> {
    fn copy_file(&self, path: &LayerPath, into: &Path) -> crate::Result<Option<Entry>> {
        copy_file(self.store, self.layers, self.view, path, into)
    }
}

/// What one layer says about a path.
enum InLayer<T> {
    /// The layer has an entry at the path; what the caller made of it.
    Found(T),
    /// The layer removes the path (a whiteout or opaque marker at or above it).
    Hidden,
    /// The layer does not touch the path.
    Absent,
}

/// Reads the layer `descriptor` for `path`, handing its entry there, if any, to `found`.
/// The read stops at that entry, before the end of the blob, so the blob's digest is not
/// checked here (that would read the rest of the layer); the reads of whole layers, for
/// listing and unpacking, check it.
fn in_layer<T>(
    store: &Store,
    descriptor: &Descriptor,
    path: &LayerPath,
    found: impl FnOnce(&mut tar::Entry<'_, Box<dyn Read + '_>>) -> crate::Result<T>,
) -> crate::Result<InLayer<T>> {
    let blob = store.open_blob(descriptor.digest())?;
    let tar = layer::decompress(blob, Some(descriptor.media_type().as_ref()))?;
    let mut archive = tar::Archive::new(tar);
    let read_err = |source| LayerError::ReadTar { source };
    let mut hidden = false;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = entry.path_bytes().into_owned();
        let Ok(name) = LayerPath::from_bytes(&name) else {
            continue;
        };
        let file_name = name.file_name().to_vec();
        if name == *path {
            return Ok(InLayer::Found(found(&mut entry)?));
        }
        // A whiteout of the path or of a directory above it, or an opaque marker in
        // such a directory, hides the file in the layers below.
        let Some(dir) = name.parent() else {
            if let Some(target) = file_name.strip_prefix(b".wh.") {
                hidden |= at_or_below(path, target);
            }
            continue;
        };
        if file_name == b".wh..wh..opq" {
            hidden |= path.starts_with(&dir);
        } else if let Some(target) = file_name.strip_prefix(b".wh.") {
            let mut removed = dir.as_bytes().to_vec();
            removed.push(b'/');
            removed.extend_from_slice(target);
            hidden |= at_or_below(path, &removed);
        }
    }
    Ok(if hidden {
        InLayer::Hidden
    } else {
        InLayer::Absent
    })
}

/// Whether `path` is `removed` or below it.
fn at_or_below(path: &LayerPath, removed: &[u8]) -> bool {
    let bytes = path.as_bytes();
    bytes == removed || (bytes.starts_with(removed) && bytes.get(removed.len()) == Some(&b'/'))
}
