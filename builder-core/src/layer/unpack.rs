//! Unpacking layers into a directory (a rootfs), one after the other.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

use crate::digest::HashingReader;
use crate::fsroot::{self as root, Root};

use super::list::decode;
use super::{Entry, EntryKind, LayerError, LayerPath, OverlayXattrs};

/// The most symlinks followed to find the directory of one entry, as the kernel's
/// `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// How [`unpack_overlay`] writes a layer: as one lower directory of an overlay mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayFormat {
    /// The namespace of the attribute that marks an opaque directory: the one the overlay
    /// mount that stacks the directory reads.
    pub xattrs: OverlayXattrs,
    /// The directories of the layers below, top first, in the same format: a hard link to
    /// a file of a lower layer becomes a copy of it (a link cannot cross directories).
    pub lower: Vec<PathBuf>,
}

/// What unpacking a layer did not apply, and the layer's `diff_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The SHA-256 of the tar as read, to check against the image config's `diff_ids`.
    pub diff_id: Digest,
    /// What was left out, in tar order.
    pub skipped: Vec<Skipped>,
}

/// Something of a layer that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's path.
    pub path: LayerPath,
    /// What was not applied.
    pub what: SkipReason,
}

/// Why part of an entry was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A device node, which only root may create.
    DeviceNode,
    /// The owner, which the caller may not set.
    Ownership,
    /// An extended attribute that the file system or the caller's rights refused.
    Xattr(String),
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            SkipReason::DeviceNode => write!(f, "device node `{}` not created", self.path),
            SkipReason::Ownership => write!(f, "owner of `{}` not set", self.path),
            SkipReason::Xattr(name) => write!(f, "xattr `{name}` of `{}` not set", self.path),
        }
    }
}

/// Applies the layer tar `tar` (already decompressed) to the directory `root`, over the
/// layers unpacked there before.
///
/// A whiteout removes the path from below; an opaque marker empties its directory of
/// what lower layers put there; an entry replaces whatever was at its path (a file by a
/// directory and the reverse), except that a directory over a directory keeps the
/// content. Paths are resolved inside `root` as if chrooted, so no symlink, whatever the
/// layer puts in it, leads a write outside; a symlink of a layer below is not followed at
/// all: a directory of the layer replaces it, as overlayfs shows the layers stacked (see
/// `Unpacker::place`). Owners are set when running as root (of the
/// host or of a user namespace, where an id it does not map is skipped) and device nodes
/// made only by the host's root (a caller that is not root owns every file, and the owners
/// other than root are returned as skipped); what could not be applied is returned, not
/// an error.
/// Directory modes and mtimes are applied last, so a read-only directory still receives
/// its content.
///
/// # Errors
///
/// [`LayerError::ReadTar`] for a malformed tar, [`LayerError::UnsafeTarPath`] for a name or
/// hard link target that leaves the root, [`LayerError::Unpack`] when a path cannot be
/// written.
pub fn unpack<R: Read>(tar: R, root: &Path) -> Result<Unpacked, LayerError> {
    unpack_with(tar, root, None)
}

/// Writes the layer tar `tar` (already decompressed) into the empty directory `root` in
/// overlayfs's format, so that `root` can be stacked as a lower directory over the
/// directories of the layers below: a whiteout becomes a character device 0/0, an opaque
/// marker the attribute `<ns>.overlay.opaque` = `y` on its directory. Everything else is
/// as for [`unpack`]; overlay attributes carried by the tar itself are dropped, so a layer
/// cannot hide paths other than through whiteouts.
///
/// # Errors
///
/// As [`unpack`].
pub fn unpack_overlay<R: Read>(
    tar: R,
    root: &Path,
    format: &OverlayFormat,
) -> Result<Unpacked, LayerError> {
    unpack_with(tar, root, Some(format))
}

