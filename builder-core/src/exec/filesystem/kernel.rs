//! Phases: `/proc` and `/sys` mounted before `pivot_root`, `pivot_root` itself, and
//! Docker's read-only and masked kernel paths.

use std::ffi::CString;

use rustix::mount::MountFlags;

use super::FilesystemPlan;
use super::targets::Targets;
use crate::exec::defaults;
use crate::exec::setup::{SetupStep, c_string};

/// The mount points of `/proc` and a fresh `/sys`, opened by the child inside the new
/// root, as the `/proc/self/fd/N` paths that name them.
pub(super) struct KernelMountPoints {
    proc: CString,
    sys: Option<CString>,
}

impl FilesystemPlan<'_> {
    /// Has the child open the mount points of `/proc` and, with `fresh_sys`, `/sys`
    /// inside the new root, before the detached mounts take the lowest free descriptor
    /// numbers.
    pub(super) fn open_kernel_mount_points(
        &mut self,
        targets: &Targets,
        fresh_sys: bool,
    ) -> KernelMountPoints {
        let root = self.scratch_path("root");
        let proc = self.open_in_root(&root, &targets.proc);
        let sys = fresh_sys.then(|| self.open_in_root(&root, &targets.sys));
        KernelMountPoints { proc, sys }
    }

    /// Mounts `/proc` and a fresh `/sys`, pivots into the new root, then attaches the
    /// host's `/sys` from `host_sys` when it is not fresh.
    pub(super) fn mount_kernel_filesystems(
        &mut self,
        targets: &Targets,
        points: KernelMountPoints,
        host_sys: Option<usize>,
    ) {
        // /proc before `pivot_root`: in a user namespace the kernel only allows a new proc
        // mount while a fully visible one exists in the mount namespace, and the host's
        // goes away with the old root. The path, resolved in the image above, was resolved
        // again inside the new root by the child and is mounted on through its descriptor.
        self.steps.push(SetupStep::Mount {
            source: c"proc".to_owned(),
            target: points.proc,
            fstype: c"proc".to_owned(),
            flags: MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            data: None,
            what: "proc".to_owned(),
            shown: targets.proc.sandbox_path(),
        });
        if let Some(sys_target) = points.sys {
            // Before `pivot_root` too, for the same reason as /proc.
            self.steps.push(SetupStep::Mount {
                source: c"sysfs".to_owned(),
                target: sys_target,
                fstype: c"sysfs".to_owned(),
                flags: MountFlags::RDONLY
                    | MountFlags::NOSUID
                    | MountFlags::NODEV
                    | MountFlags::NOEXEC,
                data: None,
                what: "sysfs".to_owned(),
                shown: targets.sys.sandbox_path(),
            });
        }
        self.steps.push(SetupStep::PivotRoot {
            root: Self::c_path(&self.scratch_path("root")),
        });
        if let Some(slot) = host_sys {
            self.attach(slot, targets.sys.sandbox_path(), "/sys".to_owned());
        }
    }

    /// Docker's read-only and masked paths, with `/proc` and `/sys` where the image puts
    /// them (`proc`, `sys`: their resolved paths).
    pub(super) fn hide_kernel_paths(&mut self, proc: &str, sys: &str) {
        let place = |path: &str| -> Option<String> {
            if let Some(rest) = path.strip_prefix("/proc/") {
                return Some(format!("{}/{rest}", proc.trim_end_matches('/')));
            }
            let rest = path.strip_prefix("/sys/")?;
            Some(format!("{}/{rest}", sys.trim_end_matches('/')))
        };
        for path in defaults::READONLY_PATHS {
            if let Some(target) = place(path) {
                self.steps.push(SetupStep::ReadonlyPath {
                    path: c_string(target.clone()),
                    shown: target,
                });
            }
        }
        for path in defaults::masked_paths() {
            if let Some(target) = place(&path) {
                self.steps.push(SetupStep::MaskPath {
                    path: c_string(target.clone()),
                    shown: target,
                });
            }
        }
    }
}
