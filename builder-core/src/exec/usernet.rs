//! The private network of a `RUN` step on the default network: its own network namespace,
//! connected to the outside by the user-mode network stack `slirp4netns`.
//!
//! Docker gives each build container its own network namespace behind a bridge and NAT:
//! the step reaches the outside and the host's other addresses, never a service bound to
//! the host's loopback (a local registry, a database, a metadata proxy, a TCP docker
//! socket), nor the host's abstract unix sockets. mkimage makes no bridge (it may run
//! rootless); as rootless podman and buildah do, it connects the sandbox's namespace to the
//! host through `slirp4netns` (Debian package `slirp4netns`), a process on the host that
//! owns a tap device in the namespace and turns the step's packets into ordinary sockets
//! of its own.
//!
//! In the namespace the step is `10.0.2.100/24` on `tap0`, its gateway `10.0.2.2` stands
//! for the host and `10.0.2.3` is a DNS forwarder to the host's resolvers, which the
//! step's `/etc/resolv.conf` names (with the host's `search` and `options` lines). The
//! stack runs with `--disable-host-loopback`, so `10.0.2.2` reaches nothing: connections
//! that slirp would turn into ones to the host's `127.0.0.1` are refused. IPv4 only, as
//! docker's default bridge. `--enable-sandbox` and `--enable-seccomp` confine the stack
//! itself (a mount namespace with only `/etc` and `/run`, all capabilities dropped, a
//! system-call filter), as podman runs it.
//!
//! Why slirp4netns rather than `pasta` (package `passt`): each flag that keeps the host's
//! loopback out is explicit in slirp4netns and has kept its meaning since v0.3; pasta's
//! defaults forward the host's loopback ports into the namespace (`-T auto`, `-U auto`) and
//! map its gateway to the host (`--no-map-gw`), and they changed between releases. The
//! packaged pasta also refuses to run as root on another root process's namespace (it
//! drops to `nobody` first). slirp4netns is slower for bulk transfers; a build step
//! mostly downloads.
//!
//! The order of a run: the parent clones init with a new network namespace, maps its ids,
//! starts slirp4netns on init's pid and waits, at most [`READY_TIMEOUT`], until the stack
//! reports the interface configured; only then does it send `Start`, so the command never
//! sees a half-made network; a stack that fails gets [`EXIT_TIMEOUT`] to exit and tell
//! why. [`Stack`] kills the stack when the run ends (and reaps it in the background, as
//! its exit waits for the kernel to delete the tap device); its exit pipe also ends it if
//! mkimage itself dies.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use rustix::fs::Access;

use super::error::ExecError;
use super::spec::find_host_program;
use super::sys;

/// How long the stack may take to configure the namespace.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stack that failed may take to exit before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);

/// The DNS forwarder the step's `/etc/resolv.conf` names.
pub(crate) const NAMESERVER: &str = "10.0.2.3";

/// The program, looked up in `PATH`.
const PROGRAM: &str = "slirp4netns";

/// The device tap devices are made with.
const TUN: &str = "/dev/net/tun";

/// The descriptor numbers the stack gets its ready and exit pipes on.
const READY_FD: i32 = 3;
const EXIT_FD: i32 = 4;

/// At most this much of the stack's standard error is shown when it fails.
const STDERR_LIMIT: u64 = 4096;

/// The `slirp4netns` that connects the sandbox's network namespace.
#[derive(Debug, Clone)]
pub(crate) struct Slirp4netns {
    program: PathBuf,
}

impl Slirp4netns {
    /// Finds `slirp4netns` in `PATH` (the default `PATH` when it is unset), and checks
    /// that this user may open the tun device it makes its tap device with.
    ///
    /// # Errors
    /// [`ExecError::UserNetworkMissing`] when it is not installed,
    /// [`ExecError::UserNetworkNoTun`] when the device cannot be opened.
    pub(crate) fn find() -> Result<Self, ExecError> {
        let program = find_host_program(PROGRAM, &[]).ok_or(ExecError::UserNetworkMissing)?;
        // Rootless, slirp4netns opens the device as this user; most systems make it 0666.
        rustix::fs::access(TUN, Access::READ_OK | Access::WRITE_OK).map_err(|source| {
            ExecError::UserNetworkNoTun {
                path: TUN.into(),
                source: source.into(),
            }
        })?;
        Ok(Slirp4netns { program })
    }

