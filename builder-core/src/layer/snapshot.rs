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
//! Deleted paths become whiteouts (one for a deleted tree); a directory whose every
//! former child is gone, or that was replaced by a new directory in place, becomes opaque
//! and is written whole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::host::{host_entry, read_xattrs};
use super::{Entry, EntryKind, LayerError, LayerPath};

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
    paths: BTreeMap<LayerPath, Meta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    /// `st_mode`, type and permission bits.
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    rdev: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    link: Option<PathBuf>,
    xattrs: BTreeMap<String, Vec<u8>>,
}

impl Meta {
    fn read(host: &Path, metadata: &fs::Metadata) -> io::Result<Meta> {
        let link = if metadata.file_type().is_symlink() {
            Some(fs::read_link(host)?)
        } else {
            None
        };
        Ok(Meta {
            mode: metadata.mode(),
            uid: metadata.uid(),
            gid: metadata.gid(),
            size: metadata.size(),
            rdev: metadata.rdev(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
            ino: metadata.ino(),
            link,
            xattrs: read_xattrs(host, None)?,
        })
    }

    fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// One path of the after tree.
struct After {
    path: LayerPath,
    host: PathBuf,
    metadata: fs::Metadata,
    meta: Meta,
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
        let root_meta = fs::metadata(root).map_err(|source| scan_err(root, source))?;
        let paths = walk(root)?
            .into_iter()
            .map(|after| (after.path, after.meta))
            .collect();
        Ok(Snapshot {
            root: root.to_owned(),
            root_id: (root_meta.dev(), root_meta.ino()),
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
        let after_meta = fs::metadata(after).map_err(|source| scan_err(after, source))?;
        let in_place = (after_meta.dev(), after_meta.ino()) == self.root_id;
        let tree = walk(after)?;
        let present: HashMap<&LayerPath, &Meta> = tree.iter().map(|a| (&a.path, &a.meta)).collect();

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
            if !(before.is_dir() && item.meta.is_dir()) {
                continue;
            }
            let emptied = children
                .get(&item.path)
                .is_some_and(|(had, kept)| *had > 0 && *kept == 0);
            let replaced = in_place && before.ino != item.meta.ino;
            if emptied || replaced {
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
                Some(before) => self.changed(before, item, in_place, after)?,
            };
            if !emit {
                continue;
            }
            let entry = host_entry(
                &item.host,
                item.path.clone(),
                &item.metadata,
                None,
                &mut inodes,
            )?;
            entries.extend(entry);
            if opaque.contains(&item.path) {
                entries.push(
                    Entry::new(item.path.clone(), EntryKind::Opaque).with_mtime(item.meta.mtime.0),
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
                let not_dir = present.get(&parent).is_some_and(|m| !m.is_dir());
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
        before: &Meta,
        item: &After,
        in_place: bool,
        after_root: &Path,
    ) -> Result<bool, LayerError> {
        let now = &item.meta;
        let differs = before.mode != now.mode
            || before.uid != now.uid
            || before.gid != now.gid
            || before.rdev != now.rdev
            || before.link != now.link
            || before.xattrs != now.xattrs
            || before.mtime != now.mtime;
        if differs || (!before.is_dir() && before.size != now.size) {
            return Ok(true);
        }
        if before.is_dir() {
            return Ok(false);
        }
        if in_place {
            return Ok(before.ino != now.ino || before.ctime != now.ctime);
        }
        let racy = before.mtime.0 + RACY_WINDOW >= self.taken_at;
        if !racy || !before.is_file() {
            return Ok(false);
        }
        let old = self.root.join(item.path.as_path());
        let new = after_root.join(item.path.as_path());
        Ok(!same_content(&old, &new)?)
    }
}

fn scan_err(path: &Path, source: io::Error) -> LayerError {
    LayerError::ScanHost {
        path: path.to_owned(),
        source,
    }
}

/// Every path under `root` with its metadata, in layer order. Sockets are left out.
fn walk(root: &Path) -> Result<Vec<After>, LayerError> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for item in walk {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            scan_err(&path, e.into())
        })?;
        let host = item.path().to_owned();
        let metadata = item.metadata().map_err(|e| scan_err(&host, e.into()))?;
        if metadata.file_type().is_socket() {
            continue;
        }
        let rel = host
            .strip_prefix(root)
            .expect("walkdir yields paths under its root");
        let path = LayerPath::new(rel)?;
        let meta = Meta::read(&host, &metadata).map_err(|e| scan_err(&host, e))?;
        out.push(After {
            path,
            host,
            metadata,
            meta,
        });
    }
    Ok(out)
}

/// Whether two files have the same bytes, read in fixed buffers.
fn same_content(a: &Path, b: &Path) -> Result<bool, LayerError> {
    let open = |p: &Path| File::open(p).map_err(|e| scan_err(p, e));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| scan_err(a, e))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| scan_err(b, e))?;
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
