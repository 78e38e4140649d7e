//! Without mounts, `RUN --mount`s as copies: before the run, what the image has at a
//! target is put aside and the mount's content copied there (a bind's source tree, an
//! empty directory for a tmpfs, a secret's file); after it, a cache's new content is
//! copied back into the cache, the copy removed and the image's entry put back.
//!
//! Every entry is reached from the tree's root by descriptors, no symlink followed: the
//! step may have replaced anything by a link meanwhile. Put aside and back by `rename`,
//! an image's directory keeps its content and times, but its change time moves, so the
//! layer may hold it again (the same metadata): the cost of running without mounts.

use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::exec::error::ExecError;
use crate::exec::spec::SandboxMount;
use crate::fsroot::{self, Root};

/// A mount copied into the tree.
struct Placed {
    /// Its target in the tree, without symlinks, as components.
    components: Vec<String>,
    /// The name the image's entry was put aside as, if it had one.
    aside: Option<String>,
    /// The cache directory its content goes back to.
    cache: Option<PathBuf>,
}

/// The mounts copied into one tree, to undo after the run.
pub(super) struct Copies {
    root: PathBuf,
    /// The directory (on the tree's filesystem) holding what was put aside.
    aside: PathBuf,
    placed: Vec<Placed>,
}

impl Copies {
    /// Copies for the tree `root`, putting entries aside in the new directory `aside`.
    pub(super) fn new(root: &Path, aside: PathBuf) -> Copies {
        Copies {
            root: root.to_owned(),
            aside,
            placed: Vec::new(),
        }
    }

    /// Copies `mount` to the entry `components` (without symlinks) of the tree, in its
    /// directory `parent`.
    ///
    /// # Errors
    /// An SSH agent's socket, which cannot be copied; what cannot be read, moved or
    /// written.
    pub(super) fn place(
        &mut self,
        mount: &SandboxMount,
        components: Vec<String>,
        parent: &OwnedFd,
    ) -> Result<(), ExecError> {
        let target = mount.target().to_owned();
        let name = components.last().cloned().unwrap_or_default();
        let err = |source: io::Error| ExecError::ChrootPrepare {
            path: target.clone(),
            source,
        };
        if let SandboxMount::Socket { .. } = mount {
            return Err(ExecError::ChrootMountUnavailable { target });
        }
        let aside = match fsroot::type_at(parent, name.as_bytes()).map_err(err)? {
            None => None,
            Some(_) => {
                let aside = self.aside_dir().map_err(err)?;
                let moved = self.placed.len().to_string();
                rustix::fs::renameat(parent, name.as_str(), &aside, moved.as_str())
                    .map_err(|error| err(error.into()))?;
                Some(moved)
            }
        };
        // Recorded before the copy, so that a copy failing halfway is undone too.
        self.placed.push(Placed {
            components,
            aside,
            cache: match mount {
                SandboxMount::Bind {
                    root,
                    source,
                    readonly: false,
                    ..
                } if source == "/" => Some(root.clone()),
                _ => None,
            },
        });
        copy_in(mount, parent, &name).map_err(err)
    }

