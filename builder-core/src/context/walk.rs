//! Walking a directory of the context: what `.dockerignore` and `--exclude` leave, with
//! the metadata of each path, in layer order.
//!
//! A [`Walk`] is an iterator: depth first, each directory's children listed, `stat`ed
//! (relative to the directory's descriptor, as `find` does; in parallel in a large
//! directory on a machine with more than two cores) and sorted by name when the walk
//! enters it, so the entries come in layer order without a global sort, and it holds only
//! the children of the directories it is inside of (depth × width), whatever the number
//! of files.
//!
//! The walk holds a descriptor of each directory it is inside of and reaches every
//! child through it, a directory with `O_NOFOLLOW`: no host path is built and no symlink
//! is followed, so a tree changed while it is walked (a directory swapped for a symlink)
//! cannot lead the walk out of it. The regular files found are read later through the
//! root ([`TreeFile`](crate::layer::TreeFile)), by the path the walk found, again through
//! no symlink. A path longer than the kernel opens (`fsroot`'s `MAX_PATH`) fails the
//! walk, which also bounds its depth in a hostile tree.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::path::Path;

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Stat};

use super::hashes::Xattrs;
use super::{ContextError, HostFile, Origin, Patterns};
use crate::fsroot::{
    DIR_FLAGS, Root, WalkedDir, bound_open, check_path, entry_path, link_target, list, open_subdir,
};
use crate::layer::{
    Entry, EntryKind, LayerPath, read_file_xattrs, read_xattrs, stat_entry, stat_kind,
};

/// How many children a directory has for the walk to `stat` them in parallel.
const PARALLEL_STAT: usize = 64;

/// The fewest cores on which a walk `stat`s in parallel at all. With two, rayon's idle
/// workers spin (`sched_yield`) between directories on the core the walk needs: the
/// no-change rebuild of 20,000 files made 1,575 yields for 20,066 `statx` and took 3×
/// a `find` of the same tree.
const PARALLEL_CORES: usize = 3;

/// Whether this machine has [`PARALLEL_CORES`].
fn parallel_machine() -> bool {
    static PARALLEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PARALLEL.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            >= PARALLEL_CORES
    })
}

/// The filters of a walk: `.dockerignore` on paths relative to the context root,
/// `--exclude` on paths relative to the directory walked.
#[derive(Clone, Copy)]
pub(crate) struct Walker<'a> {
    /// The context root, open.
    pub root: &'a Root,
    /// What the context is, for errors.
    pub origin: &'a Origin,
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
        let source = dir.source.as_ref().map_or(&b""[..], LayerPath::as_bytes);
        let opened = self
            .root
            .open_walked(source, DIR_FLAGS)
            .map(File::from)
            .map_err(|error| self.read_error(dir.source.as_ref(), error));
        let entered = opened.and_then(|fd| walk.enter(dir, Vec::new(), None, fd));
        if let Err(e) = entered {
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
    /// The directory, open (or closed, deep in a tree).
    fd: WalkedDir,
    /// Its children not walked yet, in order.
    children: std::vec::IntoIter<(CString, Stat)>,
    /// The directory's own entry, when it is excluded itself: given only before a child
    /// that a `!` pattern brings back.
    held: Option<Entry<HostFile>>,
}

/// A child of the directory being walked, as the walk goes on with it.
enum Next {
    /// An entry to give.
    Give(Entry<HostFile>),
    /// A directory to give (unless held) and walk into.
    Enter {
        entry: Entry<HostFile>,
        held: bool,
        child: Dir,
        exclude_state: Vec<bool>,
        fd: File,
    },
    /// Nothing: filtered out, or a socket.
    Skip,
}

