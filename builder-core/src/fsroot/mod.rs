//! A directory that paths are resolved inside of, never outside: the rootfs a layer is
//! unpacked into. A leaf module: the one place that resolves a path inside a root.
//!
//! Every path is resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`: `..` stops at the
//! root and an absolute symlink target starts from it, as if the process were chrooted,
//! so a hostile layer's symlinks cannot lead a write out of the root. Operations then act
//! on a name inside a resolved directory with the `*at` calls, which never follow a
//! symlink in that last component. All through `rustix`'s safe API.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::layer::LayerPath;

/// An open root directory.
pub(crate) struct Root {
    fd: OwnedFd,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

impl Root {
    /// Opens `path` as a root.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Root { fd })
    }

    /// Opens the directory at `path` (the root for `None`), resolved inside the root.
    /// With `create`, missing directories on the way are made (mode `0o755`).
    pub(crate) fn dir(&self, path: Option<&LayerPath>, create: bool) -> io::Result<OwnedFd> {
        let Some(path) = path else {
            return Ok(rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())?);
        };
        match self.resolve(path.as_bytes()) {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let bytes = path.as_bytes();
        let mut dir = rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())?;
        let mut start = 0;
        for end in (0..=bytes.len()).filter(|&i| i == bytes.len() || bytes[i] == b'/') {
            let name = &bytes[start..end];
            dir = match self.resolve(&bytes[..end]) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?;
                    self.resolve(&bytes[..end])?
                }
                Err(e) => return Err(e),
            };
            start = end + 1;
        }
        Ok(dir)
    }

    fn resolve(&self, path: &[u8]) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.fd,
            path,
            DIR_FLAGS,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }
}

/// The type of `name` in `dir`, without following a symlink; `None` when absent.
pub(crate) fn type_at(dir: &OwnedFd, name: &[u8]) -> io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir`, a directory with everything in it; nothing when absent.
pub(crate) fn remove(dir: &OwnedFd, name: &[u8]) -> io::Result<()> {
    match type_at(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => {
            let child = open_child_dir(dir, name)?;
            clear(&child, |_| false)?;
            Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
        }
        Some(_) => Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?),
    }
}

/// Removes every entry of `dir` for which `keep` is false.
pub(crate) fn clear(dir: &OwnedFd, keep: impl Fn(&[u8]) -> bool) -> io::Result<()> {
    let mut names = Vec::new();
    for item in rustix::fs::Dir::read_from(dir)? {
        let name = item?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." && !keep(&name) {
            names.push(name);
        }
    }
    for name in names {
        remove(dir, &name)?;
    }
    Ok(())
}

/// Opens the directory `name` in `dir` without following a symlink; a directory without
/// read permission (a non-root caller) is made readable first.
pub(crate) fn open_child_dir(dir: &OwnedFd, name: &[u8]) -> io::Result<OwnedFd> {
    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Err(rustix::io::Errno::ACCESS) => {
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
        }
        other => Ok(other?),
    }
}
