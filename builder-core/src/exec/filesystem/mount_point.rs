//! Mount points resolved in the image: a target path looked up in the image's layers
//! with overlayfs's rules (whiteouts, opaque directories), following the image's symlinks
//! inside the image, without writing anything.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::exec::error::ExecError;
use crate::fsroot::Root;

/// Mount points are resolved through at most this many symbolic links, as the kernel does.
const MAX_SYMLINKS: usize = 40;

/// What a mount point must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A directory.
    Dir,
    /// A file.
    File,
}

/// The image's layers as the parent sees them, top first, each open: a path is looked
/// up in them from descriptor to descriptor, never joined onto a layer's host path.
pub(crate) struct LayerStack {
    layers: Vec<Root>,
    /// Their host paths, for the child to read a directory's metadata from.
    pub(super) paths: Vec<PathBuf>,
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
    pub(crate) fn open(
        layers: &[PathBuf],
        opaque_xattr: &'static str,
    ) -> Result<LayerStack, ExecError> {
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
                    let opaque = crate::exec::sys::has_opaque_xattr(&child, self.opaque_xattr);
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
pub(crate) struct MountPoint {
    /// The path without symlinks, as components.
    pub(crate) components: Vec<String>,
    /// How many leading components exist in the image as directories (or, for the last,
    /// as anything); the rest are missing and get created.
    pub(super) existing: usize,
    /// For each existing component, the layer holding its topmost copy (`None`: a last
    /// component that is no directory).
    pub(super) sources: Vec<Option<usize>>,
    /// Components from this index on lie inside an earlier mount and are created after
    /// `pivot_root`; `components.len()` when none does.
    pub(super) inside_mount: usize,
}

impl MountPoint {
    /// The sandbox path of the whole mount point.
    pub(super) fn sandbox_path(&self) -> String {
        self.path(self.components.len())
    }

    /// The sandbox path of the first `len` components.
    pub(super) fn path(&self, len: usize) -> String {
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
pub(crate) fn resolve(
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
/// The sandbox path of `components`, for messages.
pub(super) fn shown(components: &[String]) -> PathBuf {
    PathBuf::from(format!("/{}", components.join("/")))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::*;

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
