//! Docker's default seccomp profile, compiled to BPF for the native sandbox and written as
//! runtime-spec JSON for runc.
//!
//! # The profile
//! [`ENTRIES`] restates moby's `profiles/seccomp/default.json`: an allowlist, every other
//! system call failing with `EPERM`. Some entries apply only with a capability (`mount`
//! needs `CAP_SYS_ADMIN`, which the sandbox never has) or without one (`clone` without
//! namespace flags), some only on one architecture, and some only for certain arguments
//! (`personality`, `socket` outside `AF_ALG` and `AF_VSOCK`). Entries that concern only
//! architectures mkimage does not run on (s390, ppc64le) are left out, and so is the
//! minimum-kernel condition of `ptrace`: the sandbox needs 5.2 (`open_tree`) anyway.
//!
//! One addition: `mknod` and `mknodat` may not create block devices (runc's device cgroup
//! lets any node be *created*, only not opened); in the native sandbox, which has no
//! device cgroup (see `defaults.rs`), no device node at all but overlayfs's whiteouts
//! (character device 0/0).
//!
//! # Compiling
//! `seccompiler` compiles one architecture's rules with one match action into a linear
//! chain that kills a process of any other architecture. A process of this host can make
//! the native system calls and those of its 32-bit compat ABI (an i386 binary on x86_64),
//! as Docker allows, so each filter is assembled here (see [`compile`]): it lets other
//! architectures pass, bisects on the system call number and jumps into one of several
//! short `seccompiler` chains; a last filter kills architectures that no filter handles. The kernel runs every filter and
//! keeps the strictest answer, `clone3`'s `ENOSYS` winning over the allowlist's `EPERM`
//! because its filter is installed last (on equal actions the newest filter's data wins).
//! Since 5.11 the kernel caches, per system call number, filters whose answer does not
//! depend on the arguments, so the allowlist costs nothing on most calls.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch as OciArch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch, sock_filter,
};

use super::defaults;
use super::error::ExecError;

/// An architecture whose system calls a filter handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    X86,
    Aarch64,
    Arm,
    Riscv64,
}

impl Arch {
    /// The architectures a process of this host can call the kernel as: the native one,
    /// then its 32-bit compat one.
    ///
    /// # Errors
    /// This host's architecture is not one the profile is made for.
    pub(crate) fn host() -> Result<&'static [Arch], ExecError> {
        match std::env::consts::ARCH {
            "x86_64" => Ok(&[Arch::X86_64, Arch::X86]),
            "aarch64" => Ok(&[Arch::Aarch64, Arch::Arm]),
            "riscv64" => Ok(&[Arch::Riscv64]),
            other => Err(ExecError::SeccompArchitecture {
                arch: other.to_owned(),
            }),
        }
    }

    /// The architecture's name in Go, as the profile's conditions name it.
    fn go_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::X86 => "x86",
            Arch::Aarch64 => "arm64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The kernel's `AUDIT_ARCH_*` value (`linux/audit.h`): the ELF machine, with bits for
    /// 64-bit and little-endian.
    fn audit(self) -> u32 {
        const BITS_64: u32 = 0x8000_0000;
        const LITTLE_ENDIAN: u32 = 0x4000_0000;
        match self {
            Arch::X86_64 => 62 | BITS_64 | LITTLE_ENDIAN,
            Arch::X86 => 3 | LITTLE_ENDIAN,
            Arch::Aarch64 => 183 | BITS_64 | LITTLE_ENDIAN,
            Arch::Arm => 40 | LITTLE_ENDIAN,
            Arch::Riscv64 => 243 | BITS_64 | LITTLE_ENDIAN,
        }
    }

    /// The number of system call `name` here, or `None` when this architecture lacks it.
    fn number(self, name: &str) -> Option<i64> {
        let id = match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
            Arch::X86 => syscalls::x86::Sysno::from_str(name).ok()?.id(),
            Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
            Arch::Arm => syscalls::arm::Sysno::from_str(name).ok()?.id(),
            Arch::Riscv64 => syscalls::riscv64::Sysno::from_str(name).ok()?.id(),
        };
        Some(i64::from(id))
    }

    fn oci(self) -> OciArch {
        match self {
            Arch::X86_64 => OciArch::ScmpArchX86_64,
            Arch::X86 => OciArch::ScmpArchX86,
            Arch::Aarch64 => OciArch::ScmpArchAarch64,
            Arch::Arm => OciArch::ScmpArchArm,
            Arch::Riscv64 => OciArch::ScmpArchRiscv64,
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Allow,
    /// Fail with this `errno`.
    Errno(u32),
}

/// How an argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Gt,
    /// `argument & mask == value`.
    MaskedEq(u64),
}

/// A condition on one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arg {
    index: u8,
    /// Whether the argument is 64 bits wide (`unsigned long`) rather than 32 (`int`).
    wide: bool,
    op: Op,
    value: u64,
}

