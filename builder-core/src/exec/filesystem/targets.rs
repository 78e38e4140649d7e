//! Phases: every mount target resolved in the image, in mount order, and the missing
//! ones made in the stub layer or the plain directory (see the module's doc).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use super::FilesystemPlan;
use super::cleanup::dir_times;
use super::mount_point::{Kind, LayerStack, MountPoint, resolve};
use crate::exec::error::ExecError;
use crate::exec::setup::{LayerDir, SetupStep, c_string};
use crate::exec::spec::{Rootfs, SandboxMount};
use crate::fsroot::Root;

/// The sandbox's mount targets, resolved in the image.
pub(super) struct Targets {
    pub(super) proc: MountPoint,
    pub(super) dev: MountPoint,
    pub(super) resolv_conf: MountPoint,
    pub(super) hosts: MountPoint,
    /// The spec's extra mounts', in its order, each with what it must be.
    pub(super) mounts: Vec<(MountPoint, Kind)>,
    /// Mounted here or, for a runtime, by the runtime.
    pub(super) sys: MountPoint,
}

/// Where the sandbox's mount targets are, resolved in the image: the paths an OCI
/// runtime's configuration names.
#[derive(Debug, Default)]
pub(crate) struct ResolvedTargets {
    pub(crate) proc: PathBuf,
    pub(crate) dev: PathBuf,
    pub(crate) resolv_conf: PathBuf,
    pub(crate) hosts: PathBuf,
    /// The spec's extra mounts', in its order.
    pub(crate) mounts: Vec<PathBuf>,
    pub(crate) sys: PathBuf,
}

impl Targets {
    /// The sandbox paths of the targets.
    fn resolved(&self) -> ResolvedTargets {
        let path = |point: &MountPoint| PathBuf::from(point.sandbox_path());
        ResolvedTargets {
            proc: path(&self.proc),
            dev: path(&self.dev),
            resolv_conf: path(&self.resolv_conf),
            hosts: path(&self.hosts),
            mounts: self.mounts.iter().map(|(point, _)| path(point)).collect(),
            sys: path(&self.sys),
        }
    }

    /// Every target in mount order, with what it must be.
    fn in_order(&self) -> impl Iterator<Item = (&MountPoint, Kind)> {
        [
            (&self.proc, Kind::Dir),
            (&self.dev, Kind::Dir),
            (&self.resolv_conf, Kind::File),
            (&self.hosts, Kind::File),
        ]
        .into_iter()
        .chain(self.mounts.iter().map(|(point, kind)| (point, *kind)))
        .chain([(&self.sys, Kind::Dir)])
    }
}

