//! The sandbox's filesystem: the root mount, mount points, `/proc`, `/dev`, and extra
//! mounts, as setup steps.
//!
//! # Keeping mount points out of the layer
//! Every mount needs an existing mount point. Creating a missing one in the overlay would
//! put it in the upper directory, that is, in the step's layer. Instead the parent looks
//! each target up in the image's layers (following symlinks inside the image, honouring
//! whiteouts and opaque directories) before the run. What is missing is created in a
//! *stub layer*: a directory on a tmpfs private to the sandbox's mount namespace, stacked
//! as the topmost lower layer. Directories that exist in the image and lead to a missing
//! entry are repeated in the stub with the owner, mode and times of the image's
//! directory, so the merged view, and a copy-up if the command writes there, is exactly
//! what it would be without the stub. Mounting never writes to the overlay, so the upper
//! directory only ever holds the command's own changes. The stub vanishes with the mount
//! namespace.
//!
//! A plain-directory root has no layer to hide things in: missing mount points are made
//! in the directory before the run and removed after it, and the times of the directories
//! that received them are put back.
//!
//! Host files (devices, bind sources, the copies of `/etc/resolv.conf` and `/etc/hosts`,
//! secrets) are cloned into detached mounts before `pivot_root` and attached after it, so
//! every target is resolved inside the new root and a symlink in the image can never point
//! a mount at a host path.
//!
//! # Phases
//! [`FilesystemPlan::new`] emits the steps phase by phase, each in its own file:
//! the scratch tmpfs and its files (`scratch.rs`), every mount target resolved in the
//! image and the missing ones made (`targets.rs`, `mount_point.rs`), the root
//! (`root.rs`), then, unless an OCI runtime takes over there, the host mounts cloned
//! into slots (`detached.rs`), `/proc` and `/sys` and `pivot_root` (`kernel.rs`), `/dev`
//! (`dev.rs`), Docker's masked and read-only paths (`kernel.rs`), and the `RUN --mount`
//! targets (`user_mounts.rs`). The order is the plan's contract: descriptor numbers and
//! slots are handed out as the steps are emitted (see `plan_tests.rs`).

mod cleanup;
mod detached;
mod dev;
mod kernel;
mod mount_point;
mod root;
mod scratch;
mod targets;
mod user_mounts;

use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;

pub(crate) use cleanup::PlainCleanup;
pub(crate) use mount_point::{LayerStack, resolve as resolve_mount_point};
pub(crate) use scratch::hosts_file;
pub(crate) use targets::{ResolvedTargets, bind_source_is_dir};

use super::error::ExecError;
use super::setup::{SetupStep, c_string};
use super::spec::SandboxSpec;
use crate::plan::{Network, Security};
use mount_point::MountPoint;

/// How the sandbox's identity affects mounts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountContext {
    /// Inside a user namespace (rootless).
    pub(crate) user_namespace: bool,
    /// Group 5 (`tty`) is mapped, so devpts can use it.
    pub(crate) tty_group_mapped: bool,
    /// Device nodes of the image, of `/dev`'s tmpfs and of bind mounts are ignored
    /// (`nodev`; see `defaults.rs`).
    pub(crate) no_devices: bool,
}

/// Builds the filesystem part of the setup program.
pub(crate) struct FilesystemPlan<'a> {
    spec: &'a SandboxSpec,
    scratch: PathBuf,
    context: MountContext,
    /// The steps, in order.
    pub(crate) steps: Vec<SetupStep>,
    /// Detached-mount slots used.
    pub(crate) slots: usize,
    /// The descriptor number of the first path (a layer, a mount point) opened by the
    /// child; the next ones follow.
    first_path_fd: RawFd,
    path_fds: RawFd,
    /// What to undo after a plain-directory run.
    pub(crate) cleanup: PlainCleanup,
    /// Stop once the root is mounted: an OCI runtime makes the rest of the filesystem.
    for_runtime: bool,
    /// Where the mount targets are in the image.
    pub(crate) resolved: ResolvedTargets,
}

impl<'a> FilesystemPlan<'a> {
    /// Plans the filesystem of `spec`, using the (empty, host) directory `scratch` as the
    /// mount point of the sandbox's private tmpfs. Layers and mount points are opened in
    /// the child as descriptors `first_path_fd`, `first_path_fd + 1`, …: numbers above
    /// every descriptor the child keeps.
    ///
    /// # Errors
    /// A layer that cannot be opened or inspected, a mount target that cannot be resolved.
    pub(crate) fn new(
        spec: &'a SandboxSpec,
        scratch: &Path,
        context: MountContext,
        first_path_fd: RawFd,
        for_runtime: bool,
    ) -> Result<Self, ExecError> {
        let mut plan = FilesystemPlan {
            spec,
            scratch: scratch.to_owned(),
            context,
            steps: Vec::new(),
            slots: 0,
            first_path_fd,
            path_fds: 0,
            for_runtime,
            resolved: ResolvedTargets::default(),
            cleanup: PlainCleanup::default(),
        };
        plan.build()?;
        Ok(plan)
    }

