//! The temp file of a blob being written, whose pages the kernel starts writing to disk as
//! they fill, so that the `fsync` a commit ends with waits only for the last few.
//!
//! Without it a large layer's `fsync` starts all of its writeback at once, on the
//! committing thread, after the layer is written: ≈50 ms for 160 MB here, all of it on a
//! cold build's critical path. `sync_file_range(SYNC_FILE_RANGE_WRITE)` starts writeback
//! of a range and returns without waiting for it; no crate wraps it (`rustix` and `nix`
//! do not), so it is called through `libc` here. It only starts what the `fsync` would
//! do anyway: it is a hint, and the `fsync` stays the point where the blob is durable.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// How many bytes are written between two starts of writeback.
const STEP: u64 = 8 * 1024 * 1024;

/// A blob's temp file that starts the writeback of every [`STEP`] bytes written.
///
/// The starts run on a thread of their own, started at the first step: on a busy
/// device `sync_file_range` waits for room in the request queue (a quarter of a second
/// was seen here), which must not hold up the writer.
#[derive(Debug)]
pub(super) struct WritebackFile {
    file: NamedTempFile,
    written: u64,
    /// Where the bytes not yet handed to writeback start.
    started: u64,
    starter: Option<Starter>,
}

/// The thread that starts writeback of the ranges sent to it.
#[derive(Debug)]
struct Starter {
    tx: mpsc::Sender<(u64, u64)>,
    thread: JoinHandle<()>,
}

impl WritebackFile {
    pub(super) fn new(file: NamedTempFile) -> WritebackFile {
        WritebackFile {
            file,
            written: 0,
            started: 0,
            starter: None,
        }
    }

    /// The temp file, once the writeback started for it has been handed to the kernel.
    pub(super) fn into_inner(mut self) -> NamedTempFile {
        if let Some(starter) = self.starter.take() {
            drop(starter.tx);
            // A panic there would only have skipped a hint.
            let _ = starter.thread.join();
        }
        self.file
    }

    /// Hands `len` bytes from `offset` to the starter thread, starting it first if need
    /// be; without a thread (it could not be started), writeback is left to the kernel.
    fn start(&mut self, offset: u64, len: u64) {
        if self.starter.is_none() {
            let Ok(file) = self.file.as_file().try_clone() else {
                return;
            };
            let (tx, rx) = mpsc::channel::<(u64, u64)>();
            let spawned = std::thread::Builder::new()
                .name("mkimage-writeback".to_owned())
                .spawn(move || {
                    for (offset, len) in rx {
                        start_writeback(&file, offset, len);
                    }
                });
            let Ok(thread) = spawned else {
                return;
            };
            self.starter = Some(Starter { tx, thread });
        }
        if let Some(starter) = &self.starter {
            // The thread ends only when the sender is dropped.
            let _ = starter.tx.send((offset, len));
        }
    }
}

impl Write for WritebackFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= STEP {
            self.start(self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Starts writing the dirty pages of `len` bytes of `file` from `offset` to disk, without
/// waiting for them to be written. Failure is ignored: the committer's `fsync` writes
/// whatever is left and reports any error.
fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: `sync_file_range` reads no memory of ours; the descriptor is open for as
    // long as `file` is borrowed.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_across_writeback_steps() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut file = WritebackFile::new(NamedTempFile::new_in(dir.path())?);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(3 * 1024 * 1024 + 17).collect();
        for _ in 0..4 {
            file.write_all(&chunk)?;
        }
        file.flush()?;
        assert_eq!(file.written, 4 * chunk.len() as u64);
        assert_eq!(
            file.started,
            3 * chunk.len() as u64,
            "writeback started once, at the first write past a step"
        );
        assert!(file.starter.is_some());
        let temp = file.into_inner();
        let read = std::fs::read(temp.path())?;
        assert_eq!(read.len(), 4 * chunk.len());
        assert!(read.chunks(chunk.len()).all(|part| part == chunk));
        Ok(())
    }
}
