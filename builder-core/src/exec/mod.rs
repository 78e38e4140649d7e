//! Running `RUN` steps in a sandbox (Linux namespaces) over an image's filesystem.
//!
//! A [`SandboxSpec`] says what to run (argv, environment, working directory, user,
//! hostname, network, mounts) over which [`Rootfs`]; [`Sandbox::run`] runs it, streams
//! its output to a callback as it comes, and returns the command's exit status. A
//! non-zero status is not an error: the caller decides what it means.
//!
//! ```no_run
//! use mkimage_core::exec::{Rootfs, Sandbox, SandboxSpec};
//! use mkimage_core::Stream;
//!
//! let rootfs = Rootfs::Overlay {
//!     lower: vec!["/var/lib/mkimage/layers/base".into()],
//!     upper: "/tmp/step/upper".into(),
//!     work: "/tmp/step/work".into(),
//! };
//! let spec = SandboxSpec::builder(rootfs, vec!["sh".into(), "-c".into(), "echo hi".into()])
//!     .env(["PATH=/usr/bin:/bin"])
//!     .build()?;
//! let status = Sandbox::native().run(&spec, |stream, bytes| {
//!     if stream == Stream::Stdout {
//!         assert_eq!(bytes, b"hi\n");
//!     }
//! })?;
//! assert!(status.success());
//! # Ok::<(), mkimage_core::exec::ExecError>(())
//! ```
//!
//! # Design
//! The parent `clone`s init with new mount, pid, UTS, IPC and network namespaces (user when
//! not root; the host's network only for `--network=host`), so init is pid 1 of the
//! sandbox. Init waits for the parent's `Start`, sent once the user namespace is mapped and,
//! on the default network, `slirp4netns` has connected the namespace (`usernet.rs`); it
//! then builds the filesystem (see `filesystem/`), forks the command process, then reaps
//! every child and forwards signals until the command ends, reports the status, and exits;
//! its exit makes the kernel kill everything left in the pid namespace. The two sides talk
//! through the typed messages of `protocol.rs`.
//!
//! The builder is multi-threaded, and a process cloned from one thread of a multi-threaded
//! process may only do async-signal-safe work until `execve`: locks held by other threads
//! (the allocator's among them) stay held forever in the child. So the parent prepares a
//! *setup program* (`setup.rs`): every step, with every path as a C string and every
//! descriptor open. The child only walks it, making system calls directly through `rustix`
//! (no C-library state) and never allocating; a failure travels back as "step N failed
//! with errno E", which the parent turns into a typed [`ExecError`] naming the step.
//!
//! The command is confined as Docker confines a container (`defaults.rs`): it keeps
//! Docker's default capabilities, `/proc`'s sensitive files are masked and its kernel
//! settings read-only (`filesystem/`), it can use only Docker's default devices (see
//! `defaults.rs`), and Docker's seccomp profile (`seccomp.rs`), compiled by the parent,
//! is installed by the command process just before it switches to the step's user.
//! [`Security::Insecure`](crate::plan::Security::Insecure) lifts all of it. The runc path
//! (`runc.rs`) writes the same lists and profile into its `config.json`.
//!
//! Nothing outlives a run: every mount happens in the private mount namespace (the overlay
//! included), so it goes away with the last process; init has `PR_SET_PDEATHSIG` so it
//! dies with the parent; `SIGINT`, `SIGTERM` and `SIGHUP` during a run kill init and make
//! the run return [`ExecError::Interrupted`] (`interrupt.rs`).

mod child;
mod chroot;
mod defaults;
mod error;
mod filesystem;
mod interrupt;
mod namespaces;
mod parent;
mod protocol;
mod runc;
mod seccomp;
mod setup;
mod spec;
mod sys;
mod usernet;
mod userns;

use std::path::PathBuf;
use std::process::ExitStatus;

pub use error::ExecError;
pub(crate) use namespaces::IdMapping;
pub(crate) use spec::DEFAULT_PATH;
pub use spec::{Rootfs, SandboxMount, SandboxSpec, SandboxSpecBuilder};
pub(crate) use userns::{Pause, Session, error_chain, in_user_namespace};

use crate::events::Stream;

/// Runs sandboxed commands.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    scratch_dir: Option<PathBuf>,
    kind: Kind,
}

/// Which sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Kind {
    /// mkimage's own, with namespaces.
    #[default]
    Native,
    /// `runc` at this path.
    Runc(PathBuf),
    /// A chroot without required namespaces (`chroot/`).
    Chroot,
}

impl Sandbox {
    /// A sandbox made by mkimage itself with Linux namespaces.
    pub fn native() -> Self {
        Sandbox::default()
    }

    /// A sandbox made by the OCI runtime `runc` (a path, or a name looked up in the
    /// default `PATH`) from a runtime-spec `config.json` generated from the same spec. The
    /// root filesystem is prepared as for the native sandbox. Needs root.
    pub fn runc(program: impl Into<PathBuf>) -> Self {
        Sandbox {
            scratch_dir: None,
            kind: Kind::Runc(program.into()),
        }
    }

    /// Chroot isolation, buildah's `--isolation=chroot`: the command runs chrooted into a
    /// [`Rootfs::Directory`], sharing the caller's pid, network, IPC and UTS namespaces
    /// and capabilities, with mounts only where the system allows a mount or user
    /// namespace. Weaker isolation, for builds inside unprivileged containers, where the
    /// native sandbox's namespaces are refused.
    pub fn chroot() -> Self {
        Sandbox {
            scratch_dir: None,
            kind: Kind::Chroot,
        }
    }

    /// Whether this is [`Sandbox::chroot`], which needs a plain-directory root.
    pub fn is_chroot(&self) -> bool {
        self.kind == Kind::Chroot
    }

    /// Sets where each run makes its scratch directory (an empty directory, removed after
    /// the run, that its private tmpfs is mounted on inside the sandbox's mount namespace);
    /// the default is the system's temporary directory.
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch_dir = Some(dir.into());
        self
    }

    /// Runs `spec` and returns the command's exit status; `output` receives the command's
    /// standard output and error as they come.
    ///
    /// # Errors
    /// The sandbox could not be set up (each [`ExecError`] names the step), the program
    /// could not be executed, or the run was interrupted.
    pub fn run(
        &self,
        spec: &SandboxSpec,
        mut output: impl FnMut(Stream, &[u8]),
    ) -> Result<ExitStatus, ExecError> {
        let scratch_dir = self.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        match &self.kind {
            Kind::Runc(program) => runc::run(program, spec, &scratch_dir, &mut output),
            Kind::Native => parent::run(spec, &scratch_dir, &mut output),
            Kind::Chroot => chroot::run(spec, &scratch_dir, &mut output),
        }
    }
}

/// The prefix of the overlayfs attributes in an upper directory written by a sandbox of
/// this process: `trusted.overlay.` as root, `user.overlay.` in a rootless user namespace.
/// An opaque directory carries `<prefix>opaque` = `y`.
pub fn overlay_xattr_prefix() -> &'static str {
    if sys::effective_ids().0 == 0 {
        "trusted.overlay."
    } else {
        "user.overlay."
    }
}
