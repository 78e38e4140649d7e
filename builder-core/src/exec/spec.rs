//! What to run in a sandbox: [`SandboxSpec`], built with [`SandboxSpecBuilder`].

use std::path::{Path, PathBuf};

use super::error::ExecError;
use crate::plan::{Network, Security};

/// The root filesystem of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// An overlay mount, made inside the sandbox's private mount namespace.
    ///
    /// After the run, `upper` holds exactly the command's changes in overlayfs format:
    /// a deleted path is a character device 0/0, a replaced directory carries the opaque
    /// attribute, `trusted.overlay.opaque` when the sandbox runs as real root and
    /// `user.overlay.opaque` in a user namespace (see [`super::overlay_xattr_prefix`]).
    /// Mount points the sandbox needs (`/proc`, `/dev`, `/etc/resolv.conf`, mount targets)
    /// never appear in `upper`: missing ones come from a stub layer on a private tmpfs.
    Overlay {
        /// The lower directories, top first. May be empty (`FROM scratch`).
        lower: Vec<PathBuf>,
        /// The writable upper directory; normally empty.
        upper: PathBuf,
        /// overlayfs's work directory: empty, on the same filesystem as `upper`.
        work: PathBuf,
    },
    /// A plain directory, written to directly (for a snapshot-diff fallback). Mount points
    /// that the image lacks are created before the run and removed after it, and the
    /// times of the directories that held them are put back.
    Directory(PathBuf),
}

/// An extra mount in the sandbox, as the sandbox makes it: what a `RUN --mount`
/// ([`crate::plan::Mount`]) becomes once its source is resolved on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxMount {
    /// A directory or file bound at `target`: `source` resolved inside the host directory
    /// `root` as if chrooted, so that no symlink or `..` in it leads out of `root` (the
    /// sandbox resolves it itself, right before binding it).
    Bind {
        /// The host directory that `source` is resolved in.
        root: PathBuf,
        /// The path inside `root` (`/`: `root` itself).
        source: String,
        /// The absolute path in the sandbox.
        target: String,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A host unix socket bound at `target` and given this mode and owner first: a
    /// socket the caller made for the step (an SSH agent's proxy), never one it shares.
    Socket {
        /// The host path of the socket.
        source: PathBuf,
        /// The absolute path in the sandbox.
        target: String,
        /// The permission bits.
        mode: u32,
        /// The owner, as seen in the sandbox.
        uid: u32,
        /// The group, as seen in the sandbox.
        gid: u32,
    },
    /// An empty tmpfs (mode 1777).
    Tmpfs {
        /// The absolute path in the sandbox.
        target: String,
        /// The size limit in bytes; the kernel's default (half the memory) when `None`.
        size: Option<u64>,
    },
    /// A read-only file with the given content, mode and owner (a secret). The content lives
    /// on a tmpfs private to the sandbox and is never written to disk.
    File {
        /// The absolute path in the sandbox.
        target: String,
        /// The content.
        content: Vec<u8>,
        /// The permission bits.
        mode: u32,
        /// The owner, as seen in the sandbox.
        uid: u32,
        /// The group, as seen in the sandbox.
        gid: u32,
    },
}

impl SandboxMount {
    /// The path in the sandbox.
    pub fn target(&self) -> &str {
        match self {
            SandboxMount::Bind { target, .. }
            | SandboxMount::Socket { target, .. }
            | SandboxMount::Tmpfs { target, .. }
            | SandboxMount::File { target, .. } => target,
        }
    }
}

/// A file under `/dev/pipes/` (the body of a heredoc run as a script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PipeFile {
    pub(crate) name: String,
    pub(crate) content: Vec<u8>,
    pub(crate) mode: u32,
}

/// Everything about one sandboxed command. Build it with [`SandboxSpec::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) cwd: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<u32>,
    pub(crate) hostname: String,
    pub(crate) extra_hosts: Vec<(String, String)>,
    pub(crate) network: Network,
    pub(crate) security: Security,
    pub(crate) rootfs: Rootfs,
    pub(crate) mounts: Vec<SandboxMount>,
    pub(crate) pipe_files: Vec<PipeFile>,
}

