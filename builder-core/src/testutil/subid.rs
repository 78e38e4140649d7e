//! A throwaway unprivileged user with subordinate ids, for rootless tests.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::run_checked;

/// A throwaway unprivileged user with 65536 subordinate ids in `/etc/subuid` and
/// `/etc/subgid`; dropping it removes the user and its ranges. Adding one needs root.
#[derive(Debug)]
pub struct SubidUser {
    name: String,
    /// The user's uid.
    pub uid: u32,
    /// The user's primary gid.
    pub gid: u32,
}

impl SubidUser {
    /// Adds the user (`useradd`, package `passwd`), with subordinate ids from a start
    /// unique to this process and call.
    ///
    /// # Errors
    ///
    /// When `useradd` or `id` fail or `/etc/subuid` or `/etc/subgid` cannot be written.
    pub fn add() -> io::Result<SubidUser> {
        static ADDED: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let nth = ADDED.fetch_add(1, Ordering::Relaxed);
        let name = format!("mkit{pid}x{nth}");
        run_checked(
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--shell",
                "/bin/false",
                &name,
            ]),
            "passwd",
        )?;
        let mut user = SubidUser {
            name,
            uid: 0,
            gid: 0,
        };
        let id = |flag: &str| -> io::Result<u32> {
            let output = run_checked(Command::new("id").args([flag, &user.name]), "coreutils")?;
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .map_err(io::Error::other)
        };
        let (uid, gid) = (id("-u")?, id("-g")?);
        (user.uid, user.gid) = (uid, gid);
        let start = 200_000_000 + ((pid * 8 + nth) % 20_000) * 65536;
        for file in ["/etc/subuid", "/etc/subgid"] {
            let mut text = match fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(e),
            };
            text.push_str(&format!("{}:{start}:65536\n", user.name));
            fs::write(file, text)?;
        }
        Ok(user)
    }

    /// `setpriv` (package `util-linux`) running `program` as the user, with its group and
    /// no others (`newuidmap` wants the user's primary group).
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args([
                &format!("--reuid={}", self.uid),
                &format!("--regid={}", self.gid),
                "--clear-groups",
            ])
            .arg(program);
        command
    }

    /// Whether the user may make user namespaces here (`unshare --user true`).
    pub fn can_unshare(&self) -> bool {
        self.command(Path::new("unshare"))
            .args(["--user", "true"])
            .output()
            .is_ok_and(|output| output.status.success())
    }
}

impl Drop for SubidUser {
    fn drop(&mut self) {
        let prefix = format!("{}:", self.name);
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|line| !line.starts_with(&prefix))
                    .map(|line| format!("{line}\n"))
                    .collect();
                let _ = fs::write(file, kept);
            }
        }
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}
