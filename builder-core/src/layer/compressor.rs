//! Deterministic parallel compression of a tar stream.
//!
//! The tar is cut into chunks and each chunk becomes one independent gzip member or zstd
//! frame; chunks are compressed on a small thread pool and written to the sink in order.
//! Gzip and zstd both define a concatenation of members/frames as the concatenation of
//! their contents, so every decoder (Go's `compress/gzip`, `gzip -d`, `zstd -d`) reads
//! the blob as one stream.
//!
//! Written here rather than taken from `gzp`: `gzp` cuts blocks at fixed offsets and
//! chains each block's dictionary to the previous one (pigz style), so no block can be
//! reused on its own. Cutting at tar entry boundaries into independent members keeps the
//! door open to the incremental assembly of issue 4 (reusing the compressed members of
//! unchanged files from an earlier build), and one mechanism serves gzip and zstd.
//! zstd's own multithreading (`zstdmt`) is deterministic for any number of workers ≥ 1,
//! but yields one frame, which gives up that reuse.
//!
//! Determinism: chunk boundaries depend only on the bytes and the entry boundaries, never
//! on timing or on the number of threads, and each chunk is compressed with fixed
//! parameters, so the blob is byte-identical whatever the thread count.
//!
//! Chunking rule, made so that boundaries after a changed file fall where they fell
//! before (content-defined chunking over tar entries, as rsync's and casync's
//! rolling-hash cuts over bytes):
//!
//! - an entry whose data is at least [`LARGE_ENTRY`] bytes starts a chunk;
//! - before any other entry, the chunk is cut when it holds at least [`MIN_CHUNK`] bytes
//!   and a hash of the entry's tar path falls below a threshold proportional to the
//!   entry's size in the tar, so that cuts come every [`CUT_GAP`] bytes on average
//!   whatever the file sizes;
//! - a chunk never exceeds [`MAX_CHUNK`]: it is cut there even inside an entry, so a
//!   large file is cut at fixed offsets from its own start and yields the same chunks
//!   wherever it lies.
//!
//! A file that changes (or changes size) moves the cuts after it only until the next
//! path that chooses a cut while both versions' chunks hold [`MIN_CHUNK`] bytes, usually
//! the first or second one; from there on, chunks and their compressed forms are those of
//! the earlier build, which [`Reuse`] copies instead of compressing. Each boundary costs
//! a few bytes (a gzip member header and trailer, a zstd frame header) and a compression
//! window that starts empty; chunks average about [`MIN_CHUNK`] + [`CUT_GAP`], so on
//! 20,000 files × 8 KiB (`benches/compare.sh`) layers came out smaller than with the
//! earlier rule (cut at the first entry after 256 KiB): source-like text −1.1% gzip,
//! −1.6% zstd; incompressible bytes −0.01% gzip, −0.04% zstd.
//!
//! Memory: a fixed number of raw chunk buffers ([`MAX_CHUNK`] bytes each, `2 × threads
//! + 4` of them) go round from the tar to the pool, the output and the raw hash and back;
//! when all are in use, the tar waits for one. At most `2 × threads + 2` chunks are in the
//! pool and `threads + 1` wait for the output, each with its compressed form.
//!
//! Threads: the caller's thread writes the tar (reading files); a pool hashes each
//! chunk's raw bytes (BLAKE3, for the [`ChunkIndex`]) and compresses it (zstd chunks
//! through [`zstd_frames`]) or copies it from an earlier blob, and hashes the compressed
//! bytes (BLAKE3 again: recorded in the index, or checked against it); one more thread, the
//! output, writes the compressed chunks to the sink in order and hashes them (the digest),
//! and a last one hashes the raw tar (the `diff_id`) and hands raw buffers back for
//! reuse, so that neither the SHA-256 passes nor the writes to the sink hold up the
//! reading of files or compression. On a 2-core machine each hash pass is as much work as
//! reading the files, and the two are most of a layer whose chunks are reused.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

use oci_spec::image::Digest;
use sha2::Digest as _;

use crate::digest::HashingWriter;

use super::gzip_member::gzip_member;
use super::reuse::{ChunkHash, ChunkIndex, Lookup, Reuse, chunk_hash};
use super::workers::Workers;
use super::zstd_frames::zstd_frames;
use super::{Compression, LayerError};

