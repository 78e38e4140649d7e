//! Entries from a host directory: a whole tree, or a path of the upper directory of an
//! overlay mount (the changes a `RUN` step made, see `upper.rs`).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{FileType, Stat};
use xattr::FileExt;

use super::{Content, Entry, EntryKind, LayerError, LayerPath, TreeFile};
use crate::fsroot::{Found, Root, WalkError, entry_path, link_target, walk_tree};

/// Which xattr namespace an overlay mount keeps its private attributes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayXattrs {
    /// `trusted.overlay.*`: a mount made as root.
    Trusted,
    /// `user.overlay.*`: a mount made in a user namespace (`userxattr`).
    User,
}

impl OverlayXattrs {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            OverlayXattrs::Trusted => "trusted.overlay.",
            OverlayXattrs::User => "user.overlay.",
        }
    }
}

/// Every path under `root` (not `root` itself) as layer entries, in layer order, with
/// regular files read from the host when written. Files sharing an inode become hard
/// links to the first of them. Sockets are skipped: a tar cannot hold them.
///
/// The tree is walked by descriptors and its files are read through `root`
/// ([`TreeFile`]): no symlink in it is followed, whatever it points at.
///
/// # Errors
///
/// [`LayerError::ScanHost`] when the tree cannot be walked or a path's metadata, link
/// target or xattrs cannot be read.
pub fn dir_entries(root: &Path) -> Result<Vec<Entry>, LayerError> {
    let tree = open_tree(root)?;
    let mut entries = Vec::new();
    let mut inodes: HashMap<(u64, u64), LayerPath> = HashMap::new();
    scan_tree(&tree, |found| {
        let path = LayerPath::from_bytes(found.path)?;
        let scanned = Scanned::read(&tree, &found, &path, None)?;
        entries.extend(host_entry(&tree, path, &scanned, None, &mut inodes));
        Ok(())
    })?;
    Ok(entries)
}

/// Opens the tree at the host path `root`.
pub(crate) fn open_tree(root: &Path) -> Result<Arc<Root>, LayerError> {
    let root_err = |source| LayerError::ScanHost {
        path: root.to_owned(),
        source,
    };
    Ok(Arc::new(Root::open(root).map_err(root_err)?))
}

