//! Work on the store's files in a user namespace mapped as the sandbox's.
//!
//! Rootless with subordinate ids, a file the sandbox shows as owned by uid `n` is owned by
//! the `n`th subordinate id on the host. So that `RUN` steps see the owners an image's
//! layers record, the store's unpacked layers must be owned by those ids, which only a
//! process inside the user namespace may give them, and then only such a process may
//! change or remove them. buildah re-executes itself in the namespace for that; a library
//! cannot, and a multi-threaded process may not move itself into a user namespace. So the
//! work runs in a forked child:
//!
//! ```text
//!   parent                                   child (fork)
//!   fork ──────────────────────────────────▶ unshare(CLONE_NEWUSER)
//!                                  ◀──────── 'R' (ready)  or 'F' errno (failed)
//!   newuidmap/newgidmap (the sandbox's map)
//!   'G' ───────────────────────────────────▶ root in the namespace: runs the work
//!                                  ◀──────── 'P' (paused; optional, see Session)
//!   'G' ───────────────────────────────────▶ goes on
//!                                  ◀──────── 'O' bytes (done) or 'E' message (failed), _exit
//!   reads to end of file, waits
//! ```
//!
//! Unlike the sandbox's init, the child runs ordinary Rust code that allocates (unpacking a
//! layer, removing a tree): it is forked through the C library's `fork`, which leaves the
//! allocator usable (see [`sys::fork`]), and the work must take no other lock.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

use super::error::ExecError;
use super::namespaces::IdMapping;
use super::sys;

