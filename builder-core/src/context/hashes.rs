//! Content digests of context files, remembered across builds by their metadata, so that
//! an unchanged file is never read twice.
//!
//! A record maps a file's path in the context to its size, mtime and ctime (in
//! nanoseconds), inode number and permission bits, and the BLAKE3 hash of its content and
//! its xattrs. A file whose metadata equals its record's has that digest and those xattrs;
//! ctime changes with every write, `chmod`, `chown`, xattr change or rename and cannot be
//! set by a process, so an edit that restores size and mtime is still noticed. Keeping
//! the xattrs spares a `listxattr` per file, which would cost as much as the walk. A file
//! whose ctime is less than a second (`RACY_WINDOW_NS`) older than the moment its hashing
//! began is not recorded: a write within the same timestamp tick could go unseen ("racy"
//! entries, as git calls them); it is hashed again next time.
//!
//! # File format
//!
//! Little-endian:
//!
//! ```text
//! magic "mkimage-file-hashes\0" (20 bytes)  version u32  count u32
//! count × { path_len u32  path  size u64  mtime_ns i64  ctime_ns i64  ino u64  mode u32  blake3 [32]
//!           xattr_count u32  xattr_count × { name_len u32  name  value_len u32  value } }
//! sha256 of everything above (32 bytes)
//! ```
//!
//! Records are sorted by path in layer order, the order in which a selection looks them
//! up. The file is never held in memory: loading reads it through once to check it and
//! keeps the offset and path of every 256th record; a [`Lookup`] reads on from the last
//! record found, seeking through those only when a path comes out of order. Digests
//! computed during a build go to a temporary file in sorted runs (one per digest, mostly),
//! and saving merges the records with those runs as it writes. Memory stays flat, whatever
//! the number of files. Fixed-width fields need no parser (JSON or bincode of a map would
//! allocate a key per record and cost more than the walk it serves), and the trailing
//! SHA-256 (about a millisecond for 20,000 records) turns a truncated or corrupt file into
//! a cold start instead of wrong digests. The file is written whole to a temporary file
//! and renamed over the old one.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::{ContextError, HostFile};

const MAGIC: &[u8; 20] = b"mkimage-file-hashes\0";
/// The format's version (3: content hashes are BLAKE3, they were SHA-256).
const VERSION: u32 = 3;
/// Bytes of a record after its path, up to its xattrs.
const FIXED: usize = 8 + 8 + 8 + 8 + 4 + 32 + 4;
/// Bytes before the first record.
const HEADER: u64 = 28;
/// One record in this many has its offset and path kept when the file is loaded.
const INDEX_EVERY: u32 = 256;
/// The buffer of each reader of records.
const READ_BUFFER: usize = 16 * 1024;

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
    /// The file as loaded, when it was whole.
    loaded: Option<Loaded>,
    /// Digests computed since loading, not yet saved.
    added: Mutex<Added>,
}

/// A loaded file of records, kept open (a newer file renamed over it is not seen).
#[derive(Debug)]
struct Loaded {
    file: File,
    count: u32,
    /// Where the records end (the checksum starts).
    end: u64,
    /// The offset and path of every [`INDEX_EVERY`]th record, the first one first.
    index: Vec<(u64, Vec<u8>)>,
}

/// Records computed since loading, encoded as in the file, in a temporary file.
#[derive(Debug, Default)]
struct Added {
    spill: Option<File>,
    len: u64,
    /// Sorted runs of records in `spill`, in the order they were added.
    runs: Vec<Run>,
    /// The path of the last record added.
    last: Vec<u8>,
}

/// Records of `Added::spill` in layer order, at `start..end`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
}

impl FileHashes {
    /// Loads the records saved in `file`. A missing, unreadable, truncated or corrupt
    /// file gives no records: every file is hashed again and the file rewritten on
    /// [`save`](FileHashes::save).
    pub fn load(file: impl Into<PathBuf>) -> FileHashes {
        let file = file.into();
        let loaded = load(&file).ok().flatten();
        FileHashes {
            file: Some(file),
            loaded,
            added: Mutex::new(Added::default()),
        }
    }

    /// No records and nowhere to save them: every file is hashed.
    pub fn in_memory() -> FileHashes {
        FileHashes {
            file: None,
            loaded: None,
            added: Mutex::new(Added::default()),
        }
    }

    /// The number of records loaded.
    pub fn len(&self) -> usize {
        self.loaded
            .as_ref()
            .map_or(0, |loaded| loaded.count as usize)
    }

