//! Phase: the host mounts the sandbox gets (devices, the scratch's files, the host's
//! `/sys`, bind sources), cloned into detached-mount slots before `pivot_root` and
//! attached by later phases, so every target is resolved inside the new root.

use super::FilesystemPlan;
use super::dev::DEVICES;
use crate::exec::spec::SandboxMount;

/// The slots of the detached mounts.
pub(super) struct Detached {
    /// Each device's slot, with its path (the same on the host and in the sandbox).
    pub(super) devices: Vec<(usize, String)>,
    pub(super) resolv_conf: usize,
    pub(super) hosts: usize,
    /// The host's `/sys`, read-only, where sysfs cannot be mounted afresh.
    pub(super) host_sys: Option<usize>,
    /// The pipe files, when there are any.
    pub(super) pipes: Option<usize>,
    /// The spec's extra mounts', in its order (`None`: a tmpfs, made in place).
    pub(super) mounts: Vec<Option<usize>>,
}

impl FilesystemPlan<'_> {
    /// Clones every host mount into a slot (`fresh_sys`: sysfs is mounted afresh, not
    /// bound from the host).
    pub(super) fn detach_host_mounts(&mut self, fresh_sys: bool) -> Detached {
        let mut devices = Vec::new();
        for device in DEVICES {
            let source = format!("/dev/{device}");
            devices.push((self.clone_mount(&source, false, false), source));
        }
        let files = self.scratch_path("files");
        let resolv_conf = self.clone_mount(
            &files.join("resolv.conf").display().to_string(),
            false,
            false,
        );
        let hosts = self.clone_mount(&files.join("hosts").display().to_string(), false, false);
        let host_sys = (!fresh_sys).then(|| self.clone_mount("/sys", true, true));
        let pipes = (!self.spec.pipe_files.is_empty()).then(|| {
            let pipes = self.scratch_path("pipes");
            self.clone_mount(&pipes.display().to_string(), false, true)
        });
        let spec = self.spec;
        let mut mounts = Vec::new();
        for (index, mount) in spec.mounts.iter().enumerate() {
            mounts.push(match mount {
                SandboxMount::Bind {
                    root,
                    source,
                    readonly,
                    ..
                } => Some(self.clone_mount_in(root, source, *readonly)),
                SandboxMount::Socket { source, .. } => {
                    Some(self.clone_mount(&source.display().to_string(), false, false))
                }
                SandboxMount::File { .. } => {
                    let path = files.join(format!("file-{index}"));
                    Some(self.clone_mount(&path.display().to_string(), false, true))
                }
                SandboxMount::Tmpfs { .. } => None,
            });
        }
        Detached {
            devices,
            resolv_conf,
            hosts,
            host_sys,
            pipes,
            mounts,
        }
    }
}
