//! Phase: the spec's extra mounts (`RUN --mount`), in order, after `pivot_root`: mount
//! points inside an earlier mount made, then each tmpfs mounted and each detached mount
//! attached.

use rustix::mount::MountFlags;

use super::FilesystemPlan;
use super::mount_point::Kind;
use super::targets::Targets;
use crate::exec::setup::{SetupStep, c_string};
use crate::exec::spec::SandboxMount;

impl FilesystemPlan<'_> {
    /// Makes the spec's extra mounts at their targets; `slots` holds each one's detached
    /// mount (`None`: a tmpfs).
    pub(super) fn user_mounts(&mut self, targets: &Targets, slots: &[Option<usize>]) {
        let spec = self.spec;
        for ((mount, slot), (point, kind)) in spec.mounts.iter().zip(slots).zip(&targets.mounts) {
            for len in point.inside_mount + 1..=point.components.len() {
                let shown = point.path(len);
                let path = c_string(shown.clone());
                let is_last = len == point.components.len();
                self.steps.push(if is_last && *kind == Kind::File {
                    SetupStep::MakeFile {
                        path,
                        mode: 0o644,
                        shown,
                    }
                } else {
                    SetupStep::MakeDir {
                        path,
                        mode: 0o755,
                        shown,
                    }
                });
            }
            let target = point.sandbox_path();
            match (mount, *slot) {
                (SandboxMount::Tmpfs { size, .. }, _) => {
                    let data = match size {
                        Some(size) => format!("mode=1777,size={size}"),
                        None => "mode=1777".to_owned(),
                    };
                    self.mount_fs(
                        "tmpfs",
                        &target,
                        MountFlags::NOSUID | MountFlags::NODEV,
                        Some(&data),
                    );
                }
                (SandboxMount::Bind { source, .. }, Some(slot)) => {
                    self.attach_bind(slot, target, source.clone());
                }
                (SandboxMount::Socket { source, .. }, Some(slot)) => {
                    self.attach_bind(slot, target, source.display().to_string());
                }
                (_, Some(slot)) => self.attach(slot, target, "file".to_owned()),
                (_, None) => {}
            }
        }
    }

    /// Attaches the bind (or socket) mount of `what` in `slot` at `target`; without
    /// devices, `nodev`: a stage's or cache's files come from an image too.
    fn attach_bind(&mut self, slot: usize, target: String, what: String) {
        self.attach(slot, target.clone(), what);
        if self.context.no_devices {
            self.steps.push(SetupStep::ForbidDevices {
                path: c_string(target.clone()),
                shown: target,
            });
        }
    }
}
