//! Selecting the sources of a `COPY`/`ADD` from the context, as BuildKit does.
//!
//! A source is a path relative to the context root (a leading `/` means the root), each
//! component possibly a wildcard (Go's `filepath.Match`). `..` may not climb above the
//! root. Symlinks on the way to a source, and the source itself, are followed, but only
//! within the context: a link whose target leaves it is an error. A directory source
//! stands for its contents, walked without following symlinks; a file source for itself,
//! under its name. What `.dockerignore` excludes does not exist for a source; `--exclude`
//! patterns apply to a match's name and to the paths below a matched directory.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::glob::{self, Glob};
use super::patterns::BadPattern;
use super::walk::{self, Dir, Walker, lossy};
use super::{Context, ContextError, HostFile, Patterns};
use crate::layer::{Entry, EntryKind, LayerPath};

/// How many symlinks resolving one source may follow, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// The flags of a `COPY`/`ADD` that change what is selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectOptions {
    /// `--exclude` patterns (Docker pattern syntax, as in `.dockerignore`).
    pub exclude: Vec<String>,
    /// `--parents`: keep each match's path (after a `/./` pivot, if the source has one).
    pub parents: bool,
}

/// What the sources of one `COPY`/`ADD` select from the context.
#[derive(Debug, Clone)]
pub struct Selection {
    root: PathBuf,
    /// The selected entries in layer order, each path once, relative to the destination
    /// directory. A regular file that is a hard link of an earlier selected file is a
    /// [`EntryKind::HardLink`] to that file's path.
    pub entries: Vec<Entry<HostFile>>,
    /// What each source matched, in the order of the sources.
    pub matches: Vec<Matched>,
}

/// One path a source matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The index of the source.
    pub source: usize,
    /// The path matched, as written with wildcards expanded, relative to the context
    /// root (`None`: the root).
    pub path: Option<LayerPath>,
    /// Whether it is a directory (after following symlinks), which stands for its
    /// contents.
    pub is_dir: bool,
}

/// A path resolved inside the context.
struct Resolved {
    /// The real path, symlinks followed (`None`: the root).
    path: Option<LayerPath>,
    metadata: Metadata,
}

/// A source path split into components, with its `--parents` pivot.
struct Parsed<'a> {
    components: Vec<&'a str>,
    /// How many leading components `--parents` drops.
    pivot: usize,
}

