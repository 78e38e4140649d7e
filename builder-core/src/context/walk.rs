//! Walking a directory of the context: what `.dockerignore` and `--exclude` leave, with
//! the metadata of each path, in layer order.
//!
//! A [`Walk`] is an iterator: depth first, each directory's children listed, `stat`ed
//! (`statx` relative to the directory's descriptor, as `find` does; in parallel in a
//! large directory) and sorted by name when the walk enters it, so the entries come in
//! layer order without a global sort, and it holds only the children of the directories
//! it is inside of (depth × width), whatever the number of files.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::hashes::Xattrs;
use super::{ContextError, HostFile, Patterns};
use crate::layer::{Entry, EntryKind, LayerPath, read_xattrs};

/// How many children a directory has for the walk to `stat` them in parallel.
const PARALLEL_STAT: usize = 64;

/// The filters of a walk: `.dockerignore` on paths relative to the context root,
/// `--exclude` on paths relative to the directory walked.
#[derive(Clone, Copy)]
pub(crate) struct Walker<'a> {
    /// The context root on the host.
    pub root: &'a Path,
    pub ignore: &'a Patterns,
    pub exclude: &'a Patterns,
}

/// A directory to walk.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    /// Its path relative to the context root (`None`: the root).
    pub source: Option<LayerPath>,
    /// Where its children go, relative to the destination (`None`: the destination).
    pub dest: Option<LayerPath>,
    /// The ignore patterns' results for the directory (see [`Patterns::matches_below`]).
    pub ignore_state: Vec<bool>,
}

/// Where the paths below `base` start in the paths relative to the context root: the byte
/// length of `base` and its `/`.
pub(crate) fn exclude_offset(base: Option<&LayerPath>) -> usize {
    base.map_or(0, |b| b.as_bytes().len() + 1)
}

impl<'a> Walker<'a> {
    /// Everything below `dir` that the filters leave, in layer order. `dir` itself is not
    /// listed. `exclude_from` is the byte offset in source paths where the paths that
    /// `--exclude` sees start.
    pub(crate) fn walk(&self, dir: Dir, exclude_from: usize) -> Walk<'a> {
        let mut walk = Walk {
            walker: *self,
            exclude_from,
            stack: Vec::new(),
            ready: VecDeque::new(),
        };
        if let Err(e) = walk.enter(dir, Vec::new(), None) {
            walk.ready.push_back(Err(e));
        }
        walk
    }
}

/// The entries below a directory, in layer order (see [`Walker::walk`]).
pub(crate) struct Walk<'a> {
    walker: Walker<'a>,
    exclude_from: usize,
    /// The directories the walk is inside of, the innermost last.
    stack: Vec<Level>,
    /// Entries to give before walking on.
    ready: VecDeque<Result<Entry<HostFile>, ContextError>>,
}

/// A directory being walked.
struct Level {
    dir: Dir,
    exclude_state: Vec<bool>,
    host: PathBuf,
    /// Its children not walked yet, in order.
    children: std::vec::IntoIter<(OsString, Metadata)>,
    /// The directory's own entry, when it is excluded itself: given only before a child
    /// that a `!` pattern brings back.
    held: Option<Entry<HostFile>>,
}

