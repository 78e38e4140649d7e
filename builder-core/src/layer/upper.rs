//! A `RUN` step's layer, streamed from the upper directory of its overlay mount.
//!
//! The upper directory holds exactly the step's changes, so it is the layer: it is
//! walked once, by descriptors, and each path goes to the [`LayerWriter`] (and so to the
//! parallel compressor) as soon as it is found. No list of the changes is built and
//! sorted first, and nothing of the lower layers is read. The overlay's own marks become
//! layer entries on the way: a character device 0/0 is a whiteout, written as
//! `.wh.<name>`; a directory with `<ns>.overlay.opaque=y` gets a `.wh..wh..opq` entry;
//! the overlay's private attributes are left out.
//!
//! Each directory's children are sorted by the name they get in the tar (a whiteout by
//! its `.wh.` name, the opaque marker by its own), which is layer order, the order the
//! writer requires: the same entries in the same order as a sorted list of them, so the
//! same bytes.
//!
//! The mount must use `redirect_dir=off` and `metacopy=off` (the defaults), so that the
//! upper directory holds whole files and renamed directories as copies.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Stat};
use xattr::FileExt;

use super::entry::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::host::{Scanned, host_entry, open_tree};
use super::{
    Entry, EntryKind, LayerError, LayerOptions, LayerPath, LayerWriter, OverlayXattrs, WrittenLayer,
};
use crate::fsroot::{DIR_FLAGS, Found, Root, WalkedDir, bound_open, check_path, list, open_subdir};

/// A layer written from an upper directory.
#[derive(Debug)]
pub struct UpperLayer<W> {
    /// The sink, written.
    pub sink: W,
    /// What the layer is known by.
    pub layer: WrittenLayer,
    /// Whether every path of the upper directory is in the layer: a socket cannot be.
    pub whole: bool,
}

/// Writes the changes recorded in `upper`, the upper directory of an overlay mount whose
/// private attributes are in `xattrs`, as one layer to `sink` (see the module docs);
/// `adjust` sees each entry before it is written (to map owners). `None`, with nothing
/// written, when there are no changes.
///
/// # Errors
///
/// [`LayerError::ScanHost`] when the tree cannot be walked or a path's metadata, link
/// target or attributes cannot be read, and the errors of [`LayerWriter::append`] and
/// [`LayerWriter::finish`].
pub fn write_upper<W: Write + Send + 'static>(
    upper: &Path,
    xattrs: OverlayXattrs,
    adjust: impl FnMut(&mut Entry),
    sink: W,
    options: &LayerOptions,
) -> Result<Option<UpperLayer<W>>, LayerError> {
    let tree = open_tree(upper)?;
    let mut out = Output {
        sink: Some(sink),
        writer: None,
        options,
        adjust,
    };
    let top = tree
        .open_walked(b"", DIR_FLAGS)
        .map(File::from)
        .map_err(|source| scan_err(&tree, b"", source))?;
    let mut walk = UpperWalk {
        tree: &tree,
        xattrs,
        inodes: HashMap::new(),
        stack: Vec::new(),
        whole: true,
    };
    walk.enter(top, Vec::new(), None)?;
    while walk.step(&mut out)? {}
    let Some(writer) = out.writer else {
        return Ok(None);
    };
    let (sink, layer) = writer.finish()?;
    Ok(Some(UpperLayer {
        sink,
        layer,
        whole: walk.whole,
    }))
}

/// Where the entries go: a writer made at the first one.
struct Output<'a, W: Write, A> {
    sink: Option<W>,
    writer: Option<LayerWriter<W>>,
    options: &'a LayerOptions,
    adjust: A,
}

impl<W: Write + Send + 'static, A: FnMut(&mut Entry)> Output<'_, W, A> {
    fn append(&mut self, mut entry: Entry) -> Result<(), LayerError> {
        (self.adjust)(&mut entry);
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let sink = self.sink.take().expect("the sink is taken once");
                self.writer.insert(LayerWriter::new(sink, self.options))
            }
        };
        writer.append(&entry)
    }
}

/// A child of a directory, in the order of the tar.
enum Child {
    /// A path of the upper directory.
    Path { name: CString, stat: Stat },
    /// The directory's opaque marker, with the directory's mtime.
    Opaque { mtime: i64 },
}