const fn arg(index: u8, op: Op, value: u64) -> Arg {
    Arg {
        index,
        wide: false,
        op,
        value,
    }
}

/// One entry of the profile.
struct Entry {
    names: &'static [&'static str],
    action: Action,
    /// Conditions that must all hold; none: the call always matches.
    args: &'static [Arg],
    /// Applies only on these host architectures (Go names); empty: on all.
    arches: &'static [&'static str],
    /// Applies only when the command has all of these capabilities.
    with: &'static [Capability],
    /// Applies only when the command has none of these capabilities.
    without: &'static [Capability],
}

const fn allow(names: &'static [&'static str]) -> Entry {
    Entry {
        names,
        action: Action::Allow,
        args: &[],
        arches: &[],
        with: &[],
        without: &[],
    }
}

const fn allow_with(names: &'static [&'static str], capability: &'static [Capability]) -> Entry {
    Entry {
        with: capability,
        ..allow(names)
    }
}

const fn allow_on(names: &'static [&'static str], arches: &'static [&'static str]) -> Entry {
    Entry {
        arches,
        ..allow(names)
    }
}

const fn allow_if(names: &'static [&'static str], args: &'static [Arg]) -> Entry {
    Entry {
        args,
        ..allow(names)
    }
}

/// `EPERM`: what every call outside the allowlist gets.
const EPERM: u32 = libc::EPERM as u32;
/// The namespace flags of `clone` (`CLONE_NEWNS`, `CLONE_NEWUTS`, `CLONE_NEWIPC`,
/// `CLONE_NEWUSER`, `CLONE_NEWPID`, `CLONE_NEWNET`, `CLONE_NEWCGROUP`).
const CLONE_NAMESPACES: u64 = 0x7E02_0000;
/// The file-type bits of a mode, and the types `mknod` may create.
const S_IFMT: u64 = libc::S_IFMT as u64;
const NODE_TYPES: [u64; 4] = [
    0,
    libc::S_IFREG as u64,
    libc::S_IFIFO as u64,
    libc::S_IFSOCK as u64,
];
const S_IFCHR: u64 = libc::S_IFCHR as u64;

