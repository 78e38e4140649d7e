//! The content digest of a selection, for cache keys.
//!
//! The digest is a Merkle hash over the selection's tree: a directory's digest hashes its
//! own metadata and then each child in layer order: its name, its kind, and either its
//! digest (a directory) or its fields (anything else). Every field is length-prefixed or of fixed
//! width, in a fixed order, under a versioned tag:
//!
//! - every entry: kind, permission bits, uid, gid, sorted xattrs;
//! - a regular file: size and the BLAKE3 hash of its content;
//! - a symlink: its target; a hard link: the path it links to; a device: its numbers.
//!
//! Paths are those relative to the destination and mtimes are left out, so two contexts
//! with equal content in different directories, or touched files, give equal digests.
//! File contents come from [`FileHashes`] when the file's metadata is unchanged, else
//! are read (in parallel) and recorded there. A step that no record can match gets them
//! from the layer writer instead, which hashes each file as it copies it
//! ([`Selection::copied_digest`]), so that a cold `COPY` reads every file once. Contents
//! are hashed with BLAKE3, which is
//! several times faster than SHA-256 here and the content read is the cold build's
//! largest cost after compression; the tree is hashed with SHA-256, as it is small.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{Digest, Sha256Digest};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::hashes::{Lookup, RACY_WINDOW_NS, Record, Stamp, Xattrs};
use super::{ContextError, FileHashes, HostFile, Origin, Selection};
use crate::fsroot::Root;
use crate::layer::{CopiedContent, Entry, EntryKind, LayerPath, TreeFile, read_file_xattrs};

/// Names the encoding; a change to it changes every digest (v2: contents hashed with
/// BLAKE3 instead of SHA-256).
const VERSION_TAG: &[u8] = b"mkimage-context-v2";

/// How many entries the digest reads ahead: the files among them that `FileHashes` does
/// not know are hashed in parallel. Bounds the memory of a digest, whatever the number
/// of files.
const WINDOW: usize = 1024;

impl Selection {
    /// The content digest of the selection (how it is computed is said where it is defined, in `context/digest.rs`), reading only
    /// the files whose metadata `hashes` does not know, and recording their digests there
    /// for [`FileHashes::save`]. Keeps the xattrs of regular files for the
    /// [entries](Selection::entries) given after (see [`HostFile::xattrs_read`]).
    ///
    /// # Errors
    ///
    /// [`ContextError::ReadContext`] when a file cannot be read.
    pub fn digest(&mut self, hashes: &FileHashes) -> Result<Digest, ContextError> {
        let mut tree = Tree {
            stack: vec![(None, Encoder::root())],
        };
        let mut file_xattrs = HashMap::new();
        let mut window = Window {
            entries: Vec::with_capacity(WINDOW),
            lookup: hashes.lookup(),
        };
        for entry in self.entries() {
            window.push(entry?);
            if window.entries.len() == WINDOW {
                window.flush(self, hashes, &mut tree, &mut file_xattrs)?;
            }
        }
        window.flush(self, hashes, &mut tree, &mut file_xattrs)?;
        self.file_xattrs = Some(file_xattrs);
        Ok(tree.finish())
    }

    /// A digest of the selection, as [`digest`](Selection::digest) gives it, fed with
    /// its [entries](Selection::entries) as a layer writer copies them, each regular file
    /// with what the writer copied from it
    /// ([`LayerOptions::hash_contents`](crate::layer::LayerOptions::hash_contents)) after
    /// `started`: a cold `COPY` walks and reads the context once. The contents of files
    /// whose metadata is what the walk saw are recorded in `hashes`.
    pub fn copied_digest<'h>(
        &self,
        started: SystemTime,
        hashes: &'h FileHashes,
    ) -> CopiedDigest<'h> {
        CopiedDigest {
            tree: Tree {
                stack: vec![(None, Encoder::root())],
            },
            records: Vec::new(),
            hashes,
            root: self.tree.clone(),
            origin: self.origin.clone(),
            started: ns_since_epoch(started),
        }
    }
}

/// The content digest of a selection being copied (see [`Selection::copied_digest`]).
pub struct CopiedDigest<'h> {
    tree: Tree,
    /// Records not yet handed to `hashes`, at most [`WINDOW`].
    records: Vec<Record>,
    hashes: &'h FileHashes,
    root: Arc<Root>,
    origin: Origin,
    started: i64,
}

