//! The deterministic layer writer: entries → tar → compressor → sink, with the `diff_id`
//! and the `digest` computed as the bytes flow past.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use oci_spec::image::{Digest, MediaType};

use super::compressor::Compressor;
use super::entry::WHITEOUT_PREFIX;
use super::header::{self, BLOCK, Fields, typeflag};
use super::host::read_file_xattrs;
use super::{ChunkIndex, Compression, Content, Entry, EntryKind, LayerError, LayerPath, Reuse};

/// The size of the buffer file content is streamed through.
const COPY_BUFFER: usize = 64 * 1024;

/// How a layer is written.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// The blob's compression.
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: mtimes later than this are clamped to it.
    pub source_date_epoch: Option<i64>,
    /// Compression threads; `None` uses every available core. The blob is the same for
    /// every thread count.
    pub threads: Option<usize>,
    /// An earlier version of the layer whose compressed chunks are copied where the new
    /// tar has the same chunk, instead of compressed again. The blob is the same with or
    /// without.
    pub reuse: Option<Reuse>,
    /// Whether to hash each host file's content as it is copied, for
    /// [`LayerWriter::take_copied`].
    pub hash_contents: bool,
}

/// A host file's content as copied into a layer (see [`LayerOptions::hash_contents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedContent {
    /// The BLAKE3 hash of the bytes copied.
    pub hash: [u8; 32],
    /// The file's size when it was opened.
    pub size: u64,
    /// Its mtime when it was opened, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Its ctime when it was opened, in nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Its inode number.
    pub ino: u64,
    /// The xattrs the entry gave it in the layer.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// What a written layer is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// The SHA-256 of the uncompressed tar.
    pub diff_id: Digest,
    /// The SHA-256 of the blob (the compressed tar).
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The size of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// The blob's media type.
    pub media_type: MediaType,
    /// The compressed chunks, for a later version of the layer to [reuse](Reuse);
    /// `None` when uncompressed.
    pub chunks: Option<ChunkIndex>,
    /// The bytes of the tar whose compressed form was copied from the earlier blob
    /// ([`LayerOptions::reuse`]) rather than compressed.
    pub reused: u64,
    /// The chunks of the earlier blob ([`LayerOptions::reuse`]) that could not be read or
    /// were not the bytes its index recorded: they were compressed instead, and the blob
    /// or its index is corrupt.
    pub corrupt_chunks: u64,
}

/// Writes a layer blob to a sink, one entry at a time, in one pass.
///
/// Entries must come in [`Entry::tar_path`] order, each path once; [`write_layer`]
/// sorts them first. The same entries with the same options always give the same bytes:
/// USTAR headers with fixed fields, no user or group names, no access or change times,
/// PAX records only for values USTAR cannot hold.
pub struct LayerWriter<W: Write> {
    tar: Compressor<W>,
    media_type: MediaType,
    source_date_epoch: Option<i64>,
    last: Option<LayerPath>,
    /// Hard link targets that sort after their link; they must not appear later.
    forward_links: HashSet<LayerPath>,
    /// Whether to hash host files as they are copied.
    hash_contents: bool,
    /// The host file the last entry copied, when asked for.
    copied: Option<CopiedContent>,
    header: Vec<u8>,
    buffer: Box<[u8]>,
}

