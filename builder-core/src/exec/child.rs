//! The sandbox's side: init (pid 1 of the new pid namespace) and the command process.
//!
//! Everything here runs in a process cloned from the parent, before `execve`. It must not
//! allocate, lock or panic (see the design note in `mod.rs`): it only walks the prepared
//! [`Setup`] and makes system calls through `sys`. Errors go to the parent as
//! [`Message`]s; the process then ends with `_exit`.

use std::os::fd::RawFd;

use super::protocol::Message;
use super::setup::{Setup, SetupStep};
use super::sys::{self, Errno};

/// Exit code of the command process when it could not start the command.
const COMMAND_SETUP_FAILED: i32 = 127;

/// Init: waits for `Start`, runs the init steps, forks the command process, then reaps
/// every child and forwards signals to the command until the command ends; reports its
/// status and exits. Its exit takes down every other process of the pid namespace.
pub(crate) fn init(setup: &Setup, slots: &mut [RawFd]) -> ! {
    // Signals are blocked (the parent blocked them around `clone`) and stay blocked: init
    // takes them with `sigwaitinfo`.
    sys::reset_signal_dispositions();
    if sys::set_parent_death_signal().is_err() || sys::close_all_except(&setup.keep_fds).is_err() {
        sys::exit(1);
    }
    // Without `Start` the parent is gone (end of file) or failed to map the user namespace.
    match sys::receive_message(setup.socket) {
        Ok(Some(Message::Start)) => {}
        _ => sys::exit(1),
    }
    if sys::new_session().is_err() {
        sys::exit(1);
    }
    if let Some(strings) = &setup.host_strings {
        // SAFETY: the range is this process's argument and environment strings (read
        // from /proc/self/stat before the clone); init is single-threaded and never reads
        // them (nor `std::env`) again.
        unsafe { sys::blank_memory(strings.start, strings.end, b"init") };
    }
    let spawn = setup.spawn_index();
    for (index, step) in setup.steps.iter().enumerate().take(spawn) {
        if let Err(errno) = run(step, slots) {
            fail(setup.socket, index, errno, 1);
        }
    }
    // SAFETY: the command process below only runs `command`, which keeps to the
    // child-side contract and ends in `execve` or `_exit`.
    let command_pid = match unsafe { sys::clone_process(0) } {
        Ok(sys::Forked::Child) => command(setup, slots, spawn + 1),
        Ok(sys::Forked::Parent(pid)) => pid,
        Err(error) => fail(
            setup.socket,
            spawn,
            error.raw_os_error().unwrap_or(libc::EIO),
            1,
        ),
    };
    // Only the command writes to the output pipes; dropping init's copies lets the parent
    // see end of file when the command and its descendants are gone.
    for fd in setup.output_fds {
        sys::close(fd);
    }
    loop {
        let signal = sys::wait_signal();
        if signal != libc::SIGCHLD {
            // Forwarded; a command that ended meanwhile is reaped below.
            let _ = sys::kill(command_pid, signal);
            continue;
        }
        while let Some((pid, status)) = sys::reap_any() {
            if pid == command_pid {
                let _ = sys::send_message(setup.socket, Message::Exited { status });
                sys::exit(0);
            }
        }
    }
}

/// The command process: runs the steps from `first` on, then executes the program.
fn command(setup: &Setup, slots: &mut [RawFd], first: usize) -> ! {
    for (index, step) in setup.steps.iter().enumerate().skip(first) {
        if let Err(errno) = run(step, slots) {
            fail(setup.socket, index, errno, COMMAND_SETUP_FAILED);
        }
    }
    sys::unblock_all_signals();
    // The `PATH` search was done in advance; this is `execvp`'s rule for which error to
    // report: permission problems win over "not found", anything else stops the search.
    let mut last = libc::ENOENT;
    for candidate in &setup.candidates {
        match sys::execute(candidate, &setup.argv_ptrs, &setup.env_ptrs) {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => last = libc::EACCES,
            errno => {
                last = errno;
                break;
            }
        }
    }
    let _ = sys::send_message(setup.socket, Message::ExecFailed { errno: last });
    sys::exit(COMMAND_SETUP_FAILED)
}