impl FilesystemPlan<'_> {
    /// Opens the image's layers, top first, and returns them with the directory where
    /// missing mount points are made: the stub layer, or the plain directory.
    pub(super) fn open_image(&self) -> Result<(LayerStack, PathBuf), ExecError> {
        Ok(match &self.spec.rootfs {
            Rootfs::Overlay { lower, upper, .. } => {
                let mut layers = vec![upper.clone()];
                layers.extend(lower.iter().cloned());
                let opaque_xattr = if self.context.user_namespace {
                    "user.overlay.opaque"
                } else {
                    "trusted.overlay.opaque"
                };
                let stack = LayerStack::open(&layers, opaque_xattr)?;
                (stack, self.scratch_path("stub"))
            }
            Rootfs::Directory(dir) => (
                LayerStack::open(std::slice::from_ref(dir), "trusted.overlay.opaque")?,
                dir.clone(),
            ),
        })
    }

    /// Resolves every mount point in the image, in mount order; a directory mount covers
    /// what lies below its target.
    pub(super) fn resolve_targets(&mut self, stack: &LayerStack) -> Result<Targets, ExecError> {
        let kinds = self
            .spec
            .mounts
            .iter()
            .map(mount_kind)
            .collect::<Result<Vec<_>, _>>()?;
        let mut mounted: Vec<Vec<String>> = Vec::new();
        let mut resolve_one = |target: &str, kind: Kind| -> Result<MountPoint, ExecError> {
            let point = resolve(stack, target, &mounted)?;
            if kind == Kind::Dir {
                mounted.push(point.components.clone());
            }
            Ok(point)
        };
        let proc = resolve_one("/proc", Kind::Dir)?;
        let dev = resolve_one("/dev", Kind::Dir)?;
        let resolv_conf = resolve_one("/etc/resolv.conf", Kind::File)?;
        let hosts = resolve_one("/etc/hosts", Kind::File)?;
        let mut mounts = Vec::new();
        for (mount, kind) in self.spec.mounts.iter().zip(kinds) {
            mounts.push((resolve_one(mount.target(), kind)?, kind));
        }
        let sys = resolve_one("/sys", Kind::Dir)?;
        let targets = Targets {
            proc,
            dev,
            resolv_conf,
            hosts,
            mounts,
            sys,
        };
        self.resolved = targets.resolved();
        Ok(targets)
    }

    /// Creates what is missing: in the stub layer (`base`), or in the plain directory
    /// (`base`), recording there what to undo.
    pub(super) fn make_mount_points(
        &mut self,
        stack: &LayerStack,
        base: &Path,
        targets: &Targets,
    ) -> Result<(), ExecError> {
        let overlay = matches!(self.spec.rootfs, Rootfs::Overlay { .. });
        let mut made: HashSet<Vec<String>> = HashSet::new();
        for (point, kind) in targets.in_order() {
            let end = point.inside_mount.min(point.components.len());
            if point.existing >= end {
                continue;
            }
            for len in 1..=end {
                let prefix = point.components[..len].to_vec();
                if made.contains(&prefix) {
                    continue;
                }
                let exists = len <= point.existing;
                if exists && !overlay {
                    continue;
                }
                made.insert(prefix);
                let shown = point.path(len);
                let is_last = len == point.components.len();
                let this_kind = if is_last { kind } else { Kind::Dir };
                // Made in the stub (a tmpfs of the sandbox's) or the plain directory, the
                // parent resolved inside it by the child: never a host path.
                let make = |kind: Kind, like: Option<LayerDir>| SetupStep::MakeIn {
                    root: Self::c_path(base),
                    parent: c_string(point.components[..len - 1].join("/")),
                    name: c_string(point.components[len - 1].as_str()),
                    dir: kind == Kind::Dir,
                    like,
                    shown: shown.clone(),
                };
                if exists {
                    // Only directories are repeated in the stub; an existing final
                    // non-directory needs nothing.
                    if let Some(layer) = point.sources.get(len - 1).copied().flatten() {
                        let like = LayerDir {
                            layer: Self::c_path(&stack.paths[layer]),
                            path: c_string(point.components[..len].join("/")),
                        };
                        self.steps.push(make(Kind::Dir, Some(like)));
                    }
                    continue;
                }
                if !overlay {
                    let components = point.components[..len].to_vec();
                    if len == point.existing + 1 {
                        let parent = components[..len - 1].to_vec();
                        let times = dir_times(base, &parent)?;
                        self.cleanup.touched.push((parent, times));
                    }
                    self.cleanup.created.insert(0, components);
                }
                self.steps.push(make(this_kind, None));
            }
        }
        // Restore parents deepest-last so a directory's time is set after its children's.
        self.cleanup.touched.reverse();
        self.cleanup.root = base.to_owned();
        Ok(())
    }
}

/// What the target of `mount` must be: a bind of a directory and a tmpfs need a
/// directory, the rest a file.
fn mount_kind(mount: &SandboxMount) -> Result<Kind, ExecError> {
    Ok(match mount {
        SandboxMount::Bind { root, source, .. } if bind_source_is_dir(root, source)? => Kind::Dir,
        SandboxMount::Bind { .. } | SandboxMount::Socket { .. } | SandboxMount::File { .. } => {
            Kind::File
        }
        SandboxMount::Tmpfs { .. } => Kind::Dir,
    })
}

/// Whether the bind source `source`, resolved inside `root`, is a directory.
pub(crate) fn bind_source_is_dir(root: &Path, source: &str) -> Result<bool, ExecError> {
    let err = |error| ExecError::ResolveBindSource {
        root: root.to_owned(),
        source_path: source.to_owned(),
        source: error,
    };
    let found = Root::open(root)
        .and_then(|root| root.resolve(Path::new(source)))
        .map_err(err)?;
    let stat = rustix::fs::fstat(&found).map_err(|error| err(error.into()))?;
    Ok(FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
}