impl Walk<'_> {
    /// Lists the children of `dir`, open as `fd`, and walks them next.
    fn enter(
        &mut self,
        dir: Dir,
        exclude_state: Vec<bool>,
        held: Option<Entry<HostFile>>,
        fd: File,
    ) -> Result<(), ContextError> {
        let walker = self.walker;
        let names = list(&fd).map_err(|error| walker.read_error(dir.source.as_ref(), error))?;
        // The `stat`s of a large directory in parallel: the walk's largest cost.
        let stat = |name: CString| match rustix::fs::statat(
            &fd,
            name.as_c_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) => Ok((name, stat)),
            Err(error) => {
                let path = LayerPath::child(dir.source.as_ref(), name.as_bytes());
                Err(walker.read_error(Some(&path), error.into()))
            }
        };
        let mut children: Vec<(CString, Stat)> =
            if names.len() >= PARALLEL_STAT && parallel_machine() {
                names
                    .into_par_iter()
                    .map(stat)
                    .collect::<Result<_, ContextError>>()?
            } else {
                names
                    .into_iter()
                    .map(stat)
                    .collect::<Result<_, ContextError>>()?
            };
        children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.stack.push(Level {
            dir,
            exclude_state,
            fd: WalkedDir::new(fd),
            children: children.into_iter(),
            held,
        });
        bound_open(&mut self.stack, |level| &mut level.fd);
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
        while self.ready.is_empty() {
            let Some(level) = self.stack.last_mut() else {
                return Ok(());
            };
            let Some((name, stat)) = level.children.next() else {
                self.stack.pop();
                continue;
            };
            match self.next_of(&name, &stat)? {
                Next::Give(entry) => self.give(entry),
                Next::Enter {
                    entry,
                    held,
                    child,
                    exclude_state,
                    fd,
                } => {
                    if held {
                        // An excluded directory appears only as the parent of what a `!`
                        // pattern brought back.
                        self.enter(child, exclude_state, Some(entry), fd)?;
                    } else {
                        self.give(entry);
                        self.enter(child, exclude_state, None, fd)?;
                    }
                }
                Next::Skip => {}
            }
        }
        Ok(())
    }

    /// What the child `name` (with `stat`) of the innermost directory becomes.
    fn next_of(&mut self, name: &CStr, stat: &Stat) -> Result<Next, ContextError> {
        let walker = self.walker;
        let level = self
            .stack
            .last_mut()
            .expect("a child comes from a directory");
        let dir = &level.dir;
        let at = dir.source.as_ref().map_or(&b""[..], LayerPath::as_bytes);
        let fd = level
            .fd
            .get(walker.root, at)
            .map_err(|error| walker.read_error(dir.source.as_ref(), error))?;
        let name = name.to_bytes();
        let source = LayerPath::child(dir.source.as_ref(), name);
        let source_str = lossy(source.as_bytes());
        let below = &source_str[self.exclude_from.min(source_str.len())..];
        // Checked only for what the filters leave, before it is opened or given.
        let check_length = || {
            check_path(source.as_bytes()).map_err(|error| walker.read_error(Some(&source), error))
        };
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            let mut ignore_state = Vec::new();
            let mut exclude_state = Vec::new();
            let ignored = walker.ignore.matches_below(
                &dir.ignore_state,
                &source_str,
                Some(&mut ignore_state),
            );
            let excluded =
                walker
                    .exclude
                    .matches_below(&level.exclude_state, below, Some(&mut exclude_state));
            let descend = (!ignored || walker.ignore.may_include_below(&source_str))
                && (!excluded || walker.exclude.may_include_below(below));
            if !descend {
                return Ok(Next::Skip);
            }
            check_length()?;
            let opened =
                open_subdir(fd, name).map_err(|error| walker.read_error(Some(&source), error))?;
            let xattrs = read_file_xattrs(&opened)
                .map_err(|error| walker.read_error(Some(&source), error))?;
            let dest = LayerPath::child(dir.dest.as_ref(), name);
            return Ok(Next::Enter {
                entry: stat_entry(dest.clone(), EntryKind::Dir, stat, xattrs),
                held: ignored || excluded,
                child: Dir {
                    source: Some(source),
                    dest: Some(dest),
                    ignore_state,
                },
                exclude_state,
                fd: opened,
            });
        }
        let ignored = walker
            .ignore
            .matches_below(&dir.ignore_state, &source_str, None);
        let excluded = walker
            .exclude
            .matches_below(&level.exclude_state, below, None);
        if ignored || excluded {
            return Ok(Next::Skip);
        }
        check_length()?;
        let dest = LayerPath::child(dir.dest.as_ref(), name);
        match child_entry(&walker, fd, name, source, dest, stat)? {
            Some(entry) => Ok(Next::Give(entry)),
            None => Ok(Next::Skip),
        }
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

