//! The sandbox's filesystem: the root mount, mount points, `/proc`, `/dev`, and extra
//! mounts, as setup steps.
//!
//! # Keeping mount points out of the layer
//! Every mount needs an existing mount point. Creating a missing one in the overlay would
//! put it in the upper directory, that is, in the step's layer. Instead the parent looks
//! each target up in the image's layers (following symlinks inside the image, honouring
//! whiteouts and opaque directories) before the run. What is missing is created in a
//! *stub layer*: a directory on a tmpfs private to the sandbox's mount namespace, stacked
//! as the topmost lower layer. Directories that exist in the image and lead to a missing
//! entry are repeated in the stub with the owner, mode and times of the image's
//! directory, so the merged view, and a copy-up if the command writes there, is exactly
//! what it would be without the stub. Mounting never writes to the overlay, so the upper
//! directory only ever holds the command's own changes. The stub vanishes with the mount
//! namespace.
//!
//! A plain-directory root has no layer to hide things in: missing mount points are made
//! in the directory before the run and removed after it, and the times of the directories
//! that received them are put back.
//!
//! Host files (devices, bind sources, the copies of `/etc/resolv.conf` and `/etc/hosts`,
//! secrets) are cloned into detached mounts before `pivot_root` and attached after it, so
//! every target is resolved inside the new root and a symlink in the image can never point
//! a mount at a host path.

use std::collections::{HashSet, VecDeque};
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::mount::MountFlags;

use super::defaults;
use super::error::ExecError;
use super::setup::{LayerDir, Step, c_string};
use super::spec::{Mount, Rootfs, SandboxSpec};
use super::usernet;
use crate::fsroot::{self, Root};
use crate::plan::{Network, Security};

/// Mount points are resolved through at most this many symbolic links, as the kernel does.
const MAX_SYMLINKS: usize = 40;

/// Host devices bound into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// What a mount point must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// The image's layers as the parent sees them, top first, each open: a path is looked
/// up in them from descriptor to descriptor, never joined onto a layer's host path.
struct LayerStack {
    layers: Vec<Root>,
    /// Their host paths, for the child to read a directory's metadata from.
    paths: Vec<PathBuf>,
    opaque_xattr: &'static str,
}

/// What a path is in the merged view of a [`LayerStack`].
enum Entry {
    Missing,
    /// A directory; the index of the layer holding its topmost copy.
    Dir(usize),
    Symlink(PathBuf),
    Other,
}

