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
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use super::glob::{self, Glob};
use super::hashes::Xattrs;
use super::patterns::BadPattern;
use super::walk::{self, Dir, Walker, lossy};
use super::{Context, ContextError, HostFile, Origin, Patterns};
use crate::fsroot::{DIR_FLAGS, Root, link_target, list};
use crate::layer::{Entry, EntryKind, LayerPath, TreeFile, read_file_xattrs, stat_entry};

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
///
/// It holds what each source matched, not the files below a matched directory: those
/// are walked again each time the [entries](Selection::entries) are read, so that a
/// selection of any size costs memory for the directories being walked only.
#[derive(Debug, Clone)]
pub struct Selection {
    root: PathBuf,
    /// The context directory, open: every entry is read through it.
    pub(super) tree: Arc<Root>,
    pub(super) origin: Origin,
    ignore: Patterns,
    exclude: Patterns,
    /// What the sources add, in source order, each part in layer order.
    parts: Vec<Part>,
    /// What each source matched, in the order of the sources.
    pub matches: Vec<Matched>,
    /// The xattrs of the regular files that have any, by path relative to the context
    /// root, once the [digest](Selection::digest) has read them.
    pub(super) file_xattrs: Option<HashMap<LayerPath, Xattrs>>,
}

/// Entries of a selection from one or more sources, in layer order.
#[derive(Debug, Clone)]
enum Part {
    /// Entries listed when the sources were resolved (files, directories above a match).
    Listed(Vec<Entry<HostFile>>),
    /// Everything below a directory.
    Walk { dir: Dir, exclude_from: usize },
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
    /// The path it resolved to, symlinks followed, relative to the context root
    /// (`None`: the root).
    pub resolved: Option<LayerPath>,
}

/// A path resolved inside the context.
struct Resolved {
    /// The real path, symlinks followed (`None`: the root).
    path: Option<LayerPath>,
    stat: Stat,
}

impl Resolved {
    fn is_dir(&self) -> bool {
        FileType::from_raw_mode(self.stat.st_mode) == FileType::Directory
    }
}

/// A path a source matched: as written (wildcards expanded), and resolved.
type Found = (Vec<String>, Resolved);

/// What resolving a path inside the context finds.
enum Lookup {
    Found(Resolved),
    /// Nothing is there.
    Missing,
    /// What is there is excluded by `.dockerignore`, so it is not in the context.
    Ignored,
}

