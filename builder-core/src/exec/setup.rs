//! The setup program: the steps the sandbox's processes carry out, prepared by the parent.
//!
//! The parent turns a [`SandboxSpec`](super::SandboxSpec) into a [`Setup`] before `clone`:
//! every path and string is already a C string, every descriptor already open. The child
//! only walks the list (see `child.rs`), so it never allocates; when a step fails it
//! reports the step's index and `errno`, and the parent, which holds the same list, turns
//! that into an [`ExecError`] that says what was being done.

use std::ffi::CString;
use std::io;
use std::ops::Range;
use std::os::fd::RawFd;

use rustix::mount::MountFlags;
use seccompiler::BpfProgram;

use super::error::ExecError;

/// One step of the setup program.
#[derive(Debug)]
pub(crate) enum SetupStep {
    /// Make every mount private to the new mount namespace.
    MakePrivate,
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        source: CString,
        target: CString,
        fstype: CString,
        flags: MountFlags,
        data: Option<CString>,
        /// What is mounted, for messages (`overlay`, `proc`, `tmpfs`).
        what: String,
        /// Where, as the sandbox sees it.
        shown: String,
    },
    /// A recursive bind mount with `mount(2)` (the plain-directory root).
    Bind {
        source: CString,
        target: CString,
        shown: String,
    },
    /// Open a host path as an `O_PATH` descriptor numbered `fd` (an overlay layer, named
    /// as `/proc/self/fd/<fd>`: overlayfs only takes paths of this mount namespace, so the
    /// parent cannot open them).
    OpenPath {
        path: CString,
        fd: RawFd,
        shown: String,
    },
    /// Create a directory (an existing one is fine).
    MakeDir {
        path: CString,
        mode: u32,
        shown: String,
    },
    /// Create an empty file (an existing one is fine).
    MakeFile {
        path: CString,
        mode: u32,
        shown: String,
    },
    /// Create the directory (else the empty file) `name` in the directory `parent`
    /// resolved inside `root` as if chrooted (an existing entry is fine): a mount point
    /// in the stub layer or a plain-directory root. With `like`, a directory gets the
    /// owner, mode and times of that directory of the image (a stub repeating it).
    MakeIn {
        root: CString,
        parent: CString,
        name: CString,
        dir: bool,
        like: Option<LayerDir>,
        shown: String,
    },
    /// Open the directory `path`, resolved inside `root` as if chrooted, as an `O_PATH`
    /// descriptor numbered exactly `fd`: a mount point inside the new root, mounted on as
    /// `/proc/self/fd/<fd>` before `pivot_root`.
    OpenInRoot {
        root: CString,
        path: CString,
        fd: RawFd,
        shown: String,
    },
    /// Copy a host file into the sandbox's scratch tmpfs.
    CopyFile {
        from: CString,
        to: CString,
        shown: String,
    },
    /// Write a file with exact content, mode and owner into the scratch tmpfs.
    WriteFile {
        path: CString,
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
        shown: String,
    },
    /// Set the owner, then the mode, of a host socket made for the sandbox (as the
    /// sandbox's ids map).
    SetOwner {
        path: CString,
        mode: u32,
        uid: u32,
        gid: u32,
        shown: String,
    },
    /// Create a symbolic link.
    Symlink {
        target: CString,
        path: CString,
        shown: String,
    },
    /// Clone the mount at `source` into detached mount slot `slot`; with `root`, `source`
    /// is resolved inside that directory as if chrooted.
    CloneMount {
        root: Option<CString>,
        source: CString,
        slot: usize,
        recursive: bool,
        readonly: bool,
        shown: String,
    },
    /// Attach the detached mount in `slot` at `target`.
    AttachMount {
        slot: usize,
        target: CString,
        what: String,
        shown: String,
    },
    /// Make `root` the root directory (`pivot_root`) and detach the old root.
    PivotRoot { root: CString },
    /// Set the host name.
    SetHostname { name: CString },
    /// Bring up the loopback interface.
    LoopbackUp,
    /// Drop the capabilities not in `keep` from the bounding set.
    DropCapabilities { keep: u64 },
    /// Bind `/dev/null` over a file, or mount an empty read-only tmpfs on a directory, so
    /// the command cannot read it; a missing path is skipped.
    MaskPath { path: CString, shown: String },
    /// Bind a path read-only onto itself; a missing path is skipped.
    ReadonlyPath { path: CString, shown: String },
    /// Make the mounts at and below `path` ignore device nodes (`nodev`).
    ForbidDevices { path: CString, shown: String },
    /// Install these seccomp filters, in order.
    InstallSeccomp { filters: Vec<BpfProgram> },
    /// Create one component of the working directory, owned by the user when created.
    MakeOwnedDir {
        path: CString,
        uid: u32,
        gid: u32,
        shown: String,
    },
    /// Init forks the command process here; the steps after it run in that process.
    SpawnCommand,
    /// Connect the standard streams: `/dev/null`, the output pipes.
    RedirectStdio { stdout: RawFd, stderr: RawFd },
    /// Mark every other descriptor close-on-exec.
    CloseOtherFds,
    /// Enter the working directory.
    ChangeDir { path: CString, shown: String },
    /// Switch to the user.
    SetIds {
        uid: u32,
        gid: u32,
        groups: Vec<rustix::fs::Gid>,
        set_groups: bool,
    },
}

