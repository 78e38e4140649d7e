//! Running the `git` commands of one fetch within the network options' bounds.
//!
//! A git server is as untrusted as a registry: it may accept the connection and never
//! answer, and `git` waits for it as long as that takes. So each command of a fetch ends
//! by the fetch's deadline ([`NetOptions::deadline`]) or is killed, and over HTTP curl's
//! low-speed limit fails a transfer that moves nothing for the idle timeout (it covers
//! the wait for the first byte too). `git` writes to unnamed temporary files rather than
//! pipes, so that a helper it started (`git-remote-https`, `ssh`) cannot keep a reader
//! waiting after `git` is killed: the helper ends on its own when its connection does.
//!
//! Hand-written on `pidfd_open` and `poll` rather than with a crate such as
//! `wait-timeout`, which installs a process-wide `SIGCHLD` handler: the sandbox reaps
//! its own children and wants no handler it did not set.

use std::fs::File;
use std::io::{self, Read as _, Seek as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

use crate::net::NetOptions;

/// The most bytes of a command's standard error kept for its error message.
const STDERR_LIMIT: u64 = 64 * 1024;

/// The bounds of the commands of one fetch: its deadline counts from its start.
#[derive(Debug)]
pub(super) struct Deadline<'a> {
    options: &'a NetOptions,
    started: Instant,
}

/// What a command that ended in time wrote.
#[derive(Debug)]
pub(super) struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// The start of its standard error, as text.
    pub stderr: String,
}

impl<'a> Deadline<'a> {
    /// The bounds of a fetch that starts now.
    pub(super) fn start(options: &'a NetOptions) -> Self {
        Deadline {
            options,
            started: Instant::now(),
        }
    }

    /// The options.
    pub(super) fn options(&self) -> &'a NetOptions {
        self.options
    }

    /// The `git -c` settings that fail an HTTP transfer idle for the idle timeout: less
    /// than a byte a second for that many seconds (at least one).
    pub(super) fn idle_config(&self) -> [String; 4] {
        let idle = self.options.idle_timeout;
        let seconds = (idle.as_secs() + u64::from(idle.subsec_nanos() > 0)).max(1);
        [
            "-c".to_owned(),
            "http.lowSpeedLimit=1".to_owned(),
            "-c".to_owned(),
            format!("http.lowSpeedTime={seconds}"),
        ]
    }

    /// Runs `command` (its standard input empty) until it ends or the deadline passes.
    /// `None` when the deadline passed: the command was killed.
    ///
    /// # Errors
    ///
    /// When the command cannot be started or waited for, or its output read.
    pub(super) fn run(&self, command: &mut Command) -> io::Result<Option<Output>> {
        let mut stdout = tempfile::tempfile()?;
        let mut stderr = tempfile::tempfile()?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout.try_clone()?)
            .stderr(stderr.try_clone()?)
            .spawn()?;
        let ended = wait_until(&mut child, self.left());
        if !matches!(ended, Ok(Some(_))) {
            // Killing a child that has just ended fails harmlessly; it is reaped either way.
            let _ = child.kill();
            child.wait()?;
        }
        let Some(status) = ended? else {
            return Ok(None);
        };
        Ok(Some(Output {
            status,
            stdout: read_from_start(&mut stdout, u64::MAX)?,
            stderr: String::from_utf8_lossy(&read_from_start(&mut stderr, STDERR_LIMIT)?)
                .trim()
                .to_owned(),
        }))
    }

    /// The time left until the deadline.
    fn left(&self) -> Duration {
        self.options.deadline.saturating_sub(self.started.elapsed())
    }
}

/// Waits until `child` ends, at most `left`: its status, or `None` when it still runs.
fn wait_until(child: &mut Child, left: Duration) -> io::Result<Option<ExitStatus>> {
    let pidfd = pidfd_open(Pid::from_child(child), PidfdFlags::empty())?;
    let started = Instant::now();
    loop {
        // A deadline too far for a `timespec` (centuries) is waited for without one.
        let timeout = Timespec::try_from(left.saturating_sub(started.elapsed())).ok();
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Ok(None),
            Ok(_) => return child.wait().map(Some),
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// At most `limit` bytes of `file`, from its start.
fn read_from_start(file: &mut File, limit: u64) -> io::Result<Vec<u8>> {
    file.rewind()?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}
