//! Phase: the sandbox's `/dev`, a tmpfs with Docker's default devices bound from the
//! host, `devpts`, `shm`, `mqueue` and the standard links.

use rustix::mount::MountFlags;

use super::FilesystemPlan;
use crate::exec::setup::{SetupStep, c_string};

/// Host devices bound into the sandbox's `/dev`.
pub(super) const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

impl FilesystemPlan<'_> {
    /// Mounts `/dev` after `pivot_root`, attaching each device of `devices` (its slot
    /// and path) on a file made for it.
    pub(super) fn mount_dev(&mut self, devices: &[(usize, String)]) {
        let nodev = if self.context.no_devices {
            MountFlags::NODEV
        } else {
            MountFlags::empty()
        };
        self.mount_fs(
            "tmpfs",
            "/dev",
            MountFlags::NOSUID | MountFlags::STRICTATIME | nodev,
            Some("mode=755,size=65536k"),
        );
        for (slot, path) in devices {
            self.steps.push(SetupStep::MakeFile {
                path: c_string(path.as_str()),
                mode: 0o644,
                shown: path.clone(),
            });
            self.attach(*slot, path.clone(), path.clone());
        }
        self.make_dir("/dev/pts");
        let devpts = if self.context.tty_group_mapped {
            "newinstance,ptmxmode=0666,mode=0620,gid=5"
        } else {
            "newinstance,ptmxmode=0666,mode=0620"
        };
        self.mount_fs(
            "devpts",
            "/dev/pts",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            Some(devpts),
        );
        self.make_dir("/dev/shm");
        self.mount_fs(
            "tmpfs",
            "/dev/shm",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            Some("mode=1777,size=65536k"),
        );
        // POSIX message queues of the sandbox's own IPC namespace, as in Docker's.
        self.make_dir("/dev/mqueue");
        self.mount_fs(
            "mqueue",
            "/dev/mqueue",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        );
        for (target, path) in [
            ("pts/ptmx", "/dev/ptmx"),
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            self.steps.push(SetupStep::Symlink {
                target: c_string(target),
                path: c_string(path),
                shown: path.to_owned(),
            });
        }
    }
}
