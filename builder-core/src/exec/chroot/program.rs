//! The child's side of a chroot run: a list of steps prepared by the parent and walked
//! between `fork` and `execve`, where the child may not allocate (see `sys.rs`).
//!
//! Order: open the id maps (before the user namespace, so that root's opener credentials
//! may map every id), unshare, write the maps, bring loopback up, make the mounts private,
//! mount the scratch tmpfs and write its files, mount each target (resolved inside the
//! tree), chroot, make and enter the working directory, switch to the step's user, and ask
//! for `SIGKILL` when the parent dies. A failing step writes its index and `errno` to the
//! report pipe, which the parent turns into an error naming the step.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountFlags;
use rustix::thread::UnshareFlags;

use super::Confinement;
use super::points::{ChildMount, Plan, ScratchFile};
use crate::exec::error::ExecError;
use crate::exec::setup::{c_string, path_prefixes};
use crate::exec::spec::SandboxSpec;
use crate::exec::sys::{self, Errno};
use crate::plan::Network;

/// The descriptor number a mount target is opened as, and the path naming it.
const TARGET_FD: RawFd = 1000;
const TARGET_PATH: &CStr = c"/proc/self/fd/1000";

/// One step of the child.
#[derive(Debug)]
enum Step {
    /// Fork the helper that writes these maps once this process has unshared.
    StartMapper(Maps),
    /// `unshare(2)`.
    Unshare(UnshareFlags),
    /// Let the helper write the maps and wait for it.
    AwaitMapper,
    /// Deny `setgroups` and map the caller alone, from inside.
    MapSelf { uid_map: Vec<u8>, gid_map: Vec<u8> },
    /// Bring the new network namespace's loopback up.
    LoopbackUp,
    /// Make every mount private to the new mount namespace.
    MakePrivate,
    /// Mount a private tmpfs on the scratch directory.
    ScratchTmpfs(CString),
    /// Make a directory on the tmpfs.
    MakeDir(CString),
    /// Write a file on the tmpfs.
    WriteFile(ScratchFile),
    /// Mount on a target inside the tree, shown as this sandbox path.
    Mount(ChildMount, String),
    /// `chroot` into the tree.
    ChangeRoot(CString),
    /// Make one component of the working directory, owned by the user when made.
    MakeOwnedDir { path: CString, uid: u32, gid: u32 },
    /// Enter the working directory.
    ChangeDir(CString),
    /// Switch to the step's user.
    SetIds {
        uid: u32,
        gid: u32,
        groups: Vec<rustix::fs::Gid>,
        set_groups: bool,
    },
    /// Be killed when the parent dies.
    DeathSignal,
}

/// The child's program.
#[derive(Debug)]
pub(super) struct Program {
    steps: Vec<Step>,
    /// The helper of [`Step::StartMapper`] while it runs.
    mapper: Option<Mapper>,
    /// The tree, as a C string.
    root: CString,
    /// The write end of the report pipe.
    pub(super) report: RawFd,
}

