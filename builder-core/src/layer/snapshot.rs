//! Snapshot diffs: the changes between a recorded "before" state of a tree and an "after"
//! directory, for `RUN` steps where overlayfs is unavailable.
//!
//! [`Snapshot::capture`] records only metadata (type, mode, owner, size, mtime, ctime,
//! inode, link target, xattrs). [`Snapshot::diff`] walks the after directory and decides
//! by metadata; content is compared only where metadata cannot tell, as git does for
//! "racy" index entries:
//!
//! - *In place* (the after directory is the one captured): an unchanged inode with an
//!   unchanged ctime is unchanged (ctime cannot be set by a process); a changed ctime
//!   with equal size and mtime is ambiguous, and with the old content gone the path
//!   counts as changed.
//! - *Against a copy* (the captured directory still holds the before content and the step
//!   ran in a copy of it): inodes and ctimes differ by construction, so equal type, mode,
//!   owner, size, mtime, link and xattrs mean unchanged, unless the mtime is within
//!   [`RACY_WINDOW`] of the capture, where a write in the same clock tick could hide; then
//!   the contents are compared.
//!
//! Deleted paths become whiteouts (one for a deleted tree); a directory replaced by a new
//! directory in place (or, against a copy, one whose every former child is gone) becomes
//! opaque and is written whole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Stat};

use super::host::{Scanned, host_entry, open_tree, scan_tree};
use super::{Entry, EntryKind, LayerError, LayerPath, TreeFile};
use crate::fsroot::Root;

/// How close to the capture (in seconds) an mtime must be for the metadata to be
/// ambiguous: more than the coarsest file-system timestamp tick.
const RACY_WINDOW: i64 = 2;

/// The recorded metadata of a directory tree.
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    root_id: (u64, u64),
    /// Seconds since the epoch when the capture started.
    taken_at: i64,
    /// What was read of each path: type, mode, owner, size, times, inode, link target,
    /// xattrs.
    paths: BTreeMap<LayerPath, Scanned>,
}

