//! Which devices a command may use: a device cgroup where the host has one, else no device
//! nodes at all.
//!
//! # The choice
//! Docker lets a container open only its default devices (`defaults::DEVICES`) through a
//! device cgroup, and so does this sandbox where it can: on a host with the cgroup v1
//! `devices` controller mounted (Debian 12 in a VM with the hybrid layout, this project's
//! CI), each run gets a cgroup of its own below the builder's, denying everything but those
//! devices, and init joins it before it does anything. Block devices may not even be
//! created there (runc's cgroup lets any node be created, only not opened; the seccomp
//! profile refuses block nodes in both sandboxes).
//!
//! Elsewhere (a cgroup v2-only host, whose device rules are eBPF programs, or a builder
//! without write access to its cgroup) the sandbox does without: the seccomp profile lets
//! `mknod` create no device but overlayfs's whiteouts (character device 0/0), and the root
//! and `/dev` are mounted `nodev`, so device nodes that come with an image cannot be opened
//! either; only the devices bound from the host (`null`, `zero`, …) and `/dev/pts` work.
//! Rootless, the kernel already refuses both (no `CAP_MKNOD` over the host, and mounts made
//! in a user namespace are `nodev`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::defaults::DEVICES;
use super::error::ExecError;

/// Gives each run's cgroup a new name.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// How many times removing a cgroup is tried while the kernel still counts a task in it.
const REMOVE_TRIES: u32 = 100;

/// A device cgroup (cgroup v1) made for one run; removed when dropped.
#[derive(Debug)]
pub(crate) struct DeviceCgroup {
    path: PathBuf,
}

impl DeviceCgroup {
    /// A new device cgroup below this process's own, allowing only Docker's default devices;
    /// `None` when the host has no cgroup v1 `devices` controller or this process may not
    /// make cgroups there.
    ///
    /// # Errors
    /// The cgroup could be made but not set up.
    pub(crate) fn create() -> Result<Option<DeviceCgroup>, ExecError> {
        let Some(parent) = own_cgroup() else {
            return Ok(None);
        };
        let mut attempt = 0;
        let path = loop {
            let name = format!(
                "mkimage-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = parent.join(name);
            match fs::create_dir(&path) {
                Ok(()) => break path,
                // A cgroup left by a builder that had this pid and died.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(error) if not_permitted(&error) => return Ok(None),
                Err(source) => return Err(ExecError::CreateDeviceCgroup { path, source }),
            }
        };
        let cgroup = DeviceCgroup { path };
        match cgroup.write_rules() {
            Ok(()) => Ok(Some(cgroup)),
            // A parent cgroup stricter than these rules.
            Err(error) if not_permitted(&error) => Ok(None),
            Err(source) => Err(ExecError::CreateDeviceCgroup {
                path: cgroup.path.clone(),
                source,
            }),
        }
    }

    /// Denies every device, then allows creating character devices and using the default
    /// ones.
    fn write_rules(&self) -> io::Result<()> {
        fs::write(self.path.join("devices.deny"), "a")?;
        let mut rules = vec!["c *:* m".to_owned()];
        rules.extend(DEVICES.iter().map(|device| match device.minor {
            Some(minor) => format!("c {}:{minor} rwm", device.major),
            None => format!("c {}:* rwm", device.major),
        }));
        for rule in rules {
            // One rule per write: the kernel reads one.
            fs::write(self.path.join("devices.allow"), rule)?;
        }
        Ok(())
    }

    /// Moves process `pid` (the sandbox's init, before it starts) into the cgroup.
    ///
    /// # Errors
    /// The kernel refused.
    pub(crate) fn join(&self, pid: i32) -> Result<(), ExecError> {
        fs::write(self.path.join("cgroup.procs"), pid.to_string()).map_err(|source| {
            ExecError::JoinDeviceCgroup {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Removes the cgroup once every process of the run is gone.
    ///
    /// # Errors
    /// The cgroup stayed busy or could not be removed.
    pub(crate) fn remove(mut self) -> Result<(), ExecError> {
        let path = std::mem::take(&mut self.path);
        remove(&path).map_err(|source| ExecError::RemoveDeviceCgroup { path, source })
    }
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = remove(&self.path);
        }
    }
}

/// `rmdir`, tried again for a while when the cgroup is busy: its last task may still be
/// leaving it after being reaped.
fn remove(path: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir(path) {
            Err(error) if error.raw_os_error() == Some(libc::EBUSY) && tries < REMOVE_TRIES => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

fn not_permitted(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EACCES | libc::EPERM | libc::EROFS)
    )
}

/// The directory of this process's cgroup in the v1 `devices` hierarchy, if mounted.
fn own_cgroup() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (root, mount_point) = devices_mount(&mountinfo)?;
    let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = devices_cgroup(&cgroups)?;
    let relative = Path::new(own).strip_prefix(root).ok()?;
    Some(PathBuf::from(mount_point).join(relative))
}

/// The root and mount point of the cgroup v1 hierarchy that has the `devices` controller,
/// from `/proc/self/mountinfo`.
fn devices_mount(mountinfo: &str) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let mut fs = fs.split(' ');
        let (fstype, _source, options) = (fs.next()?, fs.next()?, fs.next()?);
        if fstype != "cgroup" || !options.split(',').any(|option| option == "devices") {
            return None;
        }
        let mut fields = mount.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        Some((unescape(root), unescape(mount_point)))
    })
}

/// This process's cgroup in the `devices` hierarchy, from `/proc/self/cgroup`.
fn devices_cgroup(cgroups: &str) -> Option<&str> {
    cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|controller| controller == "devices")
            .then_some(path)
    })
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes
            .get(index + 1..index + 4)
            .filter(|_| bytes[index] == b'\\')
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_devices_hierarchy() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:31 /docker/abc /sys/fs/cgroup/my\\040devices rw,relatime - cgroup cgroup rw,devices
36 30 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            devices_mount(mountinfo),
            Some((
                "/docker/abc".to_owned(),
                "/sys/fs/cgroup/my devices".to_owned()
            ))
        );
        assert_eq!(
            devices_mount("36 30 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            None
        );
        let cgroups = "9:name=systemd:/\n5:devices,freezer:/docker/abc/x\n0::/\n";
        assert_eq!(devices_cgroup(cgroups), Some("/docker/abc/x"));
        assert_eq!(devices_cgroup("0::/user.slice\n"), None);
    }
}