impl Program {
    /// The program running `spec` in the tree `root` as `plan` says, with the namespaces
    /// `confinement` allows.
    ///
    /// # Errors
    /// [`ExecError::ChrootNetwork`] when `--network=none` cannot have a network namespace;
    /// the caller's id maps cannot be read.
    pub(super) fn new(
        spec: &SandboxSpec,
        root: &Path,
        plan: &mut Plan,
        confinement: Confinement,
    ) -> Result<Program, ExecError> {
        let own_network = spec.network == Network::None;
        if own_network && confinement == Confinement::Plain {
            return Err(ExecError::ChrootNetwork);
        }
        let mut steps = Vec::new();
        let user_namespace = confinement == Confinement::UserNamespace;
        let root_caller = sys::effective_ids().0 == 0;
        // Root maps every id, which takes a writer with its capabilities in the caller's
        // namespace: a helper that stays there. Anyone may map themselves from inside.
        if user_namespace && root_caller {
            steps.push(Step::StartMapper(root_maps()?));
        }
        let flags = confinement.unshare_flags(own_network);
        if !flags.is_empty() {
            steps.push(Step::Unshare(flags));
        }
        if user_namespace && root_caller {
            steps.push(Step::AwaitMapper);
        }
        if user_namespace && !root_caller {
            let (uid, gid) = sys::effective_ids();
            steps.push(Step::MapSelf {
                uid_map: format!("0 {uid} 1").into_bytes(),
                gid_map: format!("0 {gid} 1").into_bytes(),
            });
        }
        if own_network {
            steps.push(Step::LoopbackUp);
        }
        if let Some(scratch) = plan.scratch.take() {
            steps.push(Step::MakePrivate);
            steps.push(Step::ScratchTmpfs(scratch));
        }
        steps.extend(plan.scratch_dirs.drain(..).map(Step::MakeDir));
        steps.extend(plan.scratch_files.drain(..).map(Step::WriteFile));
        steps.extend(
            plan.mounts
                .drain(..)
                .map(|(mount, shown)| Step::Mount(mount, shown)),
        );
        let root = c_string(root.as_os_str().as_encoded_bytes());
        steps.push(Step::ChangeRoot(root.clone()));
        for path in path_prefixes(&spec.cwd) {
            steps.push(Step::MakeOwnedDir {
                path: c_string(path.as_str()),
                uid: spec.uid,
                gid: spec.gid,
            });
        }
        steps.push(Step::ChangeDir(c_string(spec.cwd.as_str())));
        steps.push(Step::SetIds {
            uid: spec.uid,
            gid: spec.gid,
            groups: sys::gids(&spec.groups),
            set_groups: !user_namespace || root_caller,
        });
        steps.push(Step::DeathSignal);
        Ok(Program {
            steps,
            mapper: None,
            root,
            report: -1,
        })
    }

