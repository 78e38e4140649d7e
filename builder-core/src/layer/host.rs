//! Entries from a host directory: a whole tree, or the upper directory of an overlay
//! mount (the changes a `RUN` step made).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use xattr::FileExt;

use super::{Content, Entry, EntryKind, LayerError, LayerPath};

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
/// # Errors
///
/// [`LayerError::ScanHost`] when the tree cannot be walked or a path's metadata, link
/// target or xattrs cannot be read.
pub fn dir_entries(root: &Path) -> Result<Vec<Entry>, LayerError> {
    scan(root, None)
}

/// The changes recorded in `upper`, the upper directory of an overlay mount, as layer
/// entries: an overlay whiteout (a character device 0/0) becomes a
/// [whiteout](EntryKind::Whiteout), a directory marked opaque (`<ns>.overlay.opaque=y`)
/// also gets an [opaque marker](EntryKind::Opaque); overlay-private xattrs are dropped.
///
/// The mount must use `redirect_dir=off` and `metacopy=off` (the defaults), so that
/// `upper` holds whole files and renamed directories as copies.
///
/// # Errors
///
/// As [`dir_entries`].
pub fn overlay_diff(upper: &Path, xattrs: OverlayXattrs) -> Result<Vec<Entry>, LayerError> {
    scan(upper, Some(xattrs))
}

fn scan(root: &Path, overlay: Option<OverlayXattrs>) -> Result<Vec<Entry>, LayerError> {
    let mut entries = Vec::new();
    let mut inodes: HashMap<(u64, u64), LayerPath> = HashMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for item in walk {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            LayerError::ScanHost {
                path,
                source: e.into(),
            }
        })?;
        let rel = item
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths under its root");
        let path = LayerPath::new(rel)?;
        let metadata = item.metadata().map_err(|e| LayerError::ScanHost {
            path: item.path().to_owned(),
            source: e.into(),
        })?;
        let Some(entry) = host_entry(item.path(), path, &metadata, overlay, &mut inodes)? else {
            continue;
        };
        let opaque = overlay.is_some_and(|ns| {
            entry.kind == EntryKind::Dir
                && xattr::get(item.path(), format!("{}opaque", ns.prefix()))
                    .ok()
                    .flatten()
                    .is_some_and(|v| v == b"y")
        });
        let marker = opaque
            .then(|| Entry::new(entry.path.clone(), EntryKind::Opaque).with_mtime(entry.mtime));
        entries.push(entry);
        entries.extend(marker);
    }
    Ok(entries)
}

/// The entry for one host path, `None` for a socket. `inodes` maps the inodes of files
/// with several links seen so far to their first path.
pub(crate) fn host_entry(
    host: &Path,
    path: LayerPath,
    metadata: &Metadata,
    overlay: Option<OverlayXattrs>,
    inodes: &mut HashMap<(u64, u64), LayerPath>,
) -> Result<Option<Entry>, LayerError> {
    let scan_err = |source| LayerError::ScanHost {
        path: host.to_owned(),
        source,
    };
    let file_type = metadata.file_type();
    let rdev = metadata.rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    let kind = if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        if metadata.nlink() > 1 {
            let key = (metadata.dev(), metadata.ino());
            match inodes.get(&key) {
                Some(first) => EntryKind::HardLink(first.clone()),
                None => {
                    inodes.insert(key, path.clone());
                    EntryKind::File(Content::Host(host.to_owned()))
                }
            }
        } else {
            EntryKind::File(Content::Host(host.to_owned()))
        }
    } else if file_type.is_symlink() {
        EntryKind::Symlink(fs::read_link(host).map_err(scan_err)?)
    } else if file_type.is_char_device() {
        if overlay.is_some() && rdev == 0 {
            EntryKind::Whiteout
        } else {
            EntryKind::CharDevice { major, minor }
        }
    } else if file_type.is_block_device() {
        EntryKind::BlockDevice { major, minor }
    } else if file_type.is_fifo() {
        EntryKind::Fifo
    } else {
        return Ok(None);
    };
    if kind == EntryKind::Whiteout {
        return Ok(Some(Entry::new(path, kind).with_mtime(metadata.mtime())));
    }
    let xattrs = read_xattrs(host, overlay).map_err(scan_err)?;
    Ok(Some(Entry {
        path,
        kind,
        mode: metadata.mode() & 0o7777,
        uid: metadata.uid(),
        gid: metadata.gid(),
        mtime: metadata.mtime(),
        xattrs,
    }))
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
