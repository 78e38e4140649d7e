//! Walking a whole tree by descriptors: each directory is opened relative to its parent's
//! descriptor without following a symlink, and every child is looked at relative to its
//! directory's, so that no host path is built and nothing a tree holds, or is changed to
//! hold while it is walked, leads the walk out of it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat};

use super::{DIR_FLAGS, Root};

/// How many directories a walk holds open at once: the outer ones of a deeper walk are
/// closed, and opened again from the root by their path (through no symlink) when the
/// walk comes back to them, as `walkdir`'s `max_open` bounds its handles.
pub(crate) const MAX_OPEN_DIRS: usize = 64;

/// The longest path below a root that a walk goes to, in bytes: the kernel opens no
/// longer one (`PATH_MAX` with its NUL), and what a walk found is opened again by its
/// path (a file to read, a directory the walk closed). The bound also keeps a hostile
/// tree nested deeper than any path can name from growing the walk without end: every
/// directory the walk is inside of holds its path, depth × length in all.
pub(crate) const MAX_PATH: usize = libc::PATH_MAX as usize - 1;

/// The buffer a directory is listed through.
const LIST_BUFFER: usize = 32 * 1024;

/// A directory a walk is inside of: open, or closed to bound the descriptors of a deep
/// walk.
#[derive(Debug)]
pub(crate) struct WalkedDir {
    fd: Option<File>,
}

impl WalkedDir {
    /// The directory open as `fd`.
    pub(crate) fn new(fd: File) -> WalkedDir {
        WalkedDir { fd: Some(fd) }
    }

    /// Closes the descriptor; [`WalkedDir::get`] opens the directory again.
    pub(crate) fn close(&mut self) {
        self.fd = None;
    }

    /// The directory, at `path` below `root` (as the walk found it), open.
    pub(crate) fn get(&mut self, root: &Root, path: &[u8]) -> io::Result<&File> {
        if self.fd.is_none() {
            self.fd = Some(File::from(root.open_walked(path, DIR_FLAGS)?));
        }
        Ok(self.fd.as_ref().expect("opened above"))
    }
}

/// Closes the outer directories of `stack` beyond [`MAX_OPEN_DIRS`].
pub(crate) fn bound_open<T>(stack: &mut [T], dir: impl Fn(&mut T) -> &mut WalkedDir) {
    if let Some(outer) = stack.len().checked_sub(MAX_OPEN_DIRS + 1) {
        dir(&mut stack[outer]).close();
    }
}

/// Fails for a `path` longer than [`MAX_PATH`].
pub(crate) fn check_path(path: &[u8]) -> io::Result<()> {
    if path.len() > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the path is longer than the {MAX_PATH} bytes a path may have"),
        ));
    }
    Ok(())
}

/// Opens the subdirectory `name` of `dir` for listing, without following it.
pub(crate) fn open_subdir(dir: &File, name: &[u8]) -> io::Result<File> {
    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::empty(),
    )?))
}

/// The names in the directory `dir` but `.` and `..`, in no order.
pub(crate) fn list(dir: &File) -> io::Result<Vec<CString>> {
    let mut buffer = vec![MaybeUninit::<u8>::uninit(); LIST_BUFFER];
    let mut listing = RawDir::new(dir.as_fd(), &mut buffer);
    let mut names = Vec::new();
    while let Some(item) = listing.next() {
        let item = item?;
        let name = item.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The children of `dir` with their metadata (not following symlinks), sorted by name.
pub(crate) fn children(dir: &File) -> io::Result<Vec<(CString, Stat)>> {
    let mut children = list(dir)?
        .into_iter()
        .map(|name| {
            let stat = rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok((name, stat))
        })
        .collect::<io::Result<Vec<_>>>()?;
    children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(children)
}

/// One path of a tree, as [`walk_tree`] shows it.
pub(crate) struct Found<'a> {
    /// The directory holding it, open.
    pub parent: &'a File,
    /// Its name there.
    pub name: &'a [u8],
    /// Its path below the root.
    pub path: &'a [u8],
    /// Its metadata, the entry itself (a symlink not followed).
    pub stat: &'a Stat,
    /// A directory's own descriptor, open for reading.
    pub dir: Option<&'a File>,
}

/// A directory [`walk_tree`] is inside of.
struct Level {
    dir: WalkedDir,
    path: Vec<u8>,
    children: std::vec::IntoIter<(CString, Stat)>,
}

/// Why [`walk_tree`] stopped.
#[derive(Debug)]
pub(crate) enum WalkError<E> {
    /// The tree could not be read at `path` (below the root).
    Read { path: Vec<u8>, source: io::Error },
    /// The visitor failed.
    Visit(E),
}

/// Shows `visit` every path below `root` (not the root itself), depth first in layer
/// order: each directory's children sorted by name, a directory before its contents.
///
/// # Errors
///
/// The first error of `visit` or of reading the tree, a path longer than [`MAX_PATH`].
pub(crate) fn walk_tree<E>(
    root: &Root,
    mut visit: impl FnMut(Found<'_>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let at = |path: &[u8]| {
        let path = path.to_vec();
        move |source: io::Error| WalkError::Read { path, source }
    };
    let top = File::from(root.open_walked(b"", DIR_FLAGS).map_err(at(b""))?);
    let listed = children(&top).map_err(at(b""))?;
    let mut stack = vec![Level {
        dir: WalkedDir::new(top),
        path: Vec::new(),
        children: listed.into_iter(),
    }];
    while let Some(level) = stack.last_mut() {
        let Some((name, stat)) = level.children.next() else {
            stack.pop();
            continue;
        };
        let name = name.as_bytes();
        let mut path = level.path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        check_path(&path).map_err(at(&path))?;
        let parent = level.dir.get(root, &level.path).map_err(at(&level.path))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            let found = Found {
                parent,
                name,
                path: &path,
                stat: &stat,
                dir: None,
            };
            visit(found).map_err(WalkError::Visit)?;
            continue;
        }
        let opened = open_subdir(parent, name).map_err(at(&path))?;
        let found = Found {
            parent,
            name,
            path: &path,
            stat: &stat,
            dir: Some(&opened),
        };
        visit(found).map_err(WalkError::Visit)?;
        let listed = children(&opened).map_err(at(&path))?;
        stack.push(Level {
            dir: WalkedDir::new(opened),
            path,
            children: listed.into_iter(),
        });
        bound_open(&mut stack, |level| &mut level.dir);
    }
    Ok(())
}