impl<W: Write + Send + 'static> LayerWriter<W> {
    /// A writer of a layer to `sink`.
    pub fn new(sink: W, options: &LayerOptions) -> Self {
        let threads = options.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        Self {
            tar: Compressor::new(sink, options.compression, threads, options.reuse.clone()),
            media_type: options.compression.media_type(),
            source_date_epoch: options.source_date_epoch,
            last: None,
            forward_links: HashSet::new(),
            hash_contents: options.hash_contents,
            copied: None,
            header: Vec::with_capacity(3 * BLOCK),
            buffer: vec![0; COPY_BUFFER].into_boxed_slice(),
        }
    }

    /// Appends one entry.
    ///
    /// # Errors
    ///
    /// [`LayerError::Unsorted`] for an entry out of order or repeated,
    /// [`LayerError::ReservedName`] for a name starting with `.wh.`,
    /// [`LayerError::HardLinkBeforeTarget`] for a path that an earlier hard link pointed
    /// forward to, [`LayerError::ReadContent`] or [`LayerError::ContentChanged`] when a
    /// host file cannot be read whole, [`LayerError::WriteBlob`] when the sink fails.
    pub fn append(&mut self, entry: &Entry) -> Result<(), LayerError> {
        let tar_path = entry.tar_path();
        if let Some(last) = &self.last
            && tar_path <= *last
        {
            return Err(LayerError::Unsorted {
                path: tar_path.to_string(),
                previous: last.to_string(),
            });
        }
        let marker = matches!(entry.kind, EntryKind::Whiteout | EntryKind::Opaque);
        if !marker && entry.path.file_name().starts_with(WHITEOUT_PREFIX) {
            return Err(LayerError::ReservedName {
                path: entry.path.to_string(),
            });
        }
        if self.forward_links.remove(&tar_path) {
            return Err(LayerError::HardLinkBeforeTarget {
                path: tar_path.to_string(),
            });
        }
        if let EntryKind::HardLink(target) = &entry.kind {
            if *target == entry.path {
                return Err(LayerError::HardLinkBeforeTarget {
                    path: target.to_string(),
                });
            }
            if *target > entry.path {
                self.forward_links.insert(target.clone());
            }
        }

        let mut name = tar_path.as_bytes().to_vec();
        let mut file = None;
        let mut read_xattrs = None;
        let (typeflag, size, link, dev): (u8, u64, &[u8], (u32, u32)) = match &entry.kind {
            EntryKind::File(Content::Bytes(bytes)) => {
                (typeflag::FILE, bytes.len() as u64, b"", (0, 0))
            }
            EntryKind::File(content) => {
                let (opened, metadata, xattrs) = open_content(content)?;
                read_xattrs = xattrs;
                let size = metadata.len();
                file = Some((opened, content, metadata));
                (typeflag::FILE, size, b"", (0, 0))
            }
            EntryKind::Dir => {
                name.push(b'/');
                (typeflag::DIR, 0, b"", (0, 0))
            }
            EntryKind::Symlink(target) => {
                (typeflag::SYMLINK, 0, target.as_os_str().as_bytes(), (0, 0))
            }
            EntryKind::HardLink(target) => (typeflag::HARD_LINK, 0, target.as_bytes(), (0, 0)),
            EntryKind::CharDevice { major, minor } => (typeflag::CHAR, 0, b"", (*major, *minor)),
            EntryKind::BlockDevice { major, minor } => (typeflag::BLOCK, 0, b"", (*major, *minor)),
            EntryKind::Fifo => (typeflag::FIFO, 0, b"", (0, 0)),
            EntryKind::Whiteout | EntryKind::Opaque => (typeflag::FILE, 0, b"", (0, 0)),
        };
        let mtime = match self.source_date_epoch {
            Some(epoch) => entry.mtime.min(epoch),
            None => entry.mtime,
        };

        self.header.clear();
        header::encode(
            &Fields {
                name: &name,
                typeflag,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                size,
                mtime,
                link,
                dev,
                xattrs: read_xattrs.as_ref().unwrap_or(&entry.xattrs),
            },
            &mut self.header,
        )?;
        let write = |source| LayerError::WriteBlob { source };
        let tar_size = (self.header.len() + header::padding(size)) as u64 + size;
        self.tar
            .entry_boundary(&name, tar_size, size)
            .map_err(write)?;
        self.tar.write_all(&self.header).map_err(write)?;
        match (&entry.kind, file) {
            (EntryKind::File(Content::Bytes(bytes)), _) => {
                self.tar.write_all(bytes).map_err(write)?;
            }
            (_, Some((mut opened, content, metadata))) => {
                let mut hasher = self.hash_contents.then(blake3::Hasher::new);
                self.copy_content(&mut opened, content, size, hasher.as_mut())?;
                if let Some(hasher) = hasher {
                    self.copied = Some(CopiedContent {
                        hash: *hasher.finalize().as_bytes(),
                        size,
                        mtime_ns: metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
                        ctime_ns: metadata.ctime() * 1_000_000_000 + metadata.ctime_nsec(),
                        ino: metadata.ino(),
                        xattrs: read_xattrs.unwrap_or_else(|| entry.xattrs.clone()),
                    });
                }
            }
            _ => {}
        }
        let pad = header::padding(size);
        self.tar.write_all(&[0; BLOCK][..pad]).map_err(write)?;
        self.last = Some(tar_path);
        Ok(())
    }

    /// Copies exactly `size` bytes of `file`, opened from `content`, into the tar,
    /// through `hasher` if given. When compressing, the bytes are read straight into the
    /// chunk being filled.
    fn copy_content(
        &mut self,
        file: &mut File,
        content: &Content,
        size: u64,
        mut hasher: Option<&mut blake3::Hasher>,
    ) -> Result<(), LayerError> {
        let read_err = |source| LayerError::ReadContent {
            path: shown(content),
            source,
        };
        let write_err = |source| LayerError::WriteBlob { source };
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX);
            let n = match self.tar.chunk_room().map_err(write_err)? {
                Some((chunk, room)) => {
                    let start = chunk.len();
                    // `take` ends the read at the size wanted without another call.
                    let read = (&mut *file).take(room.min(want) as u64).read_to_end(chunk);
                    let n = chunk.len() - start;
                    if let Some(hasher) = &mut hasher {
                        hasher.update(&chunk[start..]);
                    }
                    read.map_err(read_err)?;
                    self.tar.chunk_filled().map_err(write_err)?;
                    n
                }
                None => {
                    let want = self.buffer.len().min(want);
                    let n = match file.read(&mut self.buffer[..want]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        read => read.map_err(read_err)?,
                    };
                    if let Some(hasher) = &mut hasher {
                        hasher.update(&self.buffer[..n]);
                    }
                    self.tar.write_all(&self.buffer[..n]).map_err(write_err)?;
                    n
                }
            };
            if n == 0 {
                return Err(LayerError::ContentChanged {
                    path: shown(content),
                });
            }
            left -= n as u64;
        }
        Ok(())
    }

    /// The host file copied since the last call, when [`LayerOptions::hash_contents`] is
    /// set: that of the last entry appended, if it read one.
    pub fn take_copied(&mut self) -> Option<CopiedContent> {
        self.copied.take()
    }

    /// Ends the tar and returns the sink with what the layer is known by.
    ///
    /// # Errors
    ///
    /// [`LayerError::WriteBlob`] when the sink fails.
    pub fn finish(mut self) -> Result<(W, WrittenLayer), LayerError> {
        self.tar
            .write_all(&[0; 2 * BLOCK])
            .map_err(|source| LayerError::WriteBlob { source })?;
        let (sink, (diff_id, tar_size), (digest, size), chunks) = self.tar.finish()?;
        let (chunks, reused, corrupt_chunks) = chunks.map_or((None, 0, 0), |chunks| {
            (Some(chunks.index), chunks.reused, chunks.corrupt)
        });
        Ok((
            sink,
            WrittenLayer {
                diff_id,
                digest,
                size,
                tar_size,
                media_type: self.media_type,
                chunks,
                reused,
                corrupt_chunks,
            },
        ))
    }
}

