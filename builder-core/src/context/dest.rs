//! Where a `COPY`/`ADD` puts what it selected: Docker's destination rules.

use std::path::PathBuf;

use super::{ContextError, HostFile, Selection};
use crate::layer::{Content, Entry, EntryKind, LayerError, LayerPath, TreeFile};
use crate::plan::slash_path::clean;

/// The destination of a `COPY`/`ADD` in the image, resolved against the working
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    written: String,
    /// `None`: the image root.
    path: Option<LayerPath>,
    dir: bool,
}

impl Destination {
    /// The destination `dest` as written in the step. A relative one is taken from
    /// `workdir` (the stage's `WORKDIR`, `/` by default); `..` stops at the image root.
    /// A destination ending in `/` (or `/.`, or `.`) names a directory.
    ///
    /// # Errors
    ///
    /// [`ContextError::InvalidDest`] for a destination that names no path, one with a
    /// NUL byte.
    pub fn new(dest: &str, workdir: &str) -> Result<Destination, ContextError> {
        let dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "." || dest.is_empty();
        let absolute = if dest.starts_with('/') {
            dest.to_owned()
        } else {
            format!("/{workdir}/{dest}")
        };
        let path = match LayerPath::new(clean(&absolute)) {
            Ok(path) => Some(path),
            Err(LayerError::EmptyPath { .. }) => None,
            Err(source) => {
                return Err(ContextError::InvalidDest {
                    dest: dest.to_owned(),
                    source,
                });
            }
        };
        Ok(Destination {
            written: dest.to_owned(),
            path,
            dir,
        })
    }

    /// The destination's path in the image, `None` for the root.
    pub fn path(&self) -> Option<&LayerPath> {
        self.path.as_ref()
    }

    /// Whether the destination as written names a directory (or is the root).
    pub fn is_dir(&self) -> bool {
        self.dir || self.path.is_none()
    }
}

impl Selection {
    /// The selected entries at their paths in the image, in layer order, each regular
    /// file read from the context when the layer is written.
    ///
    /// `exists_as_dir` says whether the destination already is a directory in the image
    /// below. A single file (matched without wildcards and without `--parents`) copied to
    /// a destination that is not a directory becomes that path; everything else goes
    /// below the destination. The caller creates the destination directory and its
    /// missing parents, and applies `--chown`, `--chmod` and mtime clamping.
    ///
    /// # Errors
    ///
    /// [`ContextError::DestNotDir`] when more than one path was matched and the
    /// destination is not a directory, [`ContextError::ReadContext`] when a directory
    /// of the selection cannot be read.
    pub fn place(
        &self,
        dest: &Destination,
        exists_as_dir: bool,
    ) -> Result<Vec<Entry>, ContextError> {
        self.placed(dest, exists_as_dir)?
            .map(|placed| placed.map(|(entry, _)| entry))
            .collect()
    }

    /// The entries of [`place`](Selection::place), one at a time, so that a layer can be
    /// written without holding them all, each with the [entry](Selection::entries) of the
    /// selection it comes from.
    ///
    /// # Errors
    ///
    /// As [`place`](Selection::place); the iterator's items fail when a directory of the
    /// selection cannot be read.
    pub fn placed<'a>(
        &'a self,
        dest: &'a Destination,
        exists_as_dir: bool,
    ) -> Result<
        impl Iterator<Item = Result<(Entry, Entry<HostFile>), ContextError>> + 'a,
        ContextError,
    > {
        let into_dir = dest.is_dir() || exists_as_dir;
        if self.matches.len() > 1 && !into_dir {
            return Err(ContextError::DestNotDir {
                dest: dest.written.clone(),
            });
        }
        let as_file = !into_dir && self.matches.len() == 1 && !self.matches[0].is_dir;
        Ok(self.entries().map(move |entry| {
            let entry = entry?;
            Ok((self.place_one(&entry, dest, as_file), entry))
        }))
    }

    /// The directory that the entries of a non-empty selection need above them and do
    /// not hold: where they go (`dest`), or the parent of `dest` for a single file that
    /// becomes `dest`; `None` at the image root. Every deeper entry's parent is a
    /// directory of the selection, as a walk lists a directory before its contents.
    pub fn outer_parent(&self, dest: &Destination, exists_as_dir: bool) -> Option<LayerPath> {
        let into_dir = dest.is_dir() || exists_as_dir;
        let as_file = !into_dir && self.matches.len() == 1 && !self.matches[0].is_dir;
        if as_file {
            dest.path().and_then(LayerPath::parent)
        } else {
            dest.path().cloned()
        }
    }

    /// `entry` at its path in the image (see [`place`](Selection::place)).
    fn place_one(&self, entry: &Entry<HostFile>, dest: &Destination, as_file: bool) -> Entry {
        let at = |path: &LayerPath| -> LayerPath {
            match (as_file, dest.path()) {
                (true, Some(dest)) => dest.clone(),
                (_, Some(dest)) => LayerPath::new(dest.as_path().join(path.as_path()))
                    .expect("two normalized paths join into one"),
                (_, None) => path.clone(),
            }
        };
        let kind = match &entry.kind {
            // The xattrs not read yet are read with the content.
            EntryKind::File(file) => {
                let read = TreeFile::new(self.tree.clone(), file.source.clone());
                EntryKind::File(Content::Tree(if file.xattrs_read {
                    read
                } else {
                    read.with_xattrs()
                }))
            }
            EntryKind::HardLink(target) => EntryKind::HardLink(at(target)),
            EntryKind::Dir => EntryKind::Dir,
            EntryKind::Symlink(target) => EntryKind::Symlink(PathBuf::from(target)),
            EntryKind::CharDevice { major, minor } => EntryKind::CharDevice {
                major: *major,
                minor: *minor,
            },
            EntryKind::BlockDevice { major, minor } => EntryKind::BlockDevice {
                major: *major,
                minor: *minor,
            },
            EntryKind::Fifo => EntryKind::Fifo,
            EntryKind::Whiteout => EntryKind::Whiteout,
            EntryKind::Opaque => EntryKind::Opaque,
        };
        Entry {
            path: at(&entry.path),
            kind,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            mtime: entry.mtime,
            xattrs: entry.xattrs.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_the_workdir() {
        let cases = [
            ("/app/", "/", Some("app"), true),
            ("app", "/srv", Some("srv/app"), false),
            ("./", "/srv", Some("srv"), true),
            (".", "/srv", Some("srv"), true),
            ("../../../x", "/srv", Some("x"), false),
            ("/", "/srv", None, true),
            ("sub/.", "/", Some("sub"), true),
        ];
        for (dest, workdir, path, dir) in cases {
            let d = Destination::new(dest, workdir).unwrap();
            assert_eq!(d.path().map(ToString::to_string).as_deref(), path, "{dest}");
            assert_eq!(d.is_dir(), dir, "{dest}");
        }
    }

    // See: issue 13
    #[test]
    fn a_nul_byte_is_an_error_not_the_root() {
        let error = Destination::new("/x\0y", "/").unwrap_err();
        assert_eq!(error.to_string(), "invalid destination `/x\0y`");
        assert!(matches!(
            error,
            ContextError::InvalidDest {
                source: LayerError::PathHasNul { .. },
                ..
            }
        ));
    }
}