impl CopiedDigest<'_> {
    /// Adds `entry`, the next of the selection, with `copied`, what the writer copied
    /// from it when it is a regular file.
    ///
    /// # Errors
    ///
    /// [`ContextError::ContentNotCopied`] for a regular file without its content (or with
    /// that of another inode: a file replaced since it was walked).
    pub fn add(
        &mut self,
        mut entry: Entry<HostFile>,
        copied: Option<CopiedContent>,
    ) -> Result<(), ContextError> {
        let content = match &entry.kind {
            EntryKind::File(file) => {
                let Some(content) = copied.filter(|content| content.ino == file.ino) else {
                    return Err(ContextError::ContentNotCopied {
                        path: self.root.shown(file.source.as_path()),
                        origin: self.origin.clone(),
                    });
                };
                let stamp = Stamp::of(file, entry.mode);
                let unchanged = content.size == stamp.size
                    && content.mtime_ns == stamp.mtime_ns
                    && content.ctime_ns == stamp.ctime_ns;
                if unchanged && stamp.ctime_ns < self.started - RACY_WINDOW_NS {
                    self.records.push(Record {
                        path: file.source.as_bytes().to_vec(),
                        stamp,
                        digest: content.hash,
                        xattrs: content.xattrs.clone(),
                    });
                    if self.records.len() == WINDOW {
                        self.hashes.add(&self.records);
                        self.records.clear();
                    }
                }
                entry.xattrs = content.xattrs;
                Some(content.hash)
            }
            _ => None,
        };
        self.tree.add(&entry, content.as_ref());
        Ok(())
    }

    /// The digest of the entries added.
    pub fn finish(self) -> Digest {
        self.hashes.add(&self.records);
        self.tree.finish()
    }
}

/// Entries read ahead, each regular file with its content digest if `FileHashes` knows
/// it (and then its xattrs), and whether a digest computed for it is to be recorded.
struct Window<'a> {
    entries: Vec<(Entry<HostFile>, Option<[u8; 32]>, bool)>,
    lookup: Lookup<'a>,
}

impl Window<'_> {
    fn push(&mut self, mut entry: Entry<HostFile>) {
        let mut content = None;
        if let EntryKind::File(file) = &mut entry.kind {
            let stamp = Stamp::of(file, entry.mode);
            if let Some((digest, xattrs)) = self.lookup.get(file.source.as_bytes(), &stamp) {
                content = Some(digest);
                entry.xattrs = xattrs;
                file.xattrs_read = true;
            }
        }
        self.entries.push((entry, content, false));
    }

    /// Hashes the files not known (in parallel), records them, and adds every entry to
    /// `tree`; the regular files' xattrs go to `file_xattrs`.
    fn flush(
        &mut self,
        selection: &Selection,
        hashes: &FileHashes,
        tree: &mut Tree,
        file_xattrs: &mut HashMap<LayerPath, Xattrs>,
    ) -> Result<(), ContextError> {
        let started = now_ns();
        self.entries
            .par_iter_mut()
            .filter(|(_, content, _)| content.is_none())
            .try_for_each(|(entry, content, record)| -> Result<(), ContextError> {
                let EntryKind::File(file) = &mut entry.kind else {
                    return Ok(());
                };
                let stamp = Stamp::of(file, entry.mode);
                let hashed = hash_file(selection, file, &stamp, started)?;
                *content = Some(hashed.digest);
                *record = hashed.stable;
                entry.xattrs = hashed.xattrs;
                file.xattrs_read = true;
                Ok(())
            })?;
        let mut records = Vec::new();
        for (entry, content, record) in self.entries.drain(..) {
            if let EntryKind::File(file) = &entry.kind {
                if !entry.xattrs.is_empty() {
                    file_xattrs.insert(file.source.clone(), entry.xattrs.clone());
                }
                if record && let Some(digest) = content {
                    records.push(Record {
                        path: file.source.as_bytes().to_vec(),
                        stamp: Stamp::of(file, entry.mode),
                        digest,
                        xattrs: entry.xattrs.clone(),
                    });
                }
            }
            tree.add(&entry, content.as_ref());
        }
        hashes.add(&records);
        Ok(())
    }
}

/// The digests of the directories the entries added so far are in, the innermost last.
struct Tree {
    stack: Vec<(Option<LayerPath>, Encoder)>,
}

