//! The parent's side of a run: prepare the setup program, clone init, map ids, stream the
//! output, wait, clean up.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use super::child;
use super::defaults;
use super::error::ExecError;
use super::filesystem::{FilesystemPlan, MountContext};
use super::interrupt::InterruptGuard;
use super::namespaces::{self, IdMapping};
use super::protocol::Message;
use super::seccomp;
use super::setup::{self, Setup, SetupStep, c_string};
use super::spec::SandboxSpec;
use super::sys;
use super::usernet::Slirp4netns;
use crate::events::Stream;
use crate::plan::{Network, Security};

/// Size of the buffer the output is read through.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// Runs `spec` natively and returns the command's exit status.
pub(crate) fn run(
    spec: &SandboxSpec,
    scratch_dir: &Path,
    output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<ExitStatus, ExecError> {
    let mapping = IdMapping::detect()?;
    check_ids(spec, &mapping)?;
    let network = user_network(spec.network)?;
    let scratch = scratch(scratch_dir)?;
    let confined = spec.security == Security::Sandbox;
    let context = MountContext {
        user_namespace: mapping.user_namespace(),
        tty_group_mapped: mapping.maps_gid(5),
        no_devices: confined,
    };
    let fds = Fds::new()?;
    let plan = FilesystemPlan::new(spec, scratch.path(), context, fds.max_child_fd() + 1, false)?;
    let cleanup = plan.cleanup;
    let mut steps = plan.steps;
    identity_steps(spec, &mut steps);
    let mut command_steps = vec![SetupStep::ChangeDir {
        path: c_string(spec.cwd.as_str()),
        shown: spec.cwd.clone(),
    }];
    if confined {
        command_steps.push(SetupStep::InstallSeccomp {
            filters: seccomp::default_filters()?,
        });
    }
    command_steps.push(SetupStep::SetIds {
        uid: spec.uid,
        gid: spec.gid,
        groups: sys::gids(&spec.groups),
        set_groups: mapping.allows_setgroups(),
    });
    let launch = Launch {
        steps,
        slots: plan.slots,
        flags: namespaces::clone_flags(spec.network, &mapping),
        network,
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        candidates: candidates(&spec.argv[0], spec.search_path()),
        command_steps,
    };
    // Init is pid 1 of the sandbox: its death kills every process in it.
    let mut kill_init = |pid| {
        let _ = sys::kill(pid, libc::SIGKILL);
    };
    let result = launch.run(fds, &mapping, &mut kill_init, output);
    let undone = match cleanup.undo() {
        // Mount points in directories of the image's users (subordinate ids).
        Err(_) if mapping.has_subordinate_ids() => super::in_user_namespace(&mapping, || {
            cleanup
                .undo()
                .map(|()| Vec::new())
                .map_err(|error| super::error_chain(&error))
        })
        .map(drop),
        other => other,
    };
    let status = result?;
    undone?;
    Ok(status)
}

/// The stack that connects the sandbox on `network`: `slirp4netns` on the default network,
/// none on the host's or without a network.
///
/// # Errors
/// On the default network: [`ExecError::UserNetworkMissing`] when it is missing,
/// [`ExecError::UserNetworkNoTun`] when this user cannot open the tun device.
pub(crate) fn user_network(network: Network) -> Result<Option<Slirp4netns>, ExecError> {
    match network {
        Network::Default => Slirp4netns::find().map(Some),
        Network::None | Network::Host => Ok(None),
    }
}

/// A fresh scratch directory in `dir`, removed when dropped.
pub(crate) fn scratch(dir: &Path) -> Result<tempfile::TempDir, ExecError> {
    tempfile::Builder::new()
        .prefix("mkimage-sandbox-")
        .tempdir_in(dir)
        .map_err(|source| ExecError::CreateScratch {
            path: dir.to_owned(),
            source,
        })
}

/// Checks that the spec's ids exist in the sandbox.
pub(crate) fn check_ids(spec: &SandboxSpec, mapping: &IdMapping) -> Result<(), ExecError> {
    for id in [spec.uid, spec.gid].iter().chain(&spec.groups) {
        if *id == u32::MAX {
            return Err(ExecError::ReservedId { id: *id });
        }
    }
    if !mapping.maps_uid(spec.uid) {
        return Err(ExecError::UnmappedUid { id: spec.uid });
    }
    if let Some(&gid) = [spec.gid]
        .iter()
        .chain(&spec.groups)
        .find(|&&gid| !mapping.maps_gid(gid))
    {
        return Err(ExecError::UnmappedGid { id: gid });
    }
    Ok(())
}

/// The pipes and the socket of one run.
pub(crate) struct Fds {
    stdout_read: OwnedFd,
    stdout_write: OwnedFd,
    stderr_read: OwnedFd,
    stderr_write: OwnedFd,
    socket: OwnedFd,
    child_socket: OwnedFd,
}

impl Fds {
    /// New pipes and socket.
    ///
    /// # Errors
    /// The process is out of descriptors.
    pub(crate) fn new() -> Result<Self, ExecError> {
        let pipes = |source| ExecError::CreatePipes { source };
        let (stdout_read, stdout_write) = sys::pipe().map_err(pipes)?;
        let (stderr_read, stderr_write) = sys::pipe().map_err(pipes)?;
        let (socket, child_socket) = sys::message_socket_pair().map_err(pipes)?;
        Ok(Fds {
            stdout_read,
            stdout_write,
            stderr_read,
            stderr_write,
            socket,
            child_socket,
        })
    }

    /// The highest descriptor the child keeps.
    pub(crate) fn max_child_fd(&self) -> RawFd {
        [&self.stdout_write, &self.stderr_write, &self.child_socket]
            .map(AsRawFd::as_raw_fd)
            .into_iter()
            .max()
            .unwrap_or(2)
    }
}

/// A prepared run: init's steps, then the command.
pub(crate) struct Launch {
    /// Init's steps, before the fork.
    pub(crate) steps: Vec<SetupStep>,
    /// Detached-mount slots the steps use.
    pub(crate) slots: usize,
    /// The `clone` namespace flags.
    pub(crate) flags: libc::c_int,
    /// The stack to connect init's new network namespace to, before `Start`.
    pub(crate) network: Option<Slirp4netns>,
    /// The command.
    pub(crate) argv: Vec<String>,
    /// Its environment.
    pub(crate) env: Vec<String>,
    /// The paths `execve` is tried on.
    pub(crate) candidates: Vec<CString>,
    /// The command process's steps after its standard streams are connected.
    pub(crate) command_steps: Vec<SetupStep>,
}

impl Launch {
    /// Clones init, maps ids, streams the output and returns the command's status.
    /// `on_interrupt` gets init's pid when `SIGINT`, `SIGTERM` or `SIGHUP` arrives, and must
    /// make every process of the run end.
    pub(crate) fn run(
        self,
        fds: Fds,
        mapping: &IdMapping,
        on_interrupt: &mut dyn FnMut(i32),
        output: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<ExitStatus, ExecError> {
        let Fds {
            stdout_read,
            stdout_write,
            stderr_read,
            stderr_write,
            socket,
            child_socket,
        } = fds;
        let mut steps = self.steps;
        steps.push(SetupStep::SpawnCommand);
        steps.push(SetupStep::RedirectStdio {
            stdout: stdout_write.as_raw_fd(),
            stderr: stderr_write.as_raw_fd(),
        });
        steps.push(SetupStep::CloseOtherFds);
        steps.extend(self.command_steps);
        let mut keep_fds: Vec<RawFd> = [&child_socket, &stdout_write, &stderr_write]
            .into_iter()
            .map(AsRawFd::as_raw_fd)
            .collect();
        keep_fds.sort_unstable();
        let mut setup = Setup {
            steps,
            slots: self.slots,
            candidates: self.candidates,
            program: self.argv[0].clone(),
            argv: self.argv.iter().map(|arg| c_string(arg.as_str())).collect(),
            env: self.env.iter().map(|var| c_string(var.as_str())).collect(),
            argv_ptrs: Vec::new(),
            env_ptrs: Vec::new(),
            socket: child_socket.as_raw_fd(),
            keep_fds,
            output_fds: [stdout_write.as_raw_fd(), stderr_write.as_raw_fd()],
            host_strings: setup::host_strings(),
        };
        setup.finish_pointers();
        let mut slot_fds: Vec<RawFd> = vec![-1; setup.slots];
        let interrupt = InterruptGuard::new()?;

        let mask = sys::block_all_signals();
        // SAFETY: the child runs only `child::init`, which keeps to the child-side contract
        // (no allocation, no locks, ends in `execve` or `_exit`).
        let forked = unsafe { sys::clone_process(self.flags) };
        let pid = match forked {
            Ok(sys::Forked::Child) => child::init(&setup, &mut slot_fds),
            Ok(sys::Forked::Parent(pid)) => {
                sys::restore_signal_mask(&mask);
                pid
            }
            Err(source) => {
                sys::restore_signal_mask(&mask);
                return Err(if source.raw_os_error() == Some(libc::EPERM) {
                    ExecError::NamespacesRefused {
                        what: "namespaces",
                        source,
                    }
                } else {
                    ExecError::StartSandbox { source }
                });
            }
        };
        let mut init = InitGuard { pid, reaped: false };
        drop((stdout_write, stderr_write, child_socket));

        mapping.apply(pid)?;
        // Lives until the run ends; dropping it ends the stack.
        let _stack = self
            .network
            .as_ref()
            .map(|stack| stack.attach(pid))
            .transpose()?;
        sys::send_message(socket.as_raw_fd(), Message::Start).map_err(|errno| {
            ExecError::Communicate {
                source: std::io::Error::from_raw_os_error(errno),
            }
        })?;

        let report = stream(
            &setup,
            &socket,
            [stdout_read, stderr_read],
            &interrupt,
            &mut || on_interrupt(pid),
            output,
        )?;
        let init_status = sys::wait_for(pid).map_err(|source| ExecError::Wait { source })?;
        init.reaped = true;
        if let Some(signal) = report.interrupted {
            return Err(ExecError::Interrupted { signal });
        }
        if let Some(error) = report.failure {
            return Err(error);
        }
        match report.exited {
            Some(status) => Ok(ExitStatus::from_raw(status)),
            None => Err(ExecError::SandboxDied {
                status: ExitStatus::from_raw(init_status),
            }),
        }
    }
}

/// Adds init's steps that follow the filesystem: host name, network, working directory,
/// capabilities.
fn identity_steps(spec: &SandboxSpec, steps: &mut Vec<SetupStep>) {
    steps.push(SetupStep::SetHostname {
        name: c_string(spec.hostname.as_str()),
    });
    if spec.network != Network::Host {
        steps.push(SetupStep::LoopbackUp);
    }
    for path in setup::path_prefixes(&spec.cwd) {
        steps.push(SetupStep::MakeOwnedDir {
            path: c_string(path.as_str()),
            uid: spec.uid,
            gid: spec.gid,
            shown: path,
        });
    }
    if spec.security == Security::Sandbox {
        steps.push(SetupStep::DropCapabilities {
            keep: defaults::capability_mask(&defaults::CAPABILITIES),
        });
    }
}

/// The paths `execve` is tried on: the program itself when it has a `/`, else each
/// directory of `search_path` (an empty entry is the working directory, as in `execvp`).
pub(crate) fn candidates(program: &str, search_path: &str) -> Vec<CString> {
    if program.contains('/') {
        return vec![c_string(program)];
    }
    search_path
        .split(':')
        .map(|dir| match dir {
            "" => c_string(program),
            dir => c_string(format!("{}/{program}", dir.trim_end_matches('/'))),
        })
        .collect()
}

/// Kills and reaps init if the run is left early (an error, a panic in the output
/// callback), so no sandbox outlives its run.
struct InitGuard {
    pid: i32,
    reaped: bool,
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::wait_for(self.pid);
        }
    }
}