    /// Child side: walks the steps; a failure is reported on the report pipe and returned.
    pub(super) fn run(&mut self) -> io::Result<()> {
        for index in 0..self.steps.len() {
            if let Err(errno) = self.step(index) {
                let mut message = [0u8; 8];
                message[..4].copy_from_slice(&(index as u32).to_le_bytes());
                message[4..].copy_from_slice(&errno.to_le_bytes());
                let _ = sys::write_to(self.report, &message);
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }

    /// Parent side: what each step does, for the error of a failed one.
    pub(super) fn descriptions(&self) -> Vec<String> {
        self.steps.iter().map(describe).collect()
    }

    /// Child side: step `index`.
    fn step(&mut self, index: usize) -> Result<(), Errno> {
        let Some(step) = self.steps.get(index) else {
            return Ok(());
        };
        match step {
            Step::StartMapper(maps) => {
                self.mapper = Some(start_mapper(maps)?);
                Ok(())
            }
            Step::Unshare(flags) => sys::unshare(*flags),
            Step::AwaitMapper => match self.mapper.take() {
                Some(mapper) => mapper.finish(),
                None => Err(libc::ECHILD),
            },
            Step::MapSelf { uid_map, gid_map } => {
                write_proc_file(c"/proc/self/setgroups", b"deny")?;
                write_proc_file(c"/proc/self/uid_map", uid_map)?;
                write_proc_file(c"/proc/self/gid_map", gid_map)
            }
            Step::LoopbackUp => sys::loopback_up(),
            Step::MakePrivate => sys::make_mounts_private(),
            Step::ScratchTmpfs(path) => sys::mount(
                c"tmpfs",
                path,
                c"tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                Some(c"mode=755"),
            ),
            Step::MakeDir(path) => sys::make_dir(path, 0o755),
            Step::WriteFile(file) => {
                sys::write_file(&file.path, &file.content, file.mode, file.uid, file.gid)
            }
            Step::Mount(mount, _) => mount_target(&self.root, mount),
            Step::ChangeRoot(root) => sys::change_root(root),
            Step::MakeOwnedDir { path, uid, gid } => sys::make_owned_dir(path, 0o755, *uid, *gid),
            Step::ChangeDir(path) => sys::change_dir(path),
            Step::SetIds {
                uid,
                gid,
                groups,
                set_groups,
            } => sys::set_ids(*uid, *gid, groups, *set_groups),
            Step::DeathSignal => sys::set_parent_death_signal(),
        }
    }
}

/// Child side: opens the target inside the tree `root` and mounts on it.
fn mount_target(root: &CStr, mount: &ChildMount) -> Result<(), Errno> {
    let target = match mount {
        ChildMount::Bind { target, .. } | ChildMount::Tmpfs { target, .. } => target,
    };
    sys::open_target_in_root_as(root, target, TARGET_FD)?;
    let mounted = match mount {
        ChildMount::Bind {
            source_root,
            source,
            recursive,
            readonly,
            ..
        } => sys::clone_mount(source_root.as_deref(), source, *recursive, *readonly)
            .and_then(|slot| sys::attach_mount_on(slot, TARGET_FD)),
        ChildMount::Tmpfs { data, .. } => sys::mount(
            c"tmpfs",
            TARGET_PATH,
            c"tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some(data),
        ),
    };
    sys::close(TARGET_FD);
    mounted
}

/// What a step does, for an error.
fn describe(step: &Step) -> String {
    match step {
        Step::StartMapper(_) => "start the id-mapping helper".to_owned(),
        Step::Unshare(flags) if flags.contains(UnshareFlags::NEWNET) => {
            "create the namespaces (network included, for `--network=none`)".to_owned()
        }
        Step::Unshare(_) => "create the namespaces".to_owned(),
        Step::AwaitMapper | Step::MapSelf { .. } => "write the user namespace's id maps".to_owned(),
        Step::LoopbackUp => "bring the loopback interface up".to_owned(),
        Step::MakePrivate => "make the mounts private".to_owned(),
        Step::ScratchTmpfs(_) | Step::MakeDir(_) | Step::WriteFile(_) => {
            "write the generated files".to_owned()
        }
        Step::Mount(_, shown) => format!("mount on `{shown}`"),
        Step::ChangeRoot(_) => "enter the chroot".to_owned(),
        Step::MakeOwnedDir { path, .. } | Step::ChangeDir(path) => {
            format!("enter the working directory `{}`", path.to_string_lossy())
        }
        Step::SetIds { uid, gid, .. } => format!("switch to the user `{uid}:{gid}`"),
        Step::DeathSignal => "set the parent death signal".to_owned(),
    }
}

/// The maps root gives its user namespace: every id its own namespace maps, to itself.
#[derive(Debug)]
struct Maps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

/// Reads the caller's id maps and makes them the identity over the same ids.
fn root_maps() -> Result<Maps, ExecError> {
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|source| ExecError::ChrootPrepare {
            path: path.to_owned(),
            source,
        })
    };
    Ok(Maps {
        uid_map: identity_map(&read("/proc/self/uid_map")?),
        gid_map: identity_map(&read("/proc/self/gid_map")?),
    })
}

/// The identity map over the ids that the map `text` (as `/proc/self/uid_map` lists it)
/// gives inside.
fn identity_map(text: &str) -> Vec<u8> {
    let lines: Vec<String> = text
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [inside, _, count] => Some(format!("{inside} {inside} {count}")),
                _ => None,
            },
        )
        .collect();
    lines.join("\n").into_bytes()
}

/// The helper writing root's maps: told to go through `go`, it answers on `done`.
#[derive(Debug)]
struct Mapper {
    pid: i32,
    go: OwnedFd,
    done: OwnedFd,
}