/// A directory the walk is inside of.
struct Level {
    dir: WalkedDir,
    /// Its path below the upper directory.
    path: Vec<u8>,
    children: std::vec::IntoIter<Child>,
}

/// The walk of an upper directory.
struct UpperWalk<'t> {
    tree: &'t Arc<Root>,
    xattrs: OverlayXattrs,
    /// The first path of each file with several links seen so far.
    inodes: HashMap<(u64, u64), LayerPath>,
    stack: Vec<Level>,
    /// No path was left out.
    whole: bool,
}

impl UpperWalk<'_> {
    /// Lists the directory at `path`, open as `dir`, to walk its children next; with
    /// `opaque`, the directory's mtime, its marker is among them.
    fn enter(&mut self, dir: File, path: Vec<u8>, opaque: Option<i64>) -> Result<(), LayerError> {
        let children = sorted_children(&dir, opaque).map_err(|e| scan_err(self.tree, &path, e))?;
        self.stack.push(Level {
            dir: WalkedDir::new(dir),
            path,
            children: children.into_iter(),
        });
        bound_open(&mut self.stack, |level| &mut level.dir);
        Ok(())
    }

    /// Writes the next child to `out`; `false` once the walk is over.
    fn step<W: Write + Send + 'static, A: FnMut(&mut Entry)>(
        &mut self,
        out: &mut Output<'_, W, A>,
    ) -> Result<bool, LayerError> {
        let Some(level) = self.stack.last_mut() else {
            return Ok(false);
        };
        let (name, stat) = match level.children.next() {
            None => {
                self.stack.pop();
                return Ok(true);
            }
            Some(Child::Opaque { mtime }) => {
                let dir = LayerPath::from_bytes(&level.path)?;
                out.append(Entry::new(dir, EntryKind::Opaque).with_mtime(mtime))?;
                return Ok(true);
            }
            Some(Child::Path { name, stat }) => (name, stat),
        };
        let name = name.as_bytes();
        let mut path = level.path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        let tree = self.tree;
        check_path(&path).map_err(|e| scan_err(tree, &path, e))?;
        let parent = level
            .dir
            .get(tree, &level.path)
            .map_err(|e| scan_err(tree, &level.path, e))?;
        let opened = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                Some(open_subdir(parent, name).map_err(|e| scan_err(tree, &path, e))?)
            }
            _ => None,
        };
        let found = Found {
            parent,
            name,
            path: &path,
            stat: &stat,
            dir: opened.as_ref(),
        };
        let layer_path = LayerPath::from_bytes(&path)?;
        let scanned = Scanned::read(tree, &found, &layer_path, Some(self.xattrs))?;
        let entry = host_entry(
            tree,
            layer_path,
            &scanned,
            Some(self.xattrs),
            &mut self.inodes,
        );
        match entry {
            Some(entry) => out.append(entry)?,
            None => self.whole = false,
        }
        if let Some(dir) = opened {
            let opaque = dir
                .get_xattr(format!("{}opaque", self.xattrs.prefix()))
                .ok()
                .flatten()
                .is_some_and(|value| value == b"y");
            self.enter(dir, path, opaque.then_some(stat.st_mtime))?;
        }
        Ok(true)
    }
}

/// The children of `dir` with their metadata (not following symlinks), and the opaque
/// marker when `opaque` gives the directory's mtime, sorted by their names in the tar.
fn sorted_children(dir: &File, opaque: Option<i64>) -> io::Result<Vec<Child>> {
    let mut keyed: Vec<(Vec<u8>, Child)> = Vec::new();
    for name in list(dir)? {
        let stat = rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        let key = if is_whiteout(&stat) {
            [WHITEOUT_PREFIX, name.as_bytes()].concat()
        } else {
            name.as_bytes().to_vec()
        };
        keyed.push((key, Child::Path { name, stat }));
    }
    if let Some(mtime) = opaque {
        keyed.push((OPAQUE_MARKER.to_vec(), Child::Opaque { mtime }));
    }
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, child)| child).collect())
}

/// Whether `stat` is an overlay whiteout: a character device 0/0.
fn is_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

/// The error of reading `path` (below the upper directory `tree`).
fn scan_err(tree: &Root, path: &[u8], source: io::Error) -> LayerError {
    LayerError::ScanHost {
        path: tree.shown(Path::new(std::ffi::OsStr::from_bytes(path))),
        source,
    }
}