    /// Copies caches back, removes the copies and puts the image's entries back, last
    /// placed first.
    ///
    /// # Errors
    /// The first that fails; the rest is still tried.
    pub(super) fn undo(&mut self) -> Result<(), ExecError> {
        let mut first = None;
        while let Some(placed) = self.placed.pop() {
            let shown = format!("/{}", placed.components.join("/"));
            if let Err(source) = self.undo_one(&placed) {
                first.get_or_insert(ExecError::ChrootPrepare {
                    path: shown,
                    source,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn undo_one(&self, placed: &Placed) -> io::Result<()> {
        let Some((name, parents)) = placed.components.split_last() else {
            return Ok(());
        };
        let Some(parent) = fsroot::open_dir_below(&self.root, parents)? else {
            return Ok(());
        };
        if let Some(cache) = &placed.cache {
            sync_cache(&parent, name, cache)?;
        }
        fsroot::remove(&parent, name.as_bytes())?;
        if let Some(moved) = &placed.aside {
            let aside = self.aside_dir()?;
            rustix::fs::renameat(&aside, moved.as_str(), &parent, name.as_str())?;
        }
        Ok(())
    }

    /// The directory holding what was put aside, made on first use.
    fn aside_dir(&self) -> io::Result<OwnedFd> {
        match std::fs::create_dir(&self.aside) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
            _ => {}
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(rustix::fs::open(&self.aside, flags, Mode::empty())?)
    }
}

/// Makes `name` in `parent` what `mount` gives the step.
fn copy_in(mount: &SandboxMount, parent: &OwnedFd, name: &str) -> io::Result<()> {
    match mount {
        SandboxMount::Bind { root, source, .. } => {
            let found = Root::open(root)?.resolve(Path::new(source))?;
            fsroot::copy_tree(&found, parent, name.as_bytes())
        }
        SandboxMount::Tmpfs { .. } => {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o1777))?;
            // Exactly, whatever the umask.
            let mode = Mode::from_raw_mode(0o1777);
            Ok(rustix::fs::chmodat(parent, name, mode, AtFlags::empty())?)
        }
        SandboxMount::File {
            content,
            mode,
            uid,
            gid,
            ..
        } => {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))?;
            let ids = (
                Some(rustix::fs::Uid::from_raw(*uid)),
                Some(rustix::fs::Gid::from_raw(*gid)),
            );
            rustix::fs::fchown(&fd, ids.0, ids.1)?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(*mode))?;
            std::fs::File::from(fd).write_all(content)
        }
        SandboxMount::Socket { .. } => Err(io::Error::from(io::ErrorKind::Unsupported)),
    }
}

/// Replaces the content of the cache directory `cache` by that of `name` in `parent`.
fn sync_cache(parent: &OwnedFd, name: &str, cache: &Path) -> io::Result<()> {
    let Ok(copy) = fsroot::open_child_dir(parent, name.as_bytes()) else {
        return Ok(());
    };
    let cache = Root::open(cache)?.dir(Path::new("/"), false)?;
    fsroot::clear(&cache, |_| false)?;
    fsroot::copy_into(&copy, &cache)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// The tree's `components`' parent, open.
    fn parent(root: &Path, components: &[&str]) -> OwnedFd {
        let parents: Vec<String> = components[..components.len() - 1]
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        fsroot::open_dir_below(root, &parents).unwrap().unwrap()
    }

    #[test]
    fn copies_hide_the_image_and_caches_keep_what_the_step_wrote()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (tree, cache, scratch) = (
            dir.path().join("tree"),
            dir.path().join("cache"),
            dir.path().join("scratch"),
        );
        fs::create_dir_all(tree.join("var/cache"))?;
        fs::write(tree.join("var/cache/own"), "image")?;
        fs::create_dir_all(&cache)?;
        fs::write(cache.join("old"), "cached")?;
        fs::create_dir(&scratch)?;
        let mut copies = Copies::new(&tree, scratch.join("aside"));
        let mount = SandboxMount::Bind {
            root: cache.clone(),
            source: "/".to_owned(),
            target: "/var/cache".to_owned(),
            readonly: false,
        };
        let components = vec!["var".to_owned(), "cache".to_owned()];
        copies.place(&mount, components, &parent(&tree, &["var", "cache"]))?;
        let secret = SandboxMount::File {
            target: "/s".to_owned(),
            content: b"s3".to_vec(),
            mode: 0o400,
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        };
        copies.place(&secret, vec!["s".to_owned()], &parent(&tree, &["s"]))?;
        assert_eq!(fs::read_to_string(tree.join("var/cache/old"))?, "cached");
        assert!(
            !tree.join("var/cache/own").exists(),
            "the image's entry is aside"
        );
        assert_eq!(fs::read_to_string(tree.join("s"))?, "s3");

        // The step writes to the cache.
        fs::write(tree.join("var/cache/new"), "written")?;
        copies.undo()?;
        assert_eq!(fs::read_to_string(tree.join("var/cache/own"))?, "image");
        assert!(!tree.join("var/cache/old").exists());
        assert!(!tree.join("s").exists());
        assert_eq!(fs::read_to_string(cache.join("new"))?, "written");
        assert_eq!(fs::read_to_string(cache.join("old"))?, "cached");
        Ok(())
    }
}