impl SetupStep {
    /// The error for this step failing with `errno`.
    pub(crate) fn error(&self, errno: i32) -> ExecError {
        let source = io::Error::from_raw_os_error(errno);
        match self {
            SetupStep::MakePrivate => ExecError::MakeMountsPrivate { source },
            SetupStep::OpenPath { shown, .. } => ExecError::OpenLayer {
                path: shown.into(),
                source,
            },
            SetupStep::Mount { what, .. } if what == "proc" && errno == libc::EPERM => {
                ExecError::NamespacesRefused {
                    what: "`/proc` mount",
                    source,
                }
            }
            SetupStep::Mount { what, shown, .. } | SetupStep::AttachMount { what, shown, .. } => {
                ExecError::Mount {
                    what: what.clone(),
                    target: shown.clone(),
                    source,
                }
            }
            SetupStep::Bind { shown, .. } => ExecError::Mount {
                what: shown.clone(),
                target: "/".to_owned(),
                source,
            },
            SetupStep::MakeDir { shown, .. }
            | SetupStep::MakeFile { shown, .. }
            | SetupStep::MakeIn { shown, .. }
            | SetupStep::Symlink { shown, .. } => ExecError::CreateMountPoint {
                path: shown.clone(),
                source,
            },
            SetupStep::OpenInRoot { shown, .. } => ExecError::OpenMountPoint {
                path: shown.clone(),
                source,
            },
            SetupStep::CopyFile { shown, .. } | SetupStep::WriteFile { shown, .. } => {
                ExecError::WriteFile {
                    path: shown.clone(),
                    source,
                }
            }
            SetupStep::SetOwner { shown, .. } => ExecError::SetSocketOwner {
                path: shown.clone(),
                source,
            },
            SetupStep::CloneMount { shown, .. } => ExecError::PrepareBind {
                source_path: shown.clone(),
                source,
            },
            SetupStep::PivotRoot { .. } => ExecError::PivotRoot { source },
            SetupStep::SetHostname { name } => ExecError::SetHostname {
                hostname: name.to_string_lossy().into_owned(),
                source,
            },
            SetupStep::LoopbackUp => ExecError::LoopbackUp { source },
            SetupStep::DropCapabilities { .. } => ExecError::DropCapabilities { source },
            SetupStep::MaskPath { shown, .. } => ExecError::MaskPath {
                path: shown.clone(),
                source,
            },
            SetupStep::ReadonlyPath { shown, .. } => ExecError::ReadonlyPath {
                path: shown.clone(),
                source,
            },
            SetupStep::ForbidDevices { shown, .. } => ExecError::ForbidDevices {
                path: shown.clone(),
                source,
            },
            SetupStep::InstallSeccomp { .. } => ExecError::InstallSeccomp { source },
            SetupStep::MakeOwnedDir { shown, .. } => ExecError::CreateWorkdir {
                path: shown.clone(),
                source,
            },
            SetupStep::SpawnCommand => ExecError::SpawnCommand { source },
            SetupStep::RedirectStdio { .. } | SetupStep::CloseOtherFds => {
                ExecError::RedirectStdio { source }
            }
            SetupStep::ChangeDir { shown, .. } => ExecError::EnterWorkdir {
                path: shown.clone(),
                source,
            },
            SetupStep::SetIds { uid, gid, .. } => ExecError::SwitchUser {
                uid: *uid,
                gid: *gid,
                source,
            },
        }
    }
}