impl LayerStack {
    /// Opens the layer directories `layers`, top first.
    fn open(layers: &[PathBuf], opaque_xattr: &'static str) -> Result<LayerStack, ExecError> {
        let layers_paths = layers.to_vec();
        let layers = layers
            .iter()
            .map(|path| {
                Root::open(path).map_err(|source| ExecError::OpenLayer {
                    path: path.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(LayerStack {
            layers,
            paths: layers_paths,
            opaque_xattr,
        })
    }

    /// Looks `components` (a path without symlinks up to its last component) up with
    /// overlayfs's rules, no symlink followed.
    fn lookup(&self, components: &[String]) -> Result<Entry, ExecError> {
        let inspect_err = |source: io::Error| ExecError::InspectRootfs {
            path: shown(components),
            source,
        };
        let path_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // The copies of the directory so far, topmost first, each with its layer's index.
        let mut dirs = self
            .layers
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                rustix::fs::openat(layer.fd(), ".", path_flags, Mode::empty())
                    .map(|dir| (index, dir))
            })
            .collect::<Result<Vec<(usize, OwnedFd)>, _>>()
            .map_err(|error| inspect_err(error.into()))?;
        let mut entry = Entry::Missing;
        for name in components {
            let mut next = Vec::new();
            entry = Entry::Missing;
            for (index, dir) in &dirs {
                let stat = match rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => continue,
                    Err(error) => return Err(inspect_err(error.into())),
                };
                let file_type = FileType::from_raw_mode(stat.st_mode);
                // A whiteout hides the name in every layer below.
                if file_type == FileType::CharacterDevice && stat.st_rdev == 0 {
                    break;
                }
                if file_type == FileType::Directory {
                    if next.is_empty() {
                        entry = Entry::Dir(*index);
                    }
                    let flags = path_flags | OFlags::NOFOLLOW;
                    let child = rustix::fs::openat(dir, name.as_str(), flags, Mode::empty())
                        .map_err(|error| inspect_err(error.into()))?;
                    let opaque = super::sys::has_opaque_xattr(&child, self.opaque_xattr);
                    next.push((*index, child));
                    if opaque {
                        break;
                    }
                    continue;
                }
                // A non-directory hides everything below it; below a directory it is hidden.
                if next.is_empty() {
                    entry = if file_type == FileType::Symlink {
                        let target = rustix::fs::readlinkat(dir, name.as_str(), Vec::new())
                            .map_err(|error| inspect_err(error.into()))?;
                        Entry::Symlink(PathBuf::from(OsString::from_vec(target.into_bytes())))
                    } else {
                        Entry::Other
                    };
                }
                break;
            }
            if !matches!(entry, Entry::Dir(_)) {
                return Ok(entry);
            }
            dirs = next;
        }
        Ok(entry)
    }
}

/// A mount point resolved in the image.
#[derive(Debug)]
struct MountPoint {
    /// The path without symlinks, as components.
    components: Vec<String>,
    /// How many leading components exist in the image as directories (or, for the last,
    /// as anything); the rest are missing and get created.
    existing: usize,
    /// For each existing component, the layer holding its topmost copy (`None`: a last
    /// component that is no directory).
    sources: Vec<Option<usize>>,
    /// Components from this index on lie inside an earlier mount and are created after
    /// `pivot_root`; `components.len()` when none does.
    inside_mount: usize,
}

impl MountPoint {
    fn path(&self, len: usize) -> String {
        let mut path = String::new();
        for component in &self.components[..len] {
            path.push('/');
            path.push_str(component);
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }
}

/// Resolves `target` in the image, following symlinks in the image.
fn resolve(
    stack: &LayerStack,
    target: &str,
    mounted: &[Vec<String>],
) -> Result<MountPoint, ExecError> {
    let mut pending: VecDeque<String> = split(target).into();
    let mut components: Vec<String> = Vec::new();
    let mut sources: Vec<Option<usize>> = Vec::new();
    let mut missing: Option<usize> = None;
    let mut inside_mount: Option<usize> = None;
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            // Only reachable through a symlink's target while everything so far exists.
            if missing.is_none() && inside_mount.is_none() {
                components.pop();
                sources.pop();
            }
            continue;
        }
        components.push(name);
        if missing.is_some() || inside_mount.is_some() {
            continue;
        }
        if mounted.contains(&components) {
            inside_mount = Some(components.len());
            continue;
        }
        match stack.lookup(&components)? {
            Entry::Dir(layer) => sources.push(Some(layer)),
            Entry::Missing => missing = Some(components.len() - 1),
            Entry::Symlink(link) => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ExecError::SymlinkLoop {
                        target: target.to_owned(),
                    });
                }
                components.pop();
                let link = link.to_string_lossy().into_owned();
                if link.starts_with('/') {
                    components.clear();
                    sources.clear();
                }
                for component in split(&link).into_iter().rev() {
                    pending.push_front(component);
                }
            }
            Entry::Other if pending.is_empty() => sources.push(None),
            Entry::Other => {
                return Err(ExecError::MountTargetNotDirectory {
                    target: target.to_owned(),
                    path: format!("/{}", components.join("/")),
                });
            }
        }
    }
    let len = components.len();
    Ok(MountPoint {
        existing: missing.or(inside_mount).unwrap_or(len),
        inside_mount: inside_mount.unwrap_or(len),
        components,
        sources,
    })
}

/// The components of a path, without empty ones and `.`.
fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|component| !component.is_empty() && *component != ".")
        .map(str::to_owned)
        .collect()
}

/// What the parent must undo after a run over a plain directory.
///
/// The step may have moved or replaced anything meanwhile, symlinks to the host included,
/// so the undoing walks from the root by descriptors without following any symlink, and
/// leaves alone what is no longer where it was made.
#[derive(Debug, Default)]
pub(crate) struct PlainCleanup {
    /// The plain directory.
    root: PathBuf,
    /// Entries created for mount points, deepest first, as components.
    created: Vec<Vec<String>>,
    /// Directories that received them, with their access and modification times.
    touched: Vec<(Vec<String>, Timestamps)>,
}