impl Lookup {
    fn found(self) -> Option<Resolved> {
        match self {
            Lookup::Found(resolved) => Some(resolved),
            Lookup::Missing | Lookup::Ignored => None,
        }
    }
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
    /// [`ContextError::SourceNotFound`] for a source without wildcards that matches
    /// nothing (one with wildcards may match nothing), [`ContextError::SourceIgnored`]
    /// when that is because `.dockerignore` excludes it,
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
        let mut parts = Vec::new();
        let mut listed = Vec::new();
        let mut matches = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let source = source.as_ref();
            let parsed =
                parse(source, options.parents).ok_or_else(|| ContextError::SourceEscapes {
                    source_path: source.to_owned(),
                    origin: self.origin.clone(),
                })?;
            let (found, ignored) = self.expand(source, &parsed)?;
            // A wildcard may match nothing, as BuildKit allows (`COPY requirements*.txt
            // ./` for a file that may be missing); a plain path must exist.
            let wildcard = parsed.components.iter().any(|c| glob::has_wildcard(c));
            if found.is_empty() && !wildcard {
                return Err(self.not_found(source, ignored));
            }
            for (written, resolved) in found {
                let name = written.last().map_or("", String::as_str);
                if !name.is_empty() && exclude.matches(name) {
                    continue;
                }
                let is_dir = resolved.is_dir();
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
                        origin: self.origin.clone(),
                    })?;
                if options.parents {
                    // The directories kept above the match, with their metadata.
                    for depth in parsed.pivot + 1..written.len() {
                        if let Some(dir) = self.resolve(source, &written[..depth])?.found() {
                            let path = LayerPath::new(written[parsed.pivot..depth].join("/"))
                                .expect("components of a parsed source are plain names");
                            listed.push(self.dir_entry(path, &dir)?);
                        }
                    }
                }
                if is_dir {
                    if let Some(dest) = &dest {
                        listed.push(self.dir_entry(dest.clone(), &resolved)?);
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
                    if !listed.is_empty() {
                        parts.push(Part::listed(std::mem::take(&mut listed)));
                    }
                    parts.push(Part::Walk {
                        dir,
                        exclude_from: offset,
                    });
                } else if let (Some(real), Some(dest)) = (resolved.path.clone(), dest) {
                    // Always so: only the root lacks a path, and it is a directory.
                    let parent = real.parent();
                    let dir = self.open_dir(parent.as_ref())?;
                    let none = Patterns::default();
                    let walker = self.walker(&none);
                    let name = real.file_name().to_vec();
                    let entry =
                        walk::child_entry(&walker, &dir, &name, real, dest, &resolved.stat)?;
                    listed.extend(entry);
                }
                matches.push(Matched {
                    source: index,
                    path: (!written.is_empty()).then(|| {
                        LayerPath::new(written.join("/"))
                            .expect("components of a parsed source are plain names")
                    }),
                    is_dir,
                    resolved: resolved.path.clone(),
                });
            }
        }
        if !listed.is_empty() {
            parts.push(Part::listed(listed));
        }
        Ok(Selection {
            root: self.root.clone(),
            tree: self.tree.clone(),
            origin: self.origin.clone(),
            ignore: self.ignore.clone(),
            exclude,
            parts,
            matches,
            file_xattrs: None,
        })
    }

    /// The error of a source without wildcards that matched nothing, `ignored` when
    /// `.dockerignore` excluded what it names.
    fn not_found(&self, source: &str, ignored: bool) -> ContextError {
        let source_path = source.to_owned();
        let origin = self.origin.clone();
        match self.ignore_file.as_deref().and_then(Path::file_name) {
            Some(name) if ignored => ContextError::SourceIgnored {
                source_path,
                origin,
                ignore_file: name.to_string_lossy().into_owned(),
            },
            _ => ContextError::SourceNotFound {
                source_path,
                origin,
            },
        }
    }

    /// The paths `parsed` matches, as written (wildcards expanded) and resolved, sorted;
    /// and whether `.dockerignore` excluded a path it would have matched.
    fn expand(
        &self,
        source: &str,
        parsed: &Parsed<'_>,
    ) -> Result<(Vec<Found>, bool), ContextError> {
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
                let Some(dir) = self.resolve(source, &candidate)?.found() else {
                    continue;
                };
                if !dir.is_dir() {
                    continue;
                }
                let opened = self.open_dir(dir.path.as_ref())?;
                let mut names = Vec::new();
                for name in list(&opened).map_err(|e| self.read_error(dir.path.as_ref(), e))? {
                    let name = lossy(name.as_bytes()).into_owned();
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
        let mut ignored = false;
        for candidate in candidates {
            match self.resolve(source, &candidate)? {
                Lookup::Found(resolved) => found.push((candidate, resolved)),
                Lookup::Ignored => ignored = true,
                Lookup::Missing => {}
            }
        }
        Ok((found, ignored))
    }

    /// Whether the walk of the directory `dir`, which `.dockerignore` excludes, finds
    /// anything a `!` pattern brings back: only then is `dir` in the context, as the
    /// parent of what is.
    fn holds_included(&self, dir: &LayerPath) -> Result<bool, ContextError> {
        let path = lossy(dir.as_bytes());
        if !self.ignore.may_include_below(&path) {
            return Ok(false);
        }
        let none = Patterns::default();
        let top = Dir {
            source: Some(dir.clone()),
            dest: None,
            ignore_state: self.ignore.state_of(&path).1,
        };
        self.walker(&none)
            .walk(top, 0)
            .next()
            .transpose()
            .map(|first| first.is_some())
    }

    /// A walker of the context with the `--exclude` patterns `exclude`.
    fn walker<'a>(&'a self, exclude: &'a Patterns) -> Walker<'a> {
        Walker {
            root: &self.tree,
            origin: &self.origin,
            ignore: &self.ignore,
            exclude,
        }
    }

    /// The error of reading `path` (`None`: the root) of the context.
    fn read_error(&self, path: Option<&LayerPath>, source: io::Error) -> ContextError {
        let none = Patterns::default();
        self.walker(&none).read_error(path, source)
    }

    /// Opens the directory `path` (`None`: the root), a path resolved before, for
    /// listing: through no symlink, so that it is still what was resolved.
    fn open_dir(&self, path: Option<&LayerPath>) -> Result<File, ContextError> {
        let bytes = path.map_or(&b""[..], LayerPath::as_bytes);
        self.tree
            .open_walked(bytes, DIR_FLAGS)
            .map(File::from)
            .map_err(|e| self.read_error(path, e))
    }

    /// The entry at `path` of the directory `dir`, a resolved directory, with its xattrs.
    fn dir_entry(&self, path: LayerPath, dir: &Resolved) -> Result<Entry<HostFile>, ContextError> {
        let opened = self.open_dir(dir.path.as_ref())?;
        let xattrs =
            read_file_xattrs(&opened).map_err(|e| self.read_error(dir.path.as_ref(), e))?;
        Ok(stat_entry(path, EntryKind::Dir, &dir.stat, xattrs))
    }

    /// Resolves `components` (plain names, no `.` or `..`) inside the context, following
    /// symlinks, as BuildKit resolves them in the context it was sent: a path that
    /// `.dockerignore` excludes is not there, a symlink included, and an excluded
    /// directory is there only as the parent of something a `!` pattern brings back.
    ///
    /// The walk goes from directory descriptor to directory descriptor, each component
    /// looked at without following it; a symlink's target is read and walked by the
    /// rules of the context (see the [module](self) docs), never by the host.
    fn resolve(&self, source: &str, components: &[String]) -> Result<Lookup, ContextError> {
        // The real path so far: directories, and a last component that is none.
        let mut real: Vec<Vec<u8>> = Vec::new();
        // The directories of `real`, open (`O_PATH`).
        let mut dirs: Vec<OwnedFd> = Vec::new();
        // Components still to walk, the next one last.
        let mut pending: Vec<Vec<u8>> = components
            .iter()
            .rev()
            .map(|c| c.as_bytes().to_vec())
            .collect();
        let mut links = 0;
        let mut last_link = String::new();
        // The metadata of a last component that is no directory.
        let mut end: Option<Stat> = None;
        while let Some(component) = pending.pop() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if real.pop().is_none() && !self.origin.is_image() {
                        return Err(ContextError::SymlinkEscapes {
                            source_path: source.to_owned(),
                            link: last_link,
                            origin: self.origin.clone(),
                        });
                    }
                    dirs.pop();
                    continue;
                }
                _ => {}
            }
            let parent = dirs.last().unwrap_or(self.tree.fd());
            real.push(component);
            let rel = real.join(&b'/');
            let here = LayerPath::from_bytes(&rel).expect("resolved components are plain names");
            let name = real.last().expect("just pushed").as_slice();
            let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(e) if is_missing(e) => return Ok(Lookup::Missing),
                Err(e) => return Err(self.read_error(Some(&here), e.into())),
            };
            let file_type = FileType::from_raw_mode(stat.st_mode);
            let is_dir = file_type == FileType::Directory;
            if self.ignore.matches(&lossy(&rel)) && !(is_dir && self.holds_included(&here)?) {
                return Ok(Lookup::Ignored);
            }
            if file_type == FileType::Symlink {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ContextError::SymlinkLoop {
                        source_path: source.to_owned(),
                    });
                }
                last_link = lossy(&rel).into_owned();
                let target =
                    link_target(parent, name).map_err(|e| self.read_error(Some(&here), e))?;
                real.pop();
                let target = if target.is_absolute() && self.origin.is_image() {
                    // Inside an image, an absolute target starts at the image's root.
                    real.clear();
                    dirs.clear();
                    target.strip_prefix("/").unwrap_or(&target).to_owned()
                } else if target.is_absolute() {
                    // An absolute target is a host path: fine while it stays inside.
                    let Ok(inside) = target.strip_prefix(&self.root) else {
                        return Err(ContextError::SymlinkEscapes {
                            source_path: source.to_owned(),
                            link: last_link,
                            origin: self.origin.clone(),
                        });
                    };
                    real.clear();
                    dirs.clear();
                    inside.to_owned()
                } else {
                    target
                };
                let bytes = target.as_os_str().as_bytes();
                pending.extend(bytes.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
                continue;
            }
            if is_dir {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match rustix::fs::openat(parent, name, flags, Mode::empty()) {
                    Ok(fd) => dirs.push(fd),
                    Err(e) if is_missing(e) => return Ok(Lookup::Missing),
                    Err(e) => return Err(self.read_error(Some(&here), e.into())),
                }
            } else if pending.is_empty() {
                end = Some(stat);
            } else {
                return Ok(Lookup::Missing);
            }
        }
        let path = (!real.is_empty()).then(|| {
            LayerPath::from_bytes(&real.join(&b'/')).expect("resolved components are plain names")
        });
        let stat = match end {
            Some(stat) => stat,
            None => rustix::fs::fstat(dirs.last().unwrap_or(self.tree.fd()))
                .map_err(|e| self.read_error(path.as_ref(), e.into()))?,
        };
        Ok(Lookup::Found(Resolved { path, stat }))
    }
}