impl Mapper {
    /// Child side: lets the helper write the maps, then reaps it.
    fn finish(self) -> Result<(), Errno> {
        sys::write_to(std::os::fd::AsRawFd::as_raw_fd(&self.go), &[1])?;
        let mut answer = [0u8; 4];
        let read = sys::read(&self.done, &mut answer)
            .map_err(|error| error.raw_os_error().unwrap_or(libc::EIO))?;
        let _ = sys::wait_for(self.pid);
        match (read, i32::from_le_bytes(answer)) {
            (4, 0) => Ok(()),
            (4, errno) => Err(errno),
            _ => Err(libc::ECHILD),
        }
    }
}

/// Child side: forks the helper, which waits for the go, writes `maps` into this
/// process's `uid_map` and `gid_map` from the caller's namespace, answers and exits.
fn start_mapper(maps: &Maps) -> Result<Mapper, Errno> {
    let to_errno = |error: io::Error| error.raw_os_error().unwrap_or(libc::EIO);
    let (go_read, go_write) = sys::pipe().map_err(to_errno)?;
    let (done_read, done_write) = sys::pipe().map_err(to_errno)?;
    let parent = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: the helper only reads, opens and writes with prepared data, then exits.
    match unsafe { sys::clone_process(0) }.map_err(to_errno)? {
        sys::Forked::Child => {
            let mut byte = [0u8; 1];
            let errno = match sys::read(&go_read, &mut byte) {
                Ok(1) => write_maps(parent, maps).err().unwrap_or(0),
                _ => libc::ECHILD,
            };
            let _ = sys::write_to(
                std::os::fd::AsRawFd::as_raw_fd(&done_write),
                &errno.to_le_bytes(),
            );
            sys::exit(0)
        }
        sys::Forked::Parent(pid) => Ok(Mapper {
            pid,
            go: go_write,
            done: done_read,
        }),
    }
}

/// Helper side: writes `maps` into process `pid`'s map files.
fn write_maps(pid: i32, maps: &Maps) -> Result<(), Errno> {
    let mut buffer = [0u8; 40];
    write_proc_file(proc_path(&mut buffer, pid, b"uid_map"), &maps.uid_map)?;
    write_proc_file(proc_path(&mut buffer, pid, b"gid_map"), &maps.gid_map)
}

/// `/proc/<pid>/<name>` written into `buffer` without allocating.
fn proc_path<'a>(buffer: &'a mut [u8; 40], pid: i32, name: &[u8]) -> &'a CStr {
    let mut digits = [0u8; 10];
    let mut rest = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 || len == digits.len() {
            break;
        }
    }
    let mut at = 0;
    for &byte in b"/proc/"
        .iter()
        .chain(digits[..len].iter().rev())
        .chain(b"/")
        .chain(name)
    {
        buffer[at] = byte;
        at += 1;
    }
    buffer[at] = 0;
    CStr::from_bytes_until_nul(&buffer[..]).unwrap_or(c"/proc/self/uid_map")
}

/// Child side: opens `path` for writing and writes `content` to it.
fn write_proc_file(path: &CStr, content: &[u8]) -> Result<(), Errno> {
    let file = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|error| error.raw_os_error())?;
    sys::write_to(std::os::fd::AsRawFd::as_raw_fd(&file), content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_keeps_the_ids_mapped_inside() {
        let host = "         0          0 4294967295\n";
        assert_eq!(identity_map(host), b"0 0 4294967295");
        let rootless = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(identity_map(rootless), b"0 0 1\n1 1 65536");
    }

    #[test]
    fn proc_path_names_a_process_file_without_allocating() {
        let mut buffer = [0u8; 40];
        assert_eq!(
            proc_path(&mut buffer, 4_194_304, b"uid_map"),
            c"/proc/4194304/uid_map"
        );
        assert_eq!(proc_path(&mut buffer, 7, b"gid_map"), c"/proc/7/gid_map");
    }
}
