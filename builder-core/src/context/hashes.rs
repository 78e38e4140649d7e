//! Content digests of context files, remembered across builds by their metadata, so that
//! an unchanged file is never read twice.
//!
//! A record maps a file's path in the context to its size, mtime and ctime (in
//! nanoseconds), inode number and permission bits, and the BLAKE3 hash of its content and
//! its xattrs. A file whose metadata equals its record's has that digest and those xattrs;
//! ctime changes with every write, `chmod`, `chown`, xattr change or rename and cannot be
//! set by a process, so an edit that restores size and mtime is still noticed. Keeping
//! the xattrs spares a `listxattr` per file, which would cost as much as the walk. A file whose ctime is less than a second (`RACY_WINDOW_NS`)
//! older than the moment its hashing began is not recorded: a write within the same
//! timestamp tick could go unseen ("racy" entries, as git calls them); it is hashed again
//! next time.
//!
//! # File format
//!
//! Little-endian, loaded with one `read` and used in place:
//!
//! ```text
//! magic "mkimage-file-hashes\0" (20 bytes)  version u32  count u32
//! count × { path_len u32  path  size u64  mtime_ns i64  ctime_ns i64  ino u64  mode u32  blake3 [32]
//!           xattr_count u32  xattr_count × { name_len u32  name  value_len u32  value } }
//! sha256 of everything above (32 bytes)
//! ```
//!
//! Records are sorted by path in layer order, the order in which a selection looks them
//! up, so a lookup is mostly a comparison with the record after the last one found (a
//! binary search otherwise) over offsets computed at load time, with no allocation per
//! record. Fixed-width fields need no parser (JSON or
//! bincode of a map would allocate a key per record and cost more than the walk it
//! serves), and the trailing SHA-256 (about a millisecond for 20,000 records) turns a
//! truncated or corrupt file into a cold start instead of wrong digests. The file is
//! written whole to a temporary file and renamed over the old one.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::{ContextError, HostFile};

const MAGIC: &[u8; 20] = b"mkimage-file-hashes\0";
/// The format's version (3: content hashes are BLAKE3, they were SHA-256).
const VERSION: u32 = 3;
/// Bytes of a record after its path, up to its xattrs.
const FIXED: usize = 8 + 8 + 8 + 8 + 4 + 32 + 4;

/// How much older than the start of its hashing a file's ctime must be for its digest to
/// be recorded: well above the timestamp tick of Linux file systems.
pub(crate) const RACY_WINDOW_NS: i64 = 1_000_000_000;

/// The metadata a record is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub mode: u32,
}

impl Stamp {
    pub(crate) fn of(file: &HostFile, mode: u32) -> Stamp {
        Stamp {
            size: file.size,
            mtime_ns: file.mtime_ns,
            ctime_ns: file.ctime_ns,
            ino: file.ino,
            mode,
        }
    }
}

/// A digest computed for a file of the context, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The path relative to the context root.
    pub path: Vec<u8>,
    pub stamp: Stamp,
    pub digest: [u8; 32],
    pub xattrs: Xattrs,
}

/// Extended attributes by name.
pub(crate) type Xattrs = BTreeMap<String, Vec<u8>>;

/// Content digests of one context's files, loaded from and saved to a file the caller
/// names (one per context). Safe to share between threads.
#[derive(Debug)]
pub struct FileHashes {
    file: Option<PathBuf>,
    /// The loaded file's bytes, and where each record starts, sorted by path.
    bytes: Vec<u8>,
    records: Vec<usize>,
    /// Digests computed since loading, not yet saved.
    added: Mutex<Vec<Record>>,
}

impl FileHashes {
    /// Loads the records saved in `file`. A missing, unreadable, truncated or corrupt
    /// file gives no records: every file is hashed again and the file rewritten on
    /// [`save`](FileHashes::save).
    pub fn load(file: impl Into<PathBuf>) -> FileHashes {
        let file = file.into();
        let (bytes, records) = read(&file).unwrap_or_default();
        FileHashes {
            file: Some(file),
            bytes,
            records,
            added: Mutex::new(Vec::new()),
        }
    }

    /// No records and nowhere to save them: every file is hashed.
    pub fn in_memory() -> FileHashes {
        FileHashes {
            file: None,
            bytes: Vec::new(),
            records: Vec::new(),
            added: Mutex::new(Vec::new()),
        }
    }

    /// The number of records loaded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record was loaded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The recorded content digest and xattrs of the file at `path` if `stamp` is what
    /// was recorded. `cursor` is where to look first, and is left after the record
    /// found: files looked up in layer order are found one after the other, without a
    /// search.
    pub(crate) fn get(
        &self,
        path: &[u8],
        stamp: &Stamp,
        cursor: &mut usize,
    ) -> Option<([u8; 32], Xattrs)> {
        let at = match self.records.get(*cursor) {
            Some(&offset) if self.path_at(offset) == path => *cursor,
            _ => self
                .records
                .binary_search_by(|&offset| layer_order(self.path_at(offset), path))
                .ok()?,
        };
        *cursor = at + 1;
        let (found, digest, xattrs) = self.fields_at(self.records[at]);
        (found == *stamp).then_some((digest, xattrs))
    }