/// Whether an error means the path is not there: missing, or a file where a directory
/// was expected.
fn is_missing(e: rustix::io::Errno) -> bool {
    matches!(e, rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)
}

/// Splits `source` into components: a leading `/` is the context root, `.` and empty
/// components go, `..` removes the one before (`None` at the root). With `parents`,
/// a `.` after the first component marks the pivot.
fn parse(source: &str, parents: bool) -> Option<Parsed<'_>> {
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
                components.pop()?;
                pivot = pivot.min(components.len());
            }
            _ => components.push(component),
        }
    }
    Some(Parsed { components, pivot })
}

impl Part {
    /// Entries listed in source order: sorted, keeping the last of those with one path.
    fn listed(mut entries: Vec<Entry<HostFile>>) -> Part {
        // Stable: of entries with equal paths, the later source's comes last.
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut deduped: Vec<Entry<HostFile>> = Vec::with_capacity(entries.len());
        for entry in entries {
            match deduped.last_mut() {
                Some(last) if last.path == entry.path => *last = entry,
                _ => deduped.push(entry),
            }
        }
        Part::Listed(deduped)
    }
}

impl Selection {
    /// The context directory the entries' sources are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file at `path` (a [resolved](Matched::resolved) path) of the context, read
    /// through its root.
    pub fn file(&self, path: &LayerPath) -> TreeFile {
        TreeFile::new(self.tree.clone(), path.clone())
    }

