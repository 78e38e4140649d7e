//! The staging directory of `-o type=local`: the image's filesystem is unpacked into a
//! private directory on the destination's file system, made harmless there, and only
//! then moved into the destination.
//!
//! Made harmless: the files of an exported image are the caller's host files, so
//! nothing in them may act on the host beyond their contents. Device nodes are left out
//! (whoever reaches the directory could otherwise open the host's devices, a disk or
//! `/dev/mem`, through a node an image made) and regular files lose their set-user-ID and
//! set-group-ID bits (a program of the image would otherwise run with its owner's
//! rights, root's when the export ran as root). The staging directory is `0o700` until
//! then, so no other user reaches what the layers made before it is removed. An
//! exporter that keeps everything is `-o type=tar`: a tar is no host file.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode};

use crate::fsroot::{Root, WalkError, merge_into, remove, walk_tree};

use super::BuildError;

/// The mode of a destination directory the export creates.
const NEW_DEST_MODE: u32 = 0o755;

/// The error of writing `path` of the output.
pub(super) fn write_err(path: &Path, source: io::Error) -> crate::Error {
    BuildError::WriteOutput {
        path: path.to_owned(),
        source,
    }
    .into()
}

/// Where an export is unpacked before it is moved into its destination; removed unless
/// committed.
pub(super) struct Staging {
    dest: PathBuf,
    /// The directory holding the staging directory: `dest` itself, or its parent when
    /// `dest` does not exist yet.
    holder: File,
    /// Whether `holder` is `dest`: the staging directory is merged into it, not renamed
    /// to it.
    inside_dest: bool,
    /// The staging directory's name in `holder`.
    name: OsString,
    /// The staging directory itself, made for this export.
    path: PathBuf,
}

impl Staging {
    /// A new, empty and private staging directory for `dest`: inside it when it is a
    /// directory (so that its entries can be renamed into it), else beside it, its
    /// parents created.
    pub(super) fn new(dest: &Path) -> crate::Result<Staging> {
        // `dest` is the caller's host path: following its symlinks is the caller's wish.
        let inside_dest = match std::fs::metadata(dest) {
            Ok(metadata) if metadata.is_dir() => true,
            Ok(_) => return Err(write_err(dest, io::ErrorKind::NotADirectory.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(write_err(dest, e)),
        };
        let holder = if inside_dest {
            dest.to_owned()
        } else {
            let parent = match dest.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(parent).map_err(|source| write_err(parent, source))?;
            parent.to_owned()
        };
        let made = tempfile::Builder::new()
            .prefix(".mkimage-export-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&holder)
            .map_err(|source| write_err(&holder, source))?
            .keep();
        let name = made
            .file_name()
            .expect("a temporary directory has a name")
            .to_owned();
        let staging = Staging {
            dest: dest.to_owned(),
            holder: File::open(&holder).map_err(|source| write_err(&holder, source))?,
            inside_dest,
            name,
            path: made,
        };
        Ok(staging)
    }

    /// The staging directory, to unpack into.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Makes what was staged harmless (see the [module](self) docs) and moves it into
    /// the destination: renames the staging directory to it, or merges it into the
    /// existing one (see [`export_rootfs`](super::export_rootfs)).
    pub(super) fn commit(self) -> crate::Result<()> {
        let staged = Root::open(&self.path).map_err(|source| write_err(&self.path, source))?;
        defuse(&staged)?;
        if self.inside_dest {
            let staged = File::from(
                staged
                    .fd()
                    .try_clone()
                    .map_err(|e| write_err(&self.path, e))?,
            );
            merge_into(&staged, &self.holder).map_err(|source| write_err(&self.dest, source))?;
            return Ok(());
        }
        rustix::fs::fchmod(staged.fd(), Mode::from_raw_mode(NEW_DEST_MODE))
            .map_err(|error| write_err(&self.path, error.into()))?;
        std::fs::rename(&self.path, &self.dest).map_err(|source| write_err(&self.dest, source))
    }
}

impl Drop for Staging {
    /// Removes the staging directory with what is left in it (everything, unless
    /// committed), through descriptors: it may hold symlinks to anywhere.
    fn drop(&mut self) {
        let _ = remove(&self.holder, self.name.as_bytes());
    }
}

/// Removes the device nodes of the tree `staged` and the set-user-ID and set-group-ID
/// bits of its regular files, walking it by descriptors.
fn defuse(staged: &Root) -> crate::Result<()> {
    walk_tree(staged, |found| {
        let mode = found.stat.st_mode;
        let done = match FileType::from_raw_mode(mode) {
            FileType::CharacterDevice | FileType::BlockDevice => {
                rustix::fs::unlinkat(found.parent, found.name, AtFlags::empty())
            }
            // `chmodat` follows a symlink, but the walk just saw a regular file in a
            // directory no one else may enter.
            FileType::RegularFile if mode & 0o6000 != 0 => rustix::fs::chmodat(
                found.parent,
                found.name,
                Mode::from_raw_mode(mode & 0o1777),
                AtFlags::empty(),
            ),
            _ => Ok(()),
        };
        done.map_err(|error| (found.path.to_vec(), io::Error::from(error)))
    })
    .map_err(|error| {
        let (path, source) = match error {
            WalkError::Read { path, source } => (path, source),
            WalkError::Visit(failed) => failed,
        };
        write_err(&staged.shown(Path::new(OsStr::from_bytes(&path))), source)
    })
}
