//! Walking a directory of the context: what `.dockerignore` and `--exclude` leave, with
//! the metadata of each path, in layer order.
//!
//! Directories are read in parallel (rayon), one task per directory; each task lists and
//! `stat`s its children (`statx` relative to the directory's descriptor, as `find` does),
//! sorts them by name, and the results are concatenated in order, so the output is in
//! layer order without a global sort.

use std::borrow::Cow;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::hashes::Xattrs;
use super::{ContextError, HostFile, Patterns};
use crate::layer::{Entry, EntryKind, LayerPath, read_xattrs};

/// The filters of a walk: `.dockerignore` on paths relative to the context root,
/// `--exclude` on paths relative to the directory walked.
pub(crate) struct Walker<'a> {
    /// The context root on the host.
    pub root: &'a Path,
    pub ignore: &'a Patterns,
    pub exclude: &'a Patterns,
}

/// A directory to walk.
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

impl Walker<'_> {
    /// Everything below `dir` that the filters leave, in layer order. `dir` itself is not
    /// listed. `exclude_from` is the byte offset in source paths where the paths that
    /// `--exclude` sees start.
    pub(crate) fn walk(
        &self,
        dir: Dir,
        exclude_from: usize,
    ) -> Result<Vec<Entry<HostFile>>, ContextError> {
        self.walk_dir(dir, Vec::new(), exclude_from)
    }

    fn walk_dir(
        &self,
        dir: Dir,
        exclude_state: Vec<bool>,
        exclude_from: usize,
    ) -> Result<Vec<Entry<HostFile>>, ContextError> {
        let host = match &dir.source {
            Some(source) => self.root.join(source.as_path()),
            None => self.root.to_owned(),
        };
        let read_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ContextError::ReadContext { path, source }
        };
        let mut children = Vec::new();
        for child in fs::read_dir(&host).map_err(read_err(&host))? {
            let child = child.map_err(read_err(&host))?;
            let metadata = child.metadata().map_err(read_err(&child.path()))?;
            children.push((child.file_name(), metadata));
        }
        children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

        struct Job {
            /// Where the directory's entry is in `out`.
            at: usize,
            /// Whether the directory is excluded itself.
            filtered: bool,
            dir: Dir,
            exclude_state: Vec<bool>,
        }
        // The children in order; the contents of directories are spliced in after.
        let mut out = Vec::with_capacity(children.len());
        let mut jobs = Vec::new();
        for (name, metadata) in children {
            // A regular file needs no host path here (its xattrs are read with its
            // content): spare the allocation for each of them.
            let child_host = if metadata.is_file() {
                PathBuf::new()
            } else {
                host.join(&name)
            };
            let name = name.as_bytes();
            let source = LayerPath::child(dir.source.as_ref(), name);
            let source_str = lossy(source.as_bytes());
            let below = &source_str[exclude_from.min(source_str.len())..];
            let is_dir = metadata.is_dir();
            let mut ignore_state = Vec::new();
            let mut child_exclude_state = Vec::new();
            let (ignored, excluded) = if is_dir {
                (
                    self.ignore.matches_below(
                        &dir.ignore_state,
                        &source_str,
                        Some(&mut ignore_state),
                    ),
                    self.exclude.matches_below(
                        &exclude_state,
                        below,
                        Some(&mut child_exclude_state),
                    ),
                )
            } else {
                (
                    self.ignore
                        .matches_below(&dir.ignore_state, &source_str, None),
                    self.exclude.matches_below(&exclude_state, below, None),
                )
            };
            if is_dir {
                let descend = (!ignored || self.ignore.may_include_below(&source_str))
                    && (!excluded || self.exclude.may_include_below(below));
                if !descend {
                    continue;
                }
                let dest = LayerPath::child(dir.dest.as_ref(), name);
                jobs.push(Job {
                    at: out.len(),
                    filtered: ignored || excluded,
                    dir: Dir {
                        source: Some(source),
                        dest: Some(dest.clone()),
                        ignore_state,
                    },
                    exclude_state: child_exclude_state,
                });
                out.push(entry(dest, EntryKind::Dir, &metadata, &child_host)?);
                continue;
            }
            if ignored || excluded {
                continue;
            }
            let dest = LayerPath::child(dir.dest.as_ref(), name);
            let Some(kind) = kind(&child_host, source, &metadata)? else {
                continue;
            };
            out.push(entry(dest, kind, &metadata, &child_host)?);
        }
        if jobs.is_empty() {
            return Ok(out);
        }

        let places: Vec<(usize, bool)> = jobs.iter().map(|j| (j.at, j.filtered)).collect();
        let results: Vec<Result<Vec<Entry<HostFile>>, ContextError>> = jobs
            .into_par_iter()
            .map(|job| self.walk_dir(job.dir, job.exclude_state, exclude_from))
            .collect();
        let below_len: usize = results.iter().map(|r| r.as_ref().map_or(0, Vec::len)).sum();
        let mut merged = Vec::with_capacity(out.len() + below_len);
        let mut walked = places.into_iter().zip(results).peekable();
        for (at, entry) in out.into_iter().enumerate() {
            let Some(((_, filtered), below)) = walked.next_if(|((job_at, _), _)| *job_at == at)
            else {
                merged.push(entry);
                continue;
            };
            let below = below?;
            // An excluded directory appears only as the parent of what a `!` pattern
            // brought back.
            if !filtered || !below.is_empty() {
                merged.push(entry);
                merged.extend(below);
            }
        }
        Ok(merged)
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