    /// The selected entries in layer order, each path once, relative to the destination
    /// directory, read from the context as they are given. A regular file that is a hard
    /// link of an earlier selected file is an [`EntryKind::HardLink`] to that file's
    /// path. Regular files carry their xattrs once the [digest](Selection::digest) has
    /// read them (see [`HostFile::xattrs_read`]).
    ///
    /// # Errors
    ///
    /// The items fail with [`ContextError::ReadContext`] when a directory cannot be read;
    /// nothing follows an error.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry<HostFile>, ContextError>> + '_ {
        let walker = Walker {
            root: &self.tree,
            origin: &self.origin,
            ignore: &self.ignore,
            exclude: &self.exclude,
        };
        let streams: Vec<Boxed<'_>> = self
            .parts
            .iter()
            .map(|part| -> Boxed<'_> {
                match part {
                    Part::Listed(entries) => Box::new(entries.iter().cloned().map(Ok)),
                    Part::Walk { dir, exclude_from } => {
                        Box::new(walker.walk(dir.clone(), *exclude_from))
                    }
                }
            })
            .collect();
        let merged = Merged::new(streams);
        // The first path (in layer order) of each file with more than one link.
        let mut inodes: HashMap<(u64, u64), LayerPath> = HashMap::new();
        merged.map(move |entry| {
            let mut entry = entry?;
            let EntryKind::File(file) = &mut entry.kind else {
                return Ok(entry);
            };
            if let Some(known) = &self.file_xattrs {
                if let Some(xattrs) = known.get(&file.source) {
                    entry.xattrs = xattrs.clone();
                }
                file.xattrs_read = true;
            }
            if file.nlink < 2 {
                return Ok(entry);
            }
            match inodes.get(&(file.dev, file.ino)) {
                Some(first) => entry.kind = EntryKind::HardLink(first.clone()),
                None => {
                    inodes.insert((file.dev, file.ino), entry.path.clone());
                }
            }
            Ok(entry)
        })
    }

    /// Whether the selection has no entry (a source directory with nothing left in it).
    pub fn is_empty(&self) -> bool {
        self.entries().next().is_none()
    }
}

/// The entries of one part.
type Boxed<'a> = Box<dyn Iterator<Item = Result<Entry<HostFile>, ContextError>> + 'a>;

/// The entries of several parts in layer order, of equal paths the later part's.
struct Merged<'a> {
    streams: Vec<Boxed<'a>>,
    /// The next entry of each stream.
    heads: Vec<Option<Result<Entry<HostFile>, ContextError>>>,
}

impl<'a> Merged<'a> {
    fn new(mut streams: Vec<Boxed<'a>>) -> Self {
        let heads = streams.iter_mut().map(Iterator::next).collect();
        Merged { streams, heads }
    }
}

impl Iterator for Merged<'_> {
    type Item = Result<Entry<HostFile>, ContextError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The stream with the least path, the last of those with an equal one; an error
        // first.
        let mut least: Option<usize> = None;
        for (index, head) in self.heads.iter().enumerate() {
            match head {
                None => {}
                Some(Err(_)) => {
                    least = Some(index);
                    break;
                }
                Some(Ok(head)) => {
                    least = match least {
                        Some(at) if matches!(&self.heads[at], Some(Ok(best)) if best.path < head.path) => {
                            Some(at)
                        }
                        _ => Some(index),
                    }
                }
            }
        }
        let at = least?;
        let next = self.heads[at].take()?;
        match &next {
            Ok(entry) => {
                self.heads[at] = self.streams[at].next();
                // The same path in earlier parts is replaced.
                for index in 0..at {
                    if matches!(&self.heads[index], Some(Ok(head)) if head.path == entry.path) {
                        self.heads[index] = self.streams[index].next();
                    }
                }
            }
            // Nothing after an error.
            Err(_) => self.heads.iter_mut().for_each(|head| *head = None),
        }
        Some(next)
    }
}
