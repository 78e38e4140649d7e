//! Per-blob progress: a task reported to [`Events`] as bytes flow, each byte also a sign
//! of life for the watch of waits.

use std::io::{self, Read, Write};

use oci_spec::image::Digest;

use crate::events::{Events, TaskRef};
use crate::net::Pulse;

/// A blob transfer shown as a task (`pull sha256:0123456789ab`).
pub(crate) struct Task<'e> {
    events: &'e dyn Events,
    task: TaskRef,
    done: u64,
    pulse: Pulse,
}

impl<'e> Task<'e> {
    /// Starts the task `verb digest` of `total` bytes, whose bytes are told to `pulse`.
    pub(super) fn start(
        events: &'e dyn Events,
        verb: &str,
        digest: &Digest,
        total: u64,
        pulse: Pulse,
    ) -> Self {
        let task = TaskRef {
            label: format!("{verb} {}", short(digest)),
        };
        events.task_started(&task, Some(total));
        Task {
            events,
            task,
            done: 0,
            pulse,
        }
    }

    /// Sets the bytes done (after a restart, fewer than before).
    pub(super) fn set(&mut self, done: u64) {
        self.done = done;
        self.events.task_progress(&self.task, done);
    }

    /// Adds `n` bytes done.
    fn add(&mut self, n: usize) {
        self.pulse.beat();
        self.set(self.done + n as u64);
    }

    /// A writer that reports what passes through it.
    pub(super) fn writer<W: Write>(&mut self, inner: W) -> Counting<'_, 'e, W> {
        Counting { inner, task: self }
    }

    /// A reader that reports what passes through it.
    pub(super) fn reader<R: Read>(&mut self, inner: R) -> Counting<'_, 'e, R> {
        Counting { inner, task: self }
    }

    /// Ends the task.
    pub(super) fn finish(self) {
        self.events.task_finished(&self.task);
    }
}

/// A reader or writer that reports the bytes passing through it to a [`Task`].
pub(crate) struct Counting<'t, 'e, T> {
    inner: T,
    task: &'t mut Task<'e>,
}

impl<W: Write> Write for Counting<'_, '_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.task.add(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.task.add(n);
        Ok(n)
    }
}

/// `sha256:` and the first 12 hex digits, as docker shows layers.
pub(crate) fn short(digest: &Digest) -> String {
    let hex = digest.digest();
    format!("{}:{}", digest.algorithm(), &hex[..hex.len().min(12)])
}