/// The profile, as in Docker's `default.json` (without `mknod` and `mknodat`: see
/// [`Profile::new`]).
const ENTRIES: &[Entry] = &[
    allow(&[
        "accept",
        "accept4",
        "access",
        "adjtimex",
        "alarm",
        "bind",
        "brk",
        "cachestat",
        "capget",
        "capset",
        "chdir",
        "chmod",
        "chown",
        "chown32",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_gettime",
        "clock_gettime64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "close",
        "close_range",
        "connect",
        "copy_file_range",
        "creat",
        "dup",
        "dup2",
        "dup3",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "faccessat",
        "faccessat2",
        "fadvise64",
        "fadvise64_64",
        "fallocate",
        "fanotify_mark",
        "fchdir",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "fchown",
        "fchown32",
        "fchownat",
        "fcntl",
        "fcntl64",
        "fdatasync",
        "fgetxattr",
        "flistxattr",
        "flock",
        "fork",
        "fremovexattr",
        "fsetxattr",
        "fstat",
        "fstat64",
        "fstatat64",
        "fstatfs",
        "fstatfs64",
        "fsync",
        "ftruncate",
        "ftruncate64",
        "futex",
        "futex_requeue",
        "futex_time64",
        "futex_wait",
        "futex_waitv",
        "futex_wake",
        "futimesat",
        "getcpu",
        "getcwd",
        "getdents",
        "getdents64",
        "getegid",
        "getegid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getgroups",
        "getgroups32",
        "getitimer",
        "getpeername",
        "getpgid",
        "getpgrp",
        "getpid",
        "getppid",
        "getpriority",
        "getrandom",
        "getresgid",
        "getresgid32",
        "getresuid",
        "getresuid32",
        "getrlimit",
        "get_robust_list",
        "getrusage",
        "getsid",
        "getsockname",
        "getsockopt",
        "get_thread_area",
        "gettid",
        "gettimeofday",
        "getuid",
        "getuid32",
        "getxattr",
        "getxattrat",
        "inotify_add_watch",
        "inotify_init",
        "inotify_init1",
        "inotify_rm_watch",
        "io_cancel",
        "ioctl",
        "io_destroy",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
        "ioprio_get",
        "ioprio_set",
        "io_setup",
        "io_submit",
        "ipc",
        "kill",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
        "lchown",
        "lchown32",
        "lgetxattr",
        "link",
        "linkat",
        "listen",
        "listmount",
        "listxattr",
        "listxattrat",
        "llistxattr",
        "_llseek",
        "lremovexattr",
        "lseek",
        "lsetxattr",
        "lstat",
        "lstat64",
        "madvise",
        "map_shadow_stack",
        "membarrier",
        "memfd_create",
        "memfd_secret",
        "mincore",
        "mkdir",
        "mkdirat",
        "mlock",
        "mlock2",
        "mlockall",
        "mmap",
        "mmap2",
        "mprotect",
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_unlink",
        "mremap",
        "mseal",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "msync",
        "munlock",
        "munlockall",
        "munmap",
        "name_to_handle_at",
        "nanosleep",
        "newfstatat",
        "_newselect",
        "open",
        "openat",
        "openat2",
        "pause",
        "pidfd_open",
        "pidfd_send_signal",
        "pipe",
        "pipe2",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "poll",
        "ppoll",
        "ppoll_time64",
        "prctl",
        "pread64",
        "preadv",
        "preadv2",
        "prlimit64",
        "process_mrelease",
        "pselect6",
        "pselect6_time64",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "read",
        "readahead",
        "readlink",
        "readlinkat",
        "readv",
        "recv",
        "recvfrom",
        "recvmmsg",
        "recvmmsg_time64",
        "recvmsg",
        "remap_file_pages",
        "removexattr",
        "removexattrat",
        "rename",
        "renameat",
        "renameat2",
        "restart_syscall",
        "riscv_hwprobe",
        "rmdir",
        "rseq",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo",
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
        "seccomp",
        "select",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "send",
        "sendfile",
        "sendfile64",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setfsgid",
        "setfsgid32",
        "setfsuid",
        "setfsuid32",
        "setgid",
        "setgid32",
        "setgroups",
        "setgroups32",
        "setitimer",
        "setpgid",
        "setpriority",
        "setregid",
        "setregid32",
        "setresgid",
        "setresgid32",
        "setresuid",
        "setresuid32",
        "setreuid",
        "setreuid32",
        "setrlimit",
        "set_robust_list",
        "setsid",
        "setsockopt",
        "set_thread_area",
        "set_tid_address",
        "setuid",
        "setuid32",
        "setxattr",
        "setxattrat",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
        "shutdown",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "sigprocmask",
        "sigreturn",
        "socketcall",
        "socketpair",
        "splice",
        "stat",
        "stat64",
        "statfs",
        "statfs64",
        "statmount",
        "statx",
        "symlink",
        "symlinkat",
        "sync",
        "sync_file_range",
        "syncfs",
        "sysinfo",
        "tee",
        "tgkill",
        "time",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_gettime64",
        "timer_settime",
        "timer_settime64",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_gettime64",
        "timerfd_settime",
        "timerfd_settime64",
        "times",
        "tkill",
        "truncate",
        "truncate64",
        "ugetrlimit",
        "umask",
        "uname",
        "unlink",
        "unlinkat",
        "uretprobe",
        "utime",
        "utimensat",
        "utimensat_time64",
        "utimes",
        "vfork",
        "vmsplice",
        "wait4",
        "waitid",
        "waitpid",
        "write",
        "writev",
    ]),
    allow(&["process_vm_readv", "process_vm_writev", "ptrace"]),
    // Every address family but AF_ALG (38) and AF_VSOCK (40).
    allow_if(&["socket"], &[arg(0, Op::Lt, 38)]),
    allow_if(&["socket"], &[arg(0, Op::Eq, 39)]),
    allow_if(&["socket"], &[arg(0, Op::Gt, 40)]),
    // PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and the query 0xffffffff.
    allow_if(&["personality"], &[arg(0, Op::Eq, 0)]),
    allow_if(&["personality"], &[arg(0, Op::Eq, 0x8)]),
    allow_if(&["personality"], &[arg(0, Op::Eq, 0x2_0000)]),
    allow_if(&["personality"], &[arg(0, Op::Eq, 0x2_0008)]),
    allow_if(&["personality"], &[arg(0, Op::Eq, 0xffff_ffff)]),
    allow_on(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        &["arm", "arm64"],
    ),
    allow_on(&["arch_prctl"], &["amd64", "x32"]),
    allow_on(&["modify_ldt"], &["amd64", "x32", "x86"]),
    allow_on(&["riscv_flush_icache"], &["riscv64"]),
    allow_with(&["open_by_handle_at"], &[Capability::DacReadSearch]),
    allow_with(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        &[Capability::SysAdmin],
    ),
    // `clone` that makes no namespace.
    Entry {
        args: &[Arg {
            index: 0,
            wide: true,
            op: Op::MaskedEq(CLONE_NAMESPACES),
            value: 0,
        }],
        without: &[Capability::SysAdmin],
        ..allow(&["clone"])
    },
    // `clone3` cannot be filtered on its flags (they are in memory): "not implemented"
    // makes the C library fall back to `clone`.
    Entry {
        action: Action::Errno(libc::ENOSYS as u32),
        without: &[Capability::SysAdmin],
        ..allow(&["clone3"])
    },
    allow_with(&["reboot"], &[Capability::SysBoot]),
    allow_with(&["chroot"], &[Capability::SysChroot]),
    allow_with(
        &["delete_module", "init_module", "finit_module"],
        &[Capability::SysModule],
    ),
    allow_with(&["acct"], &[Capability::SysPacct]),
    allow_with(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        &[Capability::SysPtrace],
    ),
    allow_with(&["iopl", "ioperm"], &[Capability::SysRawio]),
    allow_with(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        &[Capability::SysTime],
    ),
    allow_with(&["vhangup"], &[Capability::SysTtyConfig]),
    allow_with(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        &[Capability::SysNice],
    ),
    allow_with(&["syslog"], &[Capability::Syslog]),
    allow_with(&["bpf"], &[Capability::Bpf]),
    allow_with(&["perf_event_open"], &[Capability::Perfmon]),
];