    /// Whether no record was loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader of the loaded records, for files looked up in layer order.
    pub(crate) fn lookup(&self) -> Lookup<'_> {
        Lookup {
            loaded: self.loaded.as_ref(),
            reader: None,
            passed: None,
        }
    }

    /// Records digests computed for files of the context (best in layer order, as a
    /// selection's files come: records in order form one run to merge when saving).
    pub(crate) fn add(&self, computed: &[Record]) {
        if computed.is_empty() || self.file.is_none() {
            return;
        }
        let mut added = self
            .added
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A cache that cannot be written only stays cold.
        let _ = added.push(computed);
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
        let added = std::mem::take(
            &mut *self
                .added
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let Some(spill) = &added.spill else {
            return Ok(());
        };
        self.write_merged(file, spill, &added.runs)
            .map_err(|source| ContextError::WriteFileHashes {
                path: file.clone(),
                source,
            })
    }

    /// Writes to `file` the loaded records merged with the `runs` of `spill`: of equal
    /// paths, the last run's record.
    fn write_merged(&self, file: &Path, spill: &File, runs: &[Run]) -> io::Result<()> {
        // The loaded records first: of equal paths, the source listed last wins.
        let mut sources: Vec<RecordReader<'_>> = Vec::new();
        if let Some(loaded) = &self.loaded {
            sources.push(RecordReader::new(&loaded.file, HEADER, loaded.end)?);
        }
        for run in runs {
            sources.push(RecordReader::new(spill, run.start, run.end)?);
        }
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::NamedTempFile::new_in(dir)?;
        let mut out = BufWriter::new(temp.as_file());
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&[0; 4])?;
        let mut count: u32 = 0;
        loop {
            let mut least: Option<usize> = None;
            for (index, source) in sources.iter().enumerate() {
                let Some(head) = &source.head else { continue };
                least = match least {
                    Some(at)
                        if sources[at]
                            .head
                            .as_ref()
                            .is_some_and(|best| layer_order(&best.path, &head.path).is_lt()) =>
                    {
                        Some(at)
                    }
                    _ => Some(index),
                };
            }
            let Some(at) = least else { break };
            let record = sources[at].advance()?.expect("a head to take");
            for source in &mut sources[..at] {
                if source
                    .head
                    .as_ref()
                    .is_some_and(|head| head.path == record.path)
                {
                    source.advance()?;
                }
            }
            let mut bytes = Vec::new();
            encode(&mut bytes, &record);
            out.write_all(&bytes)?;
            count += 1;
        }
        out.flush()?;
        drop(out);
        let written = temp.as_file();
        written.write_all_at(&count.to_le_bytes(), 24)?;
        // The checksum of what was written, read back (from the page cache).
        let mut hasher = Sha256::new();
        let mut reader = BufReader::with_capacity(READ_BUFFER * 4, written);
        reader.seek(SeekFrom::Start(0))?;
        io::copy(&mut reader, &mut hasher)?;
        let mut written = reader.into_inner();
        written.seek(SeekFrom::End(0))?;
        written.write_all(&hasher.finalize())?;
        // Without `fsync`: after a crash the rename may survive the data, but the
        // checksum then fails and the cache is only cold, while an `fsync` would cost a
        // one-file-changed rebuild more than the rest of its work.
        temp.persist(file).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Added {
    /// Appends `computed` to the spill file; what fails to be written is not recorded.
    fn push(&mut self, computed: &[Record]) -> io::Result<()> {
        if self.spill.is_none() {
            self.spill = Some(tempfile::tempfile()?);
        }
        // Sorted, so that each call adds at most one run: records of several sources come
        // in the order of their destinations, which may differ from their own.
        let mut sorted: Vec<&Record> = computed.iter().collect();
        sorted.sort_by(|a, b| layer_order(&a.path, &b.path));
        let mut bytes = Vec::new();
        let mut runs = self.runs.clone();
        let mut last = self.last.clone();
        for record in sorted {
            let start = self.len + bytes.len() as u64;
            encode(&mut bytes, record);
            let end = self.len + bytes.len() as u64;
            match runs.last_mut() {
                Some(run) if layer_order(&last, &record.path).is_lt() => run.end = end,
                _ => runs.push(Run { start, end }),
            }
            last.clone_from(&record.path);
        }
        let spill = self.spill.as_mut().expect("made above");
        spill.write_all_at(&bytes, self.len)?;
        self.len += bytes.len() as u64;
        self.runs = runs;
        self.last = last;
        Ok(())
    }
}

/// Finds records of the loaded file, reading on from the last one found.
pub(crate) struct Lookup<'a> {
    loaded: Option<&'a Loaded>,
    reader: Option<RecordReader<'a>>,
    /// The path of the record the reader read last, if any.
    passed: Option<Vec<u8>>,
}