/// A directory of an image's layer, whose owner, mode and times a stub repeats. The
/// child reads them itself: in a user namespace, it sees the owners as the namespace maps
/// them, which are the ones it can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerDir {
    /// The layer's directory on the host (a path of the store, not of the image).
    pub(crate) layer: CString,
    /// The directory below it, as an earlier lookup found it: reached again through no
    /// symlink.
    pub(crate) path: CString,
}

/// Everything the sandbox's processes need, prepared by the parent.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The steps; init runs those before [`SetupStep::SpawnCommand`], the command process those
    /// after it.
    pub(crate) steps: Vec<SetupStep>,
    /// How many detached-mount slots the steps use.
    pub(crate) slots: usize,
    /// Absolute paths to try `execve` on, in order (the `PATH` search, done in advance).
    pub(crate) candidates: Vec<CString>,
    /// The program as the user gave it, for messages.
    pub(crate) program: String,
    /// The arguments and the environment; the pointer arrays point into them.
    pub(crate) argv: Vec<CString>,
    pub(crate) env: Vec<CString>,
    pub(crate) argv_ptrs: Vec<*const libc::c_char>,
    pub(crate) env_ptrs: Vec<*const libc::c_char>,
    /// The child's end of the message socket.
    pub(crate) socket: RawFd,
    /// The descriptors init keeps open (sorted): the socket and the output pipes' write
    /// ends.
    pub(crate) keep_fds: Vec<RawFd>,
    /// The write ends of the output pipes, which init closes once the command runs.
    pub(crate) output_fds: [RawFd; 2],
    /// Where this process keeps its command line and environment strings (see
    /// [`host_strings`]); init, a copy of this process, blanks them.
    pub(crate) host_strings: Option<Range<usize>>,
}

impl Setup {
    /// Fills the pointer arrays for `execve` from `argv` and `env`.
    pub(crate) fn finish_pointers(&mut self) {
        self.argv_ptrs = self.argv.iter().map(|arg| arg.as_ptr()).collect();
        self.argv_ptrs.push(std::ptr::null());
        self.env_ptrs = self.env.iter().map(|var| var.as_ptr()).collect();
        self.env_ptrs.push(std::ptr::null());
    }

    /// The index of [`SetupStep::SpawnCommand`].
    pub(crate) fn spawn_index(&self) -> usize {
        self.steps
            .iter()
            .position(|step| matches!(step, SetupStep::SpawnCommand))
            .unwrap_or(self.steps.len())
    }
}

/// The absolute paths from the top of the absolute path `path` down to it, one per
/// component (`/a/b` gives `/a`, `/a/b`): the directories a working directory needs.
pub(crate) fn path_prefixes(path: &str) -> Vec<String> {
    let mut prefix = String::new();
    path.split('/')
        .filter(|component| !component.is_empty())
        .map(|component| {
            prefix.push('/');
            prefix.push_str(component);
            prefix.clone()
        })
        .collect()
}

/// A C string from text checked for NUL bytes by `SandboxSpecBuilder::build` or made by
/// the parent from such text.
pub(crate) fn c_string(text: impl Into<Vec<u8>>) -> CString {
    CString::new(text).expect("the spec was checked for NUL bytes")
}

/// The address range of this process's command line and environment strings, from
/// `/proc/self/stat` (`arg_start` to `env_end`), or `None` when it cannot be read.
///
/// Init is cloned from the builder, not executed, so without blanking these a RUN step
/// would read the builder's command line in `/proc/1/cmdline` (and, were it readable, its
/// environment — host paths, tokens — in `/proc/1/environ`).
pub(crate) fn host_strings() -> Option<Range<usize>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces, start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<usize>().ok();
    let (arg_start, env_end) = (field(48)?, field(51)?);
    (arg_start < env_end).then_some(arg_start..env_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_names_what_it_did_and_where() {
        let step = SetupStep::ForbidDevices {
            path: c"/tmp/scratch/root".to_owned(),
            shown: "/".to_owned(),
        };
        assert_eq!(
            step.error(libc::EPERM).to_string(),
            "failed to make the mounts at `/` ignore device nodes (`nodev`)"
        );
    }
}