    /// Where the root is mounted, and where the scratch tmpfs holds the copies of
    /// `resolv.conf` and `hosts`, the extra mounts' files (`file-<index>`) and the pipe files.
    pub(crate) fn scratch_path(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// Emits the phases in order (see the module's doc).
    fn build(&mut self) -> Result<(), ExecError> {
        self.mount_scratch();
        let (stack, base) = self.open_image()?;
        let targets = self.resolve_targets(&stack)?;
        self.make_mount_points(&stack, &base, &targets)?;
        self.write_scratch_files();
        self.mount_root()?;
        if self.for_runtime {
            self.runtime_binds(&targets);
            return Ok(());
        }
        // sysfs can only be mounted afresh by a user namespace that owns the network
        // namespace; rootless on the host's network gets the host's, read-only, as podman
        // does.
        let fresh_sys = !(self.context.user_namespace && self.spec.network == Network::Host);
        let kernel = self.open_kernel_mount_points(&targets, fresh_sys);
        let detached = self.detach_host_mounts(fresh_sys);
        self.mount_kernel_filesystems(&targets, kernel, detached.host_sys);
        self.mount_dev(&detached.devices);
        if self.spec.security == Security::Sandbox {
            self.hide_kernel_paths(&targets.proc.sandbox_path(), &targets.sys.sandbox_path());
        }
        self.attach_scratch_files(&targets, &detached);
        self.user_mounts(&targets, &detached.mounts);
        Ok(())
    }

    fn c_path(path: &Path) -> CString {
        c_string(path.as_os_str().as_encoded_bytes())
    }

    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    /// The next free descriptor number of the child's for a path it opens.
    fn path_fd(&mut self) -> RawFd {
        let fd = self.first_path_fd + self.path_fds;
        self.path_fds += 1;
        fd
    }

    /// Has the child open the directory `point` inside the new root mounted at `root`
    /// (resolved there as if chrooted) and returns the path that names it,
    /// `/proc/self/fd/N`, for a mount onto it before `pivot_root`.
    fn open_in_root(&mut self, root: &Path, point: &MountPoint) -> CString {
        let fd = self.path_fd();
        self.steps.push(SetupStep::OpenInRoot {
            root: Self::c_path(root),
            path: c_string(point.components.join("/")),
            fd,
            shown: point.sandbox_path(),
        });
        c_string(format!("/proc/self/fd/{fd}"))
    }

    /// Clones the host mount at `source` into a new slot.
    fn clone_mount(&mut self, source: &str, recursive: bool, readonly: bool) -> usize {
        let slot = self.slot();
        self.steps.push(SetupStep::CloneMount {
            root: None,
            source: c_string(source),
            slot,
            recursive,
            readonly,
            shown: source.to_owned(),
        });
        slot
    }

    /// Clones the bind source `source`, resolved inside `root` by the child, into a new
    /// slot (recursively).
    fn clone_mount_in(&mut self, root: &Path, source: &str, readonly: bool) -> usize {
        let slot = self.slot();
        self.steps.push(SetupStep::CloneMount {
            root: Some(Self::c_path(root)),
            source: c_string(source),
            slot,
            recursive: true,
            readonly,
            shown: format!("{source} in {}", root.display()),
        });
        slot
    }

    /// Attaches the detached mount in `slot` at the sandbox path `target`.
    fn attach(&mut self, slot: usize, target: String, what: String) {
        self.steps.push(SetupStep::AttachMount {
            slot,
            target: c_string(target.clone()),
            what,
            shown: target,
        });
    }

    fn make_dir(&mut self, path: &str) {
        self.steps.push(SetupStep::MakeDir {
            path: c_string(path),
            mode: 0o755,
            shown: path.to_owned(),
        });
    }

    fn mount_fs(&mut self, fstype: &str, target: &str, flags: MountFlags, data: Option<&str>) {
        self.steps.push(SetupStep::Mount {
            source: c_string(fstype),
            target: c_string(target),
            fstype: c_string(fstype),
            flags,
            data: data.map(c_string),
            what: fstype.to_owned(),
            shown: target.to_owned(),
        });
    }
}

#[cfg(test)]
mod plan_tests;
