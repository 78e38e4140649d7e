//! Incremental layer assembly: the chunk index of a written layer, and reuse of an
//! earlier layer's compressed chunks.
//!
//! The compressor cuts the tar into chunks and compresses each into an independent gzip
//! member or zstd frame (see `compressor.rs`). For each chunk, [`ChunkIndex`] keeps the
//! BLAKE3 hashes and sizes of its raw bytes and of its compressed form, in blob order.
//! Writing the next version of the same layer with a [`Reuse`] of the earlier blob, a
//! chunk whose raw bytes hash to one in the index is not compressed: its compressed bytes
//! are read from the earlier blob. Compression is deterministic (same bytes, codec, level
//! and library give the same output), so these are the bytes compressing would give, and
//! the new blob is byte for byte the blob a cold build writes. Changing one file of a
//! large `COPY` thus compresses only the chunks around it; reading and hashing every file
//! is still needed for the `diff_id`.
//!
//! Chunks are matched by a 256-bit BLAKE3 hash of their raw bytes, never by a shorter
//! hash: a collision would put wrong content into a layer without any error. BLAKE3
//! rather than SHA-256 because this pass runs over every byte of every layer, cold builds
//! included, and BLAKE3 is several times faster than SHA-256 even with SHA-NI. The
//! [encoder] (codec, level, library versions, chunk hash) is part of the index; an index
//! of another encoder is not used, since its bytes would differ from what this build
//! writes.
//!
//! The `diff_id` is the hash of the new tar's raw bytes, whatever is reused, so reused
//! bytes must decompress to exactly the raw chunk they stand for. The index pairs each
//! raw hash with the hash of the compressed bytes written for it (compressed from those
//! raw bytes, or copied after this same check), and each copied chunk is hashed as it is
//! read and compared with the index: a blob changed on disk since (a failing disk, a hand
//! edit) cannot slip its bytes into a new layer, whose digest would then be computed over
//! them. This costs one BLAKE3 pass over the compressed bytes, which are read anyway, and
//! no second pass over the earlier blob. A chunk that cannot be read or does not check is
//! compressed instead and [counted](super::WrittenLayer::corrupt_chunks), so that the
//! caller can tell the earlier blob (or its index) is corrupt: a reuse that fails is a
//! slower build, never a wrong layer.
//!
//! An index of another [format](FORMAT) is not used: one written before the compressed
//! hashes were recorded does not even deserialize, and one of a later format could mean
//! something else by the same fields.
//!
//! [encoder]: ChunkIndex::encoder

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use super::Compression;
use super::compressor::MAX_CHUNK;

/// The version of the [`ChunkIndex`] format this build writes and reads.
///
/// 2: each chunk records the hash of its compressed bytes (1 had only the raw hash).
const FORMAT: u32 = 2;

/// The chunks of a compressed layer blob, in blob order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIndex {
    /// The version of this format ([`FORMAT`] when written).
    format: u32,
    /// What made the compressed bytes: codec, level and library versions.
    encoder: String,
    chunks: Vec<Chunk>,
}

/// One chunk: the BLAKE3 hashes (hex) and sizes of its raw bytes and of its compressed
/// form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Chunk {
    raw: String,
    raw_size: u64,
    compressed: String,
    size: u64,
}

/// The BLAKE3 hash of a chunk's raw bytes or of its compressed form.
pub(crate) type ChunkHash = [u8; 32];

impl ChunkIndex {
    /// An empty index of chunks compressed as `compression`.
    pub(crate) fn new(compression: Compression) -> ChunkIndex {
        ChunkIndex {
            format: FORMAT,
            encoder: encoder(compression),
            chunks: Vec::new(),
        }
    }

    /// Adds the next chunk: the hash and size of its raw bytes, and of its compressed
    /// form.
    pub(crate) fn push(&mut self, raw: (&ChunkHash, u64), compressed: (&ChunkHash, u64)) {
        self.chunks.push(Chunk {
            raw: hex::encode(raw.0),
            raw_size: raw.1,
            compressed: hex::encode(compressed.0),
            size: compressed.1,
        });
    }

    /// The number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether the index has no chunk.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The total size of the compressed chunks: the blob's size (`u64::MAX` if the
    /// sizes overflow, which no blob has).
    pub fn blob_size(&self) -> u64 {
        self.chunks
            .iter()
            .try_fold(0_u64, |total, chunk| total.checked_add(chunk.size))
            .unwrap_or(u64::MAX)
    }

