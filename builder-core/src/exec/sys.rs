//! Every system call of the sandbox, and every `unsafe` block of the crate's `exec` module.
//!
//! Most calls go through `rustix`, whose Linux backend issues system calls directly: no
//! C-library state, no locks, no allocation when paths are given as `&CStr`. That matters
//! because the child side runs in a process cloned from a possibly multi-threaded parent,
//! where only async-signal-safe work is allowed until `execve` (see the design note in
//! `mod.rs`). What `rustix` lacks (`clone`, signal masks and handlers, `execve`,
//! `mount_setattr`, `close_range`, `seccomp`, the interface-flags ioctl) goes through `libc`, using only
//! functions that are thin async-signal-safe wrappers of one system call.
//!
//! Functions marked "child side" are called between `clone` and `execve`: they never
//! allocate and never panic. Errors there are plain `errno` values.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, Timestamps};
use rustix::mount::{
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags,
};
use rustix::net::{RecvFlags, SendFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::CapabilitySet;

use crate::fsroot::{IN_ROOT, WALKED, openat2};

use super::protocol::Message;

/// An `errno` value, on the child side.
pub(crate) type Errno = i32;

fn errno(error: rustix::io::Errno) -> Errno {
    error.raw_os_error()
}

fn last_errno() -> Errno {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Borrows a file descriptor number owned elsewhere.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: every caller passes a descriptor that the setup program keeps open for as long
    // as the borrow is used (the parent's `OwnedFd`s outlive the run; in the child, nothing
    // closes them before the last use). `borrow_raw` only wraps the number.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

// ---------------------------------------------------------------------------------------
// Process creation and signals
// ---------------------------------------------------------------------------------------

/// Which side of a fork this is.
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The caller; the new process's pid (in the caller's pid namespace).
    Parent(i32),
}

