//! Which namespaces the sandbox gets, and how a user namespace is mapped.
//!
//! As root, the sandbox gets new mount, pid, UTS, IPC and network namespaces (the host's
//! network only for `--network=host`) and ids are the host's. Otherwise it also gets a user
//! namespace, created in the same `clone`, in which the caller is root. When
//! `/etc/subuid` and `/etc/subgid` give the caller ranges and `newuidmap`/`newgidmap` are
//! installed, those ranges are mapped after root (ids 1, 2, … inside), so image files and
//! `USER`s other than root work; otherwise only root is mapped, written directly to
//! `/proc/<pid>/uid_map`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::ExecError;
use super::spec::find_host_program;
use crate::plan::Network;

/// A range of ids: `count` ids from `inside` in the namespace are `outside` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdRange {
    pub(crate) inside: u32,
    pub(crate) outside: u32,
    pub(crate) count: u32,
}

/// How the sandbox's ids relate to the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdMapping {
    /// Running as root: no user namespace.
    Host,
    /// A user namespace; the uid and gid ranges, and the helpers that write them (`None`:
    /// the parent writes the single root mapping itself).
    Namespace {
        uids: Vec<IdRange>,
        gids: Vec<IdRange>,
        helpers: Option<(PathBuf, PathBuf)>,
    },
}

impl IdMapping {
    /// The mapping for the current process.
    ///
    /// # Errors
    /// `/etc/subuid`, `/etc/subgid` or `/etc/passwd` exist but cannot be read.
    pub(crate) fn detect() -> Result<Self, ExecError> {
        let (uid, gid) = super::sys::effective_ids();
        if uid == 0 {
            return Ok(IdMapping::Host);
        }
        let name = user_name(uid)?;
        let sub_uids = subordinate_ranges(Path::new("/etc/subuid"), uid, name.as_deref())?;
        let sub_gids = subordinate_ranges(Path::new("/etc/subgid"), uid, name.as_deref())?;
        let helpers = match (find_id_helper("newuidmap"), find_id_helper("newgidmap")) {
            (Some(uid_helper), Some(gid_helper))
                if !sub_uids.is_empty() && !sub_gids.is_empty() =>
            {
                Some((uid_helper, gid_helper))
            }
            _ => None,
        };
        let root = |outside| IdRange {
            inside: 0,
            outside,
            count: 1,
        };
        let mut uids = vec![root(uid)];
        let mut gids = vec![root(gid)];
        if helpers.is_some() {
            append(&mut uids, &sub_uids);
            append(&mut gids, &sub_gids);
        }
        Ok(IdMapping::Namespace {
            uids,
            gids,
            helpers,
        })
    }

    /// The mapping of the current process when it has subordinate ids mapped through
    /// `newuidmap`/`newgidmap` (files of the sandbox's users then belong to those ids on
    /// the host); `None` as root or with the caller alone mapped.
    ///
    /// # Errors
    /// As [`IdMapping::detect`].
    pub(crate) fn subordinate() -> Result<Option<Self>, ExecError> {
        let mapping = Self::detect()?;
        Ok(mapping.has_subordinate_ids().then_some(mapping))
    }

    /// Whether subordinate ids are mapped (through `newuidmap`/`newgidmap`).
    pub(crate) fn has_subordinate_ids(&self) -> bool {
        matches!(
            self,
            IdMapping::Namespace {
                helpers: Some(_),
                ..
            }
        )
    }

    /// The uid and gid maps as `/proc/<pid>/uid_map` lists them, `uid_map` first: what
    /// files written through this mapping depend on.
    pub(crate) fn maps(&self) -> String {
        match self {
            IdMapping::Host => String::new(),
            IdMapping::Namespace { uids, gids, .. } => {
                format!("{}\n{}", map_text(uids), map_text(gids))
            }
        }
    }

    /// Whether a user namespace is used.
    pub(crate) fn user_namespace(&self) -> bool {
        matches!(self, IdMapping::Namespace { .. })
    }

    /// Whether `uid` exists in the sandbox.
    pub(crate) fn maps_uid(&self, uid: u32) -> bool {
        match self {
            IdMapping::Host => true,
            IdMapping::Namespace { uids, .. } => covers(uids, uid),
        }
    }

    /// Whether `gid` exists in the sandbox.
    pub(crate) fn maps_gid(&self, gid: u32) -> bool {
        match self {
            IdMapping::Host => true,
            IdMapping::Namespace { gids, .. } => covers(gids, gid),
        }
    }

    /// The owner the sandbox sees for a file the host sees owned by `uid` and `gid`:
    /// the same ids as root, the ids inside the user namespace otherwise (the overflow
    /// id, 65534, for an id the namespace does not map, as the kernel shows it).
    pub(crate) fn owner_inside(&self, uid: u32, gid: u32) -> (u32, u32) {
        match self {
            IdMapping::Host => (uid, gid),
            IdMapping::Namespace { uids, gids, .. } => (inside(uids, uid), inside(gids, gid)),
        }
    }

    /// Whether `setgroups` is allowed in the sandbox (it is denied with a self-written map).
    pub(crate) fn allows_setgroups(&self) -> bool {
        !matches!(self, IdMapping::Namespace { helpers: None, .. })
    }