    /// Records digests computed for files of the context.
    pub(crate) fn add(&self, computed: Vec<Record>) {
        if computed.is_empty() {
            return;
        }
        self.added
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(computed);
    }

    /// Writes the loaded records with those computed since, atomically, when there are
    /// new ones. Nothing happens for an [in-memory](FileHashes::in_memory) cache.
    ///
    /// # Errors
    ///
    /// [`ContextError::WriteFileHashes`] when the file cannot be written.
    pub fn save(&self) -> Result<(), ContextError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut added = std::mem::take(
            &mut *self
                .added
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if added.is_empty() {
            return Ok(());
        }
        added.sort_by(|a, b| layer_order(&a.path, &b.path));
        // Of two digests of one path (two selections of it), keep the later.
        added.dedup_by(|later, earlier| {
            if later.path == earlier.path {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        let mut out = Vec::with_capacity(self.bytes.len() + added.len() * (FIXED + 64));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let mut count: u32 = 0;
        let mut old = self.records.iter().peekable();
        let mut new = added.iter().peekable();
        loop {
            let take_old = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(&&offset), Some(added)) => {
                    match layer_order(self.path_at(offset), &added.path) {
                        Ordering::Less => true,
                        Ordering::Equal => {
                            old.next();
                            false
                        }
                        Ordering::Greater => false,
                    }
                }
            };
            if take_old {
                let offset = *old.next().expect("peeked");
                let (stamp, digest, xattrs) = self.fields_at(offset);
                encode(&mut out, self.path_at(offset), &stamp, &digest, &xattrs);
            } else {
                let record = new.next().expect("peeked");
                encode(
                    &mut out,
                    &record.path,
                    &record.stamp,
                    &record.digest,
                    &record.xattrs,
                );
            }
            count += 1;
        }
        out[24..28].copy_from_slice(&count.to_le_bytes());
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        write_atomically(file, &out).map_err(|source| ContextError::WriteFileHashes {
            path: file.clone(),
            source,
        })
    }

    fn path_at(&self, offset: usize) -> &[u8] {
        let len = u32_at(&self.bytes, offset) as usize;
        &self.bytes[offset + 4..offset + 4 + len]
    }

    fn fields_at(&self, offset: usize) -> (Stamp, [u8; 32], Xattrs) {
        let at = offset + 4 + u32_at(&self.bytes, offset) as usize;
        let b = &self.bytes;
        let stamp = Stamp {
            size: u64_at(b, at),
            mtime_ns: u64_at(b, at + 8) as i64,
            ctime_ns: u64_at(b, at + 16) as i64,
            ino: u64_at(b, at + 24),
            mode: u32_at(b, at + 32),
        };
        let digest = b[at + 36..at + 68]
            .try_into()
            .expect("a record was bounds-checked when loaded");
        let mut xattrs = Xattrs::new();
        let count_at = at + 68;
        let mut next = count_at + 4;
        for _ in 0..u32_at(b, count_at) {
            let (name, after_name) = chunk_at(b, next);
            let (value, after_value) = chunk_at(b, after_name);
            let name = std::str::from_utf8(name).expect("names were checked when loaded");
            xattrs.insert(name.to_owned(), value.to_vec());
            next = after_value;
        }
        (stamp, digest, xattrs)
    }
}

fn encode(out: &mut Vec<u8>, path: &[u8], stamp: &Stamp, digest: &[u8; 32], xattrs: &Xattrs) {
    put_chunk(out, path);
    out.extend_from_slice(&stamp.size.to_le_bytes());
    out.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
    out.extend_from_slice(&stamp.ctime_ns.to_le_bytes());
    out.extend_from_slice(&stamp.ino.to_le_bytes());
    out.extend_from_slice(&stamp.mode.to_le_bytes());
    out.extend_from_slice(digest);
    let count = u32::try_from(xattrs.len()).expect("fewer than 2^32 xattrs");
    out.extend_from_slice(&count.to_le_bytes());
    for (name, value) in xattrs {
        put_chunk(out, name.as_bytes());
        put_chunk(out, value);
    }
}

/// Writes `bytes` with their length in front.
fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a path or xattr is shorter than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The length-prefixed bytes at `at`, and where they end.
fn chunk_at(bytes: &[u8], at: usize) -> (&[u8], usize) {
    let len = u32_at(bytes, at) as usize;
    (&bytes[at + 4..at + 4 + len], at + 4 + len)
}

/// Where the length-prefixed bytes at `at` end, `None` past `bytes`.
fn checked_chunk(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = u32_at(bytes.get(at..at.checked_add(4)?)?, 0) as usize;
    let end = at.checked_add(4)?.checked_add(len)?;
    Some((bytes.get(at + 4..end)?, end))
}

/// The order of paths in a layer (a `/` sorts before every other byte), which is the
/// order of a selection's entries.
fn layer_order(a: &[u8], b: &[u8]) -> Ordering {
    let key = |b: &u8| if *b == b'/' { 0 } else { u16::from(*b) + 1 };
    a.iter().map(key).cmp(b.iter().map(key))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The bytes of `file` and its record offsets, `None` unless the file is whole, of this
/// version, and its records in order and within bounds.
fn read(file: &Path) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut bytes = Vec::new();
    fs::File::open(file).ok()?.read_to_end(&mut bytes).ok()?;
    let body_len = bytes.len().checked_sub(32)?;
    let (body, checksum) = bytes.split_at(body_len);
    if body.len() < 28 || &body[..20] != MAGIC || u32_at(body, 20) != VERSION {
        return None;
    }
    if Sha256::digest(body).as_slice() != checksum {
        return None;
    }
    let count = u32_at(body, 24) as usize;
    let mut records = Vec::with_capacity(count.min(body.len() / (4 + FIXED)));
    let mut at = 28;
    let mut previous: Option<&[u8]> = None;
    for _ in 0..count {
        let record = at;
        let (path, end) = checked_chunk(body, at)?;
        if previous.is_some_and(|p| layer_order(p, path).is_ge()) {
            return None;
        }
        previous = Some(path);
        at = end.checked_add(FIXED)?;
        let xattrs = u32_at(body.get(at - 4..at)?, 0);
        for _ in 0..xattrs {
            let (name, end) = checked_chunk(body, at)?;
            std::str::from_utf8(name).ok()?;
            (_, at) = checked_chunk(body, end)?;
        }
        records.push(record);
    }
    if at != body.len() {
        return None;
    }
    Some((bytes, records))
}

/// Writes `bytes` to a temporary file beside `file` and renames it over `file`, so that a
/// reader sees the old file or the new one, never a part.
///
/// Without `fsync`: after a crash the rename may survive the data, but the checksum then
/// fails and the cache is only cold, while an `fsync` would cost a one-file-changed
/// rebuild more than the rest of its work.
fn write_atomically(file: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64) -> Stamp {
        Stamp {
            size,
            mtime_ns: 1,
            ctime_ns: 2,
            ino: 3,
            mode: 0o644,
        }
    }