impl SandboxSpec {
    /// Starts a spec that runs `argv` (the program and its arguments; the program is looked
    /// up in the `PATH` of the environment when it has no `/`) over `rootfs`.
    ///
    /// Defaults: empty environment, working directory `/`, root (uid 0, gid 0, no
    /// supplementary groups), hostname `sandbox`, the default network, the normal sandbox
    /// security, no mounts, no pipe files.
    pub fn builder(rootfs: Rootfs, argv: Vec<String>) -> SandboxSpecBuilder {
        SandboxSpecBuilder {
            spec: SandboxSpec {
                argv,
                env: Vec::new(),
                cwd: "/".to_owned(),
                uid: 0,
                gid: 0,
                groups: Vec::new(),
                hostname: "sandbox".to_owned(),
                extra_hosts: Vec::new(),
                network: Network::Default,
                security: Security::Sandbox,
                rootfs,
                mounts: Vec::new(),
                pipe_files: Vec::new(),
            },
        }
    }

    /// The root filesystem.
    pub fn rootfs(&self) -> &Rootfs {
        &self.rootfs
    }

    /// The `PATH` of the environment, or Docker's default when it has none.
    pub(crate) fn search_path(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find_map(|var| var.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
    }
}

/// The `PATH` Docker uses when an image sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds the host program `name` (a helper such as `newuidmap` or `slirp4netns`) in the
/// absolute directories of this process's `PATH` ([`DEFAULT_PATH`] when it is unset), then
/// in `also_in`. A relative directory is skipped: it would name a program by the working
/// directory, which another user may control.
pub(crate) fn find_host_program(name: &str, also_in: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .chain(also_in.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Builds a [`SandboxSpec`]; [`SandboxSpecBuilder::build`] checks it.
#[derive(Debug, Clone)]
pub struct SandboxSpecBuilder {
    spec: SandboxSpec,
}

impl SandboxSpecBuilder {
    /// Adds environment variables, each `KEY=value`, in order.
    pub fn env<I, S>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.env.extend(vars.into_iter().map(Into::into));
        self
    }

    /// Sets the working directory (absolute), created with the user as owner if missing.
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.spec.cwd = cwd.into();
        self
    }

    /// Sets the user id, group id and supplementary groups (see [`crate::user::resolve`]).
    pub fn user(mut self, uid: u32, gid: u32, groups: Vec<u32>) -> Self {
        self.spec.uid = uid;
        self.spec.gid = gid;
        self.spec.groups = groups;
        self
    }

    /// Sets the hostname.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.spec.hostname = hostname.into();
        self
    }

    /// Adds `/etc/hosts` entries: each host name and its IP address.
    pub fn extra_hosts<I, H, A>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = (H, A)>,
        H: Into<String>,
        A: Into<String>,
    {
        self.spec
            .extra_hosts
            .extend(hosts.into_iter().map(|(host, ip)| (host.into(), ip.into())));
        self
    }

    /// Sets the network: a private namespace connected to the outside by `slirp4netns`
    /// with the host's loopback out of reach ([`Network::Default`]), one with only loopback
    /// ([`Network::None`]), or the host's ([`Network::Host`]).
    pub fn network(mut self, network: Network) -> Self {
        self.spec.network = network;
        self
    }

    /// Sets the security mode: [`Security::Sandbox`] confines the command as Docker does
    /// (default capabilities, seccomp profile, masked and read-only `/proc` paths, default
    /// devices only), [`Security::Insecure`] keeps every capability and lifts the rest.
    pub fn security(mut self, security: Security) -> Self {
        self.spec.security = security;
        self
    }

    /// Adds a mount; mounts are made in the order they are added, after `/proc`, `/dev`,
    /// `/etc/resolv.conf` and `/etc/hosts`.
    pub fn mount(mut self, mount: SandboxMount) -> Self {
        self.spec.mounts.push(mount);
        self
    }