/// `clone(flags | SIGCHLD)` without a new stack: a fork that may also create namespaces.
///
/// # Safety
/// The child may only do async-signal-safe work until it calls `execve` or `_exit`: it is a
/// copy of one thread of a possibly multi-threaded process, and locks that other threads
/// held (the allocator's among them) stay locked in it forever. Its stack is a copy of the
/// caller's, so returning from the caller's frames is fine, but it must end in
/// [`exit`] or `execve`, never by returning from `main` or unwinding.
pub(crate) unsafe fn clone_process(namespaces: libc::c_int) -> io::Result<Forked> {
    let flags = (namespaces | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: `clone` with a null stack behaves like `fork` (the child runs on a copy of this
    // stack); the remaining arguments (parent tid, child tid, tls) are unused without the
    // matching flags, and zero on every architecture's argument order. The caller upholds
    // the child-side contract above.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// A signal mask saved by [`block_all_signals`].
pub(crate) struct SignalMask(libc::sigset_t);

/// Forks through the C library's `fork`, for a child that runs ordinary Rust code (see
/// `userns.rs`) rather than a setup program.
///
/// # Safety
/// The child is a copy of one thread of a possibly multi-threaded process. The C library's
/// `fork` runs its fork handlers, which leave the allocator usable in the child (glibc and
/// musl both do), but any other lock another thread held stays locked: the child must take
/// none (no standard streams, no environment, no `Mutex` shared with other threads, no
/// thread pool) and must end in [`exit`], never by returning from the caller's frames.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` has no memory effects on this process; the caller upholds the
    // child-side contract above.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Child side of [`fork`]: moves this (single-threaded) process into a new, unmapped user
/// namespace, in which it has every capability once the parent mapped it.
pub(crate) fn unshare_user_namespace() -> io::Result<()> {
    // SAFETY: `unshare(CLONE_NEWUSER)` changes only this process's credentials; the child
    // of a fork is single-threaded, so no other thread shares them.
    Ok(unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER) }?)
}

/// Parent side: makes `command` run `program` in its child, after `fork` and before
/// `execve` (the chroot sandbox's setup, `chroot/program.rs`).
pub(crate) fn before_exec<F>(command: &mut std::process::Command, program: F)
where
    F: FnMut() -> io::Result<()> + Send + Sync + 'static,
{
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the only caller passes the chroot program, which keeps to the child-side
    // contract: it walks data prepared by the parent, makes system calls through the
    // functions of this file and never allocates, locks or panics.
    unsafe {
        command.pre_exec(program);
    }
}

/// Child side: `unshare(2)` of `flags`, in the single-threaded child of a fork.
pub(crate) fn unshare(flags: rustix::thread::UnshareFlags) -> Result<(), Errno> {
    // SAFETY: the child of a fork is single-threaded, so no other thread shares the
    // credentials, file table or filesystem information that `unshare` changes.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(errno)
}

/// Child side: makes `root` the process's root directory and enters it.
pub(crate) fn change_root(root: &CStr) -> Result<(), Errno> {
    rustix::process::chroot(root).map_err(errno)?;
    rustix::process::chdir(c"/").map_err(errno)
}

/// Child side: writes all of `bytes` to the open descriptor `fd` (an id map).
pub(crate) fn write_to(fd: RawFd, bytes: &[u8]) -> Result<(), Errno> {
    write_all(borrow(fd), bytes)
}

/// Opens `path` (a file or a directory), resolved inside `root` with
/// `openat2(RESOLVE_IN_ROOT)`, as an `O_PATH` descriptor numbered exactly `fd`
/// (close-on-exec): a mount target inside the chroot.
pub(crate) fn open_target_in_root_as(root: &CStr, path: &CStr, fd: RawFd) -> Result<(), Errno> {
    let path = if path.is_empty() { c"." } else { path };
    renumber(
        open_in_root(root, path, OFlags::PATH | OFlags::CLOEXEC)?,
        fd,
    )
}

/// Blocks every signal in the calling thread and returns the previous mask. Used around
/// `clone` so the child starts with all signals blocked (no handler of the parent can run
/// in it) and as init's permanent mask (it takes signals with [`wait_signal`]).
pub(crate) fn block_all_signals() -> SignalMask {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigfillset` initializes `all`; `pthread_sigmask` reads `all` and writes the
    // previous mask to `old`. It cannot fail with a valid `how` and valid pointers, so `old`
    // is initialized when it returns.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        SignalMask(old.assume_init())
    }
}

/// Restores a mask saved by [`block_all_signals`].
pub(crate) fn restore_signal_mask(mask: &SignalMask) {
    // SAFETY: `mask.0` is a mask the kernel gave us; a null `oldset` is allowed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut());
    }
}

/// Child side: unblocks every signal (just before `execve`).
pub(crate) fn unblock_all_signals() {
    let mut none = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initializes `none` before `sigprocmask` reads it; both are
    // async-signal-safe single system calls (or pure code).
    unsafe {
        libc::sigemptyset(none.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, none.as_ptr(), std::ptr::null_mut());
    }
}

/// Child side: sets every signal's disposition to the default. The child inherits the
/// parent's handlers (they would run the parent's code in it) and ignored signals (Rust
/// ignores `SIGPIPE`, which the command must not inherit).
pub(crate) fn reset_signal_dispositions() {
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `signal(2)` with `SIG_DFL` installs no code; numbers without a signal fail
        // with `EINVAL`, which is ignored. Async-signal-safe.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}

/// Child side: waits for the next signal (all are blocked) and returns its number.
pub(crate) fn wait_signal() -> i32 {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigfillset` initializes `all`; `sigwaitinfo` accepts a null info pointer.
    // Both are async-signal-safe.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        loop {
            let signal = libc::sigwaitinfo(all.as_ptr(), std::ptr::null_mut());
            if signal > 0 {
                return signal;
            }
        }
    }
}

/// Child side: ends the process at once (`_exit`: no destructors, no `atexit` handlers,
/// which may take locks).
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Child side: asks for `SIGKILL` when the parent thread dies.
/// Overwrites the bytes from `start` to `end` with `name` and zeros, so that
/// `/proc/self/cmdline` reads `name`.
///
/// # Safety
///
/// `start..end` must be writable memory of this process that nothing reads or writes
/// meanwhile and that no Rust value owns.
pub(crate) unsafe fn blank_memory(start: usize, end: usize, name: &[u8]) {
    let len = end - start;
    let ptr = start as *mut u8;
    // SAFETY: the caller guarantees the range is ours alone to write.
    unsafe {
        std::ptr::write_bytes(ptr, 0, len);
        std::ptr::copy_nonoverlapping(name.as_ptr(), ptr, name.len().min(len.saturating_sub(1)));
    }
}

pub(crate) fn set_parent_death_signal() -> Result<(), Errno> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(errno)
}