/// What the sandbox reported.
#[derive(Default)]
struct Report {
    failure: Option<ExecError>,
    exited: Option<i32>,
    interrupted: Option<i32>,
}

/// Forwards the output until both pipes and the socket are closed, collecting messages;
/// kills init on an interrupt.
fn stream(
    setup: &Setup,
    socket: &OwnedFd,
    outputs: [OwnedFd; 2],
    interrupt: &InterruptGuard,
    on_interrupt: &mut dyn FnMut(),
    output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<Report, ExecError> {
    let mut report = Report::default();
    let mut outputs = outputs.map(Some);
    let mut socket_open = true;
    let mut watch_interrupt = true;
    let mut buf = vec![0u8; OUTPUT_BUFFER];
    while socket_open || outputs.iter().any(Option::is_some) {
        let fds = [
            outputs[0].as_ref().map(AsFd::as_fd),
            outputs[1].as_ref().map(AsFd::as_fd),
            socket_open.then(|| socket.as_fd()),
            watch_interrupt.then(|| interrupt.fd()),
        ];
        let ready = sys::poll_readable(&fds).map_err(|source| ExecError::Communicate { source })?;
        if ready[3]
            && let Some(signal) = interrupt.signal()
        {
            report.interrupted = Some(signal);
            on_interrupt();
            watch_interrupt = false;
        }
        if ready[2] {
            match sys::receive_message(socket.as_raw_fd()) {
                Ok(None) => socket_open = false,
                Ok(Some(Message::SetupFailed { step, errno })) => {
                    let error = usize::try_from(step)
                        .ok()
                        .and_then(|step| setup.steps.get(step))
                        .map(|step| step.error(errno))
                        .unwrap_or_else(|| ExecError::Communicate {
                            source: std::io::Error::from_raw_os_error(errno),
                        });
                    report.failure.get_or_insert(error);
                }
                Ok(Some(Message::ExecFailed { errno })) => {
                    report.failure.get_or_insert(ExecError::Execute {
                        program: setup.program.clone(),
                        source: std::io::Error::from_raw_os_error(errno),
                    });
                }
                Ok(Some(Message::Exited { status })) => report.exited = Some(status),
                Ok(Some(Message::Start)) | Err(_) => {
                    // Init never sends `Start`; a garbled packet means the same: stop trusting
                    // the socket and let init's end decide.
                    socket_open = false;
                }
            }
        }
        for (index, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !ready[index] {
                continue;
            }
            let Some(fd) = &outputs[index] else { continue };
            let len = sys::read(fd, &mut buf).map_err(|source| ExecError::ReadOutput { source })?;
            if len == 0 {
                outputs[index] = None;
            } else {
                output(stream, &buf[..len]);
            }
        }
    }
    Ok(report)
}