fn unpack_with<R: Read>(
    tar: R,
    root: &Path,
    format: Option<&OverlayFormat>,
) -> Result<Unpacked, LayerError> {
    let open = |path: &Path| {
        Root::open(path).map_err(|source| LayerError::Unpack {
            path: path.display().to_string(),
            source,
        })
    };
    let overlay = match format {
        Some(format) => Some(Overlay {
            prefix: format.xattrs.prefix(),
            lower: format
                .lower
                .iter()
                .map(|dir| open(dir))
                .collect::<Result<_, _>>()?,
        }),
        None => None,
    };
    let mut unpacker = Unpacker {
        root: open(root)?,
        is_root: rustix::process::geteuid().is_root(),
        overlay,
        written: HashSet::new(),
        dirs: BTreeMap::new(),
        skipped: Vec::new(),
    };
    let mut archive = tar::Archive::new(HashingReader::new(tar));
    let read_tar = |source| LayerError::ReadTar { source };
    for item in archive.entries().map_err(read_tar)? {
        let mut item = item.map_err(read_tar)?;
        let Some(entry) = decode(&mut item)? else {
            continue;
        };
        unpacker
            .apply(&entry, &mut item)
            .map_err(|source| LayerError::Unpack {
                path: entry.path.to_string(),
                source,
            })?;
    }
    unpacker.finish_dirs()?;
    // Hash the end-of-archive blocks and any padding after them too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_tar)?;
    let (_, diff_id, _) = rest.finish();
    Ok(Unpacked {
        diff_id,
        skipped: unpacker.skipped,
    })
}

/// The overlay format's settings, with the lower directories open.
struct Overlay {
    /// `trusted.overlay.` or `user.overlay.`.
    prefix: &'static str,
    /// The layers below, top first.
    lower: Vec<Root>,
}

struct Unpacker {
    root: Root,
    is_root: bool,
    overlay: Option<Overlay>,
    /// The paths this layer has written: opaque markers and whiteouts, which hide what is
    /// below, leave them alone.
    written: HashSet<LayerPath>,
    /// Directories whose mode and mtime are applied at the end.
    dirs: BTreeMap<LayerPath, (u32, i64)>,
    skipped: Vec<Skipped>,
}