/// The extended attributes of a file, when read with its content.
type ReadXattrs = Option<BTreeMap<String, Vec<u8>>>;

/// Opens the file `content` is read from without following a symlink, with its metadata
/// and, when the content says so, its extended attributes.
fn open_content(content: &Content) -> Result<(File, Metadata, ReadXattrs), LayerError> {
    let read = |source| LayerError::ReadContent {
        path: shown(content),
        source,
    };
    let (file, xattrs) = match content {
        Content::Host(path) => {
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(read)?;
            (file, false)
        }
        Content::Tree(tree_file) => (tree_file.open().map_err(read)?, tree_file.reads_xattrs()),
        Content::Bytes(_) => unreachable!("bytes are not opened"),
    };
    let metadata = file.metadata().map_err(read)?;
    if !metadata.is_file() {
        return Err(LayerError::NotRegularFile {
            path: shown(content),
        });
    }
    let xattrs = if xattrs {
        Some(read_file_xattrs(&file).map_err(read)?)
    } else {
        None
    };
    Ok((file, metadata, xattrs))
}

/// The host path of the file `content` is read from, for messages.
fn shown(content: &Content) -> PathBuf {
    match content {
        Content::Host(path) => path.clone(),
        Content::Tree(file) => file.shown(),
        Content::Bytes(_) => PathBuf::new(),
    }
}

/// Writes `entries` as one layer to `sink`: sorts them, makes the first path of each hard
/// link group (in layer order) hold the content and the others link to it, then writes.
///
/// # Errors
///
/// [`LayerError::DuplicatePath`] when two entries have the same tar path, and the errors
/// of [`LayerWriter::append`] and [`LayerWriter::finish`].
pub fn write_layer<W: Write + Send + 'static>(
    sink: W,
    mut entries: Vec<Entry>,
    options: &LayerOptions,
) -> Result<(W, WrittenLayer), LayerError> {
    let mut keyed: Vec<(LayerPath, Entry)> = entries
        .drain(..)
        .map(|entry| (entry.tar_path(), entry))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = keyed.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(LayerError::DuplicatePath {
            path: pair[0].0.to_string(),
        });
    }
    let mut entries: Vec<Entry> = keyed.into_iter().map(|(_, entry)| entry).collect();
    order_hard_links(&mut entries);
    let mut writer = LayerWriter::new(sink, options);
    for entry in &entries {
        writer.append(entry)?;
    }
    writer.finish()
}

