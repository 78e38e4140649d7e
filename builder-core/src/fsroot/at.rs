//! Operations on one name inside a directory already resolved inside a root: the last
//! component is never followed if it is a symlink.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::DIR_FLAGS;

/// The type of `name` in `dir`, without following a symlink; `None` when absent.
pub(crate) fn type_at(dir: &impl AsFd, name: &[u8]) -> io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The target of the symlink `name` in `dir`, read without following it.
pub(crate) fn link_target(dir: &impl AsFd, name: &[u8]) -> io::Result<PathBuf> {
    let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
    Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
}

/// Removes `name` from `dir`, a directory with everything in it; nothing when absent.
pub(crate) fn remove(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
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
pub(crate) fn clear(dir: &impl AsFd, keep: impl Fn(&[u8]) -> bool) -> io::Result<()> {
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
pub(crate) fn open_child_dir(dir: &impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Err(rustix::io::Errno::ACCESS) => {
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
        }
        other => Ok(other?),
    }
}

/// The directory `components` below `root`, no symlink followed; `None` when one of them
/// is no longer a directory.
pub(crate) fn open_dir_below(root: &Path, components: &[String]) -> io::Result<Option<OwnedFd>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(root, flags, Mode::empty())?;
    for name in components {
        dir = match open_child_dir(&dir, name.as_bytes()) {
            Ok(fd) => fd,
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
    }
    Ok(Some(dir))
}
