//! Extracting a tar archive into layer entries below a destination.
//!
//! The archive is read once, in order, into a tree of paths relative to the destination,
//! as Docker's unpacker (chrooted into the destination) would leave them on disk: an entry
//! replaces what was at its path (and, for a directory, everything below) unless both are
//! directories, which merge; an entry's parents are resolved through the symlinks that
//! the archive made, with `/` and `..` stopping at the destination; missing parents are
//! implied. Hard links share a node number with their target, so replacing the target
//! later leaves the link with the old content, as on disk. A hard link to a path the
//! archive does not hold links, as Docker's unpacker does on disk, to the file the image
//! has there: a layer's hard link can only name a path of the same layer for most
//! unpackers, so that file is copied into the layer ([`Below`]) and linked to. The tree
//! then becomes layer entries in layer order, the first path of each node number carrying
//! the content and the others hard links to it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::ArchiveError;
use crate::layer::{self, Content, Entry, EntryKind, LayerPath};

/// The image an archive is extracted onto, as far as [`extract`] needs it: the files that
/// the archive's hard links point at without holding them.
pub trait Below {
    /// Copies the regular file at `path` (a path of the image, from its root) into a new
    /// file `into` and returns its entry (its metadata, `into` as content); `None` when
    /// the image has no regular file there.
    ///
    /// # Errors
    ///
    /// When the image cannot be read or `into` cannot be written.
    fn copy_file(&self, path: &LayerPath, into: &Path) -> crate::Result<Option<Entry>>;
}

/// An empty image: [`Below`] for an archive extracted onto nothing (`COPY --link`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingBelow;

impl Below for NothingBelow {
    fn copy_file(&self, _path: &LayerPath, _into: &Path) -> crate::Result<Option<Entry>> {
        Ok(None)
    }
}

/// How many symlinks resolving one parent may follow, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// How [`extract`] places an archive's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// `--chown`: owner and group of every entry of the archive, instead of its own (as
    /// BuildKit does). The implied parent directories stay owned by root.
    pub owner: Option<(u32, u32)>,
    /// Modification time of the directories the archive implies without holding them
    /// (`a/` for an entry `a/b`), seconds since the epoch.
    pub implied_mtime: i64,
}

/// One path of the tree.
struct Node {
    entry: Entry,
    /// What hard links share; `0` for directories, which cannot be linked.
    inode: u64,
}

struct Tree<'a> {
    archive: &'a Path,
    dest: Option<&'a LayerPath>,
    below: &'a dyn Below,
    staging: &'a Path,
    options: &'a ExtractOptions,
    nodes: BTreeMap<LayerPath, Node>,
    next_inode: u64,
}

/// Reads the tar archive at `archive` (plain, gzip, bzip2, xz or zstd, told by content)
/// into layer entries below `dest` (`None`: the image root), in layer order. `dest`
/// itself is not among them; the caller creates it. Regular files are streamed into new
/// files of the directory `staging`, which the entries name as their content, so the
/// caller keeps it until the layer is written. A hard link to a path below `dest` that
/// the archive does not hold links to the file `below` has there, copied into the layer.
///
/// # Errors
///
/// [`ArchiveError::ReadArchive`] for an unreadable or corrupt archive,
/// [`ArchiveError::ReadEntry`] for an entry that is malformed, climbs out with `..` or
/// has a type a layer cannot hold, [`ArchiveError::ReservedName`] for a `.wh.` name,
/// [`ArchiveError::NotADirectory`], [`ArchiveError::SymlinkLoop`] and
/// [`ArchiveError::HardLinkTarget`] for entries that cannot be placed,
/// [`ArchiveError::ReadBelow`] when `below` fails,
/// [`ArchiveError::WriteStaging`] when `staging` cannot be written.
pub fn extract(
    archive: &Path,
    dest: Option<&LayerPath>,
    below: &dyn Below,
    staging: &Path,
    options: &ExtractOptions,
) -> Result<Vec<Entry>, ArchiveError> {
    let file = File::open(archive).map_err(|source| ArchiveError::ReadArchive {
        path: archive.to_owned(),
        source,
    })?;
    extract_from(file, archive, dest, below, staging, options)
}

