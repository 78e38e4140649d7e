//! Resolving a `USER` (or `COPY --chown`) value against an image's `/etc/passwd` and
//! `/etc/group`.
//!
//! The value is `user`, `user:group`, `uid` or `uid:gid`, and is resolved the way Docker
//! does:
//! - a user given by name must exist in `passwd`; a numeric user is taken as a uid even when
//!   no entry has it; the first matching entry wins;
//! - without a group, the gid is the user's primary group from `passwd` (0 when the user has
//!   no entry) and the supplementary groups are the groups of `group` that list the user's
//!   name as a member;
//! - with a group, the gid is that group (a name must exist in `group`, a number need not)
//!   and there are no supplementary groups;
//! - the home directory is the user's from `passwd`, `/` when there is no entry.
//!
//! This is pure text processing: the caller reads the files from the image.

use std::num::IntErrorKind;

/// The most bytes of an image's `/etc/passwd` or `/etc/group` that are read: the image is
/// untrusted, and real ones are a few kilobytes.
pub(crate) const FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Why a user value cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A user name that `/etc/passwd` does not have (or there is no `/etc/passwd`).
    #[error("unable to find user `{name}`: no matching entries in /etc/passwd")]
    NoSuchUser {
        /// The user name.
        name: String,
    },
    /// A group name that `/etc/group` does not have (or there is no `/etc/group`).
    #[error("unable to find group `{name}`: no matching entries in /etc/group")]
    NoSuchGroup {
        /// The group name.
        name: String,
    },
    /// A numeric id that does not fit in 32 bits (or is the reserved `4294967295`).
    #[error("id `{id}` is out of range")]
    IdOutOfRange {
        /// The id as written.
        id: String,
    },
    /// The user part is empty (`:staff`).
    #[error("invalid user `{spec}`: the user name is empty")]
    EmptyUser {
        /// The whole value.
        spec: String,
    },
}

/// A user resolved to numeric ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary group ids, in `/etc/group` order, without duplicates.
    pub groups: Vec<u32>,
    /// The home directory.
    pub home: String,
}

/// Resolves `spec` (`user`, `user:group`, `uid`, `uid:gid`) against the text of the image's
/// `/etc/passwd` and `/etc/group` (`None` when the file does not exist).
///
/// # Errors
/// A name that the files do not have, a number out of range, an empty user part.
///
/// # Example
/// ```
/// use mkimage_core::user::resolve;
/// let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
/// let group = "root:x:0:\napp:x:1000:\nwheel:x:10:app,root\n";
/// let user = resolve("app", Some(passwd), Some(group))?;
/// assert_eq!((user.uid, user.gid, user.groups), (1000, 1000, vec![10]));
/// assert_eq!(resolve("5:7", None, None)?.gid, 7);
/// # Ok::<(), mkimage_core::user::UserError>(())
/// ```
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        // `user:` has no group, as in Docker.
        Some((user, group)) => (user, Some(group).filter(|group| !group.is_empty())),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(UserError::EmptyUser {
            spec: spec.to_owned(),
        });
    }
    let numeric_user = parse_id(user_part)?;
    let entry = passwd
        .into_iter()
        .flat_map(passwd_entries)
        .find(|entry| match numeric_user {
            Some(uid) => entry.uid == uid,
            None => entry.name == user_part,
        });
    let mut resolved = match (&entry, numeric_user) {
        (Some(entry), _) => ResolvedUser {
            uid: entry.uid,
            gid: entry.gid,
            groups: Vec::new(),
            home: entry.home.to_owned(),
        },
        (None, Some(uid)) => ResolvedUser {
            uid,
            gid: 0,
            groups: Vec::new(),
            home: "/".to_owned(),
        },
        (None, None) => {
            return Err(UserError::NoSuchUser {
                name: user_part.to_owned(),
            });
        }
    };
    match group_part {
        // An explicit group replaces the primary group; no supplementary groups.
        Some(group_part) => {
            let numeric_group = parse_id(group_part)?;
            let found =
                group
                    .into_iter()
                    .flat_map(group_entries)
                    .find(|entry| match numeric_group {
                        Some(gid) => entry.gid == gid,
                        None => entry.name == group_part,
                    });
            resolved.gid = match (found, numeric_group) {
                (Some(entry), _) => entry.gid,
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(UserError::NoSuchGroup {
                        name: group_part.to_owned(),
                    });
                }
            };
        }
        None => {
            if let Some(entry) = &entry {
                for group in group.into_iter().flat_map(group_entries) {
                    if group.members.split(',').any(|member| member == entry.name)
                        && !resolved.groups.contains(&group.gid)
                    {
                        resolved.groups.push(group.gid);
                    }
                }
            }
        }
    }
    Ok(resolved)
}

