//! Ctrl-C while sandboxes run: `SIGINT`, `SIGTERM` and `SIGHUP` kill the sandboxes, and
//! each run returns [`ExecError::Interrupted`](super::ExecError::Interrupted).
//!
//! While at least one run is active, a handler is installed that records the signal and
//! writes a byte to a pipe; every active run polls the pipe's read end (level-triggered, so
//! one byte wakes them all). When the last run ends, the previous dispositions are put back
//! and the pipe drained, so outside runs the process reacts to these signals as it did
//! before. Hand-written rather than `signal-hook`, which cannot restore the previous
//! disposition once its handler is installed.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

use super::error::ExecError;
use super::sys;

const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

struct State {
    active: usize,
    saved: Vec<(i32, sys::Disposition)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    active: 0,
    saved: Vec::new(),
});

static PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();

/// Keeps the interrupt handler installed while alive.
pub(crate) struct InterruptGuard {
    read: BorrowedFd<'static>,
}

impl InterruptGuard {
    /// Registers a run.
    ///
    /// # Errors
    /// The pipe or the handlers cannot be set up.
    pub(crate) fn new() -> Result<Self, ExecError> {
        let pipe = match PIPE.get() {
            Some(pipe) => pipe,
            None => {
                let (read, write) =
                    sys::pipe().map_err(|source| ExecError::CreatePipes { source })?;
                for end in [&read, &write] {
                    sys::set_nonblocking(end)
                        .map_err(|source| ExecError::CreatePipes { source })?;
                }
                // Another thread may have won the race; its pipe is used and ours dropped.
                let _ = PIPE.set((read, write));
                PIPE.get().expect("the pipe was just set")
            }
        };
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.active == 0 {
            let write = std::os::fd::AsRawFd::as_raw_fd(&pipe.1);
            for signal in SIGNALS {
                match sys::install_interrupt_handler(signal, write) {
                    Ok(previous) => state.saved.push((signal, previous)),
                    Err(source) => {
                        for (signal, previous) in state.saved.drain(..) {
                            sys::restore_disposition(signal, &previous);
                        }
                        return Err(ExecError::InstallSignalHandler { source });
                    }
                }
            }
        }
        state.active += 1;
        Ok(InterruptGuard {
            read: pipe.0.as_fd(),
        })
    }

    /// The descriptor that becomes readable on an interrupt.
    pub(crate) fn fd(&self) -> BorrowedFd<'static> {
        self.read
    }

    /// The interrupting signal, if one arrived.
    pub(crate) fn signal(&self) -> Option<i32> {
        match sys::interrupt_signal(false) {
            0 => None,
            signal => Some(signal),
        }
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.active -= 1;
        if state.active == 0 {
            for (signal, previous) in state.saved.drain(..) {
                sys::restore_disposition(signal, &previous);
            }
            if let Some((read, _)) = PIPE.get() {
                let mut buf = [0u8; 64];
                while matches!(sys::read(read, &mut buf), Ok(len) if len > 0) {}
            }
            sys::interrupt_signal(true);
        }
    }
}