impl PlainCleanup {
    /// Removes the created mount points and puts the directories' times back.
    ///
    /// # Errors
    /// The first removal or time change that fails.
    pub(crate) fn undo(&self) -> Result<(), ExecError> {
        if self.created.is_empty() && self.touched.is_empty() {
            return Ok(());
        }
        for components in &self.created {
            let Some((name, parents)) = components.split_last() else {
                continue;
            };
            let removed = match self.walk(parents)? {
                Some(dir) => match fsroot::type_at(&dir, name.as_bytes()) {
                    Ok(Some(FileType::Directory)) => {
                        rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::REMOVEDIR)
                            .map_err(io::Error::from)
                    }
                    Ok(Some(_)) => rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
                        .map_err(io::Error::from),
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                },
                None => Ok(()),
            };
            removed.map_err(|source| ExecError::RemoveMountPoint {
                path: shown(components),
                source,
            })?;
        }
        for (components, times) in &self.touched {
            if let Some(dir) = self.walk(components)? {
                rustix::fs::futimens(&dir, times).map_err(|source| {
                    ExecError::RemoveMountPoint {
                        path: shown(components),
                        source: source.into(),
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The directory at `components` below the root, no symlink followed; `None` when one
    /// of them is no longer a directory.
    fn walk(&self, components: &[String]) -> Result<Option<OwnedFd>, ExecError> {
        let err = |source| ExecError::RemoveMountPoint {
            path: shown(components),
            source,
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut dir = rustix::fs::open(&self.root, flags, Mode::empty())
            .map_err(|error| err(error.into()))?;
        for name in components {
            dir = match fsroot::open_child_dir(&dir, name.as_bytes()) {
                Ok(fd) => fd,
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    return Ok(None);
                }
                Err(error) => return Err(err(error)),
            };
        }
        Ok(Some(dir))
    }
}

/// The sandbox path of `components`, for messages.
fn shown(components: &[String]) -> PathBuf {
    PathBuf::from(format!("/{}", components.join("/")))
}

/// How the sandbox's identity affects mounts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountContext {
    /// Inside a user namespace (rootless).
    pub(crate) user_namespace: bool,
    /// Group 5 (`tty`) is mapped, so devpts can use it.
    pub(crate) tty_group_mapped: bool,
    /// Device nodes of the image, of `/dev`'s tmpfs and of bind mounts are ignored
    /// (`nodev`; see `defaults.rs`).
    pub(crate) no_devices: bool,
}

/// Builds the filesystem part of the setup program.
pub(crate) struct FilesystemPlan<'a> {
    spec: &'a SandboxSpec,
    scratch: PathBuf,
    context: MountContext,
    /// The steps, in order.
    pub(crate) steps: Vec<Step>,
    /// Detached-mount slots used.
    pub(crate) slots: usize,
    /// The descriptor number of the first path (a layer, a mount point) opened by the
    /// child; the next ones follow.
    first_path_fd: std::os::fd::RawFd,
    path_fds: std::os::fd::RawFd,
    /// What to undo after a plain-directory run.
    pub(crate) cleanup: PlainCleanup,
    /// Stop once the root is mounted: an OCI runtime makes the rest of the filesystem.
    for_runtime: bool,
    /// The resolved sandbox paths of `/proc`, `/dev`, `/etc/resolv.conf`, `/etc/hosts`,
    /// each extra mount's target in order, and `/sys`.
    pub(crate) resolved: Vec<String>,
}

impl<'a> FilesystemPlan<'a> {
    /// Plans the filesystem of `spec`, using the (empty, host) directory `scratch` as the
    /// mount point of the sandbox's private tmpfs. Layers and mount points are opened in
    /// the child as descriptors `first_path_fd`, `first_path_fd + 1`, …: numbers above
    /// every descriptor the child keeps.
    ///
    /// # Errors
    /// A layer that cannot be opened or inspected, a mount target that cannot be resolved.
    pub(crate) fn new(
        spec: &'a SandboxSpec,
        scratch: &Path,
        context: MountContext,
        first_path_fd: std::os::fd::RawFd,
        for_runtime: bool,
    ) -> Result<Self, ExecError> {
        let mut plan = FilesystemPlan {
            spec,
            scratch: scratch.to_owned(),
            context,
            steps: Vec::new(),
            slots: 0,
            first_path_fd,
            path_fds: 0,
            for_runtime,
            resolved: Vec::new(),
            cleanup: PlainCleanup::default(),
        };
        plan.build()?;
        Ok(plan)
    }

    /// Where the root is mounted, and where the scratch tmpfs holds the copies of
    /// `resolv.conf` and `hosts`, the extra mounts' files (`file-<index>`) and the pipe files.
    pub(crate) fn scratch_path(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    fn c_path(path: &Path) -> CString {
        c_string(path.as_os_str().as_encoded_bytes())
    }

    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    fn build(&mut self) -> Result<(), ExecError> {
        let spec = self.spec;
        let root = self.scratch_path("root");
        let stub = self.scratch_path("stub");
        let files = self.scratch_path("files");
        let pipes = self.scratch_path("pipes");

        self.steps.push(Step::MakePrivate);
        self.steps.push(Step::Mount {
            source: c"tmpfs".to_owned(),
            target: Self::c_path(&self.scratch),
            fstype: c"tmpfs".to_owned(),
            flags: MountFlags::NOSUID | MountFlags::NODEV,
            data: Some(c"mode=700".to_owned()),
            what: "tmpfs".to_owned(),
            shown: self.scratch.display().to_string(),
        });
        for dir in [&root, &stub, &files, &pipes] {
            self.steps.push(Step::MakeDir {
                path: Self::c_path(dir),
                mode: 0o755,
                shown: dir.display().to_string(),
            });
        }

        // Resolve every mount point in the image, in mount order.
        let (stack, base) = match &spec.rootfs {
            Rootfs::Overlay { lower, upper, .. } => {
                let mut layers = vec![upper.clone()];
                layers.extend(lower.iter().cloned());
                let opaque_xattr = if self.context.user_namespace {
                    "user.overlay.opaque"
                } else {
                    "trusted.overlay.opaque"
                };
                (LayerStack::open(&layers, opaque_xattr)?, stub.clone())
            }
            Rootfs::Directory(dir) => (
                LayerStack::open(std::slice::from_ref(dir), "trusted.overlay.opaque")?,
                dir.clone(),
            ),
        };
        let mut mounted: Vec<Vec<String>> = Vec::new();
        let mut targets: Vec<(MountPoint, Kind)> = Vec::new();
        let mut wanted: Vec<(String, Kind, bool)> = vec![
            ("/proc".to_owned(), Kind::Dir, true),
            ("/dev".to_owned(), Kind::Dir, true),
            ("/etc/resolv.conf".to_owned(), Kind::File, false),
            ("/etc/hosts".to_owned(), Kind::File, false),
        ];
        for mount in &spec.mounts {
            let (kind, covers) = match mount {
                Mount::Bind { root, source, .. } => {
                    let is_dir = bind_source_is_dir(root, source)?;
                    if is_dir {
                        (Kind::Dir, true)
                    } else {
                        (Kind::File, false)
                    }
                }
                Mount::Socket { .. } | Mount::File { .. } => (Kind::File, false),
                Mount::Tmpfs { .. } => (Kind::Dir, true),
            };
            wanted.push((mount.target().to_owned(), kind, covers));
        }
        // sysfs, last: mounted here or, for a runtime, by the runtime.
        wanted.push(("/sys".to_owned(), Kind::Dir, true));
        for (target, kind, covers) in wanted {
            let point = resolve(&stack, &target, &mounted)?;
            if covers {
                mounted.push(point.components.clone());
            }
            self.resolved.push(point.path(point.components.len()));
            targets.push((point, kind));
        }

        // Create what is missing: in the stub layer, or in the plain directory.
        let overlay = matches!(spec.rootfs, Rootfs::Overlay { .. });
        let mut made: HashSet<Vec<String>> = HashSet::new();
        for (point, kind) in &targets {
            let end = point.inside_mount.min(point.components.len());
            if point.existing >= end {
                continue;
            }
            for len in 1..=end {
                let prefix = point.components[..len].to_vec();
                if made.contains(&prefix) {
                    continue;
                }
                let exists = len <= point.existing;
                if exists && !overlay {
                    continue;
                }
                made.insert(prefix);
                let shown = point.path(len);
                let is_last = len == point.components.len();
                let this_kind = if is_last { *kind } else { Kind::Dir };
                // Made in the stub (a tmpfs of the sandbox's) or the plain directory, the
                // parent resolved inside it by the child: never a host path.
                let make = |kind: Kind, like: Option<LayerDir>| Step::MakeIn {
                    root: Self::c_path(&base),
                    parent: c_string(point.components[..len - 1].join("/")),
                    name: c_string(point.components[len - 1].as_str()),
                    dir: kind == Kind::Dir,
                    like,
                    shown: shown.clone(),
                };
                if exists {
                    // Only directories are repeated in the stub; an existing final
                    // non-directory needs nothing.
                    if let Some(layer) = point.sources.get(len - 1).copied().flatten() {
                        let like = LayerDir {
                            layer: Self::c_path(&stack.paths[layer]),
                            path: c_string(point.components[..len].join("/")),
                        };
                        self.steps.push(make(Kind::Dir, Some(like)));
                    }
                    continue;
                }
                if !overlay {
                    let components = point.components[..len].to_vec();
                    if len == point.existing + 1 {
                        let parent = components[..len - 1].to_vec();
                        let times = dir_times(&base, &parent)?;
                        self.cleanup.touched.push((parent, times));
                    }
                    self.cleanup.created.insert(0, components);
                }
                self.steps.push(make(this_kind, None));
            }
        }
        // Restore parents deepest-last so a directory's time is set after its children's.
        self.cleanup.touched.reverse();
        self.cleanup.root = base.clone();

        // Files on the scratch tmpfs.
        let resolv = files.join("resolv.conf");
        let hosts = files.join("hosts");
        self.steps.push(match spec.network {
            // The stack's forwarder: the host's resolvers may be on its loopback.
            Network::Default => Step::WriteFile {
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
            Network::None | Network::Host => Step::CopyFile {
                from: c"/etc/resolv.conf".to_owned(),
                to: Self::c_path(&resolv),
                shown: "/etc/resolv.conf".to_owned(),
            },
        });
        self.steps.push(Step::WriteFile {
            path: Self::c_path(&hosts),
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
            if let Mount::Socket {
                source,
                target,
                mode,
                uid,
                gid,
            } = mount
            {
                self.steps.push(Step::SetOwner {
                    path: Self::c_path(source),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                    shown: target.clone(),
                });
            }
        }
        for (index, mount) in spec.mounts.iter().enumerate() {
            if let Mount::File {
                content,
                mode,
                uid,
                gid,
                target,
            } = mount
            {
                let path = files.join(format!("file-{index}"));
                self.steps.push(Step::WriteFile {
                    path: Self::c_path(&path),
                    content: content.clone(),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                    shown: target.clone(),
                });
            }
        }
        for file in &spec.pipe_files {
            let path = pipes.join(&file.name);
            self.steps.push(Step::WriteFile {
                path: Self::c_path(&path),
                content: file.content.clone(),
                mode: file.mode,
                uid: 0,
                gid: 0,
                shown: format!("/dev/pipes/{}", file.name),
            });
        }

        // The root.
        match &spec.rootfs {
            Rootfs::Overlay { lower, upper, work } => {
                let mut open = |path: &Path| -> Result<String, ExecError> {
                    fs::metadata(path).map_err(|source| ExecError::OpenLayer {
                        path: path.to_owned(),
                        source,
                    })?;
                    let fd = self.path_fd();
                    self.steps.push(Step::OpenPath {
                        path: Self::c_path(path),
                        fd,
                        shown: path.display().to_string(),
                    });
                    Ok(format!("/proc/self/fd/{fd}"))
                };
                // Layers are named through descriptors: short, and free of the `:` and `,`
                // that the option string cannot carry.
                let mut lowers = vec![stub.display().to_string()];
                for dir in lower {
                    lowers.push(open(dir)?);
                }
                let mut data = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lowers.join(":"),
                    open(upper)?,
                    open(work)?
                );
                if self.context.user_namespace {
                    // Opaque directories and the like as `user.overlay.*` attributes:
                    // `trusted.*` needs real root.
                    data.push_str(",userxattr");
                } else {
                    // Renaming a directory copies it instead of recording a redirect, and
                    // no metadata-only copy-up: the upper directory stays a plain change set.
                    data.push_str(",redirect_dir=off,metacopy=off,index=off");
                }
                self.steps.push(Step::Mount {
                    source: c"overlay".to_owned(),
                    target: Self::c_path(&root),
                    fstype: c"overlay".to_owned(),
                    flags: MountFlags::empty(),
                    data: Some(c_string(data)),
                    what: "overlay".to_owned(),
                    shown: "/".to_owned(),
                });
            }
            Rootfs::Directory(dir) => self.steps.push(Step::Bind {
                source: Self::c_path(dir),
                target: Self::c_path(&root),
                shown: dir.display().to_string(),
            }),
        }

        if self.context.no_devices {
            self.steps.push(Step::ForbidDevices {
                path: Self::c_path(&root),
                shown: "/".to_owned(),
            });
        }
        if self.for_runtime {
            self.runtime_binds(&targets);
            return Ok(());
        }

        // sysfs can only be mounted afresh by a user namespace that owns the network
        // namespace; rootless on the host's network gets the host's, read-only, as podman
        // does.
        let sys = targets.last().map(|(point, _)| point);
        let fresh_sys = !(self.context.user_namespace && spec.network == Network::Host);
        // /proc and a fresh /sys are mounted before `pivot_root` (see below), through
        // descriptors the child opens inside the new root now, before the detached mounts
        // below take the lowest free numbers.
        let proc = &targets[0].0;
        let proc_target = self.open_in_root(&root, proc);
        let sys_target = sys
            .filter(|_| fresh_sys)
            .map(|sys| (sys, self.open_in_root(&root, sys)));

        // Host mounts to attach after pivot_root.
        let mut attach: Vec<(usize, CString, String, String)> = Vec::new();
        for device in DEVICES {
            let source = format!("/dev/{device}");
            let slot = self.clone_mount(&source, false, false);
            attach.push((slot, c_string(source.clone()), source.clone(), source));
        }
        let dns = [
            (&resolv, &targets[2].0, "/etc/resolv.conf"),
            (&hosts, &targets[3].0, "/etc/hosts"),
        ];
        let mut dns_attach = Vec::new();
        for (source, point, name) in dns {
            let slot = self.clone_mount(&source.display().to_string(), false, false);
            let target = point.path(point.components.len());
            dns_attach.push((slot, c_string(target.clone()), name.to_owned(), target));
        }
        let sys_slot = (!fresh_sys).then(|| self.clone_mount("/sys", true, true));
        let pipes_slot = if spec.pipe_files.is_empty() {
            None
        } else {
            Some(self.clone_mount(&pipes.display().to_string(), false, true))
        };
        let mut user_slots = Vec::new();
        for (index, mount) in spec.mounts.iter().enumerate() {
            user_slots.push(match mount {
                Mount::Bind {
                    root,
                    source,
                    readonly,
                    ..
                } => Some(self.clone_mount_in(root, source, *readonly)),
                Mount::Socket { source, .. } => {
                    Some(self.clone_mount(&source.display().to_string(), false, false))
                }
                Mount::File { .. } => {
                    let path = files.join(format!("file-{index}"));
                    Some(self.clone_mount(&path.display().to_string(), false, true))
                }
                Mount::Tmpfs { .. } => None,
            });
        }

        // /proc before `pivot_root`: in a user namespace the kernel only allows a new proc
        // mount while a fully visible one exists in the mount namespace, and the host's
        // goes away with the old root. The path, resolved in the image above, was resolved
        // again inside the new root by the child and is mounted on through its descriptor.
        self.steps.push(Step::Mount {
            source: c"proc".to_owned(),
            target: proc_target,
            fstype: c"proc".to_owned(),
            flags: MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            data: None,
            what: "proc".to_owned(),
            shown: proc.path(proc.components.len()),
        });
        if let Some((sys, sys_target)) = sys_target {
            // Before `pivot_root` too, for the same reason as /proc.
            self.steps.push(Step::Mount {
                source: c"sysfs".to_owned(),
                target: sys_target,
                fstype: c"sysfs".to_owned(),
                flags: MountFlags::RDONLY
                    | MountFlags::NOSUID
                    | MountFlags::NODEV
                    | MountFlags::NOEXEC,
                data: None,
                what: "sysfs".to_owned(),
                shown: sys.path(sys.components.len()),
            });
        }
        self.steps.push(Step::PivotRoot {
            root: Self::c_path(&root),
        });
        if let (Some(sys), Some(slot)) = (sys, sys_slot) {
            let target = sys.path(sys.components.len());
            self.steps.push(Step::AttachMount {
                slot,
                target: c_string(target.clone()),
                what: "/sys".to_owned(),
                shown: target,
            });
        }

        // /dev.
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
        for (slot, target, what, shown) in attach {
            self.steps.push(Step::MakeFile {
                path: target.clone(),
                mode: 0o644,
                shown: shown.clone(),
            });
            self.steps.push(Step::AttachMount {
                slot,
                target,
                what,
                shown,
            });
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
            self.steps.push(Step::Symlink {
                target: c_string(target),
                path: c_string(path),
                shown: path.to_owned(),
            });
        }
        if spec.security == Security::Sandbox {
            let proc = proc.path(proc.components.len());
            let sys = sys.map(|sys| sys.path(sys.components.len()));
            self.hide_kernel_paths(&proc, sys.as_deref());
        }
        if let Some(slot) = pipes_slot {
            self.make_dir("/dev/pipes");
            self.steps.push(Step::AttachMount {
                slot,
                target: c"/dev/pipes".to_owned(),
                what: "/dev/pipes".to_owned(),
                shown: "/dev/pipes".to_owned(),
            });
        }
        for (slot, target, what, shown) in dns_attach {
            self.steps.push(Step::AttachMount {
                slot,
                target,
                what,
                shown,
            });
        }

        // Extra mounts, in order.
        for ((mount, slot), (point, kind)) in spec
            .mounts
            .iter()
            .zip(user_slots)
            .zip(targets.iter().skip(4))
        {
            for len in point.inside_mount + 1..=point.components.len() {
                let shown = point.path(len);
                let path = c_string(shown.clone());
                let is_last = len == point.components.len();
                self.steps.push(if is_last && *kind == Kind::File {
                    Step::MakeFile {
                        path,
                        mode: 0o644,
                        shown,
                    }
                } else {
                    Step::MakeDir {
                        path,
                        mode: 0o755,
                        shown,
                    }
                });
            }
            let target = point.path(point.components.len());
            match (mount, slot) {
                (Mount::Tmpfs { size, .. }, _) => {
                    let data = match size {
                        Some(size) => format!("mode=1777,size={size}"),
                        None => "mode=1777".to_owned(),
                    };
                    self.mount_fs(
                        "tmpfs",
                        &target,
                        MountFlags::NOSUID | MountFlags::NODEV,
                        Some(&data),
                    );
                }
                (Mount::Bind { source, .. }, Some(slot)) => {
                    self.attach_bind(slot, target, source.clone());
                }
                (Mount::Socket { source, .. }, Some(slot)) => {
                    self.attach_bind(slot, target, source.display().to_string());
                }
                (_, Some(slot)) => self.steps.push(Step::AttachMount {
                    slot,
                    target: c_string(target.clone()),
                    what: "file".to_owned(),
                    shown: target,
                }),
                (_, None) => {}
            }
        }
        Ok(())
    }

    /// The next free descriptor number of the child's for a path it opens.
    fn path_fd(&mut self) -> std::os::fd::RawFd {
        let fd = self.first_path_fd + self.path_fds;
        self.path_fds += 1;
        fd
    }

    /// Has the child open the directory `point` inside the new root mounted at `root`
    /// (resolved there as if chrooted) and returns the path that names it,
    /// `/proc/self/fd/N`, for a mount onto it before `pivot_root`.
    fn open_in_root(&mut self, root: &Path, point: &MountPoint) -> CString {
        let fd = self.path_fd();
        self.steps.push(Step::OpenInRoot {
            root: Self::c_path(root),
            path: c_string(point.components.join("/")),
            fd,
            shown: point.path(point.components.len()),
        });
        c_string(format!("/proc/self/fd/{fd}"))
    }

    /// Clones the bind source `source`, resolved inside `root` by the child, into a new
    /// slot (recursively).
    fn clone_mount_in(&mut self, root: &Path, source: &str, readonly: bool) -> usize {
        let slot = self.slot();
        self.steps.push(Step::CloneMount {
            root: Some(Self::c_path(root)),
            source: c_string(source),
            slot,
            recursive: true,
            readonly,
            shown: format!("{source} in {}", root.display()),
        });
        slot
    }

    /// For a runtime, which binds host paths: attaches each bind source, resolved inside
    /// its root, at `binds/<index>` on the scratch tmpfs, the path the runtime's
    /// configuration names ([`FilesystemPlan::runtime_bind_source`]).
    fn runtime_binds(&mut self, targets: &[(MountPoint, Kind)]) {
        let binds = self.scratch_path("binds");
        self.steps.push(Step::MakeDir {
            path: Self::c_path(&binds),
            mode: 0o700,
            shown: binds.display().to_string(),
        });
        let spec = self.spec;
        for (index, (mount, (_, kind))) in
            spec.mounts.iter().zip(targets.iter().skip(4)).enumerate()
        {
            let Mount::Bind {
                root,
                source,
                readonly,
                ..
            } = mount
            else {
                continue;
            };
            let at = self.runtime_bind_source(index);
            let shown = at.display().to_string();
            self.steps.push(match kind {
                Kind::Dir => Step::MakeDir {
                    path: Self::c_path(&at),
                    mode: 0o700,
                    shown: shown.clone(),
                },
                Kind::File => Step::MakeFile {
                    path: Self::c_path(&at),
                    mode: 0o600,
                    shown: shown.clone(),
                },
            });
            let slot = self.clone_mount_in(root, source, *readonly);
            self.steps.push(Step::AttachMount {
                slot,
                target: Self::c_path(&at),
                what: source.clone(),
                shown,
            });
        }
    }

    /// Where the bind mount `index` of the spec waits for a runtime.
    pub(crate) fn runtime_bind_source(&self, index: usize) -> PathBuf {
        self.scratch_path(&format!("binds/{index}"))
    }

    /// Attaches the bind (or socket) mount of `what` in `slot` at `target`; without
    /// devices, `nodev`: a stage's or cache's files come from an image too.
    fn attach_bind(&mut self, slot: usize, target: String, what: String) {
        self.steps.push(Step::AttachMount {
            slot,
            target: c_string(target.clone()),
            what,
            shown: target.clone(),
        });
        if self.context.no_devices {
            self.steps.push(Step::ForbidDevices {
                path: c_string(target.clone()),
                shown: target,
            });
        }
    }

    /// Docker's read-only and masked paths, with `/proc` and `/sys` where the image puts
    /// them (`proc`, `sys`: their resolved paths).
    fn hide_kernel_paths(&mut self, proc: &str, sys: Option<&str>) {
        let place = |path: &str| -> Option<String> {
            if let Some(rest) = path.strip_prefix("/proc/") {
                return Some(format!("{}/{rest}", proc.trim_end_matches('/')));
            }
            let rest = path.strip_prefix("/sys/")?;
            Some(format!("{}/{rest}", sys?.trim_end_matches('/')))
        };
        for path in defaults::READONLY_PATHS {
            if let Some(target) = place(path) {
                self.steps.push(Step::ReadonlyPath {
                    path: c_string(target.clone()),
                    shown: target,
                });
            }
        }
        for path in defaults::masked_paths() {
            if let Some(target) = place(&path) {
                self.steps.push(Step::MaskPath {
                    path: c_string(target.clone()),
                    shown: target,
                });
            }
        }
    }

    fn clone_mount(&mut self, source: &str, recursive: bool, readonly: bool) -> usize {
        let slot = self.slot();
        self.steps.push(Step::CloneMount {
            root: None,
            source: c_string(source),
            slot,
            recursive,
            readonly,
            shown: source.to_owned(),
        });
        slot
    }

    fn make_dir(&mut self, path: &str) {
        self.steps.push(Step::MakeDir {
            path: c_string(path),
            mode: 0o755,
            shown: path.to_owned(),
        });
    }

    fn mount_fs(&mut self, fstype: &str, target: &str, flags: MountFlags, data: Option<&str>) {
        self.steps.push(Step::Mount {
            source: c_string(fstype),
            target: c_string(target),
            fstype: c_string(fstype),
            flags,
            data: data.map(c_string),
            what: fstype.to_owned(),
            shown: target.to_owned(),
        });
    }
}

/// The access and modification times of the directory `components` below `root`, a
/// plain-directory root before the run.
fn dir_times(root: &Path, components: &[String]) -> Result<Timestamps, ExecError> {
    let path = components.join("/");
    let stat = Root::open(root)
        .and_then(|root| Ok(rustix::fs::fstat(root.dir(Path::new(&path), false)?)?))
        .map_err(|source| ExecError::InspectRootfs {
            path: shown(components),
            source,
        })?;
    Ok(Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: stat.st_atime as _,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: stat.st_mtime as _,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    })
}

/// Whether the bind source `source`, resolved inside `root`, is a directory.
fn bind_source_is_dir(root: &Path, source: &str) -> Result<bool, ExecError> {
    let err = |error| ExecError::ResolveBindSource {
        root: root.to_owned(),
        source_path: source.to_owned(),
        source: error,
    };
    let found = Root::open(root)
        .and_then(|root| root.resolve(Path::new(source)))
        .map_err(err)?;
    let stat = rustix::fs::fstat(&found).map_err(|error| err(error.into()))?;
    Ok(FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
}

/// The sandbox's `/etc/hosts`: the host's, a line naming the sandbox's hostname as the
/// loopback address when the host's does not name it, so that it resolves (BuildKit's
/// has `127.0.0.1 localhost buildkitsandbox`), then the `extra` hosts and addresses.
fn hosts_file(host: &[u8], hostname: &str, extra: &[(String, String)]) -> Vec<u8> {
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
mod plan_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

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

    fn stack(layers: &[&Path]) -> LayerStack {
        let layers: Vec<PathBuf> = layers.iter().map(|layer| layer.to_path_buf()).collect();
        LayerStack::open(&layers, "user.overlay.opaque").unwrap()
    }

    #[test]
    fn resolve_follows_symlinks_inside_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        let bottom = dir.path().join("bottom");
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::create_dir_all(bottom.join("run/systemd")).unwrap();
        fs::create_dir_all(bottom.join("var")).unwrap();
        symlink(
            "../run/systemd/resolve/stub-resolv.conf",
            top.join("etc/resolv.conf"),
        )
        .unwrap();
        symlink("/run", bottom.join("var/run")).unwrap();
        let stack = stack(&[&top, &bottom]);

        let point = resolve(&stack, "/etc/resolv.conf", &[]).unwrap();
        assert_eq!(
            point.components,
            ["run", "systemd", "resolve", "stub-resolv.conf"]
        );
        assert_eq!(point.existing, 2);
        assert_eq!(point.sources, [Some(1), Some(1)]);

        let point = resolve(&stack, "/var/run/x", &[]).unwrap();
        assert_eq!(point.components, ["run", "x"]);
        assert_eq!(point.existing, 1);
    }

    #[test]
    fn resolve_honours_whiteouts_and_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        let bottom = dir.path().join("bottom");
        fs::create_dir_all(&top).unwrap();
        fs::create_dir_all(bottom.join("proc")).unwrap();
        fs::create_dir_all(bottom.join("cache/a")).unwrap();
        // A file in the top layer hides the directory of the same name below it.
        fs::write(top.join("proc"), "").unwrap();
        let stack = stack(&[&top, &bottom]);
        let err = resolve(&stack, "/proc/x", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mount target `/proc/x` needs a directory at `/proc`, but the image has a file there"
        );
        let mounted = vec![vec!["cache".to_owned()]];
        let point = resolve(&stack, "/cache/a/b", &mounted).unwrap();
        assert_eq!((point.existing, point.inside_mount), (1, 1));
    }

    #[test]
    fn resolve_stops_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = resolve(&stack(&[dir.path()]), "/a/x", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "too many levels of symbolic links resolving `/a/x` in the root filesystem"
        );
    }
}
