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
//! are read (in parallel) and recorded there. Contents are hashed with BLAKE3, which is
//! several times faster than SHA-256 here and the content read is the cold build's
//! largest cost after compression; the tree is hashed with SHA-256, as it is small.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{Digest, Sha256Digest};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::hashes::{RACY_WINDOW_NS, Record, Stamp, Xattrs};
use super::walk::xattrs_of;
use super::{ContextError, FileHashes, HostFile, Selection};
use crate::layer::{Entry, EntryKind, LayerPath};

/// Names the encoding; a change to it changes every digest (v2: contents hashed with
/// BLAKE3 instead of SHA-256).
const VERSION_TAG: &[u8] = b"mkimage-context-v2";

impl Selection {
    /// The content digest of the selection (see the [module](self) docs), reading only
    /// the files whose metadata `hashes` does not know, and recording their digests there
    /// for [`FileHashes::save`]. Fills in the xattrs of regular files (see
    /// [`HostFile::xattrs_read`]).
    ///
    /// # Errors
    ///
    /// [`ContextError::ReadContext`] when a file cannot be read.
    pub fn digest(&mut self, hashes: &FileHashes) -> Result<Digest, ContextError> {
        let contents = self.contents(hashes)?;
        let mut stack: Vec<(Option<&LayerPath>, Encoder)> = vec![(None, Encoder::root())];
        let mut next_content = contents.iter();
        for entry in &self.entries {
            // Close the directories this entry is not inside of.
            while let Some((Some(dir), _)) = stack.last() {
                if entry.path.starts_with(dir) {
                    break;
                }
                close(&mut stack);
            }
            let (parent, encoder) = stack.last_mut().expect("the root stays on the stack");
            encoder.bytes(relative_name(*parent, &entry.path));
            if entry.kind == EntryKind::Dir {
                // The parent has the name now and gets the digest when the directory closes.
                let mut dir = Encoder::new();
                dir.header(entry, b"dir");
                stack.push((Some(&entry.path), dir));
                continue;
            }
            match &entry.kind {
                EntryKind::File(file) => {
                    encoder.header(entry, b"file");
                    encoder.u64(file.size);
                    encoder.raw(next_content.next().expect("one content per regular file"));
                }
                EntryKind::Symlink(target) => {
                    encoder.header(entry, b"symlink");
                    encoder.bytes(target.as_os_str().as_bytes());
                }
                EntryKind::HardLink(target) => {
                    encoder.header(entry, b"hardlink");
                    encoder.bytes(target.as_bytes());
                }
                EntryKind::CharDevice { major, minor }
                | EntryKind::BlockDevice { major, minor } => {
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
                EntryKind::Whiteout | EntryKind::Opaque | EntryKind::Dir => {
                    encoder.header(entry, b"other");
                }
            }
        }
        while stack.len() > 1 {
            close(&mut stack);
        }
        let (_, root) = stack.pop().expect("the root stays on the stack");
        let hex = hex::encode(root.finish());
        Ok(Sha256Digest::from_str(&hex)
            .expect("a SHA-256 output is 64 lowercase hex digits")
            .into())
    }

    /// The content digest of each regular file of the selection, in order, with the
    /// entries' xattrs filled in: recorded ones from `hashes`, the others read in
    /// parallel and recorded.
    fn contents(&mut self, hashes: &FileHashes) -> Result<Vec<[u8; 32]>, ContextError> {
        let mut contents = Vec::new();
        // The index in `contents` and in `entries` of each file to read, its stamp.
        let mut misses = Vec::new();
        let mut cursor = 0;
        for (index, entry) in self.entries.iter_mut().enumerate() {
            let EntryKind::File(file) = &mut entry.kind else {
                continue;
            };
            let stamp = Stamp::of(file, entry.mode);
            match hashes.get(file.source.as_bytes(), &stamp, &mut cursor) {
                Some((digest, xattrs)) => {
                    contents.push(digest);
                    entry.xattrs = xattrs;
                    file.xattrs_read = true;
                }
                None => {
                    misses.push((contents.len(), index, stamp));
                    contents.push([0; 32]);
                }
            }
        }
        let started = now_ns();
        let (root, entries) = (self.root(), &self.entries);
        let computed: Vec<Hashed> = misses
            .par_iter()
            .map(|&(_, index, stamp)| {
                let EntryKind::File(file) = &entries[index].kind else {
                    unreachable!("misses are regular files");
                };
                hash_file(root, file, &stamp, started)
            })
            .collect::<Result<_, ContextError>>()?;
        let mut record = Vec::new();
        for ((content, index, stamp), hashed) in misses.into_iter().zip(computed) {
            contents[content] = hashed.digest;
            let entry = &mut self.entries[index];
            let EntryKind::File(file) = &mut entry.kind else {
                unreachable!("misses are regular files");
            };
            if hashed.stable {
                record.push(Record {
                    path: file.source.as_bytes().to_vec(),
                    stamp,
                    digest: hashed.digest,
                    xattrs: hashed.xattrs.clone(),
                });
            }
            entry.xattrs = hashed.xattrs;
            file.xattrs_read = true;
        }
        hashes.add(record);
        Ok(contents)
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

/// Reads the context file `file` under `root`: the BLAKE3 hash of its content and its
/// xattrs.
fn hash_file(
    root: &Path,
    file: &HostFile,
    stamp: &Stamp,
    started: i64,
) -> Result<Hashed, ContextError> {
    let path = root.join(file.source.as_path());
    let read_err = |source| ContextError::ReadContext {
        path: path.clone(),
        source,
    };
    let mut handle = File::open(&path).map_err(read_err)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(&mut handle).map_err(read_err)?;
    let xattrs = xattrs_of(&path)?;
    // Last, so that a change to the content or the xattrs shows in the ctime.
    let after = handle.metadata().map_err(read_err)?;
    let unchanged = after.ino() == stamp.ino
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

/// Finishes the innermost directory and adds its digest to its parent.
fn close(stack: &mut Vec<(Option<&LayerPath>, Encoder)>) {
    let (_, dir) = stack.pop().expect("a directory to close");
    let digest = dir.finish();
    let (_, parent) = stack.last_mut().expect("the root stays on the stack");
    parent.bytes(b"dir");
    parent.raw(&digest);
}

/// `path` relative to the directory `parent` (the whole path at the root).
fn relative_name<'a>(parent: Option<&LayerPath>, path: &'a LayerPath) -> &'a [u8] {
    match parent {
        Some(parent) => &path.as_bytes()[parent.as_bytes().len() + 1..],
        None => path.as_bytes(),
    }
}

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
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