/// Which device nodes `mknod` may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceNodes {
    /// Character devices (a device cgroup decides which may be opened), not block devices:
    /// runc's.
    Character,
    /// Of devices, only overlayfs's whiteouts (character device 0/0): the native sandbox's,
    /// which has no device cgroup.
    WhiteoutsOnly,
}

/// One system call's rule in a resolved profile.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    name: &'static str,
    action: Action,
    args: Vec<Arg>,
}

/// The profile for one host architecture and capability set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    arches: &'static [Arch],
    rules: Vec<Rule>,
}

impl Profile {
    /// Docker's profile for a command with `capabilities` on a host whose processes call the
    /// kernel as `arches` (native first), with `mknod` limited to `nodes`.
    pub(crate) fn new(
        arches: &'static [Arch],
        capabilities: &[Capability],
        nodes: DeviceNodes,
    ) -> Profile {
        let native = arches.first().map_or("", |arch| arch.go_name());
        let applies = |entry: &Entry| {
            (entry.arches.is_empty() || entry.arches.contains(&native))
                && entry.with.iter().all(|cap| capabilities.contains(cap))
                && !entry.without.iter().any(|cap| capabilities.contains(cap))
        };
        let mut rules: Vec<Rule> = ENTRIES
            .iter()
            .filter(|entry| applies(entry))
            .flat_map(|entry| {
                entry.names.iter().map(|&name| Rule {
                    name,
                    action: entry.action,
                    args: entry.args.to_vec(),
                })
            })
            .collect();
        for (name, mode, dev) in [("mknod", 1, 2), ("mknodat", 2, 3)] {
            let types = NODE_TYPES
                .iter()
                .map(|&kind| vec![arg(mode, Op::MaskedEq(S_IFMT), kind)]);
            let character = match nodes {
                DeviceNodes::Character => vec![arg(mode, Op::MaskedEq(S_IFMT), S_IFCHR)],
                DeviceNodes::WhiteoutsOnly => vec![
                    arg(mode, Op::MaskedEq(S_IFMT), S_IFCHR),
                    arg(dev, Op::Eq, 0),
                ],
            };
            rules.extend(types.chain([character]).map(|args| Rule {
                name,
                action: Action::Allow,
                args,
            }));
        }
        Profile { arches, rules }
    }

    /// The rules of `action` on `arch`, by system call number: an empty list where the call
    /// always matches, else the alternatives (each a list of conditions that must all hold).
    fn rules_of(&self, arch: Arch, action: Action) -> BTreeMap<i64, Vec<Vec<Arg>>> {
        let mut calls: BTreeMap<i64, Option<Vec<Vec<Arg>>>> = BTreeMap::new();
        for rule in self.rules.iter().filter(|rule| rule.action == action) {
            let Some(number) = arch.number(rule.name) else {
                continue;
            };
            let alternatives = calls.entry(number).or_insert_with(|| Some(Vec::new()));
            match (alternatives, rule.args.is_empty()) {
                // Unconditional already: nothing narrows it.
                (None, _) => {}
                (alternatives @ Some(_), true) => *alternatives = None,
                (Some(list), false) => list.push(rule.args.clone()),
            }
        }
        calls
            .into_iter()
            .map(|(number, alternatives)| (number, alternatives.unwrap_or_default()))
            .collect()
    }

    /// The actions of the profile other than the default: `Allow` first, then each `errno`.
    fn actions(&self) -> Vec<Action> {
        let mut actions: Vec<Action> = self.rules.iter().map(|rule| rule.action).collect();
        actions.sort();
        actions.dedup();
        actions
    }

    /// The BPF filters to install, in order.
    ///
    /// # Errors
    /// `seccompiler` refused a filter (too long, or laid out differently than this module
    /// expects).
    pub(crate) fn filters(&self) -> Result<Vec<BpfProgram>, ExecError> {
        let mut filters = Vec::new();
        for action in self.actions() {
            for &arch in self.arches {
                let rules = self.rules_of(arch, action);
                if rules.is_empty() {
                    continue;
                }
                filters.push(compile(arch, action, rules)?);
            }
        }
        filters.push(arch_guard(self.arches));
        Ok(filters)
    }