    /// Adds a read-only file `/dev/pipes/<name>` with `content` and permission bits `mode`.
    pub fn pipe_file(
        mut self,
        name: impl Into<String>,
        content: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Self {
        self.spec.pipe_files.push(PipeFile {
            name: name.into(),
            content: content.into(),
            mode,
        });
        self
    }

    /// Checks the spec and returns it.
    ///
    /// # Errors
    /// An empty command, a relative working directory or mount target, a pipe file name
    /// that is not a plain file name, an overlay without upper or work directory, or a NUL
    /// byte in any string.
    pub fn build(self) -> Result<SandboxSpec, ExecError> {
        let spec = self.spec;
        if spec.argv.first().is_none_or(String::is_empty) {
            return Err(ExecError::EmptyCommand);
        }
        let strings = spec
            .argv
            .iter()
            .map(|arg| ("argument", arg))
            .chain(spec.env.iter().map(|var| ("environment variable", var)))
            .chain([
                ("working directory", &spec.cwd),
                ("hostname", &spec.hostname),
            ])
            .chain(spec.mounts.iter().map(|mount| match mount {
                SandboxMount::Bind { target, .. }
                | SandboxMount::Socket { target, .. }
                | SandboxMount::Tmpfs { target, .. }
                | SandboxMount::File { target, .. } => ("mount target", target),
            }))
            .chain(spec.mounts.iter().filter_map(|mount| match mount {
                SandboxMount::Bind { source, .. } => Some(("bind source", source)),
                _ => None,
            }))
            .chain(
                spec.pipe_files
                    .iter()
                    .map(|file| ("pipe file name", &file.name)),
            );
        for (what, value) in strings {
            if value.contains('\0') {
                return Err(ExecError::NulByte {
                    what,
                    value: value.replace('\0', "\\0"),
                });
            }
        }
        let paths: Vec<(&'static str, &Path)> = match &spec.rootfs {
            Rootfs::Overlay { lower, upper, work } => lower
                .iter()
                .map(|dir| ("lower directory", dir.as_path()))
                .chain([
                    ("upper directory", upper.as_path()),
                    ("work directory", work.as_path()),
                ])
                .collect(),
            Rootfs::Directory(dir) => vec![("root directory", dir.as_path())],
        };
        let bind_sources = spec.mounts.iter().filter_map(|mount| match mount {
            SandboxMount::Bind { root, .. } => Some(("bind source root", root.as_path())),
            SandboxMount::Socket { source, .. } => Some(("bind source", source.as_path())),
            _ => None,
        });
        for (what, path) in paths.into_iter().chain(bind_sources) {
            if path.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(ExecError::NulByte {
                    what,
                    value: path.display().to_string(),
                });
            }
        }
        if !spec.cwd.starts_with('/') {
            return Err(ExecError::NotAbsolute {
                what: "working directory",
                path: spec.cwd,
            });
        }
        if let Some(mount) = spec
            .mounts
            .iter()
            .find(|mount| !mount.target().starts_with('/'))
        {
            return Err(ExecError::NotAbsolute {
                what: "mount target",
                path: mount.target().to_owned(),
            });
        }
        if let Some(file) = spec.pipe_files.iter().find(|file| {
            file.name.is_empty() || file.name.contains('/') || file.name == "." || file.name == ".."
        }) {
            return Err(ExecError::PipeFileName {
                name: file.name.clone(),
            });
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> Rootfs {
        Rootfs::Directory("/tmp/root".into())
    }

    #[test]
    fn build_checks_the_spec() {
        let err = SandboxSpec::builder(rootfs(), vec![]).build().unwrap_err();
        assert_eq!(err.to_string(), "the command is empty");
        let err = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .cwd("app")
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the working directory `app` is not an absolute path"
        );
        let err = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .mount(SandboxMount::Tmpfs {
                target: "tmp".into(),
                size: None,
            })
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the mount target `tmp` is not an absolute path"
        );
        let err = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .env(["A=\0"])
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the environment variable `A=\\0` contains a NUL byte"
        );
        let err = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .pipe_file("../x", "", 0o644)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the pipe file name `../x` is not a file name"
        );
    }

    #[test]
    fn search_path_defaults_like_docker() {
        let spec = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .build()
            .unwrap();
        assert_eq!(spec.search_path(), DEFAULT_PATH);
        let spec = SandboxSpec::builder(rootfs(), vec!["sh".into()])
            .env(["PATH=/a", "PATH=/b:/c"])
            .build()
            .unwrap();
        assert_eq!(spec.search_path(), "/b:/c");
    }
}
