//! Regular files inside a directory tree, read by the layer writer through the tree's
//! root descriptor.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustix::fs::OFlags;

use super::LayerPath;
use crate::fsroot::Root;

/// A regular file inside a directory tree (a build context, an unpacked image, the
/// changes of a `RUN` step), read when its entry is written.
///
/// The file is opened below the tree's root descriptor at the path a walk of the tree
/// found, through no symlink at all: a tree changed since the walk (a directory swapped
/// for a symlink, by a step of a parallel stage or another process) fails the read
/// instead of leading it out of the tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    root: Arc<Root>,
    path: LayerPath,
    read_xattrs: bool,
}

impl TreeFile {
    /// The file at `path` (as a walk found it) in the tree `root`.
    pub(crate) fn new(root: Arc<Root>, path: LayerPath) -> TreeFile {
        TreeFile {
            root,
            path,
            read_xattrs: false,
        }
    }

    /// The file whose extended attributes, like its bytes, are read when the entry is
    /// written, from the open file (the entry's own are ignored): this spares a second
    /// lookup of its path.
    pub(crate) fn with_xattrs(self) -> TreeFile {
        TreeFile {
            read_xattrs: true,
            ..self
        }
    }

    /// The path of the file relative to the root of its tree.
    pub fn path(&self) -> &LayerPath {
        &self.path
    }

    /// Whether the file's extended attributes are read with its content.
    pub fn reads_xattrs(&self) -> bool {
        self.read_xattrs
    }

    /// The file's host path, for messages: it is never opened through it.
    pub fn shown(&self) -> PathBuf {
        self.root.shown(self.path.as_path())
    }

    /// Opens the file for reading (see the [type](TreeFile) docs). Non-blocking, so that
    /// a FIFO swapped in since the walk does not hang the open; the caller checks the
    /// type of what it got.
    pub(crate) fn open(&self) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        Ok(File::from(
            self.root.open_walked(self.path.as_bytes(), flags)?,
        ))
    }
}

impl PartialEq for TreeFile {
    /// The same path of the same opened tree.
    fn eq(&self, other: &TreeFile) -> bool {
        Arc::ptr_eq(&self.root, &other.root)
            && self.path == other.path
            && self.read_xattrs == other.read_xattrs
    }
}

impl Eq for TreeFile {}