impl Unpacker {
    fn apply(&mut self, entry: &Entry<u64>, data: &mut impl Read) -> io::Result<()> {
        let path = &entry.path;
        let name = path.file_name();
        match &entry.kind {
            EntryKind::Whiteout if self.overlay.is_some() => {
                let (parent, path) = self.locate(path)?;
                if self.written.contains(&path) {
                    return Ok(());
                }
                root::remove(&parent, name)?;
                self.forget_dirs(&path);
                rustix::fs::mknodat(
                    &parent,
                    name,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )?;
                return Ok(());
            }
            EntryKind::Opaque if self.overlay.is_some() => {
                let (dir, _) = self.place(Some(path))?;
                let prefix = self.overlay.as_ref().map_or("", |o| o.prefix);
                rustix::fs::fsetxattr(
                    &dir,
                    format!("{prefix}opaque"),
                    b"y",
                    rustix::fs::XattrFlags::empty(),
                )?;
                return Ok(());
            }
            EntryKind::Whiteout => {
                let (parent, path) = self.locate(path)?;
                if !self.written.contains(&path) {
                    root::remove(&parent, name)?;
                    self.forget_dirs(&path);
                }
                return Ok(());
            }
            EntryKind::Opaque => {
                let (dir, path) = self.place(Some(path))?;
                let path = path.expect("a layer path is below the root");
                let written = &self.written;
                root::clear(&dir, |child| written.contains(&path.join_name(child)))?;
                return Ok(());
            }
            _ => {}
        }

        let (parent, path) = self.locate(path)?;
        let path = &path;
        let existing = root::type_at(&parent, name)?;
        if !(entry.kind == EntryKind::Dir && existing == Some(FileType::Directory)) {
            root::remove(&parent, name)?;
            self.forget_dirs(path);
        }
        self.written.insert(path.clone());
        if !self.is_root
            && (entry.uid, entry.gid) != (0, 0)
            && !matches!(entry.kind, EntryKind::HardLink(_))
        {
            self.skip(path, SkipReason::Ownership);
        }
        let mode = Mode::from_raw_mode(entry.mode & 0o7777);
        match &entry.kind {
            EntryKind::File(_) => {
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut file = File::from(fd);
                io::copy(data, &mut file)?;
                let fd = OwnedFd::from(file);
                self.own(
                    path,
                    rustix::fs::fchown(&fd, Some(uid(entry)), Some(gid(entry))),
                )?;
                rustix::fs::fchmod(&fd, mode)?;
                self.set_xattrs(entry, |name, value| {
                    rustix::fs::fsetxattr(&fd, name, value, rustix::fs::XattrFlags::empty())
                });
                rustix::fs::futimens(&fd, &times(entry.mtime))?;
            }
            EntryKind::Dir => {
                if existing != Some(FileType::Directory) {
                    rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))?;
                }
                let fd = root::open_child_dir(&parent, name)?;
                self.own(
                    path,
                    rustix::fs::fchown(&fd, Some(uid(entry)), Some(gid(entry))),
                )?;
                self.set_xattrs(entry, |name, value| {
                    rustix::fs::fsetxattr(&fd, name, value, rustix::fs::XattrFlags::empty())
                });
                self.dirs.insert(path.clone(), (entry.mode, entry.mtime));
            }
            EntryKind::Symlink(target) => {
                rustix::fs::symlinkat(target.as_path(), &parent, name)?;
                self.own_at(&parent, entry)?;
                // `lsetxattr` through the parent's descriptor: the last component, the
                // link itself, is not followed.
                let link = root::entry_path(&parent, name);
                self.set_xattrs(entry, |name, value| {
                    rustix::fs::lsetxattr(&link, name, value, rustix::fs::XattrFlags::empty())
                });
                self.set_times_at(&parent, name, entry.mtime)?;
            }
            EntryKind::HardLink(target) => {
                let linked = self
                    .root
                    .dir(&dir_path(target.parent().as_ref()), false)
                    .and_then(|target_dir| {
                        Ok(rustix::fs::linkat(
                            &target_dir,
                            target.file_name(),
                            &parent,
                            name,
                            AtFlags::empty(),
                        )?)
                    });
                match linked {
                    Err(e) if e.kind() == io::ErrorKind::NotFound && self.overlay.is_some() => {
                        self.copy_from_lower(target, &parent, name)?;
                    }
                    other => other?,
                }
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                if !self.is_root {
                    self.written.remove(path);
                    self.skip(path, SkipReason::DeviceNode);
                    return Ok(());
                }
                let kind = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                let dev = rustix::fs::makedev(*major, *minor);
                match rustix::fs::mknodat(&parent, name, kind, Mode::from_raw_mode(0o600), dev) {
                    // Root of a user namespace may not make devices.
                    Err(rustix::io::Errno::PERM) => {
                        self.written.remove(path);
                        self.skip(path, SkipReason::DeviceNode);
                        return Ok(());
                    }
                    other => other?,
                }
                self.finish_node(&parent, entry, mode)?;
            }
            EntryKind::Fifo => {
                rustix::fs::mknodat(&parent, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
                self.finish_node(&parent, entry, mode)?;
            }
            // Applied above.
            EntryKind::Whiteout | EntryKind::Opaque => {}
        }
        Ok(())
    }

    /// The directory that holds the entry `path`, open, and the path of the entry in the
    /// tree (where [`Unpacker::place`] found its directory). Unpacking one layer over the
    /// other, the mode and mtime of a directory of the layers below stay as they were.
    fn locate(&mut self, path: &LayerPath) -> io::Result<(OwnedFd, LayerPath)> {
        let (parent, at) = self.place(path.parent().as_ref())?;
        if let (None, Some(at)) = (&self.overlay, &at) {
            self.keep_times(at)?;
        }
        Ok((parent, LayerPath::child(at.as_ref(), path.file_name())))
    }

    /// Opens the directory `dir` of the layer (the root for `None`), making what is
    /// missing on the way, and returns it with the path it is at in the tree: the layer's
    /// own directory in the overlay format, else a tree that holds the layers below.
    ///
    /// The path is resolved as containerd and Docker apply a layer with overlayfs (the
    /// default, and what a `RUN` step sees here): each layer is written into its own
    /// directory (containerd's `archive.Apply` on the snapshot's `upperdir` alone,
    /// `fs.RootPath` resolving inside it; Docker's `overlay2` untars into the layer's
    /// `diff` directory), so a symlink the layer itself wrote is followed (inside the
    /// root), but a symlink or file of a layer below is not: the layer gets a directory
    /// of its own at that path (containerd's `mkparent`), which overlayfs shows instead of
    /// the link. Only containerd's fallback, applying onto a mount of the whole image (in
    /// a user namespace, or with a snapshotter other than overlayfs), follows a lower
    /// layer's link; mkimage matches the default, so that `COPY --from`, the merged trees
    /// and exports show what a `RUN` step and `docker run` show. Such a directory takes
    /// the metadata of the directory the link led to, as `mkparent` copies it.
    ///
    /// Walked here one name at a time, each opened without following it, because the
    /// kernel's `RESOLVE_IN_ROOT` follows every symlink alike; `..` stops at the root and
    /// an absolute target starts from it, as there.
    fn place(&mut self, dir: Option<&LayerPath>) -> io::Result<(OwnedFd, Option<LayerPath>)> {
        let mut pending: VecDeque<Vec<u8>> = dir
            .map(|dir| {
                dir.as_bytes()
                    .split(|b| *b == b'/')
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .unwrap_or_default();
        let mut stack: Vec<(OwnedFd, Option<LayerPath>)> =
            vec![(self.root.dir(Path::new("/"), false)?, None)];
        let mut links = 0;
        while let Some(name) = pending.pop_front() {
            match &name[..] {
                b"" | b"." => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let (dir, at) = stack.last().expect("the root stays on the stack");
            let path = LayerPath::child(at.as_ref(), &name);
            let found = root::type_at(dir, &name)?;
            let own = self.written.contains(&path);
            match found {
                Some(FileType::Directory) => {}
                Some(FileType::Symlink) if own => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(rustix::io::Errno::LOOP.into());
                    }
                    let target = root::link_target(dir, &name)?;
                    let target = target.as_os_str().as_bytes();
                    if target.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    for part in target.split(|b| *b == b'/').rev() {
                        pending.push_front(part.to_vec());
                    }
                    continue;
                }
                Some(_) if own => return Err(rustix::io::Errno::NOTDIR.into()),
                _ => {
                    let at = at.clone();
                    self.make_dir(dir, at.as_ref(), &path, found)?;
                }
            }
            let (dir, _) = stack.last().expect("the root stays on the stack");
            let child = root::open_child_dir(dir, &name)?;
            stack.push((child, Some(path)));
        }
        Ok(stack.pop().expect("the root stays on the stack"))
    }

    /// Makes the directory `path` in `parent` (at `parent_path`) in place of `found`,
    /// what the layers below have there that is not a directory (see
    /// [`Unpacker::place`]).
    ///
    /// In the overlay format a directory the layer does not carry still hides the same
    /// directory of the layers below (overlayfs shows the attributes of the upper-most
    /// copy), so each one made here takes the mode, owner, mtime and xattrs of the
    /// directory the layers below show at its path, as containerd's `mkparent` does; it
    /// is `0o755` and owned by the caller only where no layer below has it.
    fn make_dir(
        &mut self,
        parent: &OwnedFd,
        parent_path: Option<&LayerPath>,
        path: &LayerPath,
        found: Option<FileType>,
    ) -> io::Result<()> {
        if let (None, Some(parent_path)) = (&self.overlay, parent_path) {
            self.keep_times(parent_path)?;
        }
        let name = path.file_name();
        // The directory of the layers below, or the one a link of theirs led to,
        // resolved inside the root.
        let below = match found {
            _ if self.overlay.is_some() => self.lower_dir(path)?,
            Some(FileType::Symlink) => match self.root.dir(path.as_path(), false) {
                Ok(dir) => Some(dir),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
            _ => None,
        };
        root::remove(parent, name)?;
        rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))?;
        if let Some(below) = below {
            let made = root::open_child_dir(parent, name)?;
            self.copy_dir_metadata(path, &below, made)?;
        }
        Ok(())
    }

    /// Keeps the mode and mtime of the directory the layer is about to change at or
    /// above `path` (the nearest that exists), when the layer does not carry it: adding
    /// or removing a child must not change a directory of the layers below.
    fn keep_times(&mut self, path: &LayerPath) -> io::Result<()> {
        let mut at = Some(path.clone());
        while let Some(dir) = at {
            if self.dirs.contains_key(&dir) || self.written.contains(&dir) {
                return Ok(());
            }
            match self.root.dir(dir.as_path(), false) {
                Ok(fd) => {
                    let stat = rustix::fs::fstat(&fd)?;
                    self.dirs
                        .insert(dir, (stat.st_mode & 0o7777, stat.st_mtime));
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => at = dir.parent(),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The directory at `path` that the layers below show, stacked: that of the upper-most
    /// layer holding it, unless a layer above that one hides it with a whiteout, a
    /// non-directory or an opaque directory on the way.
    fn lower_dir(&self, path: &LayerPath) -> io::Result<Option<OwnedFd>> {
        let Some(overlay) = &self.overlay else {
            return Ok(None);
        };
        let opaque = format!("{}opaque", overlay.prefix);
        for layer in &overlay.lower {
            match layer.dir(path.as_path(), false) {
                Ok(fd) => return Ok(Some(fd)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(None),
                Err(e) => return Err(e),
            }
            // Absent here: an opaque directory on the way hides the layers further down.
            let mut at = path.parent();
            while let Some(dir) = at {
                if let Ok(fd) = layer.dir(dir.as_path(), false)
                    && matches!(rustix::fs::fgetxattr(&fd, &opaque, &mut [0_u8; 1]), Ok(1))
                {
                    return Ok(None);
                }
                at = dir.parent();
            }
        }
        Ok(None)
    }

    /// Gives the directory `made` (at `path`) the owner, xattrs, mode and mtime of
    /// `below`; mode and mtime are applied with the layer's own directories, at the end.
    fn copy_dir_metadata(
        &mut self,
        path: &LayerPath,
        below: &OwnedFd,
        made: OwnedFd,
    ) -> io::Result<()> {
        let stat = rustix::fs::fstat(below)?;
        let owner = rustix::fs::fchown(
            &made,
            Some(rustix::fs::Uid::from_raw(stat.st_uid)),
            Some(rustix::fs::Gid::from_raw(stat.st_gid)),
        );
        self.own(path, owner)?;
        let prefix = self.overlay.as_ref().map(|o| o.prefix);
        let below = File::from(below.try_clone()?);
        let made = File::from(made);
        // A file system without xattrs lists none.
        for name in xattr::FileExt::list_xattr(&below).into_iter().flatten() {
            let own = |n: &&str| prefix.is_none_or(|prefix| !n.starts_with(prefix));
            let Some(name) = name.to_str().filter(own) else {
                continue;
            };
            let value = xattr::FileExt::get_xattr(&below, name).ok().flatten();
            if value.is_none_or(|value| xattr::FileExt::set_xattr(&made, name, &value).is_err()) {
                self.skip(path, SkipReason::Xattr(name.to_owned()));
            }
        }
        self.dirs
            .insert(path.clone(), (stat.st_mode & 0o7777, stat.st_mtime));
        Ok(())
    }

    /// Makes `name` in `parent` a copy of the regular file `target` of the topmost lower
    /// layer that has it: a hard link to a lower layer's file, in the overlay format.
    fn copy_from_lower(
        &mut self,
        target: &LayerPath,
        parent: &OwnedFd,
        name: &[u8],
    ) -> io::Result<()> {
        let lower = self.overlay.as_ref().map_or(&[][..], |o| &o.lower[..]);
        for layer in lower {
            let dir = match layer.dir(&dir_path(target.parent().as_ref()), false) {
                Ok(dir) => dir,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let source = match rustix::fs::openat(&dir, target.file_name(), flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let stat = rustix::fs::fstat(&source)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            let copy = rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut out = File::from(copy);
            io::copy(&mut File::from(source), &mut out)?;
            let fd = OwnedFd::from(out);
            let owner = rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(stat.st_uid)),
                Some(rustix::fs::Gid::from_raw(stat.st_gid)),
            );
            self.own(target, owner)?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(stat.st_mode & 0o7777))?;
            rustix::fs::futimens(&fd, &times(stat.st_mtime))?;
            return Ok(());
        }
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    /// Owner, mode, xattrs and mtime of a device node or fifo just made in `parent`.
    fn finish_node(&mut self, parent: &OwnedFd, entry: &Entry<u64>, mode: Mode) -> io::Result<()> {
        let name = entry.path.file_name();
        self.own_at(parent, entry)?;
        // Not a symlink: it was just made, so following the name is safe.
        rustix::fs::chmodat(parent, name, mode, AtFlags::empty())?;
        self.set_times_at(parent, name, entry.mtime)
    }

    fn own_at(&mut self, parent: &OwnedFd, entry: &Entry<u64>) -> io::Result<()> {
        let result = rustix::fs::chownat(
            parent,
            entry.path.file_name(),
            Some(uid(entry)),
            Some(gid(entry)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        self.own(&entry.path, result)
    }

    /// Takes the result of a `chown`: when not root (the files are the caller's, and
    /// `apply` reported the owners that are not root), or when the owner cannot be mapped
    /// (a user namespace), the owner is skipped rather than failing.
    fn own(&mut self, path: &LayerPath, result: rustix::io::Result<()>) -> io::Result<()> {
        if !self.is_root {
            return Ok(());
        }
        match result {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {
                self.skip(path, SkipReason::Ownership);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn set_xattrs(
        &mut self,
        entry: &Entry<u64>,
        mut set: impl FnMut(&str, &[u8]) -> rustix::io::Result<()>,
    ) {
        for (name, value) in &entry.xattrs {
            if let Some(overlay) = &self.overlay
                && name.starts_with(overlay.prefix)
            {
                continue;
            }
            if set(name, value).is_err() {
                self.skip(&entry.path, SkipReason::Xattr(name.clone()));
            }
        }
    }

    fn set_times_at(&self, parent: &OwnedFd, name: &[u8], mtime: i64) -> io::Result<()> {
        Ok(rustix::fs::utimensat(
            parent,
            name,
            &times(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    fn skip(&mut self, path: &LayerPath, what: SkipReason) {
        self.skipped.push(Skipped {
            path: path.clone(),
            what,
        });
    }

    /// Drops the deferred directory metadata of `path` and everything below it.
    fn forget_dirs(&mut self, path: &LayerPath) {
        let below: Vec<LayerPath> = self
            .dirs
            .range(path.clone()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.dirs.remove(&p);
        }
    }

    /// Applies the deferred modes and mtimes, deepest directories first.
    fn finish_dirs(&mut self) -> Result<(), LayerError> {
        for (path, (mode, mtime)) in self.dirs.iter().rev() {
            let apply = || -> io::Result<()> {
                // Resolved inside the root like every path of the layer: a path the layer
                // reached through a symlink (a whiteout's, kept by `keep_times`) names the
                // directory it led to.
                // An `O_PATH` descriptor, as the directory may be unreadable: changed
                // through `/proc/self/fd/N`, which leads to the directory itself.
                let found = self.root.resolve(path.as_path())?;
                if FileType::from_raw_mode(rustix::fs::fstat(&found)?.st_mode)
                    != FileType::Directory
                {
                    return Err(io::ErrorKind::NotADirectory.into());
                }
                let at = root::proc_path(&found);
                rustix::fs::chmod(&at, Mode::from_raw_mode(mode & 0o7777))?;
                rustix::fs::utimensat(rustix::fs::CWD, &at, &times(*mtime), AtFlags::empty())?;
                Ok(())
            };
            apply().map_err(|source| LayerError::Unpack {
                path: path.to_string(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The path of the directory `dir` inside a root (`None`: the root).
fn dir_path(dir: Option<&LayerPath>) -> PathBuf {
    dir.map_or_else(|| PathBuf::from("/"), |dir| dir.as_path().to_owned())
}

fn uid(entry: &Entry<u64>) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(entry.uid)
}

fn gid(entry: &Entry<u64>) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(entry.gid)
}

fn times(mtime: i64) -> Timestamps {
    let at = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: at,
        last_modification: at,
    }
}