impl Context {
    /// Selects what `sources` (of one `COPY`/`ADD`, from the context) name.
    ///
    /// # Errors
    ///
    /// [`ContextError::SourceNotFound`] for a source that matches nothing,
    /// [`ContextError::SourceEscapes`] and [`ContextError::SymlinkEscapes`] for one that
    /// leaves the context, [`ContextError::SymlinkLoop`], [`ContextError::SourcePattern`]
    /// and [`ContextError::ExcludePattern`] for malformed patterns,
    /// [`ContextError::ReadContext`] when a path cannot be read.
    pub fn select<S: AsRef<str>>(
        &self,
        sources: &[S],
        options: &SelectOptions,
    ) -> Result<Selection, ContextError> {
        let exclude = Patterns::new(&options.exclude)
            .map_err(|BadPattern(pattern)| ContextError::ExcludePattern { pattern })?;
        let walker = Walker {
            root: &self.root,
            ignore: &self.ignore,
            exclude: &exclude,
        };
        let mut entries = Vec::new();
        let mut matches = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let source = source.as_ref();
            let parsed = parse(source, options.parents)?;
            let found = self.expand(source, &parsed)?;
            if found.is_empty() {
                return Err(ContextError::SourceNotFound {
                    source_path: source.to_owned(),
                });
            }
            for (written, resolved) in found {
                let name = written.last().map_or("", String::as_str);
                if !name.is_empty() && exclude.matches(name) {
                    continue;
                }
                let is_dir = resolved.metadata.is_dir();
                let name_only = &written[written.len().saturating_sub(1)..];
                let kept = match (options.parents, is_dir) {
                    // A file keeps at least its name, even after a trailing pivot.
                    (true, false) if parsed.pivot >= written.len() => name_only,
                    (true, _) => &written[parsed.pivot.min(written.len())..],
                    (false, true) => &[][..],
                    (false, false) => name_only,
                };
                let dest = (!kept.is_empty())
                    .then(|| LayerPath::new(kept.join("/")))
                    .transpose()
                    .map_err(|_| ContextError::SourceEscapes {
                        source_path: source.to_owned(),
                    })?;
                if options.parents {
                    // The directories kept above the match, with their metadata.
                    for depth in parsed.pivot + 1..written.len() {
                        if let Some(dir) = self.resolve(source, &written[..depth])? {
                            let path = LayerPath::new(written[parsed.pivot..depth].join("/"))
                                .expect("components of a parsed source are plain names");
                            let host = self.host(dir.path.as_ref());
                            entries.push(walk::entry(path, EntryKind::Dir, &dir.metadata, &host)?);
                        }
                    }
                }
                if is_dir {
                    if let Some(dest) = &dest {
                        let host = self.host(resolved.path.as_ref());
                        let metadata = &resolved.metadata;
                        entries.push(walk::entry(dest.clone(), EntryKind::Dir, metadata, &host)?);
                    }
                    let (_, ignore_state) = match &resolved.path {
                        Some(path) => self.ignore.state_of(&lossy(path.as_bytes())),
                        None => (false, Vec::new()),
                    };
                    let offset = walk::exclude_offset(resolved.path.as_ref());
                    let dir = Dir {
                        source: resolved.path.clone(),
                        dest,
                        ignore_state,
                    };
                    let walked = walker.walk(dir, offset)?;
                    if entries.is_empty() {
                        entries = walked;
                    } else {
                        entries.extend(walked);
                    }
                } else if let (Some(real), Some(dest)) = (resolved.path.clone(), dest) {
                    // Always so: only the root lacks a path, and it is a directory.
                    let host = self.host(Some(&real));
                    if let Some(kind) = walk::kind(&host, real, &resolved.metadata)? {
                        entries.push(walk::entry(dest, kind, &resolved.metadata, &host)?);
                    }
                }
                matches.push(Matched {
                    source: index,
                    path: (!written.is_empty()).then(|| {
                        LayerPath::new(written.join("/"))
                            .expect("components of a parsed source are plain names")
                    }),
                    is_dir,
                });
            }
        }
        Ok(Selection::new(self.root.clone(), entries, matches))
    }

    /// The paths `parsed` matches, as written (wildcards expanded) and resolved, sorted.
    fn expand(
        &self,
        source: &str,
        parsed: &Parsed<'_>,
    ) -> Result<Vec<(Vec<String>, Resolved)>, ContextError> {
        let mut candidates: Vec<Vec<String>> = vec![Vec::new()];
        for &component in &parsed.components {
            if !glob::has_wildcard(component) {
                for candidate in &mut candidates {
                    candidate.push(component.to_owned());
                }
                continue;
            }
            let pattern = Glob::new(component).map_err(|_| ContextError::SourcePattern {
                source_path: source.to_owned(),
            })?;
            let mut next = Vec::new();
            for candidate in candidates {
                let Some(dir) = self.resolve(source, &candidate)? else {
                    continue;
                };
                if !dir.metadata.is_dir() {
                    continue;
                }
                let host = self.host(dir.path.as_ref());
                let mut names = Vec::new();
                let read_err = |source| ContextError::ReadContext {
                    path: host.clone(),
                    source,
                };
                for child in fs::read_dir(&host).map_err(read_err)? {
                    let child = child.map_err(read_err)?;
                    let name = lossy(child.file_name().as_bytes()).into_owned();
                    if pattern.matches(&name) {
                        names.push(name);
                    }
                }
                names.sort_unstable();
                for name in names {
                    let mut matched = candidate.clone();
                    matched.push(name);
                    next.push(matched);
                }
            }
            candidates = next;
        }
        let mut found = Vec::new();
        for candidate in candidates {
            if let Some(resolved) = self.resolve(source, &candidate)? {
                found.push((candidate, resolved));
            }
        }
        Ok(found)
    }

    /// The host path of `path` in the context (`None`: the root).
    fn host(&self, path: Option<&LayerPath>) -> PathBuf {
        match path {
            Some(path) => self.root.join(path.as_path()),
            None => self.root.clone(),
        }
    }

    /// Resolves `components` (plain names, no `.` or `..`) inside the context, following
    /// symlinks. `None` when the path does not exist or `.dockerignore` excludes it.
    fn resolve(
        &self,
        source: &str,
        components: &[String],
    ) -> Result<Option<Resolved>, ContextError> {
        let mut real: Vec<Vec<u8>> = Vec::new();
        // Components still to walk, the next one last.
        let mut pending: Vec<Vec<u8>> = components
            .iter()
            .rev()
            .map(|c| c.as_bytes().to_vec())
            .collect();
        let mut links = 0;
        let mut last_link = String::new();
        while let Some(component) = pending.pop() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if real.pop().is_none() && !self.image_root {
                        return Err(ContextError::SymlinkEscapes {
                            source_path: source.to_owned(),
                            link: last_link,
                        });
                    }
                    continue;
                }
                _ => real.push(component),
            }
            let rel = real.join(&b'/');
            let host = self.root.join(Path::new(std::ffi::OsStr::from_bytes(&rel)));
            let metadata = match fs::symlink_metadata(&host) {
                Ok(metadata) => metadata,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(source) => return Err(ContextError::ReadContext { path: host, source }),
            };
            if metadata.file_type().is_symlink() {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ContextError::SymlinkLoop {
                        source_path: source.to_owned(),
                    });
                }
                last_link = lossy(&rel).into_owned();
                let target = fs::read_link(&host)
                    .map_err(|source| ContextError::ReadContext { path: host, source })?;
                real.pop();
                let target = if target.is_absolute() && self.image_root {
                    // Inside an image, an absolute target starts at the image's root.
                    real.clear();
                    target.strip_prefix("/").unwrap_or(&target).to_owned()
                } else if target.is_absolute() {
                    // An absolute target is a host path: fine while it stays inside.
                    let Ok(inside) = target.strip_prefix(&self.root) else {
                        return Err(ContextError::SymlinkEscapes {
                            source_path: source.to_owned(),
                            link: last_link,
                        });
                    };
                    real.clear();
                    inside.to_owned()
                } else {
                    target
                };
                let bytes = target.as_os_str().as_bytes();
                pending.extend(bytes.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
                continue;
            }
            if self.ignore.matches(&lossy(&rel))
                && !(metadata.is_dir() && self.ignore.may_include_below(&lossy(&rel)))
            {
                return Ok(None);
            }
            if !pending.is_empty() && !metadata.is_dir() {
                return Ok(None);
            }
        }
        if real.is_empty() {
            let metadata =
                fs::metadata(&self.root).map_err(|source| ContextError::ReadContext {
                    path: self.root.clone(),
                    source,
                })?;
            return Ok(Some(Resolved {
                path: None,
                metadata,
            }));
        }
        let rel = real.join(&b'/');
        let host = self.root.join(Path::new(std::ffi::OsStr::from_bytes(&rel)));
        let metadata = fs::symlink_metadata(&host)
            .map_err(|source| ContextError::ReadContext { path: host, source })?;
        let path = LayerPath::from_bytes(&rel).expect("resolved components are plain names");
        Ok(Some(Resolved {
            path: Some(path),
            metadata,
        }))
    }
}