impl Lookup<'_> {
    /// The recorded content digest and xattrs of the file at `path` if `stamp` is what
    /// was recorded.
    pub(crate) fn get(&mut self, path: &[u8], stamp: &Stamp) -> Option<([u8; 32], Xattrs)> {
        let loaded = self.loaded?;
        // The last indexed record at or before `path`: reading from there (or from a
        // record after it) finds `path` within `INDEX_EVERY` records.
        let at = loaded
            .index
            .partition_point(|(_, indexed)| layer_order(indexed, path).is_le())
            .checked_sub(1)?;
        let (start, indexed) = &loaded.index[at];
        let head = self.reader.as_ref().and_then(|reader| reader.head.as_ref());
        let passed = self.passed.as_deref();
        match head {
            // Between the record read last and the next one: not recorded.
            Some(head)
                if layer_order(path, &head.path).is_lt()
                    && passed.is_some_and(|passed| layer_order(passed, path).is_lt()) =>
            {
                return None;
            }
            Some(head)
                if layer_order(indexed, &head.path).is_le()
                    && layer_order(&head.path, path).is_le() => {}
            _ => {
                self.reader = Some(RecordReader::new(&loaded.file, *start, loaded.end).ok()?);
                self.passed = None;
            }
        }
        let reader = self.reader.as_mut()?;
        loop {
            let order = layer_order(&reader.head.as_ref()?.path, path);
            if order.is_gt() {
                return None;
            }
            let record = reader.advance().ok()??;
            self.passed = Some(record.path);
            if order.is_eq() {
                return (record.stamp == *stamp).then_some((record.digest, record.xattrs));
            }
        }
    }
}

/// Reads records one at a time from `file` at `start..end`.
struct RecordReader<'a> {
    reader: BufReader<At<'a>>,
    left: u64,
    /// The next record.
    head: Option<Record>,
}

impl<'a> RecordReader<'a> {
    fn new(file: &'a File, start: u64, end: u64) -> io::Result<Self> {
        let mut reader = RecordReader {
            reader: BufReader::with_capacity(READ_BUFFER, At { file, pos: start }),
            left: end.saturating_sub(start),
            head: None,
        };
        reader.advance()?;
        Ok(reader)
    }

    /// Takes the next record and reads the one after.
    fn advance(&mut self) -> io::Result<Option<Record>> {
        let next = if self.left == 0 {
            None
        } else {
            let (record, len) = decode(&mut self.reader)?;
            self.left = self.left.checked_sub(len).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a record past its end")
            })?;
            Some(record)
        };
        Ok(std::mem::replace(&mut self.head, next))
    }
}

/// Reads `file` from `pos` on, with positioned reads (the file's offset, shared with its
/// other users, is left alone).
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn encode(out: &mut Vec<u8>, record: &Record) {
    let Record {
        path,
        stamp,
        digest,
        xattrs,
    } = record;
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

/// Reads one record and how many bytes it took.
fn decode(reader: &mut impl Read) -> io::Result<(Record, u64)> {
    let path = read_chunk(reader)?;
    let mut fixed = [0; FIXED];
    reader.read_exact(&mut fixed)?;
    let stamp = Stamp {
        size: u64_at(&fixed, 0),
        mtime_ns: u64_at(&fixed, 8) as i64,
        ctime_ns: u64_at(&fixed, 16) as i64,
        ino: u64_at(&fixed, 24),
        mode: u32_at(&fixed, 32),
    };
    let digest = fixed[36..68].try_into().expect("32 bytes");
    let mut len = (4 + path.len() + FIXED) as u64;
    let mut xattrs = Xattrs::new();
    for _ in 0..u32_at(&fixed, 68) {
        let name = read_chunk(reader)?;
        let value = read_chunk(reader)?;
        len += (8 + name.len() + value.len()) as u64;
        let name = String::from_utf8(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "an xattr name"))?;
        xattrs.insert(name, value);
    }
    let record = Record {
        path,
        stamp,
        digest,
        xattrs,
    };
    Ok((record, len))
}