/// Whether `stat` is a directory's.
fn is_dir(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// One path of the after tree.
struct After {
    path: LayerPath,
    scanned: Scanned,
}

impl Snapshot {
    /// Records the metadata of every path under `root`.
    ///
    /// # Errors
    ///
    /// [`LayerError::ScanHost`] when the tree cannot be walked.
    pub fn capture(root: &Path) -> Result<Snapshot, LayerError> {
        let taken_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let tree = open_tree(root)?;
        let root_meta =
            rustix::fs::fstat(tree.fd()).map_err(|error| scan_err(root, error.into()))?;
        let paths = walk(&tree)?
            .into_iter()
            .map(|after| (after.path, after.scanned))
            .collect();
        Ok(Snapshot {
            root: root.to_owned(),
            root_id: (root_meta.st_dev, root_meta.st_ino),
            taken_at,
            paths,
        })
    }

    /// The changes from the captured state to `after`, as layer entries (unsorted;
    /// [`write_layer`](super::write_layer) sorts them).
    ///
    /// # Errors
    ///
    /// [`LayerError::ScanHost`] when either tree cannot be read.
    pub fn diff(&self, after: &Path) -> Result<Vec<Entry>, LayerError> {
        let after_tree = open_tree(after)?;
        let after_meta =
            rustix::fs::fstat(after_tree.fd()).map_err(|error| scan_err(after, error.into()))?;
        let in_place = (after_meta.st_dev, after_meta.st_ino) == self.root_id;
        let trees = Trees {
            before: open_tree(&self.root)?,
            after: after_tree,
        };
        let tree = walk(&trees.after)?;
        let present: HashMap<&LayerPath, &Stat> =
            tree.iter().map(|a| (&a.path, &a.scanned.stat)).collect();

        // Directories that become opaque: replaced in place, or with every former child gone.
        let mut children: HashMap<LayerPath, (usize, usize)> = HashMap::new(); // (before, kept)
        for path in self.paths.keys() {
            if let Some(parent) = path.parent() {
                let count = children.entry(parent).or_default();
                count.0 += 1;
                count.1 += usize::from(present.contains_key(path));
            }
        }
        let mut opaque: HashSet<LayerPath> = HashSet::new();
        for item in &tree {
            let Some(before) = self.paths.get(&item.path) else {
                continue;
            };
            if !(is_dir(&before.stat) && is_dir(&item.scanned.stat)) {
                continue;
            }
            let emptied = children
                .get(&item.path)
                .is_some_and(|(had, kept)| *had > 0 && *kept == 0);
            let replaced = in_place && before.stat.st_ino != item.scanned.stat.st_ino;
            // In place, as in overlayfs, only a replaced directory is opaque: an emptied
            // one gets a whiteout per former child. Against a copy, where inodes cannot
            // tell, an emptied directory is taken as replaced.
            if replaced || (emptied && !in_place) {
                opaque.insert(item.path.clone());
            }
        }
        let under_opaque = |path: &LayerPath| {
            let mut at = path.parent();
            while let Some(dir) = at {
                if opaque.contains(&dir) {
                    return true;
                }
                at = dir.parent();
            }
            false
        };

        let mut entries = Vec::new();
        let mut inodes = HashMap::new();
        for item in &tree {
            let emit = match self.paths.get(&item.path) {
                None => true,
                Some(_) if under_opaque(&item.path) || opaque.contains(&item.path) => true,
                Some(before) => self.changed(before, item, in_place, &trees)?,
            };
            if !emit {
                continue;
            }
            let entry = host_entry(
                &trees.after,
                item.path.clone(),
                &item.scanned,
                None,
                &mut inodes,
            );
            entries.extend(entry);
            if opaque.contains(&item.path) {
                entries.push(
                    Entry::new(item.path.clone(), EntryKind::Opaque)
                        .with_mtime(item.scanned.stat.st_mtime),
                );
            }
        }

        // Deleted paths: one whiteout for the top of each deleted tree, none below a
        // directory that is opaque or was replaced by a non-directory.
        for path in self.paths.keys() {
            if present.contains_key(path) {
                continue;
            }
            let covered = path.parent().is_some_and(|parent| {
                let gone = !present.contains_key(&parent);
                let not_dir = present.get(&parent).is_some_and(|stat| !is_dir(stat));
                gone || not_dir || opaque.contains(&parent) || under_opaque(&parent)
            });
            if !covered {
                entries.push(Entry::new(path.clone(), EntryKind::Whiteout));
            }
        }
        Ok(entries)
    }

    /// Whether `item` differs from `before`; see the module doc for the rules.
    fn changed(
        &self,
        before: &Scanned,
        item: &After,
        in_place: bool,
        trees: &Trees,
    ) -> Result<bool, LayerError> {
        let (was, now) = (&before.stat, &item.scanned.stat);
        let differs = was.st_mode != now.st_mode
            || was.st_uid != now.st_uid
            || was.st_gid != now.st_gid
            || was.st_rdev != now.st_rdev
            || before.link != item.scanned.link
            || before.xattrs != item.scanned.xattrs
            || (was.st_mtime, was.st_mtime_nsec) != (now.st_mtime, now.st_mtime_nsec);
        if differs || (!is_dir(was) && was.st_size != now.st_size) {
            return Ok(true);
        }
        if is_dir(was) {
            return Ok(false);
        }
        if in_place {
            let ctime = |stat: &Stat| (stat.st_ctime, stat.st_ctime_nsec);
            return Ok(was.st_ino != now.st_ino || ctime(was) != ctime(now));
        }
        let racy = was.st_mtime + RACY_WINDOW >= self.taken_at;
        if !racy || FileType::from_raw_mode(was.st_mode) != FileType::RegularFile {
            return Ok(false);
        }
        let old = TreeFile::new(trees.before.clone(), item.path.clone());
        let new = TreeFile::new(trees.after.clone(), item.path.clone());
        Ok(!same_content(&old, &new)?)
    }
}

fn scan_err(path: &Path, source: io::Error) -> LayerError {
    LayerError::ScanHost {
        path: path.to_owned(),
        source,
    }
}

/// The captured tree and the after tree of a diff, open.
struct Trees {
    before: Arc<Root>,
    after: Arc<Root>,
}

/// Every path of `tree` with its metadata, in layer order, walked by descriptors.
/// Sockets are left out.
fn walk(tree: &Root) -> Result<Vec<After>, LayerError> {
    let mut out = Vec::new();
    scan_tree(tree, |found| {
        if FileType::from_raw_mode(found.stat.st_mode) == FileType::Socket {
            return Ok(());
        }
        let path = LayerPath::from_bytes(found.path)?;
        let scanned = Scanned::read(tree, &found, &path, None)?;
        out.push(After { path, scanned });
        Ok(())
    })?;
    Ok(out)
}

/// Whether two regular files have the same bytes, read in fixed buffers, each through
/// its tree's root.
fn same_content(a: &TreeFile, b: &TreeFile) -> Result<bool, LayerError> {
    let open = |file: &TreeFile| -> Result<File, LayerError> {
        let read_err = |source| scan_err(&file.shown(), source);
        let opened = file.open().map_err(read_err)?;
        if !opened.metadata().map_err(read_err)?.is_file() {
            return Err(LayerError::NotRegularFile { path: file.shown() });
        }
        Ok(opened)
    };
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| scan_err(&a.shown(), e))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| scan_err(&b.shown(), e))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the end of the file.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
