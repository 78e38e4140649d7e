//! One path of a layer: the change-set types.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{LayerPath, TreeFile};

/// The name prefix that marks a whiteout in a layer tar.
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of the file that marks an opaque directory in a layer tar.
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// One path of a layer and what the layer does to it.
///
/// `F` is what a regular file carries: its [`Content`] when writing a layer, its size in
/// bytes when a layer is [listed](super::list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<F = Content> {
    /// The path the entry is about. For [`EntryKind::Whiteout`] the path removed, for
    /// [`EntryKind::Opaque`] the directory made opaque.
    pub path: LayerPath,
    /// What the path is.
    pub kind: EntryKind<F>,
    /// Permission bits, including set-user-id, set-group-id and sticky (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, sorted by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind<F = Content> {
    /// A regular file.
    File(F),
    /// A directory.
    Dir,
    /// A symbolic link to this target, kept verbatim.
    Symlink(PathBuf),
    /// A hard link to another path, of this layer or of a lower one.
    HardLink(LayerPath),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// The path is removed from the layers below (`.wh.<name>` in the tar).
    Whiteout,
    /// The directory hides the content it has in the layers below
    /// (`<dir>/.wh..wh..opq` in the tar).
    Opaque,
}

/// Where a regular file's bytes come from when a layer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A file of the builder's own on the host (a download, a file an archive was
    /// extracted to), read (streamed) when the entry is written.
    Host(PathBuf),
    /// A regular file inside a directory tree, read through the tree's root when the
    /// entry is written.
    Tree(TreeFile),
    /// Bytes in memory (small generated files such as a heredoc).
    Bytes(Vec<u8>),
}

impl<F> Entry<F> {
    /// An entry of `kind` at `path` owned by root, mtime 0, without xattrs, with the usual
    /// mode of its kind: `0o755` for directories, `0o777` for symlinks, `0o644` otherwise
    /// (`0` for whiteouts and opaque markers).
    pub fn new(path: LayerPath, kind: EntryKind<F>) -> Self {
        let mode = match kind {
            EntryKind::Dir => 0o755,
            EntryKind::Symlink(_) => 0o777,
            EntryKind::Whiteout | EntryKind::Opaque => 0,
            _ => 0o644,
        };
        Self {
            path,
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: BTreeMap::new(),
        }
    }

    /// Sets the permission bits.
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the owner and group.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the modification time.
    pub fn with_mtime(mut self, mtime: i64) -> Self {
        self.mtime = mtime;
        self
    }

    /// Adds an extended attribute.
    pub fn with_xattr(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.xattrs.insert(name.into(), value.into());
        self
    }

    /// The path of this entry's record in the tar: the path itself, `<parent>/.wh.<name>`
    /// for a whiteout, `<dir>/.wh..wh..opq` for an opaque marker. Layers are sorted by it.
    pub fn tar_path(&self) -> LayerPath {
        match self.kind {
            EntryKind::Whiteout => {
                let mut name = WHITEOUT_PREFIX.to_vec();
                name.extend_from_slice(self.path.file_name());
                LayerPath::child(self.path.parent().as_ref(), &name)
            }
            EntryKind::Opaque => self.path.join_name(OPAQUE_MARKER),
            _ => self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_and_opaque_tar_paths() -> Result<(), super::super::LayerError> {
        let gone: Entry = Entry::new(LayerPath::new("etc/motd")?, EntryKind::Whiteout);
        assert_eq!(gone.tar_path().as_bytes(), b"etc/.wh.motd");
        let top: Entry = Entry::new(LayerPath::new("tmp")?, EntryKind::Whiteout);
        assert_eq!(top.tar_path().as_bytes(), b".wh.tmp");
        let opaque: Entry = Entry::new(LayerPath::new("var/cache")?, EntryKind::Opaque);
        assert_eq!(opaque.tar_path().as_bytes(), b"var/cache/.wh..wh..opq");
        Ok(())
    }
}