/// Writes `bytes` with their length in front.
fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a path or xattr is shorter than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads bytes with their length in front (at most what the reader has: a damaged length
/// fails instead of allocating).
fn read_chunk(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0; 4];
    reader.read_exact(&mut len)?;
    let len = u64::from(u32::from_le_bytes(len));
    let mut bytes = Vec::new();
    reader.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
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

/// Reads `file` through once: `None` unless it is whole, of this version, and its records
/// in order and within bounds.
fn load(path: &Path) -> io::Result<Option<Loaded>> {
    let file = File::open(path)?;
    let Some(end) = file.metadata()?.len().checked_sub(32) else {
        return Ok(None);
    };
    let mut hashing = Hashing {
        inner: BufReader::with_capacity(
            READ_BUFFER * 4,
            At {
                file: &file,
                pos: 0,
            },
        )
        .take(end),
        hasher: Sha256::new(),
    };
    let mut header = [0; HEADER as usize];
    hashing.read_exact(&mut header)?;
    if &header[..20] != MAGIC || u32_at(&header, 20) != VERSION {
        return Ok(None);
    }
    let count = u32_at(&header, 24);
    let mut index = Vec::new();
    let mut at = HEADER;
    let mut previous: Vec<u8> = Vec::new();
    for n in 0..count {
        let Ok((record, len)) = decode(&mut hashing) else {
            return Ok(None);
        };
        if n > 0 && layer_order(&previous, &record.path).is_ge() {
            return Ok(None);
        }
        if n % INDEX_EVERY == 0 {
            index.push((at, record.path.clone()));
        }
        previous = record.path;
        at += len;
    }
    if at != end {
        return Ok(None);
    }
    let mut checksum = [0; 32];
    file.read_exact_at(&mut checksum, end)?;
    if hashing.hasher.finalize().as_slice() != checksum {
        return Ok(None);
    }
    Ok(Some(Loaded {
        file,
        count,
        end,
        index,
    }))
}

/// A reader that hashes what it reads.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

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
        hashes.add(&[record(b"b", 2, 2), record(b"a", 1, 1)]);
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 2);
        assert_eq!(
            hashes.lookup().get(b"a", &stamp(1)),
            got(&record(b"a", 1, 1))
        );
        assert_eq!(hashes.lookup().get(b"a", &stamp(9)), None);
        assert_eq!(hashes.lookup().get(b"c", &stamp(1)), None);
        hashes.add(&[record(b"c", 3, 3), record(b"a", 4, 4)]);
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 3);
        assert_eq!(
            hashes.lookup().get(b"a", &stamp(4)),
            got(&record(b"a", 4, 4))
        );
        assert_eq!(
            hashes.lookup().get(b"b", &stamp(2)),
            got(&record(b"b", 2, 2))
        );
        assert_eq!(
            hashes.lookup().get(b"c", &stamp(3)),
            got(&record(b"c", 3, 3))
        );
        Ok(())
    }

    #[test]
    fn damaged_files_load_empty() -> Result<(), ContextError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hashes");
        let hashes = FileHashes::load(&file);
        hashes.add(&[record(b"a", 1, 1)]);
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

    #[test]
    fn finds_records_in_any_order_across_runs() -> Result<(), ContextError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hashes");
        let path = |n: u64| format!("d{:02}/f{n:04}", n % 7).into_bytes();
        let mut sorted: Vec<u64> = (0..1500).collect();
        sorted.sort_by(|a, b| layer_order(&path(*a), &path(*b)));
        // The last 20 are added again out of order (each a run of its own), and win.
        let again: Vec<u64> = sorted.iter().rev().take(20).copied().collect();
        let size = |n: u64| if again.contains(&n) { 10_000 + n } else { n };
        let record_of = |n: u64| record(&path(n), size(n), (n % 251) as u8);
        let hashes = FileHashes::load(&file);
        let (first, rest) = sorted.split_at(900);
        for run in [first, rest] {
            let records: Vec<Record> = run.iter().map(|&n| record(&path(n), n, 1)).collect();
            hashes.add(&records);
        }
        for &n in &again {
            hashes.add(&[record_of(n)]);
        }
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 1500);
        let reversed: Vec<u64> = sorted.iter().rev().copied().collect();
        let strided: Vec<u64> = (0..1500).step_by(7).collect();
        for order in [&sorted, &reversed, &strided] {
            let mut lookup = hashes.lookup();
            for &n in order {
                let want = if again.contains(&n) {
                    got(&record_of(n))
                } else {
                    got(&record(&path(n), n, 1))
                };
                assert_eq!(lookup.get(&path(n), &stamp(size(n))), want, "{n}");
                assert_eq!(lookup.get(b"d99/none", &stamp(0)), None);
            }
            assert_eq!(lookup.get(b"a", &stamp(0)), None);
        }
        Ok(())
    }

    #[test]
    fn records_added_out_of_order_make_one_run() -> Result<(), ContextError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hashes");
        let hashes = FileHashes::load(&file);
        hashes.add(&[
            record(b"a/x", 1, 1),
            record(b"b/y", 2, 2),
            record(b"a/z", 3, 3),
        ]);
        hashes.add(&[record(b"c", 4, 4)]);
        let runs = hashes.added.lock().expect("not poisoned").runs.len();
        assert_eq!(runs, 1);
        hashes.save()?;
        let hashes = FileHashes::load(&file);
        assert_eq!(hashes.len(), 4);
        assert_eq!(
            hashes.lookup().get(b"a/z", &stamp(3)),
            got(&record(b"a/z", 3, 3))
        );
        Ok(())
    }
}
