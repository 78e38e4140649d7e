//! Phases: the sandbox's root, an overlay of the image's layers under the stub layer or
//! a bind of the plain directory, and, for an OCI runtime, the bind sources it names.

use std::fs;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;

use super::FilesystemPlan;
use super::mount_point::Kind;
use super::targets::Targets;
use crate::exec::error::ExecError;
use crate::exec::setup::{SetupStep, c_string};
use crate::exec::spec::{Rootfs, SandboxMount};

impl FilesystemPlan<'_> {
    /// Mounts the root at the scratch's `root`; without devices, `nodev`.
    pub(super) fn mount_root(&mut self) -> Result<(), ExecError> {
        let root = self.scratch_path("root");
        match &self.spec.rootfs {
            Rootfs::Overlay { lower, upper, work } => {
                let data = self.overlay_options(lower, upper, work)?;
                self.steps.push(SetupStep::Mount {
                    source: c"overlay".to_owned(),
                    target: Self::c_path(&root),
                    fstype: c"overlay".to_owned(),
                    flags: MountFlags::empty(),
                    data: Some(c_string(data)),
                    what: "overlay".to_owned(),
                    shown: "/".to_owned(),
                });
            }
            Rootfs::Directory(dir) => self.steps.push(SetupStep::Bind {
                source: Self::c_path(dir),
                target: Self::c_path(&root),
                shown: dir.display().to_string(),
            }),
        }
        if self.context.no_devices {
            self.steps.push(SetupStep::ForbidDevices {
                path: Self::c_path(&root),
                shown: "/".to_owned(),
            });
        }
        Ok(())
    }

    /// The overlay's option string, with the layers opened by the child: named through
    /// descriptors, they are short and free of the `:` and `,` that it cannot carry.
    fn overlay_options(
        &mut self,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
    ) -> Result<String, ExecError> {
        let mut lowers = vec![self.scratch_path("stub").display().to_string()];
        for dir in lower {
            lowers.push(self.open_layer(dir)?);
        }
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            self.open_layer(upper)?,
            self.open_layer(work)?
        );
        if self.context.user_namespace {
            // Opaque directories and the like as `user.overlay.*` attributes:
            // `trusted.*` needs real root.
            data.push_str(",userxattr");
        } else {
            // Renaming a directory copies it instead of recording a redirect, and
            // no metadata-only copy-up: the upper directory stays a plain change set.
            data.push_str(",redirect_dir=off,metacopy=off,index=off");
        }
        Ok(data)
    }

    /// Has the child open the layer directory `path` and returns the path that names it,
    /// `/proc/self/fd/N`.
    fn open_layer(&mut self, path: &Path) -> Result<String, ExecError> {
        fs::metadata(path).map_err(|source| ExecError::OpenLayer {
            path: path.to_owned(),
            source,
        })?;
        let fd = self.path_fd();
        self.steps.push(SetupStep::OpenPath {
            path: Self::c_path(path),
            fd,
            shown: path.display().to_string(),
        });
        Ok(format!("/proc/self/fd/{fd}"))
    }

    /// For a runtime, which binds host paths: attaches each bind source, resolved inside
    /// its root, at `binds/<index>` on the scratch tmpfs, the path the runtime's
    /// configuration names ([`FilesystemPlan::runtime_bind_source`]).
    pub(super) fn runtime_binds(&mut self, targets: &Targets) {
        let binds = self.scratch_path("binds");
        self.steps.push(SetupStep::MakeDir {
            path: Self::c_path(&binds),
            mode: 0o700,
            shown: binds.display().to_string(),
        });
        let spec = self.spec;
        for (index, (mount, (_, kind))) in spec.mounts.iter().zip(&targets.mounts).enumerate() {
            let SandboxMount::Bind {
                root,
                source,
                readonly,
                ..
            } = mount
            else {
                continue;
            };
            let at = self.runtime_bind_source(index);
            let shown = at.display().to_string();
            self.steps.push(match kind {
                Kind::Dir => SetupStep::MakeDir {
                    path: Self::c_path(&at),
                    mode: 0o700,
                    shown: shown.clone(),
                },
                Kind::File => SetupStep::MakeFile {
                    path: Self::c_path(&at),
                    mode: 0o600,
                    shown: shown.clone(),
                },
            });
            let slot = self.clone_mount_in(root, source, *readonly);
            self.steps.push(SetupStep::AttachMount {
                slot,
                target: Self::c_path(&at),
                what: source.clone(),
                shown,
            });
        }
    }

    /// Where the bind mount `index` of the spec waits for a runtime.
    pub(crate) fn runtime_bind_source(&self, index: usize) -> PathBuf {
        self.scratch_path(&format!("binds/{index}"))
    }
}