/// The data size from which an entry starts a chunk of its own.
pub(crate) const LARGE_ENTRY: u64 = 256 * 1024;
/// The size a chunk must reach before a path may cut it.
pub(crate) const MIN_CHUNK: usize = 128 * 1024;
/// The mean distance between the entries whose path would cut a chunk, a power of two.
pub(crate) const CUT_GAP: u64 = 256 * 1024;
/// The largest chunk.
pub(crate) const MAX_CHUNK: usize = 1024 * 1024;

/// Where the tar goes: straight to the sink, or through parallel compression.
pub(crate) enum Compressor<W: Write> {
    /// No compression: the blob is the tar, hashed as it is written.
    Plain(HashingWriter<W>),
    /// Chunked parallel compression.
    Chunked(Box<Chunked<W>>),
}

/// The state of chunked compression.
pub(crate) struct Chunked<W: Write> {
    /// Where compressed chunks go: the sink until the first chunk is done, then the
    /// output thread that writes them to it.
    output: Output<W>,
    codec: ChunkCodec,
    reuse: Option<Reuse>,
    index: ChunkIndex,
    /// Raw bytes whose compressed form was copied from the earlier blob.
    reused: u64,
    /// Chunks of the earlier blob that did not check, compressed instead.
    corrupt: u64,
    threads: usize,
    pool: Option<Workers>,
    /// The chunk being filled; without capacity right after a submit, until the next
    /// byte needs it.
    buf: Vec<u8>,
    /// How many raw chunk buffers exist, at most [`Chunked::max_buffers`].
    buffers: usize,
    pending: VecDeque<mpsc::Receiver<io::Result<Compressed>>>,
    spare: Vec<Vec<u8>>,
}

/// A raw chunk and its compressed form, in tar order.
type Pair = (Vec<u8>, Vec<u8>);

/// The sink of chunked compression.
enum Output<W> {
    /// Nothing written yet (no thread started for a layer that ends before its first
    /// chunk is done).
    Idle(W),
    /// The output thread.
    Running(OutputThread<W>),
    /// Taken while it changes state.
    Gone,
}

/// A thread that writes compressed chunks to the sink, in order, and hashes them, with
/// one more that hashes their raw bytes.
///
/// Dropped before [`join`](OutputThread::join) (a layer given up), it still waits for the
/// thread, so that the sink (a blob's temp file) is gone when the drop returns.
struct OutputThread<W> {
    /// `None` once the stream has ended.
    tx: Option<mpsc::SyncSender<Pair>>,
    /// Raw buffers handed back once hashed, for the next chunks.
    back: mpsc::Receiver<Vec<u8>>,
    /// `None` once joined.
    thread: Option<JoinHandle<io::Result<Finished<W>>>>,
}

/// A compressed chunk, with the raw buffer handed back for reuse.
struct Compressed {
    raw: Vec<u8>,
    /// The raw bytes' hash.
    hash: ChunkHash,
    out: Vec<u8>,
    /// The compressed bytes' hash.
    out_hash: ChunkHash,
    origin: Origin,
}

/// Where a chunk's compressed form came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Compressed here: the earlier blob has no such chunk, or there is none.
    Compressed,
    /// Copied from the earlier blob.
    Reused,
    /// Compressed here because the earlier blob's bytes of the chunk did not check.
    Corrupt,
}

/// What chunked compression tells besides the blob's digest.
pub(crate) struct Chunks {
    /// The chunks, in blob order.
    pub index: ChunkIndex,
    /// Raw bytes whose compressed form was copied from an earlier blob.
    pub reused: u64,
    /// Chunks of the earlier blob that did not check and were compressed instead.
    pub corrupt: u64,
}

#[derive(Debug, Clone, Copy)]
enum ChunkCodec {
    Gzip(u32),
    Zstd(i32),
}