    /// The encoder named in the index: codec, level and library versions.
    pub fn encoder(&self) -> &str {
        &self.encoder
    }
}

/// What the compressed bytes of `compression` depend on besides the raw bytes.
fn encoder(compression: Compression) -> String {
    let library = match compression {
        // flate2 does not tell zlib-rs's version; the crate's version stands for the
        // locked one.
        Compression::Gzip { level } => format!("gzip-{level} zlib-rs"),
        Compression::Zstd { level } => {
            format!("zstd-{level} libzstd-{}", zstd::zstd_safe::version_number())
        }
        Compression::Uncompressed => "none".to_owned(),
    };
    format!(
        "{library} mkimage-{} chunks-blake3",
        env!("CARGO_PKG_VERSION")
    )
}

/// An earlier blob of a layer with its [`ChunkIndex`], whose compressed chunks a new
/// version of the layer copies instead of compressing again. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reuse {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    digest: Digest,
    blob: File,
    encoder: String,
    /// Raw hash → where its compressed form is.
    chunks: HashMap<ChunkHash, Stored>,
}

/// Where a chunk's compressed form is in the earlier blob, and what it must hash to.
#[derive(Debug, Clone, Copy)]
struct Stored {
    offset: u64,
    size: u64,
    raw_size: u64,
    compressed: ChunkHash,
}

/// What an earlier blob gives for a raw chunk.
pub(crate) enum Lookup {
    /// Its compressed form, as the index recorded it, with that form's hash.
    Copied(Vec<u8>, ChunkHash),
    /// The index has no chunk with these raw bytes.
    Absent,
    /// The index has the chunk, but the blob's bytes there cannot be read or are not those
    /// it recorded: the blob or the index is corrupt.
    Corrupt,
}

impl Reuse {
    /// A reuse of the blob `digest`, open as `blob`, of `blob_size` bytes, compressed in
    /// the chunks of `index`; `None` when the index is of another format or does not
    /// describe a blob of that size.
    pub fn new(digest: Digest, blob: File, blob_size: u64, index: &ChunkIndex) -> Option<Reuse> {
        // No chunk this writer makes is larger; a larger one is not read into memory.
        let largest = 2 * MAX_CHUNK as u64;
        if index.format != FORMAT
            || index.blob_size() != blob_size
            || index
                .chunks
                .iter()
                .any(|chunk| chunk.size > largest || chunk.raw_size > MAX_CHUNK as u64)
        {
            return None;
        }
        let mut chunks = HashMap::with_capacity(index.chunks.len());
        let mut offset = 0;
        for chunk in &index.chunks {
            let (mut raw, mut compressed) = ([0; 32], [0; 32]);
            hex::decode_to_slice(&chunk.raw, &mut raw).ok()?;
            hex::decode_to_slice(&chunk.compressed, &mut compressed).ok()?;
            chunks.entry(raw).or_insert(Stored {
                offset,
                size: chunk.size,
                raw_size: chunk.raw_size,
                compressed,
            });
            offset += chunk.size;
        }
        Some(Reuse {
            inner: Arc::new(Inner {
                digest,
                blob,
                encoder: index.encoder.clone(),
                chunks,
            }),
        })
    }

    /// The digest of the earlier blob.
    pub fn digest(&self) -> &Digest {
        &self.inner.digest
    }

    /// Whether the chunks were compressed as `compression` compresses now.
    pub(crate) fn fits(&self, compression: Compression) -> bool {
        self.inner.encoder == encoder(compression)
    }

    /// The compressed form of the raw chunk of `raw_size` bytes whose [`chunk_hash`] is
    /// `hash`, read from the earlier blob and checked against the index.
    pub(crate) fn lookup(&self, hash: &ChunkHash, raw_size: usize) -> Lookup {
        let Some(stored) = self.inner.chunks.get(hash) else {
            return Lookup::Absent;
        };
        // Equal raw hashes with unequal sizes: the index is wrong.
        if stored.raw_size != raw_size as u64 {
            return Lookup::Corrupt;
        }
        let size = usize::try_from(stored.size).expect("`Reuse::new` bounds chunks to 2 MiB");
        let mut out = vec![0; size];
        match self.inner.blob.read_exact_at(&mut out, stored.offset) {
            Ok(()) if chunk_hash(&out) == stored.compressed => {
                Lookup::Copied(out, stored.compressed)
            }
            _ => Lookup::Corrupt,
        }
    }
}