    /// Starts the stack on the network namespace of process `pid` (which must not start
    /// its command yet) and waits until it has configured it.
    ///
    /// # Errors
    /// The program cannot be started, exits, or is not ready within [`READY_TIMEOUT`].
    pub(crate) fn attach(&self, pid: i32) -> Result<Stack, ExecError> {
        let pipes = |source| ExecError::CreatePipes { source };
        let (ready_read, ready_write) = sys::pipe().map_err(pipes)?;
        let (exit_read, exit_write) = sys::pipe().map_err(pipes)?;
        let stderr = tempfile::tempfile().map_err(|source| self.start_error(source))?;
        let mut command = Command::new(&self.program);
        command
            .args([
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-sandbox",
                "--enable-seccomp",
            ])
            .arg(format!("--ready-fd={READY_FD}"))
            .arg(format!("--exit-fd={EXIT_FD}"))
            .arg(pid.to_string())
            .arg("tap0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                stderr
                    .try_clone()
                    .map_err(|source| self.start_error(source))?,
            )
            .fd_mappings(vec![
                FdMapping {
                    parent_fd: ready_write,
                    child_fd: READY_FD,
                },
                FdMapping {
                    parent_fd: exit_read,
                    child_fd: EXIT_FD,
                },
            ])
            .expect("the two descriptor numbers differ");
        let child = command.spawn().map_err(|source| self.start_error(source))?;
        // The command holds the child's ends: dropping it leaves the stack the only writer
        // of the ready pipe, so its end reads as end of file.
        drop(command);
        let mut stack = Stack {
            child: Some(child),
            _exit: exit_write,
        };
        self.wait_ready(&mut stack, &ready_read, stderr)?;
        Ok(stack)
    }

    /// Waits for the stack's `1` on the ready pipe.
    fn wait_ready(
        &self,
        stack: &mut Stack,
        ready: &OwnedFd,
        stderr: File,
    ) -> Result<(), ExecError> {
        let readable = sys::wait_readable(ready.as_fd(), READY_TIMEOUT)
            .map_err(|source| self.start_error(source))?;
        if !readable {
            return Err(ExecError::UserNetworkTimeout {
                program: self.program.clone(),
                waited: READY_TIMEOUT,
            });
        }
        let mut byte = [0u8; 1];
        let len = sys::read(ready, &mut byte).map_err(|source| self.start_error(source))?;
        if len == 1 && byte[0] == b'1' {
            return Ok(());
        }
        // The pipe closed, or carried another word: the stack failed and is exiting (or,
        // past [`EXIT_TIMEOUT`], is killed).
        let mut child = stack
            .child
            .take()
            .expect("the stack's process is taken only on drop");
        let status =
            sys::wait_exit(&mut child, EXIT_TIMEOUT).map_err(|source| self.start_error(source))?;
        Err(ExecError::UserNetworkFailed {
            program: self.program.clone(),
            status,
            stderr: read_start(stderr),
        })
    }

    fn start_error(&self, source: std::io::Error) -> ExecError {
        ExecError::StartUserNetwork {
            program: self.program.clone(),
            source,
        }
    }
}

/// The first [`STDERR_LIMIT`] bytes of `file`, trimmed, as text.
fn read_start(mut file: File) -> String {
    let mut text = Vec::new();
    let _ = file.rewind();
    let _ = file.take(STDERR_LIMIT).read_to_end(&mut text);
    String::from_utf8_lossy(&text).trim().to_owned()
}

/// A running stack; dropping it kills it, and reaps it in the background.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The stack's process; taken by the reaper on drop.
    child: Option<Child>,
    /// The write end of the stack's exit pipe: when mkimage dies, the kernel closes it and
    /// the stack ends too.
    _exit: OwnedFd,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.kill();
        // Its exit deletes the tap device, which waits for an RCU grace period (about 20 ms
        // here): the stack is reaped in the background rather than making each step wait.
        // The thread owns the child, so nothing else can reap its pid (if no thread can
        // start, the killed stack stays a zombie until mkimage exits).
        let _ = std::thread::Builder::new()
            .name("mkimage-reap-slirp4netns".into())
            .spawn(move || child.wait());
    }
}

/// The step's `/etc/resolv.conf` for the host's `host`: the stack's forwarder as the only
/// name server, then the host's `search`, `domain` and `options` lines.
pub(crate) fn resolv_conf(host: &str) -> String {
    let mut text = format!("nameserver {NAMESERVER}\n");
    for line in host.lines() {
        let keyword = line.split_whitespace().next().unwrap_or_default();
        if matches!(keyword, "search" | "domain" | "options") {
            text.push_str(line.trim());
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_names_the_forwarder_and_keeps_search_and_options() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n\
                    search corp.example\noptions edns0 trust-ad\n";
        assert_eq!(
            resolv_conf(host),
            "nameserver 10.0.2.3\nsearch corp.example\noptions edns0 trust-ad\n"
        );
        assert_eq!(resolv_conf(""), "nameserver 10.0.2.3\n");
    }
}
