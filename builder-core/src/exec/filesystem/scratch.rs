//! Phases: the sandbox's private scratch tmpfs, the files written on it (`resolv.conf`,
//! `hosts`, secrets, pipe files, the owner of SSH sockets), and their attachment inside
//! the sandbox after `pivot_root`.

use std::fs;

use rustix::mount::MountFlags;

use super::FilesystemPlan;
use super::detached::Detached;
use super::targets::Targets;
use crate::exec::setup::SetupStep;
use crate::exec::spec::SandboxMount;
use crate::exec::usernet;
use crate::plan::Network;

impl FilesystemPlan<'_> {
    /// Makes every mount private, mounts the scratch tmpfs and makes its directories:
    /// `root` (where the root is mounted), `stub` (the stub layer), `files`, `pipes`.
    pub(super) fn mount_scratch(&mut self) {
        self.steps.push(SetupStep::MakePrivate);
        self.steps.push(SetupStep::Mount {
            source: c"tmpfs".to_owned(),
            target: Self::c_path(&self.scratch),
            fstype: c"tmpfs".to_owned(),
            flags: MountFlags::NOSUID | MountFlags::NODEV,
            data: Some(c"mode=700".to_owned()),
            what: "tmpfs".to_owned(),
            shown: self.scratch.display().to_string(),
        });
        for name in ["root", "stub", "files", "pipes"] {
            let dir = self.scratch_path(name);
            self.steps.push(SetupStep::MakeDir {
                path: Self::c_path(&dir),
                mode: 0o755,
                shown: dir.display().to_string(),
            });
        }
    }

    /// Writes the sandbox's `resolv.conf` and `hosts`, the spec's secret files and pipe
    /// files on the scratch tmpfs, and gives the spec's sockets their owner and mode.
    pub(super) fn write_scratch_files(&mut self) {
        let spec = self.spec;
        let files = self.scratch_path("files");
        let resolv = files.join("resolv.conf");
        self.steps.push(match spec.network {
            // The stack's forwarder: the host's resolvers may be on its loopback.
            Network::Default => SetupStep::WriteFile {
                path: Self::c_path(&resolv),
                content: usernet::resolv_conf(
                    &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                )
                .into_bytes(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                shown: "/etc/resolv.conf".to_owned(),
            },
            Network::None | Network::Host => SetupStep::CopyFile {
                from: c"/etc/resolv.conf".to_owned(),
                to: Self::c_path(&resolv),
                shown: "/etc/resolv.conf".to_owned(),
            },
        });
        self.steps.push(SetupStep::WriteFile {
            path: Self::c_path(&files.join("hosts")),
            content: hosts_file(
                &fs::read("/etc/hosts").unwrap_or_default(),
                &spec.hostname,
                &spec.extra_hosts,
            ),
            mode: 0o644,
            uid: 0,
            gid: 0,
            shown: "/etc/hosts".to_owned(),
        });
        for mount in &spec.mounts {
            if let SandboxMount::Socket {
                source,
                target,
                mode,
                uid,
                gid,
            } = mount
            {
                self.steps.push(SetupStep::SetOwner {
                    path: Self::c_path(source),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                    shown: target.clone(),
                });
            }
        }
        for (index, mount) in spec.mounts.iter().enumerate() {
            if let SandboxMount::File {
                content,
                mode,
                uid,
                gid,
                target,
            } = mount
            {
                self.steps.push(SetupStep::WriteFile {
                    path: Self::c_path(&files.join(format!("file-{index}"))),
                    content: content.clone(),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                    shown: target.clone(),
                });
            }
        }
        let pipes = self.scratch_path("pipes");
        for file in &spec.pipe_files {
            self.steps.push(SetupStep::WriteFile {
                path: Self::c_path(&pipes.join(&file.name)),
                content: file.content.clone(),
                mode: file.mode,
                uid: 0,
                gid: 0,
                shown: format!("/dev/pipes/{}", file.name),
            });
        }
    }

    /// After `pivot_root`: attaches the pipe files at `/dev/pipes`, and `resolv.conf` and
    /// `hosts` where the image puts them.
    pub(super) fn attach_scratch_files(&mut self, targets: &Targets, detached: &Detached) {
        if let Some(slot) = detached.pipes {
            self.make_dir("/dev/pipes");
            self.attach(slot, "/dev/pipes".to_owned(), "/dev/pipes".to_owned());
        }
        let resolv_conf = targets.resolv_conf.sandbox_path();
        self.attach(
            detached.resolv_conf,
            resolv_conf,
            "/etc/resolv.conf".to_owned(),
        );
        let hosts = targets.hosts.sandbox_path();
        self.attach(detached.hosts, hosts, "/etc/hosts".to_owned());
    }
}

/// The sandbox's `/etc/hosts`: the host's, a line naming the sandbox's hostname as the
/// loopback address when the host's does not name it, so that it resolves (BuildKit's
/// has `127.0.0.1 localhost buildkitsandbox`), then the `extra` hosts and addresses.
pub(crate) fn hosts_file(host: &[u8], hostname: &str, extra: &[(String, String)]) -> Vec<u8> {
    let names_it = String::from_utf8_lossy(host).lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default();
        line.split_whitespace().skip(1).any(|name| name == hostname)
    });
    let mut hosts = host.to_vec();
    if !names_it {
        if !hosts.is_empty() && !hosts.ends_with(b"\n") {
            hosts.push(b'\n');
        }
        hosts.extend_from_slice(format!("127.0.0.1\t{hostname}\n").as_bytes());
    }
    for (name, address) in extra {
        hosts.extend_from_slice(format!("{address}\t{name}\n").as_bytes());
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_sandbox_once() {
        let host = b"127.0.0.1 localhost\n::1 localhost # sandbox\n";
        assert_eq!(
            hosts_file(host, "sandbox", &[]),
            b"127.0.0.1 localhost\n::1 localhost # sandbox\n127.0.0.1\tsandbox\n"
        );
        let named = b"127.0.0.1 localhost sandbox";
        assert_eq!(hosts_file(named, "sandbox", &[]), named);
        let extra = [("db".to_owned(), "10.0.0.2".to_owned())];
        assert_eq!(
            hosts_file(b"", "sandbox", &extra),
            b"127.0.0.1\tsandbox\n10.0.0.2\tdb\n"
        );
    }
}