impl Walk<'_> {
    /// Lists the children of `dir` and walks them next.
    fn enter(
        &mut self,
        dir: Dir,
        exclude_state: Vec<bool>,
        held: Option<Entry<HostFile>>,
    ) -> Result<(), ContextError> {
        let host = match &dir.source {
            Some(source) => self.walker.root.join(source.as_path()),
            None => self.walker.root.to_owned(),
        };
        let read_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ContextError::ReadContext { path, source }
        };
        let listed = fs::read_dir(&host)
            .map_err(read_err(&host))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_err(&host))?;
        // The `stat`s of a large directory in parallel: the walk's largest cost.
        let stat = |child: &fs::DirEntry| {
            let metadata = child.metadata().map_err(read_err(&child.path()))?;
            Ok((child.file_name(), metadata))
        };
        let mut children: Vec<(OsString, Metadata)> = if listed.len() >= PARALLEL_STAT {
            listed
                .par_iter()
                .map(stat)
                .collect::<Result<_, ContextError>>()?
        } else {
            listed
                .iter()
                .map(stat)
                .collect::<Result<_, ContextError>>()?
        };
        drop(listed);
        children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.stack.push(Level {
            dir,
            exclude_state,
            host,
            children: children.into_iter(),
            held,
        });
        Ok(())
    }

    /// Queues `entry`, after the held entries of the directories it is in.
    fn give(&mut self, entry: Entry<HostFile>) {
        for level in &mut self.stack {
            if let Some(held) = level.held.take() {
                self.ready.push_back(Ok(held));
            }
        }
        self.ready.push_back(Ok(entry));
    }

    /// Walks on until an entry is queued or the walk ends.
    fn step(&mut self) -> Result<(), ContextError> {
        let walker = self.walker;
        while self.ready.is_empty() {
            let Some(level) = self.stack.last_mut() else {
                return Ok(());
            };
            let Some((name, metadata)) = level.children.next() else {
                self.stack.pop();
                continue;
            };
            let dir = &level.dir;
            // A regular file needs no host path here (its xattrs are read with its
            // content): spare the allocation for each of them.
            let child_host = if metadata.is_file() {
                PathBuf::new()
            } else {
                level.host.join(&name)
            };
            let name = name.as_bytes();
            let source = LayerPath::child(dir.source.as_ref(), name);
            let source_str = lossy(source.as_bytes());
            let below = &source_str[self.exclude_from.min(source_str.len())..];
            if metadata.is_dir() {
                let mut ignore_state = Vec::new();
                let mut exclude_state = Vec::new();
                let ignored = walker.ignore.matches_below(
                    &dir.ignore_state,
                    &source_str,
                    Some(&mut ignore_state),
                );
                let excluded = walker.exclude.matches_below(
                    &level.exclude_state,
                    below,
                    Some(&mut exclude_state),
                );
                let descend = (!ignored || walker.ignore.may_include_below(&source_str))
                    && (!excluded || walker.exclude.may_include_below(below));
                if !descend {
                    continue;
                }
                let dest = LayerPath::child(dir.dest.as_ref(), name);
                let entry = entry(dest.clone(), EntryKind::Dir, &metadata, &child_host)?;
                let filtered = ignored || excluded;
                let child = Dir {
                    source: Some(source),
                    dest: Some(dest),
                    ignore_state,
                };
                if filtered {
                    // An excluded directory appears only as the parent of what a `!`
                    // pattern brought back.
                    self.enter(child, exclude_state, Some(entry))?;
                } else {
                    self.give(entry);
                    self.enter(child, exclude_state, None)?;
                }
                continue;
            }
            let ignored = walker
                .ignore
                .matches_below(&dir.ignore_state, &source_str, None);
            let excluded = walker
                .exclude
                .matches_below(&level.exclude_state, below, None);
            if ignored || excluded {
                continue;
            }
            let dest = LayerPath::child(dir.dest.as_ref(), name);
            let Some(kind) = kind(&child_host, source, &metadata)? else {
                continue;
            };
            let entry = entry(dest, kind, &metadata, &child_host)?;
            self.give(entry);
        }
        Ok(())
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<Entry<HostFile>, ContextError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty()
            && let Err(e) = self.step()
        {
            // Nothing after an error.
            self.stack.clear();
            return Some(Err(e));
        }
        self.ready.pop_front()
    }
}

/// An entry at `path` with the metadata of `metadata` and, unless it is a regular file
/// (see [`HostFile::xattrs_read`]), the xattrs of the host path `host` (but
/// `security.selinux`, a label of the host).
pub(crate) fn entry(
    path: LayerPath,
    kind: EntryKind<HostFile>,
    metadata: &Metadata,
    host: &Path,
) -> Result<Entry<HostFile>, ContextError> {
    let xattrs = match kind {
        EntryKind::File(_) => Default::default(),
        _ => xattrs_of(host)?,
    };
    Ok(Entry {
        path,
        kind,
        mode: metadata.mode() & 0o7777,
        uid: metadata.uid(),
        gid: metadata.gid(),
        mtime: metadata.mtime(),
        xattrs,
    })
}

/// The xattrs of `host` that belong in a layer.
pub(crate) fn xattrs_of(host: &Path) -> Result<Xattrs, ContextError> {
    read_xattrs(host, None).map_err(|source| ContextError::ReadContext {
        path: host.to_owned(),
        source,
    })
}

/// What the path `source`, at `host` on the host, is; `None` for a socket, which a layer
/// cannot hold.
pub(crate) fn kind(
    host: &Path,
    source: LayerPath,
    metadata: &Metadata,
) -> Result<Option<EntryKind<HostFile>>, ContextError> {
    let file_type = metadata.file_type();
    let rdev = metadata.rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    Ok(Some(if file_type.is_file() {
        EntryKind::File(HostFile::new(source, metadata))
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_symlink() {
        let target = fs::read_link(host).map_err(|source| ContextError::ReadContext {
            path: host.to_owned(),
            source,
        })?;
        EntryKind::Symlink(target)
    } else if file_type.is_char_device() {
        EntryKind::CharDevice { major, minor }
    } else if file_type.is_block_device() {
        EntryKind::BlockDevice { major, minor }
    } else if file_type.is_fifo() {
        EntryKind::Fifo
    } else {
        return Ok(None);
    }))
}

/// A path as the patterns see it: borrowed when it is UTF-8, else with each invalid
/// sequence replaced by U+FFFD, close to how Go's regexp reads invalid bytes.
pub(crate) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