    /// The profile as runtime-spec JSON, for runc.
    ///
    /// # Errors
    /// `oci-spec` refused a value.
    pub(crate) fn oci(&self) -> Result<LinuxSeccomp, ExecError> {
        let invalid = |source| ExecError::BuildRuntimeConfig { source };
        let mut syscalls: Vec<LinuxSyscall> = Vec::new();
        for action in self.actions() {
            let (oci_action, errno) = match action {
                Action::Allow => (LinuxSeccompAction::ScmpActAllow, None),
                Action::Errno(errno) => (LinuxSeccompAction::ScmpActErrno, Some(errno)),
            };
            let mut always: Vec<String> = Vec::new();
            let mut conditional: Vec<(&str, &[Arg])> = Vec::new();
            for rule in self.rules.iter().filter(|rule| rule.action == action) {
                let unconditional = self.rules.iter().any(|other| {
                    other.name == rule.name && other.action == action && other.args.is_empty()
                });
                if rule.args.is_empty() {
                    if !always.iter().any(|name| name == rule.name) {
                        always.push(rule.name.to_owned());
                    }
                } else if !unconditional {
                    conditional.push((rule.name, &rule.args));
                }
            }
            let mut calls: Vec<(Vec<String>, &[Arg])> = vec![(always, &[])];
            calls.extend(
                conditional
                    .into_iter()
                    .map(|(name, args)| (vec![name.to_owned()], args)),
            );
            for (names, args) in calls.into_iter().filter(|(names, _)| !names.is_empty()) {
                let args = args
                    .iter()
                    .map(|arg| oci_arg(arg).build().map_err(invalid))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut call = LinuxSyscallBuilder::default()
                    .names(names)
                    .action(oci_action)
                    .args(args);
                if let Some(errno) = errno {
                    call = call.errno_ret(errno);
                }
                syscalls.push(call.build().map_err(invalid)?);
            }
        }
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .default_errno_ret(EPERM)
            .architectures(
                self.arches
                    .iter()
                    .map(|arch| arch.oci())
                    .collect::<Vec<_>>(),
            )
            .syscalls(syscalls)
            .build()
            .map_err(invalid)
    }
}

/// The native sandbox's filters: Docker's profile for Docker's default capabilities on this
/// host, `mknod` making no device but whiteouts; compiled once per process.
///
/// # Errors
/// As [`Arch::host`] and [`Profile::filters`].
pub(crate) fn default_filters() -> Result<Vec<BpfProgram>, ExecError> {
    static COMPILED: OnceLock<Vec<BpfProgram>> = OnceLock::new();
    if let Some(filters) = COMPILED.get() {
        return Ok(filters.clone());
    }
    let filters = Profile::new(
        Arch::host()?,
        &defaults::CAPABILITIES,
        DeviceNodes::WhiteoutsOnly,
    )
    .filters()?;
    Ok(COMPILED.get_or_init(|| filters).clone())
}

fn oci_arg(arg: &Arg) -> LinuxSeccompArgBuilder {
    let builder = LinuxSeccompArgBuilder::default().index(usize::from(arg.index));
    match arg.op {
        Op::Eq => builder.op(LinuxSeccompOperator::ScmpCmpEq).value(arg.value),
        Op::Lt => builder.op(LinuxSeccompOperator::ScmpCmpLt).value(arg.value),
        Op::Gt => builder.op(LinuxSeccompOperator::ScmpCmpGt).value(arg.value),
        Op::MaskedEq(mask) => builder
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .value(mask)
            .value_two(arg.value),
    }
}

/// How many system calls one `seccompiler` chain holds at most (see [`compile`]).
const CHUNK: usize = 16;

/// Compiles the rules of one action on one architecture; other architectures pass.
///
/// `seccompiler` compiles rules into one linear chain. When a filter is installed, the
/// kernel walks it once per system call number (to cache the calls it always allows), so a
/// chain of 400 calls cost about 5 ms per `RUN`. So the calls are compiled in chunks of
/// [`CHUNK`], and a bisection over the chunks' first numbers, written here, jumps to the
/// one chunk that decides: about 40 instructions per call instead of 700.
fn compile(
    arch: Arch,
    action: Action,
    rules: BTreeMap<i64, Vec<Vec<Arg>>>,
) -> Result<BpfProgram, ExecError> {
    let invalid = |source: BackendError| ExecError::BuildSeccomp {
        source: Box::new(source),
    };
    let rules = rules
        .into_iter()
        .map(|(number, alternatives)| {
            let alternatives = alternatives
                .iter()
                .map(|args| {
                    let conditions = args.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                    SeccompRule::new(conditions)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((number, alternatives))
        })
        .collect::<Result<Vec<_>, BackendError>>()
        .map_err(invalid)?;
    let (matched, otherwise) = match action {
        Action::Allow => (SeccompAction::Allow, SeccompAction::Errno(EPERM)),
        Action::Errno(errno) => (SeccompAction::Errno(errno), SeccompAction::Allow),
    };
    let mut starts = Vec::new();
    let mut bodies = Vec::new();
    for chunk in rules.chunks(CHUNK) {
        // Each chunk decides from its first number up to the next chunk's; the first from 0.
        let start = if starts.is_empty() { 0 } else { chunk[0].0 };
        starts.push(u32::try_from(start).map_err(|_| ExecError::SeccompLayout)?);
        // The target only names the architecture of the prologue, which is dropped.
        let filter = SeccompFilter::new(
            chunk.iter().cloned().collect(),
            otherwise.clone(),
            matched.clone(),
            TargetArch::x86_64,
        )
        .map_err(invalid)?;
        let program: BpfProgram = filter.try_into().map_err(invalid)?;
        bodies.push(without_prologue(program)?);
    }
    let mut program = vec![
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH_OFFSET),
        jump(libc::BPF_JEQ, arch.audit(), 1, 0),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR_OFFSET),
    ];
    if bodies.is_empty() {
        program.push(statement(libc::BPF_RET | libc::BPF_K, u32::from(otherwise)));
        return Ok(program);
    }
    let mut leaves = Vec::new();
    bisect(&starts, 0..starts.len(), &mut program, &mut leaves)?;
    let mut body_at = Vec::new();
    for body in bodies {
        body_at.push(program.len());
        program.extend(body);
    }
    for (at, chunk) in leaves {
        let offset = body_at[chunk] - at - 1;
        program[at].k = u32::try_from(offset).map_err(|_| ExecError::SeccompLayout)?;
    }
    Ok(program)
}