impl<W: Write + Send + 'static> Compressor<W> {
    /// A compressor writing `compression`'s format to `sink` with `threads` threads,
    /// copying the chunks `reuse` has instead of compressing them.
    pub(crate) fn new(
        sink: W,
        compression: Compression,
        threads: usize,
        reuse: Option<Reuse>,
    ) -> Self {
        let codec = match compression {
            Compression::Uncompressed => return Compressor::Plain(HashingWriter::new(sink)),
            Compression::Gzip { level } => ChunkCodec::Gzip(level.min(9)),
            Compression::Zstd { level } => ChunkCodec::Zstd(level),
        };
        Compressor::Chunked(Box::new(Chunked {
            output: Output::Idle(sink),
            codec,
            reuse: reuse.filter(|reuse| reuse.fits(compression)),
            index: ChunkIndex::new(compression),
            reused: 0,
            corrupt: 0,
            threads: threads.max(1),
            pool: None,
            buf: Vec::with_capacity(MAX_CHUNK),
            buffers: 1,
            pending: VecDeque::new(),
            spare: Vec::new(),
        }))
    }

    /// Tells that a tar entry with tar path `path` starts here, `size` bytes long in the
    /// tar (headers, data and padding), `data` of them its data.
    pub(crate) fn entry_boundary(&mut self, path: &[u8], size: u64, data: u64) -> io::Result<()> {
        match self {
            Compressor::Plain(_) => Ok(()),
            Compressor::Chunked(chunked) => {
                let buffered = chunked.buf.len();
                if buffered > 0
                    && (data >= LARGE_ENTRY || (buffered >= MIN_CHUNK && cuts(path, size)))
                {
                    chunked.submit()?;
                }
                Ok(())
            }
        }
    }

    /// The chunk being filled and how many more bytes it takes, for content to be read
    /// straight into it (then [`chunk_filled`](Compressor::chunk_filled)); `None` when
    /// uncompressed.
    ///
    /// # Errors
    ///
    /// The error that stopped the output thread while waiting for a buffer.
    pub(crate) fn chunk_room(&mut self) -> io::Result<Option<(&mut Vec<u8>, usize)>> {
        match self {
            Compressor::Plain(_) => Ok(None),
            Compressor::Chunked(chunked) => {
                chunked.ready_buffer()?;
                let room = MAX_CHUNK - chunked.buf.len();
                Ok(Some((&mut chunked.buf, room)))
            }
        }
    }

    /// Cuts the chunk if bytes appended through [`chunk_room`](Compressor::chunk_room)
    /// filled it, as [`write`](Write::write) does.
    pub(crate) fn chunk_filled(&mut self) -> io::Result<()> {
        match self {
            Compressor::Chunked(chunked) if chunked.buf.len() >= MAX_CHUNK => chunked.submit(),
            _ => Ok(()),
        }
    }

    /// Writes out what is left and returns the sink, the raw tar's digest and size, the
    /// blob's digest and size, and its chunks (`None` uncompressed).
    pub(crate) fn finish(self) -> Result<Written<W>, LayerError> {
        match self {
            Compressor::Plain(mut sink) => {
                sink.flush()
                    .map_err(|source| LayerError::WriteBlob { source })?;
                let (sink, digest, size) = sink.finish();
                Ok((sink, (digest.clone(), size), (digest, size), None))
            }
            Compressor::Chunked(mut chunked) => {
                let write = |source| LayerError::WriteBlob { source };
                if !chunked.buf.is_empty() {
                    chunked.submit().map_err(write)?;
                }
                while !chunked.pending.is_empty() {
                    chunked.write_oldest().map_err(write)?;
                }
                let chunked = *chunked;
                let (sink, tar, blob) = chunked.output.finish().map_err(write)?;
                let chunks = Chunks {
                    index: chunked.index,
                    reused: chunked.reused,
                    corrupt: chunked.corrupt,
                };
                Ok((sink, tar, blob, Some(chunks)))
            }
        }
    }
}