/// `Some(id)` for a decimal number, `None` for a name.
fn parse_id(text: &str) -> Result<Option<u32>, UserError> {
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Ok(None);
    }
    let out_of_range = || UserError::IdOutOfRange {
        id: text.to_owned(),
    };
    match text.parse::<u32>() {
        // `(uid_t)-1` means "unchanged" to the kernel: it is never a real id.
        Ok(u32::MAX) => Err(out_of_range()),
        Ok(id) => Ok(Some(id)),
        Err(error) if *error.kind() == IntErrorKind::PosOverflow => Err(out_of_range()),
        Err(_) => Ok(None),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

/// The well-formed entries of a passwd file; malformed lines and comments are skipped, as
/// the C library does.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.trim().split(':');
        let name = fields.next().filter(|name| valid_name(name))?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        let _gecos = fields.next();
        let home = fields.next().filter(|home| !home.is_empty()).unwrap_or("/");
        Some(PasswdEntry {
            name,
            uid,
            gid,
            home,
        })
    })
}

/// The well-formed entries of a group file.
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.trim().split(':');
        let name = fields.next().filter(|name| valid_name(name))?;
        let _password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or("");
        Some(GroupEntry { name, gid, members })
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('#') && !name.starts_with('+') && !name.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# a comment
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1001:App:/home/app:/bin/sh
broken line
app:x:2000:2000::/second:/bin/sh
nohome:x:1200:1200:::/bin/sh
";
    const GROUP: &str = "\
root:x:0:
wheel:x:10:root,app
app:x:1001:
staff:x:50:daemon,app
audio:x:29:app
wheel2:x:10:app
";

    fn resolve_both(spec: &str) -> Result<ResolvedUser, UserError> {
        resolve(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn name_gives_primary_and_supplementary_groups() {
        let user = resolve_both("app").unwrap();
        assert_eq!(
            user,
            ResolvedUser {
                uid: 1000,
                gid: 1001,
                groups: vec![10, 50, 29],
                home: "/home/app".into()
            }
        );
    }

    #[test]
    fn numeric_user_uses_its_entry_when_present() {
        let user = resolve_both("1").unwrap();
        assert_eq!((user.uid, user.gid, user.groups), (1, 1, vec![50]));
        assert_eq!(user.home, "/usr/sbin");
    }

    #[test]
    fn numeric_user_without_entry_is_allowed() {
        let user = resolve_both("4242").unwrap();
        assert_eq!(
            user,
            ResolvedUser {
                uid: 4242,
                gid: 0,
                groups: vec![],
                home: "/".into()
            }
        );
        assert_eq!(resolve("7", None, None).unwrap().uid, 7);
    }

    #[test]
    fn explicit_group_replaces_primary_and_drops_supplementary() {
        let user = resolve_both("app:staff").unwrap();
        assert_eq!((user.uid, user.gid, user.groups), (1000, 50, vec![]));
        let user = resolve_both("app:777").unwrap();
        assert_eq!((user.gid, user.groups), (777, vec![]));
        let user = resolve_both("4242:29").unwrap();
        assert_eq!((user.uid, user.gid), (4242, 29));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve_both("nobody").unwrap_err().to_string(),
            "unable to find user `nobody`: no matching entries in /etc/passwd"
        );
        assert_eq!(
            resolve_both("app:nogroup").unwrap_err().to_string(),
            "unable to find group `nogroup`: no matching entries in /etc/group"
        );
        assert_eq!(
            resolve("app", None, None).unwrap_err(),
            UserError::NoSuchUser { name: "app".into() }
        );
    }

    #[test]
    fn out_of_range_and_empty_are_errors() {
        assert_eq!(
            resolve_both("4294967296").unwrap_err().to_string(),
            "id `4294967296` is out of range"
        );
        assert_eq!(
            resolve_both("0:4294967295").unwrap_err().to_string(),
            "id `4294967295` is out of range"
        );
        assert_eq!(
            resolve_both(":app").unwrap_err().to_string(),
            "invalid user `:app`: the user name is empty"
        );
    }

    #[test]
    fn first_entry_wins_and_missing_home_is_root() {
        assert_eq!(resolve_both("app").unwrap().uid, 1000);
        assert_eq!(resolve_both("nohome").unwrap().home, "/");
        assert_eq!(resolve_both("app:").unwrap().gid, 1001);
    }
}
