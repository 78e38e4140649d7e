//! The one way to reach a path inside an image, a stage, a cache or a mount source: a
//! [`Root`] directory that paths are resolved inside of, never outside.
//!
//! Every path is resolved by the kernel with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` from the root's descriptor: `..` stops at the root and an
//! absolute symlink target starts from it, as if the process were chrooted, so no symlink
//! that an image, a stage or a context puts in a tree leads out of it (Docker and
//! BuildKit resolve a mount source or a `COPY --from` path the same way). What is found
//! is held as a descriptor, never turned back into a host path:
//!
//! - operations act on a name inside a resolved directory with the `*at` calls, which
//!   never follow a symlink in that last component (`at.rs`);
//! - a tree is copied descriptor by descriptor, symlinks copied as links (`copy.rs`);
//! - a file found as an `O_PATH` descriptor is opened again through `/proc/self/fd/N`
//!   ([`proc_path`]), as runc's `WithProcfd` does;
//! - the sandbox resolves a bind mount's source the same way, itself, in its own mount
//!   namespace (`exec/sys.rs`, `clone_mount`): a descriptor of another mount namespace
//!   cannot be cloned into a mount.
//!
//! All through `rustix`'s safe API. `openat2` exists since Linux 5.6, and mkimage's
//! sandbox needs newer kernels anyway (overlayfs in user namespaces, 5.11), so there is
//! no fallback walk. Joining an in-image path onto a host directory as text is what this
//! module replaces.

mod at;
mod copy;
mod merge;
mod walk;

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

pub(crate) use at::{clear, link_target, open_child_dir, open_dir_below, remove, type_at};
pub(crate) use copy::{copy_into, copy_tree};
pub(crate) use merge::merge_into;
pub(crate) use walk::{
    Found, WalkError, WalkedDir, bound_open, check_path, list, open_subdir, walk_tree,
};

/// An open root directory.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// Where it was opened, for messages only.
    path: PathBuf,
}

/// How a directory is opened to be listed.
pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// How a path is resolved inside a root: as if chrooted, through no magic link.
pub(crate) const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// How many times a lookup inside a root is tried when the kernel answers `EAGAIN`.
const TRIES: usize = 32;

/// How a path found by an earlier walk of a tree is opened again: below the root, and
/// through no symlink at all.
pub(crate) const WALKED: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

impl Root {
    /// Opens the host directory `path` as a root. The host path is the caller's, never
    /// one taken from an image.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Root {
            fd,
            path: path.to_owned(),
        })
    }

    /// The root directory itself, open for reading.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Opens `path` with `flags` again, a path that an earlier walk of the root found
    /// without `..` and without following a symlink (an empty path: the root itself). A
    /// symlink on the way now, put there since the walk, fails the open (`ELOOP`) rather
    /// than being followed: what the walk saw is what is read, or nothing.
    pub(crate) fn open_walked(&self, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let path: &[u8] = if path.is_empty() { b"." } else { path };
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(openat2(&self.fd, path, flags, Mode::empty(), WALKED)?)
    }

    /// The host path of `path` below the root, for messages only: nothing is ever
    /// opened through it.
    pub(crate) fn shown(&self, path: &Path) -> PathBuf {
        if path.as_os_str().is_empty() {
            return self.path.clone();
        }
        self.path.join(path)
    }

    /// An `O_PATH` descriptor of whatever `path` names, resolved inside the root with
    /// every symlink followed there, the last one included (`/` or an empty path: the
    /// root itself).
    pub(crate) fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_at(
            &relative(path),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// The regular file at `path`, resolved inside the root, open for reading. Anything
    /// else is refused before it is opened (a FIFO would block, a device act).
    pub(crate) fn open_file(&self, path: &Path) -> io::Result<File> {
        let found = self.resolve(path)?;
        let stat = rustix::fs::fstat(&found)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let fd = rustix::fs::open(
            proc_path(&found),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Opens the directory at `path` (`/` or an empty path: the root), resolved inside the
    /// root. With `create`, missing directories on the way are made (mode `0o755`).
    pub(crate) fn dir(&self, path: &Path, create: bool) -> io::Result<OwnedFd> {
        let path = relative(path);
        match self.open_at(&path, DIR_FLAGS, Mode::empty()) {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut dir = self.open_at(b".", DIR_FLAGS, Mode::empty())?;
        let mut prefix: Vec<u8> = Vec::new();
        for name in path.split(|b| *b == b'/') {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(name);
            dir = match self.open_at(&prefix, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Made in the directory the prefix so far resolved to: `name` is a
                    // plain name there, never followed.
                    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?;
                    self.open_at(&prefix, DIR_FLAGS, Mode::empty())?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }

    fn open_at(&self, path: &[u8], flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let path: &[u8] = if path.is_empty() { b"." } else { path };
        Ok(openat2(&self.fd, path, flags, mode, IN_ROOT)?)
    }
}

/// `openat2(2)` of `path` from `dir`, tried again while the kernel answers `EAGAIN`. It
/// does when a `..` was resolved while anything on the system was mounted or renamed, and
/// leaves retrying to the caller: a hostile image's `../..` symlinks meet that whenever
/// other builds mount their overlays (measured: 0.8% of such lookups under a loop of
/// mounts). Every lookup inside a root, here and in the sandbox, goes through this.
pub(crate) fn openat2<P: rustix::path::Arg + Copy>(
    dir: impl AsFd,
    path: P,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut tries = 1;
    loop {
        match rustix::fs::openat2(&dir, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < TRIES => tries += 1,
            opened => return opened,
        }
    }
}

/// `path` as the kernel resolves it inside a root, without empty and `.` components and
/// without a leading `/` (`..` is kept: the kernel stops it at the root).
fn relative(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for component in path.components() {
        let name: &[u8] = match component {
            Component::Normal(name) => name.as_bytes(),
            Component::ParentDir => b"..",
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
    }
    bytes
}

/// The path through which this process (and a process it forks, which shares the open
/// file) reaches `fd`: `/proc/self/fd/N`, as runc's `WithProcfd` names a descriptor it
/// resolved inside a container's root.
pub(crate) fn proc_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// The path through which the entry `name` of the directory `dir` is reached by the
/// calls that have no `*at` form (`llistxattr`, `lgetxattr`, `lsetxattr`):
/// `/proc/self/fd/N/name`. The kernel follows the descriptor's magic link to `dir`
/// itself, and those calls never follow `name`.
pub(crate) fn entry_path(dir: &impl AsFd, name: &[u8]) -> PathBuf {
    let mut path = proc_path(dir).into_os_string();
    path.push("/");
    path.push(std::ffi::OsStr::from_bytes(name));
    PathBuf::from(path)
}

#[cfg(test)]
mod tests;
