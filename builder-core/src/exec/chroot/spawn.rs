//! Starting the chrooted command and relaying its output until it ends.

use std::io::Read as _;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::program::Program;
use crate::events::Stream;
use crate::exec::error::ExecError;
use crate::exec::spec::SandboxSpec;
use crate::exec::sys;

/// How long output is still relayed after the command ended, from processes that left its
/// process group but keep its output open.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// What the relay receives.
enum Event {
    Output(Stream, Vec<u8>),
    Exited(std::io::Result<ExitStatus>),
}

/// Runs `program` in the child of the command of `spec`, then the command; streams its
/// output to `output` and returns its status once it ended (and what it left in its
/// process group is killed).
pub(super) fn run(
    spec: &SandboxSpec,
    mut program: Program,
    output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<ExitStatus, ExecError> {
    let (report_read, report_write) =
        sys::pipe().map_err(|source| ExecError::CreatePipes { source })?;
    program.report = report_write.as_raw_fd();
    let mut command = Command::new(&spec.argv[0]);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(
            spec.env
                .iter()
                .map(|var| var.split_once('=').unwrap_or((var, ""))),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let steps = program.descriptions();
    sys::before_exec(&mut command, move || program.run());
    let spawned = command.spawn();
    drop(report_write);
    match spawned {
        Ok(child) => relay(child, output),
        Err(source) => Err(start_error(&steps, report_read, &spec.argv[0], source)),
    }
}

/// The error of a command that could not start: a failed step of the program as it
/// reported, else the `execve` of the command itself.
fn start_error(
    steps: &[String],
    report: OwnedFd,
    argv0: &str,
    source: std::io::Error,
) -> ExecError {
    let mut message = [0u8; 8];
    let mut file = std::fs::File::from(report);
    if file.read_exact(&mut message).is_ok() {
        let (index, errno) = message.split_at(4);
        let index = u32::from_le_bytes(index.try_into().expect("four bytes"));
        let errno = i32::from_le_bytes(errno.try_into().expect("four bytes"));
        let step = steps
            .get(index as usize)
            .cloned()
            .unwrap_or_else(|| "set up".to_owned());
        return ExecError::ChrootStep {
            step,
            source: std::io::Error::from_raw_os_error(errno),
        };
    }
    ExecError::ChrootExecute {
        program: argv0.to_owned(),
        source,
    }
}

/// Relays the output of `child` until it ended and its streams closed (at most
/// [`DRAIN_LIMIT`] after it ended).
fn relay(mut child: Child, output: &mut dyn FnMut(Stream, &[u8])) -> Result<ExitStatus, ExecError> {
    let (sender, events) = mpsc::channel();
    if let Some(pipe) = child.stdout.take() {
        forward(Stream::Stdout, pipe, sender.clone());
    }
    if let Some(pipe) = child.stderr.take() {
        forward(Stream::Stderr, pipe, sender.clone());
    }
    let pid = child.id();
    std::thread::spawn(move || {
        let status = child.wait();
        // The command's process group: whatever it started and left behind.
        let _ = sys::kill(-(pid as i32), libc::SIGKILL);
        let _ = sender.send(Event::Exited(status));
    });
    let mut status = None;
    loop {
        let event = match status {
            None => events.recv().ok(),
            Some(_) => events.recv_timeout(DRAIN_LIMIT).ok(),
        };
        match event {
            Some(Event::Output(stream, bytes)) => output(stream, &bytes),
            Some(Event::Exited(exited)) => {
                status = Some(exited.map_err(|source| ExecError::ChrootWait { source })?);
            }
            None => break,
        }
    }
    status.ok_or(ExecError::ChrootWait {
        source: std::io::Error::other("the command's waiter ended without a status"),
    })
}

/// Sends what `pipe` gives, as `stream`'s output, from a thread of its own until it ends.
fn forward(
    stream: Stream,
    mut pipe: impl std::io::Read + Send + 'static,
    sender: mpsc::Sender<Event>,
) {
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if sender
                .send(Event::Output(stream, buffer[..read].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
}
