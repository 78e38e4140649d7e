//! Copying a tree from descriptor to descriptor, never following a symlink: each entry is
//! opened relative to its directory's descriptor with `O_NOFOLLOW`, so a symlink is copied
//! as a link and nothing outside the source tree is read, nothing outside the destination
//! written.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};

use super::at::open_child_dir;
use super::{DIR_FLAGS, proc_path};

/// How deep a copied tree may be: every level holds two descriptors open, and a
/// hostile tree could otherwise be nested until the process runs out of them.
pub(super) const MAX_DEPTH: usize = 256;

/// Copies the file or tree `source` (a descriptor from [`Root::resolve`](super::Root))
/// to the new entry `name` of the directory `dest`: directories, regular files with their
/// modes, symbolic links as links, with their owners when running as root (of the host
/// or of a user namespace); other types are skipped.
///
/// # Errors
/// An entry that cannot be read or written, `name` existing already, a tree deeper than
/// [`MAX_DEPTH`].
pub(crate) fn copy_tree(source: &OwnedFd, dest: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let stat = rustix::fs::fstat(source)?;
    let owners = rustix::process::geteuid().is_root();
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {
            rustix::fs::mkdirat(dest, name, Mode::from_raw_mode(0o700))?;
            let made = open_child_dir(dest, name)?;
            copy_children(source, &made, owners, 1)?;
            finish(&made, &stat, owners)
        }
        FileType::RegularFile => {
            // The descriptor may be `O_PATH`: read the file through it.
            let from = rustix::fs::open(
                proc_path(source),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            copy_file(from, dest, name, &stat, owners)
        }
        _ => Ok(()),
    }
}

/// Copies what the directory `source` holds into the existing directory `dest`, as
/// [`copy_tree`] copies a tree.
///
/// # Errors
/// As [`copy_tree`].
pub(crate) fn copy_into(source: &OwnedFd, dest: &OwnedFd) -> io::Result<()> {
    copy_children(source, dest, rustix::process::geteuid().is_root(), 1)
}

/// Fails a walk down a tree at `depth` (its top: 1) beyond [`MAX_DEPTH`].
pub(super) fn check_depth(depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "the tree is deeper than {MAX_DEPTH} directories"
        )));
    }
    Ok(())
}

fn copy_children(source: &OwnedFd, dest: &OwnedFd, owners: bool, depth: usize) -> io::Result<()> {
    check_depth(depth)?;
    // `source` may be an `O_PATH` descriptor, which cannot be listed: open it again.
    let listing = rustix::fs::openat(source, ".", DIR_FLAGS, Mode::empty())?;
    for item in rustix::fs::Dir::new(listing)? {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let stat = rustix::fs::statat(source, name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                let from = rustix::fs::openat(
                    source,
                    name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                rustix::fs::mkdirat(dest, name, Mode::from_raw_mode(0o700))?;
                let made = open_child_dir(dest, name)?;
                copy_children(&from, &made, owners, depth + 1)?;
                finish(&made, &stat, owners)?;
            }
            FileType::RegularFile => {
                let from = rustix::fs::openat(
                    source,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_file(from, dest, name, &stat, owners)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(source, name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dest, name)?;
                if owners {
                    rustix::fs::chownat(
                        dest,
                        name,
                        Some(Uid::from_raw(stat.st_uid)),
                        Some(Gid::from_raw(stat.st_gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copies the open regular file `from` to the new file `name` in `dest`.
fn copy_file(
    from: OwnedFd,
    dest: &OwnedFd,
    name: &[u8],
    stat: &Stat,
    owners: bool,
) -> io::Result<()> {
    let to = rustix::fs::openat(
        dest,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut to = File::from(to);
    io::copy(&mut File::from(from), &mut to)?;
    finish(&OwnedFd::from(to), stat, owners)
}

/// Gives the copy `made` the owner (when `owners`) and then the mode of `stat`: `chown`
/// clears the set-id bits, so the mode comes last.
pub(super) fn finish(made: &impl AsFd, stat: &Stat, owners: bool) -> io::Result<()> {
    if owners {
        rustix::fs::fchown(
            made,
            Some(Uid::from_raw(stat.st_uid)),
            Some(Gid::from_raw(stat.st_gid)),
        )?;
    }
    rustix::fs::fchmod(made, Mode::from_raw_mode(stat.st_mode & 0o7777))?;
    Ok(())
}