/// Whether an error means the path is not there: missing, or a file where a directory
/// was expected.
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Splits `source` into components: a leading `/` is the context root, `.` and empty
/// components go, `..` removes the one before (an error at the root). With `parents`,
/// a `.` after the first component marks the pivot.
fn parse(source: &str, parents: bool) -> Result<Parsed<'_>, ContextError> {
    let mut components = Vec::new();
    let mut pivot = 0;
    for component in source.split('/') {
        match component {
            "" => {}
            "." => {
                if parents && !components.is_empty() {
                    pivot = components.len();
                }
            }
            ".." => {
                if components.pop().is_none() {
                    return Err(ContextError::SourceEscapes {
                        source_path: source.to_owned(),
                    });
                }
                pivot = pivot.min(components.len());
            }
            _ => components.push(component),
        }
    }
    Ok(Parsed { components, pivot })
}

impl Selection {
    /// Sorts `entries`, keeps the last of those with one path, and turns repeated inodes
    /// into hard links.
    fn new(root: PathBuf, mut entries: Vec<Entry<HostFile>>, matches: Vec<Matched>) -> Selection {
        // One source (a directory) walked in layer order is already sorted, once.
        let mut deduped = if entries.is_sorted_by(|a, b| a.path < b.path) {
            entries
        } else {
            // Stable: of entries with equal paths, the later source's comes last.
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            let mut deduped: Vec<Entry<HostFile>> = Vec::with_capacity(entries.len());
            for entry in entries {
                match deduped.last_mut() {
                    Some(last) if last.path == entry.path => *last = entry,
                    _ => deduped.push(entry),
                }
            }
            deduped
        };
        let mut inodes: HashMap<(u64, u64), LayerPath> = HashMap::new();
        for entry in &mut deduped {
            let EntryKind::File(file) = &entry.kind else {
                continue;
            };
            if file.nlink < 2 {
                continue;
            }
            match inodes.get(&(file.dev, file.ino)) {
                Some(first) => entry.kind = EntryKind::HardLink(first.clone()),
                None => {
                    inodes.insert((file.dev, file.ino), entry.path.clone());
                }
            }
        }
        Selection {
            root,
            entries: deduped,
            matches,
        }
    }

    /// The context directory the entries' sources are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