/// The entry at `dest` for the child `name` (at `source` in the context, with `stat`) of
/// the directory `dir`, a directory itself excepted; `None` for a socket, which a layer
/// cannot hold. A regular file's xattrs are left for later (see
/// [`HostFile::xattrs_read`]); the others', but `security.selinux` (a label of the host),
/// are read without following the entry, as is a symlink's target.
pub(crate) fn child_entry(
    walker: &Walker<'_>,
    dir: &File,
    name: &[u8],
    source: LayerPath,
    dest: LayerPath,
    stat: &Stat,
) -> Result<Option<Entry<HostFile>>, ContextError> {
    let read_err = |error| walker.read_error(Some(&source), error);
    let file = || HostFile::new(source.clone(), stat);
    let Some(kind) = stat_kind(stat, file, || link_target(dir, name)).map_err(read_err)? else {
        return Ok(None);
    };
    let xattrs = match kind {
        EntryKind::File(_) => Xattrs::default(),
        _ => read_xattrs(&entry_path(dir, name), None).map_err(read_err)?,
    };
    Ok(Some(stat_entry(dest, kind, stat, xattrs)))
}

impl Walker<'_> {
    /// The error of reading `path` (`None`: the root) of the context.
    pub(crate) fn read_error(&self, path: Option<&LayerPath>, source: io::Error) -> ContextError {
        let relative = path.map_or(Path::new(""), LayerPath::as_path);
        ContextError::ReadContext {
            path: self.root.shown(relative),
            origin: self.origin.clone(),
            source,
        }
    }
}