/// The BLAKE3 hash of a chunk's raw bytes or of its compressed form.
pub(crate) fn chunk_hash(bytes: &[u8]) -> ChunkHash {
    blake3::hash(bytes).into()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::digest::sha256;

    /// A blob of `chunks` (already compressed, here any bytes) in a temp file, with its
    /// index.
    fn blob_of(chunks: &[(&[u8], &[u8])]) -> std::io::Result<(Digest, File, ChunkIndex)> {
        let mut file = tempfile::tempfile()?;
        let mut index = ChunkIndex::new(Compression::Gzip { level: 6 });
        let mut bytes = Vec::new();
        for (raw, compressed) in chunks {
            file.write_all(compressed)?;
            bytes.extend_from_slice(compressed);
            index.push(
                (&chunk_hash(raw), raw.len() as u64),
                (&chunk_hash(compressed), compressed.len() as u64),
            );
        }
        Ok((sha256(&bytes), file, index))
    }

    #[test]
    fn an_index_that_does_not_fit_the_blob_is_not_used() -> std::io::Result<()> {
        let (digest, blob, index) = blob_of(&[(b"raw", &[7; 20])])?;
        let reuse = |size, index: &ChunkIndex| {
            Reuse::new(digest.clone(), blob.try_clone().expect("dup"), size, index)
        };
        assert!(reuse(20, &index).is_some());
        assert!(reuse(21, &index).is_none());
        // Sizes no chunk has, or that overflow when summed.
        let mut huge = ChunkIndex::new(Compression::Gzip { level: 6 });
        huge.push((&[1; 32], 10), (&[3; 32], u64::MAX / 2 + 1));
        huge.push((&[2; 32], 10), (&[4; 32], u64::MAX / 2 + 1));
        assert_eq!(huge.blob_size(), u64::MAX);
        let mut large = ChunkIndex::new(Compression::Gzip { level: 6 });
        large.push((&[1; 32], 10), (&[3; 32], 1 << 40));
        assert!(reuse(1 << 40, &large).is_none());
        Ok(())
    }

    // See: issue 13
    #[test]
    fn a_chunk_is_copied_only_with_the_bytes_the_index_recorded() -> std::io::Result<()> {
        let (first, second) = (b"first raw chunk".as_slice(), b"second".as_slice());
        let (digest, blob, index) = blob_of(&[(first, b"compressed 1"), (second, b"c2")])?;
        let reuse = Reuse::new(digest, blob.try_clone()?, 14, &index).expect("it fits");
        let copied = |raw: &[u8]| match reuse.lookup(&chunk_hash(raw), raw.len()) {
            Lookup::Copied(out, hash) => {
                assert_eq!(hash, chunk_hash(&out));
                Some(out)
            }
            Lookup::Absent => None,
            Lookup::Corrupt => Some(b"corrupt".to_vec()),
        };
        assert_eq!(copied(first).as_deref(), Some(b"compressed 1".as_slice()));
        assert_eq!(copied(second).as_deref(), Some(b"c2".as_slice()));
        assert_eq!(copied(b"another"), None);
        assert!(matches!(
            reuse.lookup(&chunk_hash(first), 3),
            Lookup::Corrupt
        ));

        // A byte of the first chunk changes on disk, the length stays.
        blob.write_all_at(b"C", 0)?;
        assert_eq!(copied(first).as_deref(), Some(b"corrupt".as_slice()));
        assert_eq!(copied(second).as_deref(), Some(b"c2".as_slice()));
        // Cut short: the second chunk cannot be read whole.
        blob.set_len(13)?;
        assert_eq!(copied(second).as_deref(), Some(b"corrupt".as_slice()));
        Ok(())
    }

    // See: issue 13
    #[test]
    fn an_index_of_another_format_is_not_used() -> std::io::Result<()> {
        let (digest, blob, index) = blob_of(&[(b"raw", &[7; 20])])?;
        let json = serde_json::to_value(&index)?;
        assert_eq!(json["format"], 2);
        // What format 1 wrote: no format and no compressed hash.
        let old = serde_json::json!({
            "encoder": json["encoder"],
            "chunks": [{ "raw": json["chunks"][0]["raw"], "raw_size": 3, "size": 20 }],
        });
        assert!(serde_json::from_value::<ChunkIndex>(old).is_err());
        // The fields of this format under another version.
        let mut other = json;
        other["format"] = 3.into();
        let other: ChunkIndex = serde_json::from_value(other)?;
        assert!(Reuse::new(digest, blob, 20, &other).is_none());
        Ok(())
    }
}
