//! Docker's defaults for a container, shared by the native sandbox and the runc path: the
//! capabilities a command keeps, the `/proc` and `/sys` paths it may not read or write, and
//! the devices it may use.
//!
//! The lists follow moby's `daemon/pkg/oci/defaults.go` (and runc's
//! `libcontainer/specconv`); both sandboxes read them from here, so they cannot drift.
//! `RUN --security=insecure` lifts all of them.

use std::fs;
use std::path::Path;

use oci_spec::runtime::Capability;
use rustix::thread::CapabilitySet;

/// The capabilities a command keeps in the normal sandbox: Docker's default set.
pub(crate) const CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::NetRaw,
    Capability::SysChroot,
    Capability::Mknod,
    Capability::AuditWrite,
    Capability::Setfcap,
];

/// The capability bits of `capabilities`, as the kernel numbers them.
pub(crate) fn capability_mask(capabilities: &[Capability]) -> u64 {
    capabilities
        .iter()
        .filter_map(|capability| CapabilitySet::from_name(&capability.to_string()))
        .fold(0, |mask, set| mask | set.bits())
}

/// The capabilities whose bits are set in `mask` (the inverse of [`capability_mask`]):
/// with this process's effective set, what `--security=insecure` keeps under runc.
pub(crate) fn capabilities_in(mask: u64) -> impl Iterator<Item = Capability> {
    CapabilitySet::from_bits_truncate(mask)
        .iter_names()
        .filter_map(|(name, _)| name.parse().ok())
}

/// Paths hidden from the command: a file gets `/dev/null` bound over it, a directory an
/// empty read-only tmpfs. Missing ones (they depend on the kernel) are skipped.
const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths the command may read but not write: each is bound read-only onto itself.
pub(crate) const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The masked paths: [`MASKED_PATHS`] and, as Docker adds them, each CPU's
/// `thermal_throttle` directory that this host has (its counters leak the host's load).
pub(crate) fn masked_paths() -> Vec<String> {
    let mut paths: Vec<String> = MASKED_PATHS.map(str::to_owned).to_vec();
    let cpus = Path::new("/sys/devices/system/cpu");
    let mut throttles: Vec<String> = fs::read_dir(cpus)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("cpu").is_some_and(|number| {
                !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(|entry| entry.path().join("thermal_throttle"))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    throttles.sort();
    paths.extend(throttles);
    paths
}

/// A device the command may read, write and create: a character device's major number and
/// its minor number (`None`: every minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Device {
    pub(crate) major: u32,
    pub(crate) minor: Option<u32>,
}

/// The character devices a command may use: `null`, `zero`, `full`, `random`, `urandom`,
/// `tty`, `ptmx` and the pseudo-terminals of `/dev/pts`; no other device, and no block
/// device, can be opened.
///
/// # How each sandbox keeps to it
/// runc puts the container in a device cgroup with these rules, as Docker does. The native
/// sandbox has no device cgroup: moving init into one (cgroup v1 here and in CI) waits for
/// an RCU grace period, measured at 15–20 ms per `RUN` on a busy two-core machine, most
/// of a whole sandbox's cost. It gets the same result another way: the seccomp profile lets
/// `mknod` make no device node but overlayfs's whiteouts (character device 0/0), and the
/// root, `/dev`'s tmpfs and every bind mount (a stage's or cache's files come from images
/// too) are mounted `nodev`; so the only devices that open are those bound from the host
/// (`null` … `tty`) and the sandbox's own `devpts`. Rootless, the kernel already refuses
/// both (no `CAP_MKNOD` over the host; user namespace mounts are `nodev`).
pub(crate) const DEVICES: [Device; 8] = [
    Device {
        major: 1,
        minor: Some(3),
    }, // null
    Device {
        major: 1,
        minor: Some(5),
    }, // zero
    Device {
        major: 1,
        minor: Some(7),
    }, // full
    Device {
        major: 1,
        minor: Some(8),
    }, // random
    Device {
        major: 1,
        minor: Some(9),
    }, // urandom
    Device {
        major: 5,
        minor: Some(0),
    }, // tty
    Device {
        major: 5,
        minor: Some(2),
    }, // ptmx
    Device {
        major: 136,
        minor: None,
    }, // /dev/pts/N
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_mask_uses_the_kernels_numbers() {
        assert_eq!(capability_mask(&[Capability::Chown]), 1);
        assert_eq!(capability_mask(&[Capability::SysAdmin]), 1 << 21);
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
        // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
        let bits = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
        assert_eq!(
            capability_mask(&CAPABILITIES),
            bits.iter().fold(0, |mask, bit| mask | 1u64 << bit)
        );
    }

    #[test]
    fn capabilities_in_inverts_the_mask() {
        let kept: Vec<Capability> = capabilities_in(capability_mask(&CAPABILITIES)).collect();
        assert_eq!(kept, CAPABILITIES);
        assert_eq!(capabilities_in(0).count(), 0);
        // Every capability both crates name: CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40).
        let all: Vec<Capability> = capabilities_in(u64::MAX).collect();
        assert_eq!(all.len(), 41);
        assert_eq!(capability_mask(&all), (1 << 41) - 1);
    }

    #[test]
    fn masked_paths_start_with_dockers_list() {
        let paths = masked_paths();
        assert_eq!(paths[..MASKED_PATHS.len()], MASKED_PATHS.map(str::to_owned));
        assert!(
            paths[MASKED_PATHS.len()..]
                .iter()
                .all(|path| path.ends_with("/thermal_throttle"))
        );
    }
}
