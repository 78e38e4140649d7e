//! The parent's side of a chroot run: what the child mounts where, the files it writes
//! on its scratch tmpfs, and the mount points (or, without mounts, the files themselves)
//! made in the tree before the run and removed after it.

use std::collections::HashSet;
use std::ffi::CString;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use super::Confinement;
use super::copied::Copies;
use crate::exec::error::ExecError;
use crate::exec::filesystem::{
    LayerStack, PlainCleanup, bind_source_is_dir, hosts_file, resolve_mount_point,
};
use crate::exec::setup::c_string;
use crate::exec::spec::{SandboxMount, SandboxSpec};
use crate::exec::sys::stat_times;
use crate::fsroot::{self, Root};

/// The device nodes a command gets, as Docker gives them: name, major, minor.
const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// A mount the child makes on a target inside the tree.
#[derive(Debug)]
pub(super) enum ChildMount {
    /// The mount at `source` (resolved inside `source_root` when given) cloned onto
    /// `target`.
    Bind {
        source_root: Option<CString>,
        source: CString,
        target: CString,
        recursive: bool,
        readonly: bool,
    },
    /// An empty tmpfs with the mount options `data`.
    Tmpfs { target: CString, data: CString },
}

/// A file the child writes on its scratch tmpfs, to be bound into the tree.
#[derive(Debug)]
pub(super) struct ScratchFile {
    pub(super) path: CString,
    pub(super) content: Vec<u8>,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// What an entry made in the tree must be.
enum Made<'a> {
    Dir,
    /// An empty file (a mount point).
    File,
    /// A file with this content and mode (written in place of a mount).
    Content(&'a [u8], u32),
    /// A character device.
    Device(u32, u32),
}

/// What the chroot run does around the command, and what to undo after it.
pub(super) struct Plan {
    /// The scratch directory the child mounts its tmpfs on; `None` without mounts.
    pub(super) scratch: Option<CString>,
    /// The directories the child makes on its tmpfs, then the files it writes there.
    pub(super) scratch_dirs: Vec<CString>,
    pub(super) scratch_files: Vec<ScratchFile>,
    /// The mounts, in order, with the sandbox path each is shown as.
    pub(super) mounts: Vec<(ChildMount, String)>,
    root: PathBuf,
    /// The tree, to resolve mount points in through its symlinks.
    stack: LayerStack,
    cleanup: PlainCleanup,
    /// Without mounts, the `RUN --mount`s copied in.
    copies: Copies,
    /// The directories whose times are already recorded.
    touched: HashSet<Vec<String>>,
}

impl Plan {
    /// Plans the run of `spec` over the tree `root`, using `scratch` for the files the
    /// child binds in, and makes the missing mount points (or, without mounts, the files).
    ///
    /// # Errors
    /// A mount point that cannot be made, a bind source that cannot be inspected, a
    /// `RUN --mount` without mounts.
    pub(super) fn new(
        spec: &SandboxSpec,
        root: &Path,
        scratch: &Path,
        confinement: Confinement,
    ) -> Result<Plan, ExecError> {
        let mut plan = Plan {
            scratch: None,
            scratch_dirs: Vec::new(),
            scratch_files: Vec::new(),
            mounts: Vec::new(),
            root: root.to_owned(),
            stack: LayerStack::open(&[root.to_owned()], "trusted.overlay.opaque")?,
            cleanup: PlainCleanup::new(root),
            copies: Copies::new(root, scratch.join("aside")),
            touched: HashSet::new(),
        };
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        let hosts = hosts_file(
            &std::fs::read("/etc/hosts").unwrap_or_default(),
            &spec.hostname,
            &spec.extra_hosts,
        );
        if confinement.mounts() {
            plan.with_mounts(spec, scratch, &resolv, &hosts)?;
        } else {
            plan.without_mounts(spec, &resolv, &hosts)?;
        }
        Ok(plan)
    }

    /// Removes what was made in the tree and puts the directories' times back.
    ///
    /// # Errors
    /// The first removal or time change that fails.
    pub(super) fn undo(&mut self) -> Result<(), ExecError> {
        let copies = self.copies.undo();
        let done = self.cleanup.undo();
        self.cleanup = PlainCleanup::new(&self.root);
        copies.and(done)
    }