impl<W: Write + Send + 'static> Chunked<W> {
    /// Hands the current chunk to the pool, first writing out finished chunks and, when
    /// too many are in flight, waiting for the oldest.
    fn submit(&mut self) -> io::Result<()> {
        let raw = std::mem::take(&mut self.buf);
        let codec = self.codec;
        let reuse = self.reuse.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        let job = move || {
            let hash = chunk_hash(&raw);
            let (copied, origin) = match reuse.map(|reuse| reuse.lookup(&hash, raw.len())) {
                Some(Lookup::Copied(out, out_hash)) => (Some((out, out_hash)), Origin::Reused),
                Some(Lookup::Corrupt) => (None, Origin::Corrupt),
                Some(Lookup::Absent) | None => (None, Origin::Compressed),
            };
            let compressed = match copied {
                Some(copied) => Ok(copied),
                None => codec.compress(&raw).map(|out| {
                    let out_hash = chunk_hash(&out);
                    (out, out_hash)
                }),
            };
            let result = compressed.map(|(out, out_hash)| Compressed {
                raw,
                hash,
                out,
                out_hash,
                origin,
            });
            // The receiver is gone only when the writer was dropped mid-layer.
            let _ = tx.send(result);
        };
        self.pool()?.spawn(job);
        self.pending.push_back(rx);
        while self.pending.len() >= 2 * self.threads + 2 {
            self.write_oldest()?;
        }
        // Write out whatever is already done, so the sink keeps pace with the pool.
        while let Some(rx) = self.pending.front() {
            match rx.try_recv() {
                Ok(done) => {
                    self.pending.pop_front();
                    self.write_done(done?)?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return Err(thread_stopped()),
            }
        }
        Ok(())
    }

    /// The most raw chunk buffers: enough to keep the pool, the output and the raw hash
    /// busy. A fixed number, taken back once hashed, so that memory stays the same
    /// whatever the size of the layer.
    fn max_buffers(&self) -> usize {
        2 * self.threads + 4
    }

    /// Gives the chunk being filled a buffer, if it has none: a spare one, a new one, or,
    /// when all exist, the next one handed back (after writing out every chunk done, so
    /// that some are).
    fn ready_buffer(&mut self) -> io::Result<()> {
        if self.buf.capacity() > 0 {
            return Ok(());
        }
        if let Output::Running(output) = &self.output {
            self.spare.extend(output.back.try_iter());
        }
        if self.spare.is_empty() && self.buffers >= self.max_buffers() {
            while !self.pending.is_empty() {
                self.write_oldest()?;
            }
            if let Output::Running(output) = &self.output {
                match output.back.recv() {
                    Ok(buffer) => self.spare.push(buffer),
                    Err(_) => return Err(self.output.stopped()),
                }
            }
        }
        self.buf = match self.spare.pop() {
            Some(buffer) => buffer,
            None => {
                self.buffers += 1;
                Vec::with_capacity(MAX_CHUNK)
            }
        };
        Ok(())
    }

    /// The thread pool, started on first use so that a small layer starts no threads.
    fn pool(&mut self) -> io::Result<&Workers> {
        if self.pool.is_none() {
            self.pool = Some(Workers::start(self.threads, "mkimage-compress")?);
        }
        Ok(self.pool.as_ref().expect("the pool was just set"))
    }

    /// Waits for the oldest chunk in flight and writes it to the sink.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let done = rx.recv().map_err(|_| thread_stopped())??;
        self.write_done(done)
    }

    /// Hands a compressed chunk to the output thread, which hands its raw buffer back.
    fn write_done(&mut self, done: Compressed) -> io::Result<()> {
        let raw_size = done.raw.len() as u64;
        self.index.push(
            (&done.hash, raw_size),
            (&done.out_hash, done.out.len() as u64),
        );
        match done.origin {
            Origin::Compressed => {}
            Origin::Reused => self.reused += raw_size,
            Origin::Corrupt => self.corrupt += 1,
        }
        let (depth, buffers) = (self.threads + 1, self.max_buffers());
        self.output.send((done.raw, done.out), depth, buffers)
    }
}

/// What [`Compressor::finish`] returns: the sink, the raw tar's digest and size, the
/// blob's digest and size, and the chunks.
pub(crate) type Written<W> = (W, (Digest, u64), (Digest, u64), Option<Chunks>);

impl<W: Write + Send + 'static> Output<W> {
    /// Sends a raw chunk and its compressed form to the output thread, starting it
    /// (`depth` chunks deep, handing back up to `buffers` raw buffers) on the first.
    ///
    /// # Errors
    ///
    /// The error that stopped the thread: the sink failed.
    fn send(&mut self, pair: Pair, depth: usize, buffers: usize) -> io::Result<()> {
        let output = match std::mem::replace(self, Output::Gone) {
            Output::Idle(sink) => OutputThread::start(sink, depth, buffers),
            Output::Running(output) => output,
            Output::Gone => return Err(thread_stopped()),
        };
        let sent = output.tx.as_ref().map(|tx| tx.send(pair));
        if let Some(Ok(())) = sent {
            *self = Output::Running(output);
            return Ok(());
        }
        // The thread stopped on an error of the sink: report it.
        Err(output.join().err().unwrap_or_else(thread_stopped))
    }

    /// The error that stopped the output thread (which is gone after this).
    fn stopped(&mut self) -> io::Error {
        match std::mem::replace(self, Output::Gone) {
            Output::Running(output) => output.join().err().unwrap_or_else(thread_stopped),
            _ => thread_stopped(),
        }
    }

    /// Waits for every chunk sent to be written, flushes the sink and returns it with
    /// the digests and sizes of the raw and compressed streams (of nothing, when no chunk
    /// was sent).
    fn finish(self) -> io::Result<Finished<W>> {
        match self {
            Output::Idle(mut sink) => {
                sink.flush()?;
                let (_, digest, size) = HashingWriter::new(io::sink()).finish();
                Ok((sink, (digest.clone(), size), (digest, size)))
            }
            Output::Running(output) => output.join(),
            Output::Gone => Err(thread_stopped()),
        }
    }
}