impl Tree {
    /// Adds `entry`, the next in layer order; `content` is a regular file's digest.
    fn add(&mut self, entry: &Entry<HostFile>, content: Option<&[u8; 32]>) {
        // Close the directories this entry is not inside of.
        while let Some((Some(dir), _)) = self.stack.last() {
            if entry.path.starts_with(dir) {
                break;
            }
            self.close();
        }
        let (parent, encoder) = self.stack.last_mut().expect("the root stays on the stack");
        encoder.bytes(relative_name(parent.as_ref(), &entry.path));
        match &entry.kind {
            EntryKind::Dir => {
                // The parent has the name now and gets the digest when the directory closes.
                let mut dir = Encoder::new();
                dir.header(entry, b"dir");
                self.stack.push((Some(entry.path.clone()), dir));
            }
            EntryKind::File(file) => {
                encoder.header(entry, b"file");
                encoder.u64(file.size);
                encoder.raw(content.expect("one content per regular file"));
            }
            EntryKind::Symlink(target) => {
                encoder.header(entry, b"symlink");
                encoder.bytes(target.as_os_str().as_bytes());
            }
            EntryKind::HardLink(target) => {
                encoder.header(entry, b"hardlink");
                encoder.bytes(target.as_bytes());
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                let tag: &[u8] = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                    b"char"
                } else {
                    b"block"
                };
                encoder.header(entry, tag);
                encoder.u64(u64::from(*major));
                encoder.u64(u64::from(*minor));
            }
            EntryKind::Fifo => encoder.header(entry, b"fifo"),
            // A selection holds what is in a directory, never whiteouts.
            EntryKind::Whiteout | EntryKind::Opaque => {
                encoder.header(entry, b"other");
            }
        }
    }

    /// Finishes the innermost directory and adds its digest to its parent.
    fn close(&mut self) {
        let (_, dir) = self.stack.pop().expect("a directory to close");
        let digest = dir.finish();
        let (_, parent) = self.stack.last_mut().expect("the root stays on the stack");
        parent.bytes(b"dir");
        parent.raw(&digest);
    }

    /// The digest of the whole tree.
    fn finish(mut self) -> Digest {
        while self.stack.len() > 1 {
            self.close();
        }
        let (_, root) = self.stack.pop().expect("the root stays on the stack");
        let hex = hex::encode(root.finish());
        Sha256Digest::from_str(&hex)
            .expect("a SHA-256 output is 64 lowercase hex digits")
            .into()
    }
}

/// A file just read.
struct Hashed {
    digest: [u8; 32],
    xattrs: Xattrs,
    /// Whether it may be recorded: the file opened is the one walked, it did not change
    /// while read, and its ctime is not racy.
    stable: bool,
}

/// Reads the file `file` of `selection`: the BLAKE3 hash of its content and its xattrs,
/// opened through the context's root by the path the walk found, through no symlink.
fn hash_file(
    selection: &Selection,
    file: &HostFile,
    stamp: &Stamp,
    started: i64,
) -> Result<Hashed, ContextError> {
    let read_err = |source| ContextError::ReadContext {
        path: selection.tree.shown(file.source.as_path()),
        origin: selection.origin.clone(),
        source,
    };
    let handle = TreeFile::new(selection.tree.clone(), file.source.clone());
    let mut handle = handle.open().map_err(read_err)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(&mut handle).map_err(read_err)?;
    let xattrs = read_file_xattrs(&handle).map_err(read_err)?;
    // Last, so that a change to the content or the xattrs shows in the ctime.
    let after = handle.metadata().map_err(read_err)?;
    let unchanged = after.is_file()
        && after.ino() == stamp.ino
        && after.size() == stamp.size
        && after.mtime() * 1_000_000_000 + after.mtime_nsec() == stamp.mtime_ns
        && after.ctime() * 1_000_000_000 + after.ctime_nsec() == stamp.ctime_ns;
    let settled = stamp.ctime_ns < started - RACY_WINDOW_NS;
    Ok(Hashed {
        digest: *hasher.finalize().as_bytes(),
        xattrs,
        stable: unchanged && settled,
    })
}

/// `path` relative to the directory `parent` (the whole path at the root).
fn relative_name<'a>(parent: Option<&LayerPath>, path: &'a LayerPath) -> &'a [u8] {
    match parent {
        Some(parent) => &path.as_bytes()[parent.as_bytes().len() + 1..],
        None => path.as_bytes(),
    }
}

fn now_ns() -> i64 {
    ns_since_epoch(SystemTime::now())
}

fn ns_since_epoch(time: SystemTime) -> i64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// A SHA-256 fed with length-prefixed fields.
///
/// Fields are gathered in a buffer and hashed at the end: one pass over a few kilobytes
/// per directory costs less than an `update` call per field.
struct Encoder(Vec<u8>);

impl Encoder {
    fn new() -> Encoder {
        Encoder(Vec::new())
    }

    fn root() -> Encoder {
        let mut encoder = Encoder::new();
        encoder.bytes(VERSION_TAG);
        encoder
    }

    /// The fields every entry has: kind, mode, owner, xattrs.
    fn header<F>(&mut self, entry: &Entry<F>, kind: &[u8]) {
        self.bytes(kind);
        self.u64(u64::from(entry.mode));
        self.u64(u64::from(entry.uid));
        self.u64(u64::from(entry.gid));
        self.u64(entry.xattrs.len() as u64);
        for (name, value) in &entry.xattrs {
            self.bytes(name.as_bytes());
            self.bytes(value);
        }
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.0.extend_from_slice(value);
    }

    fn raw(&mut self, value: &[u8; 32]) {
        self.0.extend_from_slice(value);
    }

    fn finish(self) -> [u8; 32] {
        Sha256::digest(&self.0).into()
    }
}
