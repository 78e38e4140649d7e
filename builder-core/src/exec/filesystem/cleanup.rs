//! Undoing the mount points made in a plain-directory root.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Timestamps};

use super::mount_point::shown;
use crate::exec::error::ExecError;
use crate::exec::sys::stat_times;
use crate::fsroot::{self, Root};

/// What the parent must undo after a run over a plain directory.
///
/// The step may have moved or replaced anything meanwhile, symlinks to the host included,
/// so the undoing walks from the root by descriptors without following any symlink, and
/// leaves alone what is no longer where it was made.
#[derive(Debug, Default)]
pub(crate) struct PlainCleanup {
    /// The plain directory.
    pub(super) root: PathBuf,
    /// Entries created for mount points, deepest first, as components.
    pub(super) created: Vec<Vec<String>>,
    /// Directories that received them, with their access and modification times.
    pub(super) touched: Vec<(Vec<String>, Timestamps)>,
}

impl PlainCleanup {
    /// An empty record for the plain directory `root`.
    pub(crate) fn new(root: &Path) -> Self {
        PlainCleanup {
            root: root.to_owned(),
            ..PlainCleanup::default()
        }
    }

    /// Records the entry `components`, just created below the root, to be removed after
    /// what was created below it; with `parent_times`, the times its parent had before,
    /// to be put back.
    pub(crate) fn record(&mut self, components: Vec<String>, parent_times: Option<Timestamps>) {
        if let Some(times) = parent_times {
            let parent = components[..components.len().saturating_sub(1)].to_vec();
            self.touched.insert(0, (parent, times));
        }
        self.created.insert(0, components);
    }

    /// Records the times the directory `components` had before entries in it were
    /// changed, to be put back.
    pub(crate) fn touch(&mut self, components: Vec<String>, times: Timestamps) {
        self.touched.insert(0, (components, times));
    }

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
        fsroot::open_dir_below(&self.root, components).map_err(|source| {
            ExecError::RemoveMountPoint {
                path: shown(components),
                source,
            }
        })
    }
}

/// The access and modification times of the directory `components` below `root`, a
/// plain-directory root before the run.
pub(super) fn dir_times(root: &Path, components: &[String]) -> Result<Timestamps, ExecError> {
    let path = components.join("/");
    let stat = Root::open(root)
        .and_then(|root| Ok(rustix::fs::fstat(root.dir(Path::new(&path), false)?)?))
        .map_err(|source| ExecError::InspectRootfs {
            path: shown(components),
            source,
        })?;
    Ok(stat_times(&stat))
}