/// A path as the patterns see it: borrowed when it is UTF-8, else with each invalid
/// sequence replaced by U+FFFD, close to how Go's regexp reads invalid bytes.
pub(crate) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::context::{Context, Destination, SelectOptions};
    use crate::layer::{LayerError, LayerOptions, write_layer};

    const CANARY: &str = "host canary\n";

    /// A context `ctx/` with `a.txt` and `d/secret`, and a host directory `host/` with a
    /// `secret` canary.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("ctx/d")).unwrap();
        fs::write(dir.path().join("ctx/a.txt"), "a").unwrap();
        fs::write(dir.path().join("ctx/d/secret"), "inside").unwrap();
        fs::create_dir_all(dir.path().join("host")).unwrap();
        fs::write(dir.path().join("host/secret"), CANARY).unwrap();
        dir
    }

    /// Replaces the directory `ctx/d` with a symlink to `host/`.
    fn swap(dir: &Path) {
        fs::rename(dir.join("ctx/d"), dir.join("moved")).unwrap();
        symlink(dir.join("host"), dir.join("ctx/d")).unwrap();
    }

    /// Whether `error` is the kernel refusing to follow a symlink: `ELOOP`, or
    /// `ENOTDIR` for a directory asked for with `O_NOFOLLOW`.
    fn refused(error: &std::io::Error) -> bool {
        matches!(error.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
    }

    // See: issue 13
    #[test]
    fn a_directory_swapped_for_a_symlink_while_walked_is_not_entered() {
        let dir = tree();
        let root = Root::open(&dir.path().join("ctx")).unwrap();
        let none = Patterns::default();
        let walker = Walker {
            root: &root,
            origin: &Origin::Context,
            ignore: &none,
            exclude: &none,
        };
        let top = Dir {
            source: None,
            dest: None,
            ignore_state: Vec::new(),
        };
        let mut entries = walker.walk(top, 0);
        // The root is listed now, `d` seen as a directory; `a.txt` comes first.
        let first = entries.next().unwrap().unwrap();
        assert_eq!(first.path.to_string(), "a.txt");
        swap(dir.path());
        match entries.next().unwrap() {
            Err(ContextError::ReadContext { source, .. }) => assert!(refused(&source), "{source}"),
            other => panic!("the walk went on: {other:?}"),
        }
        assert!(entries.next().is_none());
    }

    // See: issue 13
    #[test]
    fn a_directory_swapped_for_a_symlink_after_the_walk_is_not_read_through() {
        let dir = tree();
        let context = Context::open(dir.path().join("ctx"), None).unwrap();
        let selection = context.select(&["."], &SelectOptions::default()).unwrap();
        let placed = selection
            .place(&Destination::new("/", "/").unwrap(), true)
            .unwrap();
        assert_eq!(placed.last().unwrap().path.to_string(), "d/secret");
        swap(dir.path());
        // The layer writer opens `d/secret` through the context's root: not through `d`.
        let options = LayerOptions::default();
        match write_layer(Vec::new(), placed, &options) {
            Err(LayerError::ReadContent { path, source }) => {
                assert!(refused(&source), "{source}");
                assert!(path.ends_with("ctx/d/secret"), "{}", path.display());
            }
            other => panic!("the layer was written: {:?}", other.map(|(_, w)| w)),
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("host/secret")).unwrap(),
            CANARY
        );
    }

    #[test]
    fn a_path_longer_than_the_kernel_opens_fails_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let name = "d".repeat(200);
        // 20 directories are in reach, the 21st is not; made by descriptors.
        let mut at = File::open(dir.path()).unwrap();
        for _ in 0..21 {
            fs::DirBuilder::new()
                .create(entry_path(&at, name.as_bytes()))
                .unwrap();
            at = open_subdir(&at, name.as_bytes()).unwrap();
        }
        let context = Context::open(dir.path(), None).unwrap();
        let selection = context.select(&["."], &SelectOptions::default()).unwrap();
        let mut walked: Vec<_> = selection.entries().collect();
        assert_eq!(walked.len(), 21);
        let error = walked.pop().unwrap().unwrap_err();
        assert!(walked.iter().all(Result::is_ok));
        let ContextError::ReadContext { path, source, .. } = error else {
            panic!("not a read error: {error:?}");
        };
        assert_eq!(
            source.to_string(),
            "the path is longer than the 4095 bytes a path may have"
        );
        let deep: std::path::PathBuf = std::iter::repeat_n(name.as_str(), 21).collect();
        assert!(path.ends_with(&deep), "{}", path.display());
    }

    #[test]
    fn walks_trees_deeper_than_the_directories_it_holds_open() {
        let dir = tempfile::tempdir().unwrap();
        let deep: std::path::PathBuf = std::iter::repeat_n("d", 200).collect();
        fs::create_dir_all(dir.path().join(&deep)).unwrap();
        fs::write(dir.path().join(&deep).join("f"), "deep").unwrap();
        let context = Context::open(dir.path(), None).unwrap();
        let selection = context.select(&["."], &SelectOptions::default()).unwrap();
        let placed = selection
            .place(&Destination::new("/", "/").unwrap(), true)
            .unwrap();
        assert_eq!(placed.len(), 201);
        let (tar, _) = write_layer(Vec::new(), placed, &LayerOptions::default()).unwrap();
        let listed = crate::layer::list(crate::layer::decompress(&tar[..], None).unwrap()).unwrap();
        assert_eq!(listed.last().unwrap().path.file_name(), b"f");
    }
}