    /// Writes the maps of process `pid`, whose user namespace is new and unmapped.
    ///
    /// # Errors
    /// A helper that cannot run or fails, a map file that cannot be written.
    pub(crate) fn apply(&self, pid: i32) -> Result<(), ExecError> {
        let IdMapping::Namespace {
            uids,
            gids,
            helpers,
        } = self
        else {
            return Ok(());
        };
        match helpers {
            Some((uid_helper, gid_helper)) => {
                run_helper(uid_helper, pid, uids)?;
                run_helper(gid_helper, pid, gids)
            }
            None => {
                let proc = PathBuf::from(format!("/proc/{pid}"));
                write_map(&proc.join("setgroups"), "deny")?;
                write_map(&proc.join("uid_map"), &map_text(uids))?;
                write_map(&proc.join("gid_map"), &map_text(gids))
            }
        }
    }
}

/// The id inside for the host id `outside`.
fn inside(ranges: &[IdRange], outside: u32) -> u32 {
    ranges
        .iter()
        .find_map(|range| {
            let offset = outside.checked_sub(range.outside)?;
            (offset < range.count).then(|| range.inside.saturating_add(offset))
        })
        .unwrap_or(OVERFLOW_ID)
}

/// The id the kernel shows for an id a user namespace does not map.
const OVERFLOW_ID: u32 = 65534;

fn covers(ranges: &[IdRange], id: u32) -> bool {
    ranges.iter().any(|range| {
        id >= range.inside && u64::from(id) < u64::from(range.inside) + u64::from(range.count)
    })
}

/// Appends subordinate ranges after the ids already mapped inside.
fn append(mapped: &mut Vec<IdRange>, subordinate: &[(u32, u32)]) {
    let mut next = 1u32;
    for &(start, count) in subordinate {
        mapped.push(IdRange {
            inside: next,
            outside: start,
            count,
        });
        next = next.saturating_add(count);
    }
}

fn map_text(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|range| format!("{} {} {}\n", range.inside, range.outside, range.count))
        .collect()
}

fn write_map(path: &Path, text: &str) -> Result<(), ExecError> {
    fs::write(path, text).map_err(|source| ExecError::MapIds {
        path: path.to_owned(),
        source,
    })
}

fn run_helper(program: &Path, pid: i32, ranges: &[IdRange]) -> Result<(), ExecError> {
    let mut command = Command::new(program);
    command.arg(pid.to_string());
    for range in ranges {
        command.args([range.inside, range.outside, range.count].map(|id| id.to_string()));
    }
    let output = command.output().map_err(|source| ExecError::RunIdHelper {
        program: program.to_owned(),
        source,
    })?;
    if !output.status.success() {
        return Err(ExecError::IdHelperFailed {
            program: program.to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// The name of `uid` in the host's `/etc/passwd`, if it has one.
fn user_name(uid: u32) -> Result<Option<String>, ExecError> {
    let path = Path::new("/etc/passwd");
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ExecError::ReadHostFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    Ok(text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    }))
}

/// The `(start, count)` ranges that `/etc/subuid`-style file `path` gives the user.
fn subordinate_ranges(
    path: &Path,
    uid: u32,
    name: Option<&str>,
) -> Result<Vec<(u32, u32)>, ExecError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ExecError::ReadHostFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    Ok(parse_subordinate(&text, uid, name))
}

fn parse_subordinate(text: &str, uid: u32, name: Option<&str>) -> Vec<(u32, u32)> {
    let uid = uid.to_string();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let start = fields.next()?.parse().ok()?;
            let count = fields.next()?.parse().ok()?;
            (owner == uid || Some(owner) == name).then_some((start, count))
        })
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// Finds an id-mapping helper in `PATH`, then in the system directories where it lives.
fn find_id_helper(name: &str) -> Option<PathBuf> {
    find_host_program(name, &["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
}

/// The `clone` flags for the sandbox's init.
pub(crate) fn clone_flags(network: Network, mapping: &IdMapping) -> libc::c_int {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if network != Network::Host {
        flags |= libc::CLONE_NEWNET;
    }
    if mapping.user_namespace() {
        flags |= libc::CLONE_NEWUSER;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_match_name_or_uid() {
        let text =
            "alice:100000:65536\n1000:300000:10\nbob:200000:65536\nbad line\nalice:500000:0\n";
        assert_eq!(
            parse_subordinate(text, 1000, Some("alice")),
            vec![(100000, 65536), (300000, 10)]
        );
        assert_eq!(parse_subordinate(text, 1001, None), vec![]);
    }

    #[test]
    fn ranges_follow_root() {
        let mut ranges = vec![IdRange {
            inside: 0,
            outside: 1000,
            count: 1,
        }];
        append(&mut ranges, &[(100000, 65536), (300000, 10)]);
        assert_eq!(
            map_text(&ranges),
            "0 1000 1\n1 100000 65536\n65537 300000 10\n"
        );
        assert!(covers(&ranges, 65546));
        assert!(!covers(&ranges, 65547));

        let mapping = IdMapping::Namespace {
            uids: ranges.clone(),
            gids: ranges,
            helpers: None,
        };
        assert_eq!(mapping.owner_inside(1000, 100000), (0, 1));
        assert_eq!(mapping.owner_inside(100999, 300009), (1000, 65546));
        assert_eq!(mapping.owner_inside(0, 99999), (65534, 65534));
        assert_eq!(IdMapping::Host.owner_inside(7, 8), (7, 8));
    }
}