    /// Everything is mounted: the kernel's filesystems and device nodes of the host,
    /// generated files from the child's tmpfs, and the spec's mounts.
    fn with_mounts(
        &mut self,
        spec: &SandboxSpec,
        scratch: &Path,
        resolv: &[u8],
        hosts: &[u8],
    ) -> Result<(), ExecError> {
        self.scratch = Some(c_path(scratch));
        self.bind_host("/proc", "/proc", true, false, Made::Dir)?;
        self.bind_host("/sys", "/sys", true, true, Made::Dir)?;
        for (name, _, _) in DEVICES {
            let path = format!("/dev/{name}");
            self.bind_host(&path, &path, false, false, Made::File)?;
        }
        let generated = [
            ("resolv.conf", "/etc/resolv.conf", resolv),
            ("hosts", "/etc/hosts", hosts),
        ];
        for (name, target, content) in generated {
            let path = scratch.join(name);
            self.scratch_file(&path, content.to_vec(), 0o644, 0, 0);
            self.bind_scratch(&path, target, Made::File)?;
        }
        if !spec.pipe_files.is_empty() {
            let pipes = scratch.join("pipes");
            self.scratch_dirs.push(c_path(&pipes));
            for file in &spec.pipe_files {
                let path = pipes.join(&file.name);
                self.scratch_file(&path, file.content.clone(), file.mode, 0, 0);
            }
            self.bind_scratch(&pipes, "/dev/pipes", Made::Dir)?;
        }
        for (index, mount) in spec.mounts.iter().enumerate() {
            self.user_mount(mount, &scratch.join(format!("file-{index}")))?;
        }
        Ok(())
    }

    /// Nothing can be mounted: device nodes are made, and the generated files and heredoc
    /// scripts written in the tree where the image has none.
    fn without_mounts(
        &mut self,
        spec: &SandboxSpec,
        resolv: &[u8],
        hosts: &[u8],
    ) -> Result<(), ExecError> {
        for (name, major, minor) in DEVICES {
            self.make(&format!("/dev/{name}"), &Made::Device(major, minor))?;
        }
        self.make("/etc/resolv.conf", &Made::Content(resolv, 0o644))?;
        self.make("/etc/hosts", &Made::Content(hosts, 0o644))?;
        for file in &spec.pipe_files {
            let target = format!("/dev/pipes/{}", file.name);
            self.make(&target, &Made::Content(&file.content, file.mode))?;
        }
        for mount in &spec.mounts {
            self.copy_in(mount)?;
        }
        Ok(())
    }

    /// Copies `mount` into the tree at its target, resolved through the tree's symlinks
    /// inside it, its missing parents made.
    fn copy_in(&mut self, mount: &SandboxMount) -> Result<(), ExecError> {
        let target = mount.target();
        let components = resolve_mount_point(&self.stack, target, &[])?.components;
        let Some((_, parents)) = components.split_last() else {
            return Err(ExecError::ChrootMountUnavailable {
                target: target.to_owned(),
            });
        };
        let parent_path = format!("/{}", parents.join("/"));
        self.make(&parent_path, &Made::Dir)?;
        let err = |source: io::Error| ExecError::ChrootPrepare {
            path: target.to_owned(),
            source,
        };
        let parent = Root::open(&self.root)
            .and_then(|root| root.dir(Path::new(&parent_path), false))
            .map_err(err)?;
        if let Some(times) = self.parent_times(&components, &parent).map_err(err)? {
            self.cleanup.touch(parents.to_vec(), times);
        }
        self.copies.place(mount, components, &parent)
    }

    /// One of the spec's mounts; a secret's file is written at `file` on the tmpfs.
    fn user_mount(&mut self, mount: &SandboxMount, file: &Path) -> Result<(), ExecError> {
        match mount {
            SandboxMount::Bind {
                root,
                source,
                target,
                readonly,
            } => {
                let made = if bind_source_is_dir(root, source)? {
                    Made::Dir
                } else {
                    Made::File
                };
                let resolved = self.make(target, &made)?;
                let bind = ChildMount::Bind {
                    source_root: Some(c_path(root)),
                    source: c_string(source.as_str()),
                    target: c_string(resolved),
                    recursive: true,
                    readonly: *readonly,
                };
                self.mounts.push((bind, target.clone()));
            }
            SandboxMount::Socket {
                source,
                target,
                mode,
                uid,
                gid,
            } => {
                set_socket_owner(source, *mode, *uid, *gid).map_err(|source| {
                    ExecError::ChrootPrepare {
                        path: target.clone(),
                        source,
                    }
                })?;
                self.bind_host(&source.to_string_lossy(), target, false, false, Made::File)?;
            }
            SandboxMount::Tmpfs { target, size } => {
                let resolved = self.make(target, &Made::Dir)?;
                let data = match size {
                    Some(size) => format!("mode=1777,size={size}"),
                    None => "mode=1777".to_owned(),
                };
                let tmpfs = ChildMount::Tmpfs {
                    target: c_string(resolved),
                    data: c_string(data),
                };
                self.mounts.push((tmpfs, target.clone()));
            }
            SandboxMount::File {
                target,
                content,
                mode,
                uid,
                gid,
            } => {
                self.scratch_file(file, content.clone(), *mode, *uid, *gid);
                self.bind_scratch(file, target, Made::File)?;
            }
        }
        Ok(())
    }