/// The sink with the raw tar's digest and size and the blob's digest and size.
type Finished<W> = (W, (Digest, u64), (Digest, u64));

impl<W: Write + Send + 'static> OutputThread<W> {
    /// Starts a thread writing the compressed chunks sent to `sink` and hashing them and
    /// the raw chunks, at most `depth` chunks behind, and handing the raw buffers back.
    fn start(mut sink: W, depth: usize, buffers: usize) -> OutputThread<W> {
        let (tx, rx) = mpsc::sync_channel::<Pair>(depth);
        // Room for every buffer, so that none is ever dropped for want of room.
        let (back_tx, back) = mpsc::sync_channel(buffers);
        let thread = std::thread::spawn(move || {
            // The raw tar is hashed on a thread of its own: each SHA-256 pass is as much
            // work as reading the files.
            let (raw_tx, raw_rx) = mpsc::sync_channel::<Vec<u8>>(depth);
            let tar_hasher = std::thread::spawn(move || {
                let mut tar = HashingWriter::new(io::sink());
                for mut raw in raw_rx {
                    tar.write_all(&raw)
                        .expect("writing to io::sink cannot fail");
                    raw.clear();
                    // A closed channel: the writer is done.
                    let _ = back_tx.try_send(raw);
                }
                let (_, digest, size) = tar.finish();
                (digest, size)
            });
            let mut blob = HashingWriter::new(io::sink());
            let written = rx.into_iter().try_for_each(|(raw, out)| {
                sink.write_all(&out)?;
                blob.write_all(&out)?;
                raw_tx.send(raw).map_err(|_| thread_stopped())
            });
            drop(raw_tx);
            let tar = tar_hasher.join().map_err(|_| thread_stopped())?;
            written?;
            sink.flush()?;
            let (_, blob, size) = blob.finish();
            Ok((sink, tar, (blob, size)))
        });
        OutputThread {
            tx: Some(tx),
            back,
            thread: Some(thread),
        }
    }

    /// Ends the stream and waits for the thread's result.
    fn join(mut self) -> io::Result<Finished<W>> {
        self.tx = None;
        let thread = self.thread.take().ok_or_else(thread_stopped)?;
        thread.join().map_err(|_| thread_stopped())?
    }
}

impl<W> Drop for OutputThread<W> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            // The layer is given up: its result and errors do not matter.
            let _ = thread.join();
        }
    }
}

/// Whether the entry at `path`, `size` bytes long in the tar, is one before which a
/// chunk of at least [`MIN_CHUNK`] bytes is cut: with probability `size / CUT_GAP`,
/// decided by a hash of the path alone.
fn cuts(path: &[u8], size: u64) -> bool {
    // A fixed function, so that cuts (and blobs) stay the same across builds, versions
    // and platforms; one SHA-256 block per entry costs about 0.1 µs.
    let digest = sha2::Sha256::digest(path);
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"));
    hash >> (64 - CUT_GAP.trailing_zeros()) < size
}

fn thread_stopped() -> io::Error {
    io::Error::other("a compression thread stopped")
}

impl<W: Write + Send + 'static> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(sink) => sink.write(buf),
            Compressor::Chunked(chunked) => {
                chunked.ready_buffer()?;
                let room = MAX_CHUNK - chunked.buf.len();
                let n = room.min(buf.len());
                chunked.buf.extend_from_slice(&buf[..n]);
                if chunked.buf.len() == MAX_CHUNK {
                    chunked.submit()?;
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are cut by the rules above, never by a flush, to stay deterministic.
        Ok(())
    }
}

impl ChunkCodec {
    fn compress(self, raw: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            ChunkCodec::Gzip(level) => gzip_member(raw, level),
            ChunkCodec::Zstd(level) => zstd_frames(raw, level),
        }
    }
}