/// Within each group of hard links to a file of this layer, moves the content to the
/// group's first path in layer order and points the others at it, so that a link never
/// comes before its target. `entries` are sorted.
fn order_hard_links(entries: &mut [Entry]) {
    let index: HashMap<LayerPath, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| (entry.path.clone(), i))
        .collect();
    // The file of this layer each link leads to, following chains of links.
    let root_of = |mut i: usize| {
        for _ in 0..entries.len() {
            match &entries[i].kind {
                EntryKind::HardLink(target) => match index.get(target) {
                    Some(&next) => i = next,
                    None => return None,
                },
                EntryKind::File(_) => return Some(i),
                _ => return None,
            }
        }
        None
    };
    let mut groups: HashMap<usize, usize> = HashMap::new(); // root → first member
    let mut member_root = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if matches!(entry.kind, EntryKind::HardLink(_))
            && let Some(root) = root_of(i)
        {
            member_root.push((i, root));
            let first = groups.entry(root).or_insert(root);
            *first = (*first).min(i);
        }
    }
    for (&root, &first) in &groups {
        if first != root {
            let content = std::mem::replace(
                &mut entries[root].kind,
                EntryKind::HardLink(entries[first].path.clone()),
            );
            entries[first].kind = content;
        }
    }
    for (i, root) in member_root {
        let first = groups[&root];
        if i != first {
            entries[i].kind = EntryKind::HardLink(entries[first].path.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LayerPath {
        LayerPath::new(s).expect("valid test path")
    }

    fn file(path: &str, bytes: &[u8]) -> Entry {
        Entry::new(p(path), EntryKind::File(Content::Bytes(bytes.to_vec())))
    }

    fn plain() -> LayerOptions {
        LayerOptions {
            compression: Compression::Uncompressed,
            ..LayerOptions::default()
        }
    }

    #[test]
    fn refuses_unsorted_entries() -> Result<(), LayerError> {
        let mut writer = LayerWriter::new(Vec::new(), &plain());
        writer.append(&file("b", b"1"))?;
        let err = writer.append(&file("a", b"2")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry `a` comes after `b`; entries must be sorted"
        );
        Ok(())
    }

    #[test]
    fn refuses_whiteout_names() {
        let mut writer = LayerWriter::new(Vec::new(), &plain());
        let err = writer.append(&file("etc/.wh.passwd", b"")).unwrap_err();
        assert!(matches!(err, LayerError::ReservedName { .. }));
    }

    #[test]
    fn hard_link_content_moves_to_first_path() -> Result<(), LayerError> {
        let entries = vec![
            file("b", b"data"),
            Entry::new(p("a"), EntryKind::HardLink(p("b"))),
            Entry::new(p("c"), EntryKind::HardLink(p("b"))),
        ];
        let mut sorted = entries;
        sorted.sort_by(|x, y| x.path.cmp(&y.path));
        order_hard_links(&mut sorted);
        assert_eq!(
            sorted[0].kind,
            EntryKind::File(Content::Bytes(b"data".to_vec()))
        );
        assert_eq!(sorted[1].kind, EntryKind::HardLink(p("a")));
        assert_eq!(sorted[2].kind, EntryKind::HardLink(p("a")));
        Ok(())
    }

    #[test]
    fn clamps_mtime_to_source_date_epoch() -> Result<(), LayerError> {
        let options = LayerOptions {
            source_date_epoch: Some(100),
            ..plain()
        };
        let (tar, _) = write_layer(
            Vec::new(),
            vec![
                file("new", b"").with_mtime(5000),
                file("old", b"").with_mtime(50),
            ],
            &options,
        )?;
        assert_eq!(&tar[136..148], b"00000000144\0");
        assert_eq!(&tar[BLOCK + 136..BLOCK + 148], b"00000000062\0");
        Ok(())
    }

    #[test]
    fn uncompressed_digest_is_diff_id() -> Result<(), LayerError> {
        let (tar, written) = write_layer(Vec::new(), vec![file("a", b"x")], &plain())?;
        assert_eq!(written.digest, written.diff_id);
        assert_eq!(written.diff_id, crate::digest::sha256(&tar));
        assert_eq!(written.size, 4 * BLOCK as u64);
        Ok(())
    }
}