/// Runs `work` in a child process in a new user namespace with `mapping`'s ids, as root
/// there, and returns the bytes it returned. `work` must take no lock another thread may
/// hold (no standard streams, no environment, no thread pool).
///
/// # Errors
/// [`ExecError::StartNamespaceHelper`] when the child cannot be made or mapped (and the
/// errors of mapping it), [`ExecError::NamespaceWork`] with `work`'s message when it
/// failed, [`ExecError::NamespaceHelperDied`] when the child ended without an answer.
pub(crate) fn in_user_namespace(
    mapping: &IdMapping,
    work: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, ExecError> {
    Session::start(mapping, |_: &mut Pause| work())?.finish()
}

/// Work running in a user namespace (see [`in_user_namespace`]) that can stop half-way,
/// at [`Pause::pause`], until the parent lets it go on: to record a tree before a sandbox
/// changes it, and compare after. Dropping it kills the work.
pub(crate) struct Session {
    guard: ChildGuard,
    answer: File,
    go: Option<File>,
}

impl Session {
    /// Forks the child, maps its user namespace and starts `work` there.
    ///
    /// # Errors
    /// As [`in_user_namespace`].
    pub(crate) fn start(
        mapping: &IdMapping,
        work: impl FnOnce(&mut Pause) -> Result<Vec<u8>, String>,
    ) -> Result<Session, ExecError> {
        let start = |source| ExecError::StartNamespaceHelper { source };
        let (answer_read, answer_write) = sys::pipe().map_err(start)?;
        let (go_read, go_write) = sys::pipe().map_err(start)?;
        // SAFETY: the child runs only `child`, which takes no lock (the work's contract)
        // and ends in `sys::exit`.
        let pid = match unsafe { sys::fork() }.map_err(start)? {
            sys::Forked::Child => {
                drop((answer_read, go_write));
                let pause = Pause {
                    go: File::from(go_read),
                    answer: File::from(answer_write),
                };
                sys::exit(child(pause, work))
            }
            sys::Forked::Parent(pid) => pid,
        };
        drop((answer_write, go_read));
        let mut session = Session {
            guard: ChildGuard { pid, reaped: false },
            answer: File::from(answer_read),
            go: Some(File::from(go_write)),
        };
        match session.next()? {
            Some(b'R') => {
                mapping.apply(pid)?;
                session.resume()?;
            }
            Some(b'F') => {
                let mut errno = [0u8; 4];
                session.answer.read_exact(&mut errno).map_err(start)?;
                return Err(start(std::io::Error::from_raw_os_error(
                    i32::from_ne_bytes(errno),
                )));
            }
            _ => session.go = None,
        }
        Ok(session)
    }

    /// Waits until the work reaches [`Pause::pause`].
    ///
    /// # Errors
    /// The work's error when it failed or ended before pausing.
    pub(crate) fn paused(&mut self) -> Result<(), ExecError> {
        match self.next()? {
            Some(b'P') => Ok(()),
            first => {
                self.go = None;
                let mut bytes: Vec<u8> = first.into_iter().collect();
                self.answer
                    .read_to_end(&mut bytes)
                    .map_err(|source| ExecError::StartNamespaceHelper { source })?;
                self.end(&bytes)?;
                Err(ExecError::NamespaceWork {
                    message: "the work ended before pausing".to_owned(),
                })
            }
        }
    }

    /// Lets the work go on after [`Pause::pause`] (or start once mapped).
    ///
    /// # Errors
    /// The child is gone.
    pub(crate) fn resume(&mut self) -> Result<(), ExecError> {
        let go = self.go.as_mut().ok_or(ExecError::NamespaceWork {
            message: "the work is not waiting".to_owned(),
        })?;
        go.write_all(b"G")
            .map_err(|source| ExecError::StartNamespaceHelper { source })
    }

    /// Waits for the work to end and returns its bytes.
    ///
    /// # Errors
    /// As [`in_user_namespace`].
    pub(crate) fn finish(&mut self) -> Result<Vec<u8>, ExecError> {
        self.go = None;
        let mut bytes = Vec::new();
        self.answer
            .read_to_end(&mut bytes)
            .map_err(|source| ExecError::StartNamespaceHelper { source })?;
        self.end(&bytes)
    }

    /// The next byte the child sends; `None` at end of file.
    fn next(&mut self) -> Result<Option<u8>, ExecError> {
        let mut byte = [0u8; 1];
        let got = self
            .answer
            .read(&mut byte)
            .map_err(|source| ExecError::StartNamespaceHelper { source })?;
        Ok((got == 1).then_some(byte[0]))
    }

    /// Reaps the child and decodes its answer `bytes`.
    fn end(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ExecError> {
        let status = sys::wait_for(self.guard.pid)
            .map_err(|source| ExecError::StartNamespaceHelper { source })?;
        self.guard.reaped = true;
        match bytes.split_first() {
            Some((b'O', rest)) => Ok(rest.to_vec()),
            Some((b'E', rest)) => Err(ExecError::NamespaceWork {
                message: String::from_utf8_lossy(rest).into_owned(),
            }),
            _ => Err(ExecError::NamespaceHelperDied {
                status: ExitStatus::from_raw(status),
            }),
        }
    }
}

/// The child's ends of the pipes, for the work to pause on.
pub(crate) struct Pause {
    go: File,
    answer: File,
}

impl Pause {
    /// Tells the parent the work paused and waits until it calls [`Session::resume`].
    ///
    /// # Errors
    /// The parent is gone or ended the session.
    pub(crate) fn pause(&mut self) -> Result<(), String> {
        self.answer
            .write_all(b"P")
            .and_then(|()| self.wait())
            .map_err(|error| format!("failed to pause: {error}"))
    }

    /// Waits for the parent's go.
    fn wait(&mut self) -> std::io::Result<()> {
        let mut go = [0u8; 1];
        self.go.read_exact(&mut go)
    }
}

/// The child's side: enters the namespace, waits to be mapped, works, answers; returns the
/// exit code.
fn child(mut pause: Pause, work: impl FnOnce(&mut Pause) -> Result<Vec<u8>, String>) -> i32 {
    if sys::set_parent_death_signal().is_err() {
        return 1;
    }
    if let Err(error) = sys::unshare_user_namespace() {
        let errno = error.raw_os_error().unwrap_or(libc::EIO);
        let _ = pause
            .answer
            .write_all(&[&b"F"[..], &errno.to_ne_bytes()].concat());
        return 1;
    }
    if pause.answer.write_all(b"R").is_err() || pause.wait().is_err() {
        return 1;
    }
    // A panic must not unwind into the parent's frames, which this process copied.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut pause)))
        .unwrap_or_else(|_| Err("the work panicked".to_owned()));
    let answer = &mut pause.answer;
    let written = match result {
        Ok(bytes) => answer
            .write_all(b"O")
            .and_then(|()| answer.write_all(&bytes)),
        Err(message) => answer
            .write_all(b"E")
            .and_then(|()| answer.write_all(message.as_bytes())),
    };
    i32::from(written.is_err())
}

/// `error` and its causes, joined by `: `, to send from the user namespace.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Kills and reaps the child if the parent leaves early.
struct ChildGuard {
    pid: i32,
    reaped: bool,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::wait_for(self.pid);
        }
    }
}
