//! Incremental layer assembly: the chunk index of a written layer, and reuse of an
//! earlier layer's compressed chunks.
//!
//! The compressor cuts the tar into chunks and compresses each into an independent gzip
//! member or zstd frame (see `compressor.rs`). For each chunk, [`ChunkIndex`] keeps the
//! BLAKE3 hash and size of its raw bytes and the size of its compressed form, in blob order.
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
//! writes. Reused bytes are checked against the raw chunk where the format makes that
//! cheap (gzip's header and size, zstd's frame content size), and a chunk that cannot be
//! read or does not check is compressed instead: a reuse that fails is a slower build,
//! never an error.
//!
//! [encoder]: ChunkIndex::encoder

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Compression;
use super::compressor::MAX_CHUNK;

/// The chunks of a compressed layer blob, in blob order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIndex {
    /// What made the compressed bytes: codec, level and library versions.
    encoder: String,
    chunks: Vec<Chunk>,
}

/// One chunk: its raw bytes' BLAKE3 hash (hex) and size, and its compressed size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Chunk {
    raw: String,
    raw_size: u64,
    size: u64,
}

/// The BLAKE3 hash of a chunk's raw bytes.
pub(crate) type ChunkHash = [u8; 32];

impl ChunkIndex {
    /// An empty index of chunks compressed as `compression`.
    pub(crate) fn new(compression: Compression) -> ChunkIndex {
        ChunkIndex {
            encoder: encoder(compression),
            chunks: Vec::new(),
        }
    }

    /// Adds the next chunk.
    pub(crate) fn push(&mut self, raw: &ChunkHash, raw_size: u64, size: u64) {
        self.chunks.push(Chunk {
            raw: hex::encode(raw),
            raw_size,
            size,
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
    blob: File,
    encoder: String,
    /// Raw hash → (offset in the blob, compressed size, raw size).
    chunks: HashMap<ChunkHash, (u64, u64, u64)>,
}

impl Reuse {
    /// A reuse of the blob `blob` of `blob_size` bytes, compressed in the chunks of
    /// `index`; `None` when the index does not describe a blob of that size.
    pub fn new(blob: File, blob_size: u64, index: &ChunkIndex) -> Option<Reuse> {
        // No chunk this writer makes is larger; a larger one is not read into memory.
        let largest = 2 * MAX_CHUNK as u64;
        if index.blob_size() != blob_size
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
            let mut raw = [0; 32];
            hex::decode_to_slice(&chunk.raw, &mut raw).ok()?;
            chunks
                .entry(raw)
                .or_insert((offset, chunk.size, chunk.raw_size));
            offset += chunk.size;
        }
        Some(Reuse {
            inner: Arc::new(Inner {
                blob,
                encoder: index.encoder.clone(),
                chunks,
            }),
        })
    }

    /// Whether the chunks were compressed as `compression` compresses now.
    pub(crate) fn fits(&self, compression: Compression) -> bool {
        self.inner.encoder == encoder(compression)
    }

    /// The compressed form of `raw`, whose [`chunk_hash`] is `hash`, from the earlier blob;
    /// `None` when it has no such chunk or it cannot be read or does not check.
    pub(crate) fn compressed(&self, hash: &ChunkHash, raw: &[u8]) -> Option<Vec<u8>> {
        let &(offset, size, raw_size) = self.inner.chunks.get(hash)?;
        if raw_size != raw.len() as u64 {
            return None;
        }
        let mut out = vec![0; usize::try_from(size).ok()?];
        self.inner.blob.read_exact_at(&mut out, offset).ok()?;
        checks(&out, raw).then_some(out)
    }
}

/// Whether `compressed`, a gzip member or zstd frames, holds `raw` as far as its
/// framing tells cheaply.
fn checks(compressed: &[u8], raw: &[u8]) -> bool {
    const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528_u32.to_le_bytes();
    if compressed.starts_with(&[0x1f, 0x8b, 8]) && compressed.len() >= 18 {
        // ISIZE; the CRC-32 would cost a pass over the raw bytes for little more.
        compressed[compressed.len() - 4..] == (raw.len() as u32).to_le_bytes()
    } else if compressed.starts_with(&ZSTD_MAGIC) {
        zstd_content_size(compressed) == Some(raw.len() as u64)
    } else {
        false
    }
}

/// The content size of the zstd frames that make up all of `frames`, as their headers
/// tell it; `None` when they do not tell it or do not end where `frames` does.
fn zstd_content_size(mut frames: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    while !frames.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(frames).ok()?;
        let content = zstd::zstd_safe::get_frame_content_size(frames.get(..size)?).ok()??;
        total = total.checked_add(content)?;
        frames = &frames[size..];
    }
    Some(total)
}

/// The BLAKE3 hash of a chunk's raw bytes.
pub(crate) fn chunk_hash(raw: &[u8]) -> ChunkHash {
    blake3::hash(raw).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_that_does_not_fit_the_blob_is_not_used() -> std::io::Result<()> {
        let blob = tempfile::tempfile()?;
        let mut index = ChunkIndex::new(Compression::Gzip { level: 6 });
        index.push(&[1; 32], 10, 20);
        assert!(Reuse::new(blob.try_clone()?, 20, &index).is_some());
        assert!(Reuse::new(blob.try_clone()?, 21, &index).is_none());
        // Sizes no chunk has, or that overflow when summed.
        let mut huge = ChunkIndex::new(Compression::Gzip { level: 6 });
        huge.push(&[1; 32], 10, u64::MAX / 2 + 1);
        huge.push(&[2; 32], 10, u64::MAX / 2 + 1);
        assert_eq!(huge.blob_size(), u64::MAX);
        let mut large = ChunkIndex::new(Compression::Gzip { level: 6 });
        large.push(&[1; 32], 10, 1 << 40);
        assert!(Reuse::new(blob, 1 << 40, &large).is_none());
        Ok(())
    }

    #[test]
    fn zstd_chunks_of_several_frames_are_checked_whole() {
        use crate::layer::noise::tests::{noise, text};

        let mut raw = noise(7, 64 * 1024);
        raw.extend(text(2000));
        let frames = crate::layer::zstd_frames::zstd_frames(&raw, 3).unwrap();
        assert!(zstd::zstd_safe::find_frame_compressed_size(&frames).unwrap() < frames.len());
        assert!(checks(&frames, &raw));
        assert!(!checks(&frames, &raw[1..]), "another size");
        assert!(!checks(&frames[..frames.len() - 1], &raw), "cut short");
    }
}
