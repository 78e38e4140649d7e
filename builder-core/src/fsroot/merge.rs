//! Moving a tree into a directory that already holds one, as an exporter that writes
//! into a directory does, descriptor to descriptor: nothing already in the destination
//! is followed, whatever it points at.

use std::fs::File;
use std::io;

use rustix::fs::{AtFlags, FileType, Stat, Timestamps};

use super::at::{remove, type_at};
use super::copy::{check_depth, finish};
use super::walk::{list, open_subdir};

/// Moves every entry of the directory `source` into the directory `dest` (both on one
/// file system): a directory onto a directory merges into it, which then takes the moved
/// directory's mode, times and (as root) owner; anything else at a name of `source` is
/// removed first (a symlink as a link, never followed; a directory with its contents)
/// or replaced by the rename; entries of `dest` that `source` lacks stay.
///
/// # Errors
///
/// An entry that cannot be listed, removed or renamed, a tree deeper than
/// [`MAX_DEPTH`](super::copy::MAX_DEPTH). Entries moved before the error stay moved.
pub(crate) fn merge_into(source: &File, dest: &File) -> io::Result<()> {
    merge_level(source, dest, rustix::process::geteuid().is_root(), 1)
}

fn merge_level(source: &File, dest: &File, owners: bool, depth: usize) -> io::Result<()> {
    check_depth(depth)?;
    for name in list(source)? {
        let name = name.as_bytes();
        let stat = rustix::fs::statat(source, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        match type_at(dest, name)? {
            Some(FileType::Directory) if is_dir => {
                let (from, to) = (open_subdir(source, name)?, open_subdir(dest, name)?);
                merge_level(&from, &to, owners, depth + 1)?;
                take_metadata(&to, &stat, owners)?;
                continue;
            }
            // `rename` replaces anything but a directory, and a directory only by one.
            Some(FileType::Directory) => remove(dest, name)?,
            Some(_) if is_dir => remove(dest, name)?,
            _ => {}
        }
        rustix::fs::renameat(source, name, dest, name)?;
    }
    Ok(())
}

/// Gives the directory `dir` the owner (when `owners`) and mode of `stat`, as a copy
/// gets them, then its times.
fn take_metadata(dir: &File, stat: &Stat, owners: bool) -> io::Result<()> {
    finish(dir, stat, owners)?;
    let time = |sec: i64, nsec: u64| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = Timestamps {
        last_access: time(stat.st_atime, stat.st_atime_nsec),
        last_modification: time(stat.st_mtime, stat.st_mtime_nsec),
    };
    Ok(rustix::fs::futimens(dir, &times)?)
}