/// Visits every path below `tree` (see [`walk_tree`]), an error naming its host path.
pub(crate) fn scan_tree(
    tree: &Root,
    visit: impl FnMut(Found<'_>) -> Result<(), LayerError>,
) -> Result<(), LayerError> {
    walk_tree(tree, visit).map_err(|error| match error {
        WalkError::Read { path, source } => LayerError::ScanHost {
            path: tree.shown(Path::new(OsStr::from_bytes(&path))),
            source,
        },
        WalkError::Visit(error) => error,
    })
}

/// What a walk reads of one path of a tree: its metadata (the entry itself, a symlink not
/// followed), a symlink's target, and the xattrs that belong in a layer.
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    pub stat: Stat,
    pub link: Option<PathBuf>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Scanned {
    /// Reads `found`, at `path` in `tree`, through the descriptors of the walk; with
    /// `overlay`, that mount's private xattrs are left out.
    pub(crate) fn read(
        tree: &Root,
        found: &Found<'_>,
        path: &LayerPath,
        overlay: Option<OverlayXattrs>,
    ) -> Result<Scanned, LayerError> {
        let scan_err = |source| LayerError::ScanHost {
            path: tree.shown(path.as_path()),
            source,
        };
        let link = match FileType::from_raw_mode(found.stat.st_mode) {
            FileType::Symlink => Some(link_target(found.parent, found.name).map_err(scan_err)?),
            _ => None,
        };
        let xattrs = match found.dir {
            Some(dir) => kept_xattrs(dir.list_xattr(), overlay, |name| dir.get_xattr(name)),
            None => read_xattrs(&entry_path(found.parent, found.name), overlay),
        }
        .map_err(scan_err)?;
        Ok(Scanned {
            stat: *found.stat,
            link,
            xattrs,
        })
    }

    /// Reads the directory open as `dir`, at `path` in `tree`.
    pub(crate) fn read_dir(
        tree: &Root,
        dir: &File,
        path: &LayerPath,
    ) -> Result<Scanned, LayerError> {
        let scan_err = |source| LayerError::ScanHost {
            path: tree.shown(path.as_path()),
            source,
        };
        let stat = rustix::fs::fstat(dir).map_err(|error| scan_err(error.into()))?;
        let xattrs = read_file_xattrs(dir).map_err(scan_err)?;
        Ok(Scanned {
            stat,
            link: None,
            xattrs,
        })
    }
}

/// The entry at `path` of `tree` for what was `scanned` there; `None` for a socket. A
/// regular file is read through `tree` when the layer is written. `inodes` maps the
/// inodes of files with several links seen so far to their first path; with `overlay`,
/// a character device 0/0 is that mount's whiteout.
pub(crate) fn host_entry(
    tree: &Arc<Root>,
    path: LayerPath,
    scanned: &Scanned,
    overlay: Option<OverlayXattrs>,
    inodes: &mut HashMap<(u64, u64), LayerPath>,
) -> Option<Entry> {
    let stat = &scanned.stat;
    let file_type = FileType::from_raw_mode(stat.st_mode);
    if overlay.is_some() && file_type == FileType::CharacterDevice && stat.st_rdev == 0 {
        return Some(Entry::new(path, EntryKind::Whiteout).with_mtime(stat.st_mtime));
    }
    let xattrs = scanned.xattrs.clone();
    let inode = (stat.st_dev, stat.st_ino);
    if file_type == FileType::RegularFile && stat.st_nlink > 1 {
        if let Some(first) = inodes.get(&inode) {
            let kind = EntryKind::HardLink(first.clone());
            return Some(stat_entry(path, kind, stat, xattrs));
        }
        inodes.insert(inode, path.clone());
    }
    let file = || Content::Tree(TreeFile::new(tree.clone(), path.clone()));
    let link = || Ok::<_, Infallible>(scanned.link.clone().unwrap_or_default());
    let Ok(kind) = stat_kind(stat, file, link);
    Some(stat_entry(path, kind?, stat, xattrs))
}

/// What a path with the metadata `stat` is in a layer: a regular file with the content
/// `file` gives, a symlink with the target `link` reads; `None` for a socket, which a
/// layer cannot hold. Every tree that becomes entries (a `RUN` step's changes, a build
/// context, an image's filesystem) is mapped by this one function.
///
/// # Errors
///
/// Those of `link`.
pub(crate) fn stat_kind<F, E>(
    stat: &Stat,
    file: impl FnOnce() -> F,
    link: impl FnOnce() -> Result<PathBuf, E>,
) -> Result<Option<EntryKind<F>>, E> {
    let (major, minor) = (
        rustix::fs::major(stat.st_rdev),
        rustix::fs::minor(stat.st_rdev),
    );
    Ok(Some(match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => EntryKind::File(file()),
        FileType::Directory => EntryKind::Dir,
        FileType::Symlink => EntryKind::Symlink(link()?),
        FileType::CharacterDevice => EntryKind::CharDevice { major, minor },
        FileType::BlockDevice => EntryKind::BlockDevice { major, minor },
        FileType::Fifo => EntryKind::Fifo,
        _ => return Ok(None),
    }))
}

/// The entry at `path` of `kind` with the permission bits, owner and mtime of `stat`,
/// and `xattrs`.
pub(crate) fn stat_entry<F>(
    path: LayerPath,
    kind: EntryKind<F>,
    stat: &Stat,
    xattrs: BTreeMap<String, Vec<u8>>,
) -> Entry<F> {
    Entry {
        path,
        kind,
        mode: stat.st_mode & 0o7777,
        uid: stat.st_uid,
        gid: stat.st_gid,
        mtime: stat.st_mtime,
        xattrs,
    }
}

/// The xattrs of `host` (not following a symlink) that belong in a layer: all but the
/// overlay's private ones and `security.selinux`, a label of the host that the image's
/// runtime sets anew.
pub(crate) fn read_xattrs(
    host: &Path,
    overlay: Option<OverlayXattrs>,
) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    kept_xattrs(xattr::list(host), overlay, |name| xattr::get(host, name))
}

/// The xattrs of the open file `file` that belong in a layer (see [`read_xattrs`]).
pub(crate) fn read_file_xattrs(file: &File) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    kept_xattrs(file.list_xattr(), None, |name| file.get_xattr(name))
}

/// The xattrs that belong in a layer among the `listed` names, their values read with
/// `get`.
fn kept_xattrs(
    listed: std::io::Result<xattr::XAttrs>,
    overlay: Option<OverlayXattrs>,
    get: impl Fn(&str) -> std::io::Result<Option<Vec<u8>>>,
) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut xattrs = BTreeMap::new();
    let names = match listed {
        Ok(names) => names,
        // A file system without xattrs has none to keep.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(xattrs),
        Err(e) => return Err(e),
    };
    for name in names {
        let Ok(name) = String::from_utf8(name.as_bytes().to_vec()) else {
            continue;
        };
        let private = overlay.is_some_and(|ns| name.starts_with(ns.prefix()))
            || name.starts_with("trusted.overlay.")
            || name == "security.selinux";
        if private {
            continue;
        }
        if let Some(value) = get(&name)? {
            xattrs.insert(name, value);
        }
    }
    Ok(xattrs)
}