/// Emits a bisection over `starts[range]` (the system call number is loaded): each leaf is
/// a jump to its chunk's body, recorded in `leaves` as (instruction, chunk) for the caller
/// to aim once the bodies are placed.
fn bisect(
    starts: &[u32],
    range: std::ops::Range<usize>,
    program: &mut BpfProgram,
    leaves: &mut Vec<(usize, usize)>,
) -> Result<(), ExecError> {
    if range.len() == 1 {
        leaves.push((program.len(), range.start));
        program.push(statement(libc::BPF_JMP | libc::BPF_JA, 0));
        return Ok(());
    }
    let middle = range.start + range.len() / 2;
    let at = program.len();
    // At or above the middle chunk's start: the right half, after the left one.
    program.push(jump(libc::BPF_JGE, starts[middle], 0, 0));
    bisect(starts, range.start..middle, program, leaves)?;
    program[at].jt = u8::try_from(program.len() - at - 1).map_err(|_| ExecError::SeccompLayout)?;
    bisect(starts, middle..range.end, program, leaves)
}

fn condition(arg: &Arg) -> Result<SeccompCondition, BackendError> {
    let width = if arg.wide {
        SeccompCmpArgLen::Qword
    } else {
        SeccompCmpArgLen::Dword
    };
    let op = match arg.op {
        Op::Eq => SeccompCmpOp::Eq,
        Op::Lt => SeccompCmpOp::Lt,
        Op::Gt => SeccompCmpOp::Gt,
        Op::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
    };
    SeccompCondition::new(arg.index, width, op, arg.value)
}

/// `offsetof(struct seccomp_data, nr)` and `offsetof(struct seccomp_data, arch)`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn statement(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(condition: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: (libc::BPF_JMP | condition | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// `seccompiler`'s program without its prologue (load the architecture; skip the next
/// instruction if it is the target's; kill the process), checked to be just that.
fn without_prologue(mut program: BpfProgram) -> Result<BpfProgram, ExecError> {
    let load = statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH_OFFSET);
    let kill = statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS);
    match program.get(..3) {
        Some([first, check, last])
            if *first == load
                && u32::from(check.code) == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
                && (check.jt, check.jf) == (1, 0)
                && *last == kill =>
        {
            program.drain(..3);
            Ok(program)
        }
        _ => Err(ExecError::SeccompLayout),
    }
}