/// Child side: becomes a session leader without a controlling terminal.
pub(crate) fn new_session() -> Result<(), Errno> {
    rustix::process::setsid().map(drop).map_err(errno)
}

/// Child side: reaps one child that has ended, without waiting. `None` when none has.
pub(crate) fn reap_any() -> Option<(i32, i32)> {
    match rustix::process::waitpid(None, WaitOptions::NOHANG) {
        Ok(Some((pid, status))) => Some((pid.as_raw_nonzero().get(), status.as_raw())),
        _ => None,
    }
}

/// Sends signal number `signal` to process `pid`. Child side as well.
pub(crate) fn kill(pid: i32, signal: i32) -> Result<(), Errno> {
    // SAFETY: `kill(2)` is async-signal-safe and has no memory effects.
    match unsafe { libc::kill(pid, signal) } {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}

/// Parent side: waits for process `pid` to end and returns its raw wait status.
pub(crate) fn wait_for(pid: i32) -> io::Result<i32> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status.as_raw()),
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// File descriptors
// ---------------------------------------------------------------------------------------

/// Child side: closes every descriptor except those in `keep` (sorted ascending).
pub(crate) fn close_all_except(keep: &[RawFd]) -> Result<(), Errno> {
    let mut first: u32 = 0;
    for &fd in keep {
        let fd = fd as u32;
        if fd > first {
            close_range(first, fd - 1, 0)?;
        }
        first = fd + 1;
    }
    close_range(first, u32::MAX, 0)
}

/// Child side: marks every descriptor from 3 on close-on-exec, so the command inherits only
/// its standard streams.
pub(crate) fn cloexec_from_3() -> Result<(), Errno> {
    close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC)
}

fn close_range(first: u32, last: u32, flags: u32) -> Result<(), Errno> {
    // SAFETY: `close_range(2)` only closes (or flags) descriptors; every descriptor it can
    // close in the child is either unused or re-opened by later steps, never borrowed by
    // live Rust values (the child holds only raw numbers).
    match unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) } {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}

/// Child side: closes one descriptor.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` (a raw copy inherited through clone) and never uses it
    // again.
    unsafe {
        libc::close(fd);
    }
}