    /// Binds the host path `source` on `target` in the tree.
    fn bind_host(
        &mut self,
        source: &str,
        target: &str,
        recursive: bool,
        readonly: bool,
        made: Made<'_>,
    ) -> Result<(), ExecError> {
        let resolved = self.make(target, &made)?;
        let bind = ChildMount::Bind {
            source_root: None,
            source: c_string(source),
            target: c_string(resolved),
            recursive,
            readonly,
        };
        self.mounts.push((bind, target.to_owned()));
        Ok(())
    }

    /// Binds the file or directory `path` of the tmpfs read-only on `target` in the tree.
    fn bind_scratch(&mut self, path: &Path, target: &str, made: Made<'_>) -> Result<(), ExecError> {
        let resolved = self.make(target, &made)?;
        let bind = ChildMount::Bind {
            source_root: None,
            source: c_path(path),
            target: c_string(resolved),
            recursive: false,
            readonly: true,
        };
        self.mounts.push((bind, target.to_owned()));
        Ok(())
    }

    /// A file for the child to write on its tmpfs.
    fn scratch_file(&mut self, path: &Path, content: Vec<u8>, mode: u32, uid: u32, gid: u32) {
        self.scratch_files.push(ScratchFile {
            path: c_path(path),
            content,
            mode,
            uid,
            gid,
        });
    }

    /// Makes what is missing of `target` in the tree, resolved through the tree's
    /// symlinks inside it, each made entry recorded for [`Plan::undo`]; returns the path
    /// without symlinks, which the child resolves inside the tree again.
    fn make(&mut self, target: &str, made: &Made<'_>) -> Result<String, ExecError> {
        let components = resolve_mount_point(&self.stack, target, &[])?.components;
        let shown = format!("/{}", components.join("/"));
        let err = |source: io::Error| ExecError::ChrootPrepare {
            path: target.to_owned(),
            source,
        };
        let mut dir = Root::open(&self.root)
            .map_err(err)?
            .fd()
            .try_clone()
            .map_err(err)?;
        for (index, name) in components.iter().enumerate() {
            let last = index + 1 == components.len();
            match fsroot::type_at(&dir, name.as_bytes()).map_err(err)? {
                Some(FileType::Directory) if !last => {
                    dir = fsroot::open_child_dir(&dir, name.as_bytes()).map_err(err)?;
                }
                // What is there (or, changed since resolving, is no directory) stays: the
                // child's lookup inside the tree decides.
                Some(_) => break,
                None => {
                    let prefix = components[..=index].to_vec();
                    let times = self.parent_times(&prefix, &dir).map_err(err)?;
                    let kind = if last { made } else { &Made::Dir };
                    create(&dir, name, kind).map_err(err)?;
                    self.cleanup.record(prefix, times);
                    if !last {
                        dir = fsroot::open_child_dir(&dir, name.as_bytes()).map_err(err)?;
                    }
                }
            }
        }
        Ok(shown)
    }

    /// The times of `dir`, the parent of `entry`, the first time something is made in it.
    fn parent_times(
        &mut self,
        entry: &[String],
        dir: &OwnedFd,
    ) -> io::Result<Option<rustix::fs::Timestamps>> {
        let parent = entry[..entry.len() - 1].to_vec();
        if !self.touched.insert(parent) {
            return Ok(None);
        }
        Ok(Some(stat_times(&rustix::fs::fstat(dir)?)))
    }
}

/// Creates `name` in `dir` as `made` says.
fn create(dir: &OwnedFd, name: &str, made: &Made<'_>) -> io::Result<()> {
    match made {
        Made::Dir => rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))?,
        Made::File | Made::Content(..) => {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644))?;
            if let Made::Content(content, mode) = made {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(*mode))?;
                std::fs::File::from(fd).write_all(content)?;
            }
        }
        Made::Device(major, minor) => rustix::fs::mknodat(
            dir,
            name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(*major, *minor),
        )?,
    }
    Ok(())
}

/// Gives the socket the caller made for the step its mode and the owner the step sees.
fn set_socket_owner(path: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

/// `path` as a C string.
fn c_path(path: &Path) -> CString {
    c_string(path.as_os_str().as_encoded_bytes())
}