    fn record(path: &[u8], size: u64, byte: u8) -> Record {
        let mut xattrs = Xattrs::new();
        if byte.is_multiple_of(2) {
            xattrs.insert("user.n".to_owned(), vec![byte; usize::from(byte)]);
        }
        Record {
            path: path.to_vec(),
            stamp: stamp(size),
            digest: [byte; 32],
            xattrs,
        }
    }

    fn got(record: &Record) -> Option<([u8; 32], Xattrs)> {
        Some((record.digest, record.xattrs.clone()))
    }

    #[test]
    fn saves_merges_and_loads() -> Result<(), ContextError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hashes");
        let hashes = FileHashes::load(&file);
        assert!(hashes.is_empty());
        hashes.add(vec![record(b"b", 2, 2), record(b"a", 1, 1)]);
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 2);
        assert_eq!(
            hashes.get(b"a", &stamp(1), &mut 0),
            got(&record(b"a", 1, 1))
        );
        assert_eq!(hashes.get(b"a", &stamp(9), &mut 0), None);
        assert_eq!(hashes.get(b"c", &stamp(1), &mut 0), None);
        hashes.add(vec![record(b"c", 3, 3), record(b"a", 4, 4)]);
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 3);
        assert_eq!(
            hashes.get(b"a", &stamp(4), &mut 0),
            got(&record(b"a", 4, 4))
        );
        assert_eq!(
            hashes.get(b"b", &stamp(2), &mut 2),
            got(&record(b"b", 2, 2))
        );
        assert_eq!(
            hashes.get(b"c", &stamp(3), &mut 2),
            got(&record(b"c", 3, 3))
        );
        Ok(())
    }

    #[test]
    fn damaged_files_load_empty() -> Result<(), ContextError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hashes");
        let hashes = FileHashes::load(&file);
        hashes.add(vec![record(b"a", 1, 1)]);
        hashes.save()?;
        let good = fs::read(&file).expect("saved");
        for damaged in [
            good[..good.len() - 1].to_vec(),
            good[..40].to_vec(),
            Vec::new(),
            {
                let mut flipped = good.clone();
                flipped[30] ^= 1;
                flipped
            },
        ] {
            fs::write(&file, &damaged).expect("write");
            assert!(FileHashes::load(&file).is_empty());
        }
        Ok(())
    }
}