/// [`extract`] of the archive open as `file`, at `archive` on the host (for messages).
///
/// # Errors
///
/// As [`extract`].
pub(crate) fn extract_from(
    file: impl Read,
    archive: &Path,
    dest: Option<&LayerPath>,
    below: &dyn Below,
    staging: &Path,
    options: &ExtractOptions,
) -> Result<Vec<Entry>, ArchiveError> {
    let read_err = |source| ArchiveError::ReadArchive {
        path: archive.to_owned(),
        source,
    };
    let stream = crate::archive::decompress(BufReader::new(file)).map_err(read_err)?;
    let mut tar = tar::Archive::new(stream);
    let mut tree = Tree {
        archive,
        dest,
        below,
        staging,
        options,
        nodes: BTreeMap::new(),
        next_inode: 1,
    };
    for item in tar.entries().map_err(read_err)? {
        let mut item = item.map_err(read_err)?;
        let entry = layer::decode(&mut item).map_err(|source| ArchiveError::ReadEntry {
            path: archive.to_owned(),
            source,
        })?;
        if let Some(entry) = entry {
            tree.add(entry, &mut item)?;
        }
    }
    Ok(tree.into_entries(dest))
}

impl Tree<'_> {
    /// Places one entry of the archive, reading a regular file's content from `data`.
    fn add(&mut self, entry: Entry<u64>, data: &mut impl Read) -> Result<(), ArchiveError> {
        let name = entry.tar_path().to_string();
        let parent = self.resolve_dir(entry.path.parent(), &name)?;
        let path = LayerPath::child(parent.as_ref(), entry.path.file_name());
        let (kind, inode) = match entry.kind {
            EntryKind::Whiteout | EntryKind::Opaque => {
                return Err(ArchiveError::ReservedName {
                    path: self.archive.to_owned(),
                    entry: name,
                });
            }
            EntryKind::HardLink(target) => {
                let written = target.to_string();
                let missing = || ArchiveError::HardLinkTarget {
                    path: self.archive.to_owned(),
                    entry: name.clone(),
                    target: written.clone(),
                };
                let parent = self.resolve_dir(target.parent(), &name)?;
                let target = LayerPath::child(parent.as_ref(), target.file_name());
                if !self.nodes.contains_key(&target) {
                    self.copy_below(&target, &name, &written)?;
                }
                let Some(node) = self.nodes.get(&target) else {
                    return Err(missing());
                };
                if node.inode == 0 {
                    return Err(missing());
                }
                // A hard link is the same inode: the target's metadata, not the header's.
                let mut linked = node.entry.clone();
                linked.path = path.clone();
                let inode = node.inode;
                self.insert(
                    path,
                    Node {
                        entry: linked,
                        inode,
                    },
                );
                return Ok(());
            }
            EntryKind::File(_) => {
                let staged = self.staging.join(self.next_inode.to_string());
                let write_err = |source| ArchiveError::WriteStaging {
                    path: staged.clone(),
                    source,
                };
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&staged)
                    .map_err(write_err)?;
                io::copy(data, &mut file).map_err(|source| match source.kind() {
                    // The tar crate reports a short or corrupt archive as a read error.
                    io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput => ArchiveError::ReadArchive {
                        path: self.archive.to_owned(),
                        source,
                    },
                    _ => write_err(source),
                })?;
                (EntryKind::File(Content::Host(staged)), self.take_inode())
            }
            EntryKind::Dir => (EntryKind::Dir, 0),
            EntryKind::Symlink(target) => (EntryKind::Symlink(target), self.take_inode()),
            EntryKind::CharDevice { major, minor } => {
                (EntryKind::CharDevice { major, minor }, self.take_inode())
            }
            EntryKind::BlockDevice { major, minor } => {
                (EntryKind::BlockDevice { major, minor }, self.take_inode())
            }
            EntryKind::Fifo => (EntryKind::Fifo, self.take_inode()),
        };
        let (uid, gid) = self.options.owner.unwrap_or((entry.uid, entry.gid));
        let entry = Entry {
            path: path.clone(),
            kind,
            mode: entry.mode,
            uid,
            gid,
            mtime: entry.mtime,
            xattrs: entry.xattrs,
        };
        self.insert(path, Node { entry, inode });
        Ok(())
    }

    /// Puts the file the image has at `target` (a path of the tree) into the tree, copied
    /// into the staging directory, when there is one. `name` and `written` are the link's
    /// name and target in the archive, for errors.
    fn copy_below(
        &mut self,
        target: &LayerPath,
        name: &str,
        written: &str,
    ) -> Result<(), ArchiveError> {
        let in_image = match self.dest {
            Some(dest) => LayerPath::new(dest.as_path().join(target.as_path()))
                .expect("two normalized paths join into one"),
            None => target.clone(),
        };
        let staged = self.staging.join(self.next_inode.to_string());
        let copied =
            self.below
                .copy_file(&in_image, &staged)
                .map_err(|source| ArchiveError::ReadBelow {
                    path: self.archive.to_owned(),
                    entry: name.to_owned(),
                    target: written.to_owned(),
                    source: Box::new(source),
                })?;
        let Some(mut entry) = copied else {
            return Ok(());
        };
        entry.path = target.clone();
        entry.kind = EntryKind::File(Content::Host(staged));
        // `--chown` changes the linked file, which is the image's file too.
        if let Some((uid, gid)) = self.options.owner {
            (entry.uid, entry.gid) = (uid, gid);
        }
        let inode = self.take_inode();
        self.insert(target.clone(), Node { entry, inode });
        Ok(())
    }

    fn take_inode(&mut self) -> u64 {
        self.next_inode += 1;
        self.next_inode - 1
    }

    /// Resolves the directory `dir` (`None`: the destination) through the symlinks of
    /// the tree, `/` and `..` stopping at the destination, and creates the directories
    /// missing on the way. `name` is the entry being placed, for errors.
    fn resolve_dir(
        &mut self,
        dir: Option<LayerPath>,
        name: &str,
    ) -> Result<Option<LayerPath>, ArchiveError> {
        let mut real: Vec<Vec<u8>> = Vec::new();
        // Components still to walk, the next one last.
        let mut pending: Vec<Vec<u8>> = dir
            .map(|dir| {
                dir.as_bytes()
                    .split(|b| *b == b'/')
                    .rev()
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .unwrap_or_default();
        let mut links = 0;
        while let Some(component) = pending.pop() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    real.pop();
                    continue;
                }
                _ => real.push(component),
            }
            let path =
                LayerPath::from_bytes(&real.join(&b'/')).expect("components are plain names");
            let target = match self.nodes.get(&path).map(|node| &node.entry.kind) {
                Some(EntryKind::Dir) => continue,
                Some(EntryKind::Symlink(target)) => target.as_os_str().as_bytes().to_vec(),
                Some(_) => {
                    return Err(ArchiveError::NotADirectory {
                        path: self.archive.to_owned(),
                        entry: name.to_owned(),
                        parent: path.to_string(),
                    });
                }
                None => {
                    let implied = Entry::new(path.clone(), EntryKind::Dir)
                        .with_mtime(self.options.implied_mtime);
                    self.nodes.insert(
                        path,
                        Node {
                            entry: implied,
                            inode: 0,
                        },
                    );
                    continue;
                }
            };
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(ArchiveError::SymlinkLoop {
                    path: self.archive.to_owned(),
                    entry: name.to_owned(),
                });
            }
            real.pop();
            if target.starts_with(b"/") {
                real.clear();
            }
            pending.extend(target.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
        }
        Ok((!real.is_empty())
            .then(|| LayerPath::from_bytes(&real.join(&b'/')).expect("components are plain names")))
    }

    /// Puts `node` at `path`: over a directory a directory only takes its metadata,
    /// anything else replaces what was there and all below it.
    fn insert(&mut self, path: LayerPath, node: Node) {
        if let Some(existing) = self.nodes.get_mut(&path) {
            let was_dir = matches!(existing.entry.kind, EntryKind::Dir);
            if was_dir && matches!(node.entry.kind, EntryKind::Dir) {
                existing.entry = node.entry;
                return;
            }
            if was_dir {
                // In layer order a directory's descendants follow it, before any sibling.
                let below: Vec<LayerPath> = self
                    .nodes
                    .range((Bound::Excluded(&path), Bound::Unbounded))
                    .take_while(|(p, _)| p.starts_with(&path))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in below {
                    self.nodes.remove(&p);
                }
            }
        }
        self.nodes.insert(path, node);
    }

    /// The tree as layer entries below `dest`, in layer order.
    fn into_entries(self, dest: Option<&LayerPath>) -> Vec<Entry> {
        let mut first: HashMap<u64, LayerPath> = HashMap::new();
        let mut entries = Vec::with_capacity(self.nodes.len());
        for (path, node) in self.nodes {
            let path = match dest {
                Some(dest) => LayerPath::new(dest.as_path().join(path.as_path()))
                    .expect("two normalized paths join into one"),
                None => path,
            };
            let mut entry = node.entry;
            entry.path = path.clone();
            if node.inode != 0 {
                match first.get(&node.inode) {
                    Some(target) => entry.kind = EntryKind::HardLink(target.clone()),
                    None => {
                        first.insert(node.inode, path);
                    }
                }
            }
            entries.push(entry);
        }
        entries
    }
}