/// Reports step `index` failing with `errno` and exits with `code`.
fn fail(socket: RawFd, index: usize, errno: Errno, code: i32) -> ! {
    let step = u32::try_from(index).unwrap_or(u32::MAX);
    let _ = sys::send_message(socket, Message::SetupFailed { step, errno });
    sys::exit(code)
}

/// Carries out one step.
fn run(step: &SetupStep, slots: &mut [RawFd]) -> Result<(), Errno> {
    match step {
        SetupStep::MakePrivate => sys::make_mounts_private(),
        SetupStep::Mount {
            source,
            target,
            fstype,
            flags,
            data,
            ..
        } => sys::mount(source, target, fstype, *flags, data.as_deref()),
        SetupStep::Bind { source, target, .. } => sys::bind(source, target),
        SetupStep::OpenPath { path, fd, .. } => sys::open_path_as(path, *fd),
        SetupStep::MakeDir { path, mode, .. } => sys::make_dir(path, *mode),
        SetupStep::MakeFile { path, mode, .. } => sys::make_file(path, *mode),
        SetupStep::MakeIn {
            root,
            parent,
            name,
            dir,
            like,
            ..
        } => sys::make_in(
            root,
            parent,
            name,
            *dir,
            like.as_ref().map(|l| (&*l.layer, &*l.path)),
        ),
        SetupStep::OpenInRoot { root, path, fd, .. } => sys::open_in_root_as(root, path, *fd),
        SetupStep::CopyFile { from, to, .. } => sys::copy_file(from, to),
        SetupStep::WriteFile {
            path,
            content,
            mode,
            uid,
            gid,
            ..
        } => sys::write_file(path, content, *mode, *uid, *gid),
        SetupStep::SetOwner {
            path,
            mode,
            uid,
            gid,
            ..
        } => sys::set_owner(path, *mode, *uid, *gid),
        SetupStep::Symlink { target, path, .. } => sys::symlink(target, path),
        SetupStep::CloneMount {
            root,
            source,
            slot,
            recursive,
            readonly,
            ..
        } => {
            let fd = sys::clone_mount(root.as_deref(), source, *recursive, *readonly)?;
            match slots.get_mut(*slot) {
                Some(entry) => {
                    *entry = fd;
                    Ok(())
                }
                None => Err(libc::EINVAL),
            }
        }
        SetupStep::AttachMount { slot, target, .. } => match slots.get(*slot) {
            Some(&fd) if fd >= 0 => sys::attach_mount(fd, target),
            _ => Err(libc::EBADF),
        },
        SetupStep::PivotRoot { root } => sys::pivot_root(root),
        SetupStep::SetHostname { name } => sys::set_hostname(name),
        SetupStep::LoopbackUp => sys::loopback_up(),
        SetupStep::DropCapabilities { keep } => sys::drop_capabilities(*keep),
        SetupStep::MaskPath { path, .. } => sys::mask_path(path),
        SetupStep::ReadonlyPath { path, .. } => sys::readonly_path(path),
        SetupStep::ForbidDevices { path, .. } => sys::forbid_devices(path),
        SetupStep::InstallSeccomp { filters } => filters
            .iter()
            .try_for_each(|filter| sys::install_seccomp(filter)),
        SetupStep::MakeOwnedDir { path, uid, gid, .. } => {
            sys::make_owned_dir(path, 0o755, *uid, *gid)
        }
        // Init handles the fork itself; reaching this in `run` is a misplaced step.
        SetupStep::SpawnCommand => Err(libc::EINVAL),
        SetupStep::RedirectStdio { stdout, stderr } => sys::redirect_stdio(*stdout, *stderr),
        // The socket stays usable until `execve` (it is close-on-exec anyway).
        SetupStep::CloseOtherFds => sys::cloexec_from_3(),
        SetupStep::ChangeDir { path, .. } => sys::change_dir(path),
        SetupStep::SetIds {
            uid,
            gid,
            groups,
            set_groups,
        } => sys::set_ids(*uid, *gid, groups, *set_groups),
    }
}