/// The last filter: kills a process calling as an architecture that no filter handles.
fn arch_guard(arches: &[Arch]) -> BpfProgram {
    let mut program = vec![statement(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        ARCH_OFFSET,
    )];
    for arch in arches {
        program.push(jump(libc::BPF_JEQ, arch.audit(), 0, 1));
        program.push(statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ALLOW,
        ));
    }
    program.push(statement(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_KILL_PROCESS,
    ));
    program
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::defaults::CAPABILITIES;

    const X86: &[Arch] = &[Arch::X86_64, Arch::X86];
    const ARM: &[Arch] = &[Arch::Aarch64, Arch::Arm];

    fn rules<'a>(profile: &'a Profile, name: &str) -> Vec<&'a Rule> {
        profile
            .rules
            .iter()
            .filter(|rule| rule.name == name)
            .collect()
    }

    #[test]
    fn default_capabilities_get_dockers_rules() {
        let profile = Profile::new(X86, &CAPABILITIES, DeviceNodes::Character);
        for name in ["read", "chroot", "ptrace", "arch_prctl", "modify_ldt"] {
            assert_eq!(rules(&profile, name).len(), 1, "{name}");
            assert!(rules(&profile, name)[0].args.is_empty(), "{name}");
        }
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "add_key",
            "keyctl",
            "bpf",
            "reboot",
            "kexec_load",
            "open_by_handle_at",
            "set_tls",
        ] {
            assert!(rules(&profile, name).is_empty(), "{name}");
        }
        let clone = rules(&profile, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args[0].op, Op::MaskedEq(CLONE_NAMESPACES));
        assert_eq!(
            rules(&profile, "clone3")[0].action,
            Action::Errno(libc::ENOSYS as u32)
        );
        assert_eq!(rules(&profile, "socket").len(), 3);
        assert_eq!(rules(&profile, "personality").len(), 5);
        // Regular files, FIFOs, sockets and character devices; no block devices.
        assert_eq!(rules(&profile, "mknodat").len(), 5);
        assert!(
            rules(&profile, "mknodat")
                .iter()
                .all(|rule| { rule.args.len() == 1 && rule.args[0].value != libc::S_IFBLK as u64 })
        );
        let whiteouts = Profile::new(X86, &CAPABILITIES, DeviceNodes::WhiteoutsOnly);
        let character = rules(&whiteouts, "mknod")
            .into_iter()
            .find(|rule| rule.args[0].value == S_IFCHR)
            .unwrap();
        assert_eq!(character.args[1], arg(2, Op::Eq, 0));
    }

    #[test]
    fn capabilities_widen_the_profile() {
        let profile = Profile::new(
            ARM,
            &[Capability::SysAdmin, Capability::SysPtrace],
            DeviceNodes::Character,
        );
        for name in ["mount", "unshare", "clone", "kcmp", "set_tls"] {
            assert!(
                rules(&profile, name)
                    .iter()
                    .any(|rule| rule.args.is_empty()),
                "{name}"
            );
        }
        assert!(
            rules(&profile, "clone3")
                .iter()
                .all(|rule| rule.action == Action::Allow)
        );
        assert!(rules(&profile, "arch_prctl").is_empty());
    }

    #[test]
    fn filters_compile_for_every_architecture() {
        for arches in [X86, ARM, &[Arch::Riscv64][..]] {
            let profile = Profile::new(arches, &CAPABILITIES, DeviceNodes::Character);
            let filters = profile.filters().unwrap();
            // The allowlist per architecture, `clone3` per architecture, the guard.
            assert_eq!(filters.len(), 2 * arches.len() + 1, "{arches:?}");
            for (filter, arch) in filters.iter().zip(arches.iter().cycle()) {
                assert_eq!(filter[1].k, arch.audit());
                assert_eq!(filter[2].k, libc::SECCOMP_RET_ALLOW);
                assert!(filter.len() < 4096);
            }
            let guard = filters.last().unwrap();
            assert_eq!(guard.len(), 2 + 2 * arches.len());
            assert_eq!(
                guard.last().unwrap().k,
                libc::SECCOMP_RET_KILL_PROCESS,
                "{arches:?}"
            );
        }
    }

    /// Runs `program` as the kernel would on a call `nr` with `args` made as `arch`.
    fn evaluate(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let word = |offset: u32| -> u32 {
            match offset {
                0 => nr,
                4 => arch,
                16..=63 => {
                    let arg = args[(offset as usize - 16) / 8];
                    if offset.is_multiple_of(8) {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                _ => panic!("load of offset {offset}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let op = &program[pc];
            let code = u32::from(op.code);
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => a = word(op.k),
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => a &= op.k,
                c if c == libc::BPF_RET | libc::BPF_K => return op.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += op.k as usize,
                c => {
                    let taken = match c & !(libc::BPF_JMP | libc::BPF_K) {
                        libc::BPF_JEQ => a == op.k,
                        libc::BPF_JGT => a > op.k,
                        libc::BPF_JGE => a >= op.k,
                        _ => panic!("instruction {code:#x}"),
                    };
                    pc += usize::from(if taken { op.jt } else { op.jf });
                }
            }
        }
    }

    /// The answer of every filter together: the strictest action, the newest filter's on
    /// a tie.
    fn verdict(filters: &[BpfProgram], arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let nr = arch.number(name).unwrap() as u32;
        let action = |ret: u32| (ret as i32) & (libc::SECCOMP_RET_ACTION_FULL as i32);
        filters
            .iter()
            .rev()
            .map(|filter| evaluate(filter, arch.audit(), nr, args))
            .reduce(|best, ret| {
                if action(ret) < action(best) {
                    ret
                } else {
                    best
                }
            })
            .unwrap()
    }

    #[test]
    fn filters_answer_as_the_profile_says() {
        let filters = Profile::new(X86, &CAPABILITIES, DeviceNodes::Character)
            .filters()
            .unwrap();
        let allow = libc::SECCOMP_RET_ALLOW;
        let errno = |errno: i32| libc::SECCOMP_RET_ERRNO | errno as u32;
        let call = |arch, name, args| verdict(&filters, arch, name, args);
        for arch in [Arch::X86_64, Arch::X86] {
            for name in [
                "read",
                "write",
                "execve",
                "setresuid",
                "chroot",
                "ptrace",
                "wait4",
            ] {
                assert_eq!(call(arch, name, [0; 6]), allow, "{arch:?} {name}");
            }
            for name in [
                "mount", "umount2", "unshare", "setns", "add_key", "keyctl", "reboot",
            ] {
                assert_eq!(
                    call(arch, name, [0; 6]),
                    errno(libc::EPERM),
                    "{arch:?} {name}"
                );
            }
            assert_eq!(call(arch, "clone3", [0; 6]), errno(libc::ENOSYS));
            let newuser = libc::CLONE_NEWUSER as u64;
            assert_eq!(call(arch, "clone", [0x11, 0, 0, 0, 0, 0]), allow);
            assert_eq!(
                call(arch, "clone", [newuser | 0x11, 0, 0, 0, 0, 0]),
                errno(libc::EPERM)
            );
            assert_eq!(call(arch, "personality", [8, 0, 0, 0, 0, 0]), allow);
            assert_eq!(
                call(arch, "personality", [0x0040000, 0, 0, 0, 0, 0]),
                errno(libc::EPERM)
            );
        }
        for (domain, expected) in [
            (2, allow),
            (38, errno(libc::EPERM)),
            (39, allow),
            (40, errno(libc::EPERM)),
            (41, allow),
        ] {
            assert_eq!(
                call(Arch::X86_64, "socket", [domain, 1, 0, 0, 0, 0]),
                expected,
                "{domain}"
            );
        }
        let block = libc::S_IFBLK as u64 | 0o600;
        let fifo = libc::S_IFIFO as u64 | 0o600;
        assert_eq!(
            call(Arch::X86_64, "mknod", [0, block, 0x801, 0, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(
            call(Arch::X86_64, "mknodat", [0, 0, block, 0x801, 0, 0]),
            errno(libc::EPERM)
        );
        assert_eq!(call(Arch::X86_64, "mknodat", [0, 0, fifo, 0, 0, 0]), allow);
        assert_eq!(
            call(
                Arch::X86_64,
                "mknodat",
                [0, 0, S_IFCHR | 0o600, 0x103, 0, 0]
            ),
            allow
        );
        // A number no table has, and an architecture that no filter handles.
        let unknown: Vec<u32> = filters
            .iter()
            .map(|f| evaluate(f, Arch::X86_64.audit(), 4000, [0; 6]))
            .collect();
        assert!(unknown.contains(&errno(libc::EPERM)));
        assert_eq!(
            filters
                .iter()
                .map(|f| evaluate(f, Arch::Arm.audit(), 3, [0; 6]))
                .min_by_key(|ret| *ret as i32),
            Some(libc::SECCOMP_RET_KILL_PROCESS)
        );
        let whiteouts = Profile::new(X86, &CAPABILITIES, DeviceNodes::WhiteoutsOnly)
            .filters()
            .unwrap();
        let char_node = [0, 0, S_IFCHR | 0o600, 0x103, 0, 0];
        assert_eq!(
            verdict(&whiteouts, Arch::X86_64, "mknodat", char_node),
            errno(libc::EPERM)
        );
        let whiteout = [0, 0, S_IFCHR, 0, 0, 0];
        assert_eq!(
            verdict(&whiteouts, Arch::X86_64, "mknodat", whiteout),
            allow
        );
    }

    #[test]
    fn system_calls_are_numbered_per_architecture() {
        assert_eq!(Arch::X86_64.number("read"), Some(0));
        assert_eq!(Arch::X86.number("read"), Some(3));
        assert_eq!(Arch::Aarch64.number("read"), Some(63));
        assert_eq!(Arch::Arm.number("read"), Some(3));
        assert_eq!(Arch::Aarch64.number("mknod"), None);
        assert_eq!(Arch::X86.number("socketcall"), Some(102));
    }

    #[test]
    fn runc_gets_the_same_profile() {
        let profile = Profile::new(X86, &CAPABILITIES, DeviceNodes::Character);
        let json = serde_json::to_value(profile.oci().unwrap()).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        assert_eq!(
            json["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        let calls = json["syscalls"].as_array().unwrap();
        let always = &calls[0]["names"];
        assert!(always.as_array().unwrap().len() > 300);
        assert!(always.as_array().unwrap().contains(&"chroot".into()));
        let with = |name: &str| -> Vec<&serde_json::Value> {
            calls
                .iter()
                .filter(|call| call["names"] == serde_json::json!([name]))
                .collect()
        };
        assert_eq!(
            with("clone")[0]["args"],
            serde_json::json!([{"index": 0, "value": CLONE_NAMESPACES, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        assert_eq!(with("clone3")[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(with("clone3")[0]["errnoRet"], 38);
        assert_eq!(with("mknod").len(), 5);
        assert!(with("mount").is_empty());
    }
}