/// Child side: makes `/dev/null` standard input and `stdout`/`stderr` the standard output
/// and error.
pub(crate) fn redirect_stdio(stdout: RawFd, stderr: RawFd) -> Result<(), Errno> {
    let null = rustix::fs::open(
        c"/dev/null",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    for (from, to) in [(null.as_fd(), 0), (borrow(stdout), 1), (borrow(stderr), 2)] {
        // SAFETY: `dup2` onto 0, 1 and 2 replaces the standard streams, which no Rust value
        // in the child owns; the source descriptors are open.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&from), to) } < 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// A socket pair for [`Message`]s: `SOCK_SEQPACKET`, close-on-exec.
pub(crate) fn message_socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A pipe, both ends close-on-exec.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// Sends one message. Child side as well.
pub(crate) fn send_message(fd: RawFd, message: Message) -> Result<(), Errno> {
    let bytes = message.encode();
    loop {
        match rustix::net::send(borrow(fd), &bytes, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(errno(error)),
        }
    }
}

/// Receives one message; `Ok(None)` at end of file. Child side as well (decoding allocates
/// nothing).
pub(crate) fn receive_message(fd: RawFd) -> io::Result<Option<Message>> {
    let mut bytes = [0u8; Message::SIZE + 1];
    loop {
        match rustix::net::recv(borrow(fd), &mut bytes[..], RecvFlags::empty()) {
            Ok((_, 0)) => return Ok(None),
            Ok((_, len)) => return Message::decode(&bytes[..len]).map(Some),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Parent side: reads what is available from a pipe into `buf`; 0 at end of file.
pub(crate) fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(len) => return Ok(len),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Parent side: waits until one of `fds` is readable (or closed); returns, per descriptor,
/// whether it is.
pub(crate) fn poll_readable(fds: &[Option<BorrowedFd<'_>>]) -> io::Result<Vec<bool>> {
    use rustix::event::{PollFd, PollFlags};
    let mut present: Vec<usize> = Vec::new();
    let mut poll_fds: Vec<PollFd<'_>> = Vec::new();
    for (index, fd) in fds.iter().enumerate() {
        if let Some(fd) = fd {
            present.push(index);
            poll_fds.push(PollFd::from_borrowed_fd(*fd, PollFlags::IN));
        }
    }
    loop {
        match rustix::event::poll(&mut poll_fds, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let mut ready = vec![false; fds.len()];
    for (index, poll_fd) in present.into_iter().zip(&poll_fds) {
        ready[index] = !poll_fd.revents().is_empty();
    }
    Ok(ready)
}

/// Parent side: waits at most `timeout` until `fd` is readable (or closed); whether it is.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let deadline = std::time::Instant::now() + timeout;
    let mut poll_fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let left =
            Timespec::try_from(left).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        match rustix::event::poll(&mut poll_fds, Some(&left)) {
            Ok(ready) => return Ok(ready > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Parent side: waits at most `timeout` for `child` to exit, kills it if it has not, and
/// reaps it; how it ended.
pub(crate) fn wait_exit(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> io::Result<std::process::ExitStatus> {
    // A pidfd reads as readable once the process has exited.
    let exited =
        rustix::process::pidfd_open(Pid::from_child(child), rustix::process::PidfdFlags::empty())?;
    if !wait_readable(exited.as_fd(), timeout)? {
        child.kill()?;
    }
    child.wait()
}

/// Opens `path` as an `O_PATH` descriptor numbered exactly `fd` (close-on-exec).
pub(crate) fn open_path_as(path: &CStr, fd: RawFd) -> Result<(), Errno> {
    let opened =
        rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(errno)?;
    renumber(opened, fd)
}

/// Opens the directory `path`, resolved inside `root` with `openat2(RESOLVE_IN_ROOT)`, as
/// an `O_PATH` descriptor numbered exactly `fd` (close-on-exec).
pub(crate) fn open_in_root_as(root: &CStr, path: &CStr, fd: RawFd) -> Result<(), Errno> {
    let path = if path.is_empty() { c"." } else { path };
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    renumber(open_in_root(root, path, dir)?, fd)
}

/// Opens `path`, resolved inside the directory `root` with `openat2(RESOLVE_IN_ROOT)`
/// (retried on `EAGAIN`, as every lookup inside a root is), with `flags`.
fn open_in_root(root: &CStr, path: &CStr, flags: OFlags) -> Result<OwnedFd, Errno> {
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(root, dir, Mode::empty()).map_err(errno)?;
    openat2(&root, path, flags, Mode::empty(), IN_ROOT).map_err(errno)
}

/// Makes `opened` the descriptor numbered exactly `fd`.
fn renumber(opened: OwnedFd, fd: RawFd) -> Result<(), Errno> {
    let raw = std::os::fd::IntoRawFd::into_raw_fd(opened);
    if raw == fd {
        return Ok(());
    }
    // SAFETY: `fcntl(F_GETFD)` only asks whether `fd` is open; it touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
        // The setup program picks `fd` above every descriptor it keeps: one open there
        // is in use (a detached mount) and must not be replaced.
        close(raw);
        return Err(libc::EBUSY);
    }
    // SAFETY: `dup3` makes the free number `fd` a copy of `raw`.
    let result = unsafe { libc::dup3(raw, fd, libc::O_CLOEXEC) };
    close(raw);
    if result < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Files and mounts (child side)
// ---------------------------------------------------------------------------------------

/// `mount(2)`.
pub(crate) fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: MountFlags,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    rustix::mount::mount(source, target, fstype, flags, data).map_err(errno)
}

/// Makes every mount below `/` private, so nothing done in this mount namespace propagates
/// to the host.
pub(crate) fn make_mounts_private() -> Result<(), Errno> {
    rustix::mount::mount_change(
        c"/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(errno)
}

/// A recursive bind mount with `mount(2)`.
pub(crate) fn bind(source: &CStr, target: &CStr) -> Result<(), Errno> {
    rustix::mount::mount_bind_recursive(source, target).map_err(errno)
}

/// Clones the mount tree at `source` into a detached mount and returns its descriptor;
/// read-only when asked. With `root`, `source` is resolved inside that directory with
/// `openat2(RESOLVE_IN_ROOT)`, in this mount namespace (a descriptor opened in another
/// one cannot be cloned). The descriptor is attached later with [`attach_mount`].
pub(crate) fn clone_mount(
    root: Option<&CStr>,
    source: &CStr,
    recursive: bool,
    readonly: bool,
) -> Result<RawFd, Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let fd = match root {
        None => rustix::mount::open_tree(CWD, source, flags),
        Some(root) => {
            let found = open_in_root(root, source, OFlags::PATH | OFlags::CLOEXEC)?;
            rustix::mount::open_tree(&found, c"", flags | OpenTreeFlags::AT_EMPTY_PATH)
        }
    }
    .map_err(errno)?;
    let fd = std::os::fd::IntoRawFd::into_raw_fd(fd);
    if readonly {
        // The empty path with `AT_EMPTY_PATH` names `fd` itself.
        let at_flags = libc::AT_EMPTY_PATH | libc::AT_RECURSIVE;
        if let Err(error) = set_mount_attr(fd, c"", at_flags, libc::MOUNT_ATTR_RDONLY) {
            close(fd);
            return Err(error);
        }
    }
    Ok(fd)
}

/// Hides `path`: binds `/dev/null` over a file, mounts an empty read-only tmpfs on a
/// directory (binding a file onto a directory fails with `ENOTDIR`); a missing path is fine.
pub(crate) fn mask_path(path: &CStr) -> Result<(), Errno> {
    match rustix::mount::mount_bind(c"/dev/null", path) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::NOTDIR) => {
            rustix::mount::mount(c"tmpfs", path, c"tmpfs", MountFlags::RDONLY, None).map_err(errno)
        }
        Err(error) => Err(errno(error)),
    }
}

/// Binds `path` read-only onto itself, with the mounts below it; a missing path is fine.
pub(crate) fn readonly_path(path: &CStr) -> Result<(), Errno> {
    match clone_mount(None, path, true, true) {
        Ok(fd) => attach_mount(fd, path),
        Err(libc::ENOENT) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Makes the mount at `path`, and those below it, ignore device nodes.
pub(crate) fn forbid_devices(path: &CStr) -> Result<(), Errno> {
    set_mount_attr(
        libc::AT_FDCWD,
        path,
        libc::AT_RECURSIVE,
        libc::MOUNT_ATTR_NODEV,
    )
}

/// `mount_setattr(2)`: sets the attributes `attr_set` on the mount at `path` from `dirfd`
/// (with `at_flags`, such as `AT_RECURSIVE` for the mounts below it too).
fn set_mount_attr(
    dirfd: RawFd,
    path: &CStr,
    at_flags: libc::c_int,
    attr_set: u64,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `mount_setattr(2)` reads `size_of::<MountAttr>()` bytes from `&attr`, a
    // `repr(C)` copy of the kernel's `struct mount_attr`, and the C string `path`; both
    // outlive the call, and the kernel keeps neither.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            at_flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if result != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The kernel's `struct mount_attr` (`linux/mount.h`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Attaches the detached mount `fd` at `target` and closes `fd`.
pub(crate) fn attach_mount(fd: RawFd, target: &CStr) -> Result<(), Errno> {
    let result = rustix::mount::move_mount(
        borrow(fd),
        c"",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    );
    close(fd);
    result.map_err(errno)
}

/// Attaches the detached mount `fd` on the file or directory open as `target` (an
/// `O_PATH` descriptor), then closes `fd`.
pub(crate) fn attach_mount_on(fd: RawFd, target: RawFd) -> Result<(), Errno> {
    let result = rustix::mount::move_mount(
        borrow(fd),
        c"",
        borrow(target),
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    );
    close(fd);
    result.map_err(errno)
}

/// Enters `root` and makes it the root of the mount namespace; the old root is detached.
pub(crate) fn pivot_root(root: &CStr) -> Result<(), Errno> {
    rustix::process::chdir(root).map_err(errno)?;
    // `pivot_root(".", ".")` stacks the old root on top of the new one, so no directory is
    // needed in the image to hold it; unmounting "." then takes the old root away.
    rustix::process::pivot_root(c".", c".").map_err(errno)?;
    rustix::mount::unmount(c".", UnmountFlags::DETACH).map_err(errno)?;
    rustix::process::chdir(c"/").map_err(errno)
}

/// `mkdir`; an existing entry is fine.
pub(crate) fn make_dir(path: &CStr, mode: u32) -> Result<(), Errno> {
    match rustix::fs::mkdirat(CWD, path, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(error) => Err(errno(error)),
    }
}

/// `mkdir` then, when this call created it, `chown` and `chmod`; an existing entry is left
/// as it is.
pub(crate) fn make_owned_dir(path: &CStr, mode: u32, uid: u32, gid: u32) -> Result<(), Errno> {
    match rustix::fs::mkdirat(CWD, path, Mode::from_raw_mode(mode)) {
        Ok(()) => {
            chown(path, uid, gid)?;
            // The umask applied to `mkdir`; set the mode exactly.
            rustix::fs::chmodat(CWD, path, Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(errno)
        }
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(error) => Err(errno(error)),
    }
}

/// Creates an empty file; an existing entry is fine.
pub(crate) fn make_file(path: &CStr, mode: u32) -> Result<(), Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    match rustix::fs::openat(CWD, path, flags, Mode::from_raw_mode(mode)) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(error) => Err(errno(error)),
    }
}

/// Creates a file with `content`, then sets its mode and owner exactly.
pub(crate) fn write_file(
    path: &CStr,
    content: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), Errno> {
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let file = rustix::fs::openat(CWD, path, flags, Mode::from_raw_mode(0o600)).map_err(errno)?;
    write_all(file.as_fd(), content)?;
    rustix::fs::fchown(&file, Some(uid_of(uid)), Some(gid_of(gid))).map_err(errno)?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(errno)
}

/// Sets the owner, then the mode, of `path` exactly (a symlink is not followed).
pub(crate) fn set_owner(path: &CStr, mode: u32, uid: u32, gid: u32) -> Result<(), Errno> {
    chown(path, uid, gid)?;
    rustix::fs::chmodat(CWD, path, Mode::from_raw_mode(mode), AtFlags::empty()).map_err(errno)
}

/// Copies the host file `from` to `to` (mode 0644) through a fixed buffer; a missing `from`
/// gives an empty `to`.
pub(crate) fn copy_file(from: &CStr, to: &CStr) -> Result<(), Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    let target = rustix::fs::openat(CWD, to, flags, Mode::from_raw_mode(0o644)).map_err(errno)?;
    let source =
        match rustix::fs::openat(CWD, from, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(source) => source,
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(error) => return Err(errno(error)),
        };
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&source, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(len) => write_all(target.as_fd(), buf.get(..len).unwrap_or_default())?,
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(errno(error)),
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(len) => bytes = bytes.get(len..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(errno(error)),
        }
    }
    Ok(())
}

/// Creates the directory (else the empty file) `name` in the directory `parent`, both
/// resolved inside `root` with `openat2(RESOLVE_IN_ROOT)` (`name` is a plain name there,
/// never followed); an existing entry is fine. With `like` (a layer's directory and a
/// path below it, reached through no symlink), the directory then gets that directory's
/// owner, mode and times.
pub(crate) fn make_in(
    root: &CStr,
    parent: &CStr,
    name: &CStr,
    dir: bool,
    like: Option<(&CStr, &CStr)>,
) -> Result<(), Errno> {
    let path = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let parent = if parent.is_empty() { c"." } else { parent };
    let parent = open_in_root(root, parent, path)?;
    let made = if dir {
        rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)).map(drop)
    } else {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o644)).map(drop)
    };
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(error) => return Err(errno(error)),
    }
    let Some((layer, below)) = like else {
        return Ok(());
    };
    let layer = rustix::fs::open(layer, path, Mode::empty()).map_err(errno)?;
    let below = if below.is_empty() { c"." } else { below };
    let source = openat2(&layer, below, path, Mode::empty(), WALKED).map_err(errno)?;
    let stat = rustix::fs::fstat(&source).map_err(errno)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let made = rustix::fs::openat(&parent, name, flags, Mode::empty()).map_err(errno)?;
    rustix::fs::fchown(&made, Some(uid_of(stat.st_uid)), Some(gid_of(stat.st_gid)))
        .map_err(errno)?;
    // After `chown`, which clears the set-id bits.
    rustix::fs::fchmod(&made, Mode::from_raw_mode(stat.st_mode & 0o7777)).map_err(errno)?;
    rustix::fs::futimens(&made, &stat_times(&stat)).map_err(errno)
}

/// The access and modification times of `stat`, as `futimens` takes them.
pub(crate) fn stat_times(stat: &rustix::fs::Stat) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: stat.st_atime as _,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: stat.st_mtime as _,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    }
}

fn chown(path: &CStr, uid: u32, gid: u32) -> Result<(), Errno> {
    rustix::fs::chownat(
        CWD,
        path,
        Some(uid_of(uid)),
        Some(gid_of(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno)
}

/// Parent side: whether the directory `dir` (an `O_PATH` descriptor, which the `f*xattr`
/// calls do not take) carries the overlayfs opaque attribute `name` set to `y`, read
/// through `/proc/self/fd/N`: `getxattr` follows that magic link to the directory itself.
pub(crate) fn has_opaque_xattr(dir: &OwnedFd, name: &str) -> bool {
    let mut value = [0u8; 1];
    let read = rustix::fs::getxattr(crate::fsroot::proc_path(dir), name, &mut value[..]);
    matches!(read, Ok(1)) && value[0] == b'y'
}

/// `symlink(target, path)`; an existing entry is fine.
pub(crate) fn symlink(target: &CStr, path: &CStr) -> Result<(), Errno> {
    match rustix::fs::symlinkat(target, CWD, path) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(error) => Err(errno(error)),
    }
}

/// `chdir`.
pub(crate) fn change_dir(path: &CStr) -> Result<(), Errno> {
    rustix::process::chdir(path).map_err(errno)
}

/// Parent side: the capability bits in this process's effective set.
pub(crate) fn effective_capabilities() -> io::Result<u64> {
    Ok(rustix::thread::capabilities(None)?.effective.bits())
}

/// Parent side: the effective uid and gid of this process.
pub(crate) fn effective_ids() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

// ---------------------------------------------------------------------------------------
// Identity, capabilities, host name, network (child side)
// ---------------------------------------------------------------------------------------

fn uid_of(uid: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw_unchecked(uid)
}

fn gid_of(gid: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw_unchecked(gid)
}

/// Switches the process to `uid`, `gid` and, when `set_groups`, the supplementary
/// `groups`. Uses the per-thread system calls: the C library's `setuid` family would signal
/// the parent's other threads, which do not exist in this process.
pub(crate) fn set_ids(
    uid: u32,
    gid: u32,
    groups: &[rustix::fs::Gid],
    set_groups: bool,
) -> Result<(), Errno> {
    if set_groups {
        rustix::thread::set_thread_groups(groups).map_err(errno)?;
    }
    let gid = gid_of(gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(errno)?;
    let uid = uid_of(uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(errno)
}

/// The supplementary groups as `rustix` wants them (parent side, prepared in advance).
pub(crate) fn gids(groups: &[u32]) -> Vec<rustix::fs::Gid> {
    groups.iter().copied().map(gid_of).collect()
}

/// Removes from the bounding set every capability whose bit is not in `keep`, and clears
/// the ambient and inheritable sets, so the command can never gain the dropped ones.
pub(crate) fn drop_capabilities(keep: u64) -> Result<(), Errno> {
    for bit in 0..64u32 {
        if keep & (1 << bit) != 0 {
            continue;
        }
        // The raw prctl: `rustix` names capabilities by enum, and kernels newer than it
        // may have more.
        // SAFETY: `prctl(PR_CAPBSET_DROP, n)` changes only this thread's bounding set;
        // numbers past the last capability fail with `EINVAL`.
        let result = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, bit as libc::c_ulong, 0, 0, 0) };
        if result != 0 {
            match last_errno() {
                libc::EINVAL => break,
                error => return Err(error),
            }
        }
    }
    rustix::thread::clear_ambient_capability_set().map_err(errno)?;
    let mut sets = rustix::thread::capabilities(None).map_err(errno)?;
    sets.inheritable = CapabilitySet::empty();
    rustix::thread::set_capabilities(None, sets).map_err(errno)
}

/// Installs the seccomp filter `program` on this thread, which its children inherit.
///
/// Without `no_new_privs`, as Docker does, so that a `RUN` step can still run setuid
/// programs: the kernel then wants `CAP_SYS_ADMIN`, which the command process has until it
/// switches to the step's user, so this must come before that.
pub(crate) fn install_seccomp(program: &[seccompiler::sock_filter]) -> Result<(), Errno> {
    let len = u16::try_from(program.len()).map_err(|_| libc::EINVAL)?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `seccompiler::sock_filter` is a `repr(C)` copy of the kernel's `struct
    // sock_filter` (u16, u8, u8, u32), as is `libc::sock_filter`; `fprog` points at `len`
    // of them, alive for the call, and the kernel only reads (copies) them. No flags, so
    // no thread synchronisation and no returned descriptor.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &fprog as *const libc::sock_fprog,
        )
    };
    if result != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// `sethostname`.
pub(crate) fn set_hostname(name: &CStr) -> Result<(), Errno> {
    rustix::system::sethostname(name.to_bytes()).map_err(errno)
}

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> Result<(), Errno> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(errno)?;
    let mut request = InterfaceRequest {
        name: [0; 16],
        flags: 0,
        padding: [0; 22],
    };
    request.name[..2].copy_from_slice(b"lo");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: `SIOCGIFFLAGS` and `SIOCSIFFLAGS` read and write a `struct ifreq`, which
    // `InterfaceRequest` mirrors (16-byte name, then the `ifr_flags` member of the union,
    // padded to the union's 24 bytes); `request` outlives both calls.
    unsafe {
        if libc::ioctl(
            fd,
            libc::SIOCGIFFLAGS,
            &mut request as *mut InterfaceRequest,
        ) < 0
        {
            return Err(last_errno());
        }
        request.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(
            fd,
            libc::SIOCSIFFLAGS,
            &mut request as *mut InterfaceRequest,
        ) < 0
        {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// The part of `struct ifreq` that the interface-flags ioctls use.
#[repr(C)]
struct InterfaceRequest {
    name: [u8; 16],
    flags: libc::c_short,
    padding: [u8; 22],
}

/// Replaces the process with `path`; returns the error when it cannot.
///
/// `argv` and `envp` are null-terminated arrays of pointers to C strings that the caller
/// keeps alive (they are prepared by the parent before `clone`).
pub(crate) fn execute(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    if argv.last().is_none_or(|last| !last.is_null())
        || envp.last().is_none_or(|last| !last.is_null())
    {
        return libc::EINVAL;
    }
    // SAFETY: `path` is a C string; `argv` and `envp` end with a null pointer (checked
    // above) and point to C strings owned by the setup program, alive until `execve`
    // replaces the process. `execve` is async-signal-safe.
    unsafe {
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    last_errno()
}

// ---------------------------------------------------------------------------------------
// The parent's interrupt handler
// ---------------------------------------------------------------------------------------

/// The write end of the interrupt pipe, for the handler; -1 when none is installed.
static INTERRUPT_PIPE: AtomicI32 = AtomicI32::new(-1);
/// The last interrupting signal received, 0 if none.
static INTERRUPT_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_interrupt(signal: libc::c_int) {
    INTERRUPT_SIGNAL.store(signal, Ordering::SeqCst);
    let fd = INTERRUPT_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = [0u8];
        // SAFETY: `write(2)` is async-signal-safe; the pipe is non-blocking, so a full pipe
        // (an interrupt already pending) makes it fail harmlessly.
        unsafe {
            libc::write(fd, byte.as_ptr().cast(), 1);
        }
    }
}

/// A saved signal disposition.
pub(crate) struct Disposition(libc::sigaction);

/// Parent side: installs the interrupt handler for `signal`, which records the signal and
/// writes a byte to `pipe` (non-blocking write end); returns the previous disposition.
pub(crate) fn install_interrupt_handler(signal: i32, pipe: RawFd) -> io::Result<Disposition> {
    INTERRUPT_PIPE.store(pipe, Ordering::SeqCst);
    // SAFETY: a zeroed `sigaction` is a valid "no flags, empty mask" value;
    // `sigemptyset` initializes the mask; `on_interrupt` only touches atomics and calls
    // `write`, both async-signal-safe. `old` is written by the kernel before it is read.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old = MaybeUninit::<libc::sigaction>::uninit();
        if libc::sigaction(signal, &action, old.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Disposition(old.assume_init()))
    }
}

/// Parent side: puts back a disposition saved by [`install_interrupt_handler`].
pub(crate) fn restore_disposition(signal: i32, disposition: &Disposition) {
    // SAFETY: `disposition.0` is what the kernel returned for this signal.
    unsafe {
        libc::sigaction(signal, &disposition.0, std::ptr::null_mut());
    }
}

/// The last interrupting signal, 0 if none; `reset` clears it.
pub(crate) fn interrupt_signal(reset: bool) -> i32 {
    if reset {
        INTERRUPT_SIGNAL.swap(0, Ordering::SeqCst)
    } else {
        INTERRUPT_SIGNAL.load(Ordering::SeqCst)
    }
}

/// Parent side: makes `fd` non-blocking.
pub(crate) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    Ok(rustix::io::ioctl_fionbio(fd, true)?)
}
