//! Unpacked image layers kept in the store, the lower directories of a `RUN` sandbox.
//!
//! Each layer of an image is unpacked once, on its own, into a directory in overlayfs's
//! format ([`unpack_overlay`]): whiteouts are character devices 0/0 and opaque
//! directories carry the overlay's `opaque` attribute, so the directories of an image's
//! layers stacked as lower directories of an overlay mount give its filesystem.
//!
//! ```text
//! <store>/data/rootfs/3/<ns>/<chain id hex>/diff     the layer, in overlay format
//! <store>/data/rootfs/3/<ns>/<chain id hex>/layers   the chain's layer blobs, bottom first
//! <store>/data/rootfs/3/merged/<chain id hex>/tree   the image's filesystem, for mounts
//! <store>/data/rootfs/3/merged/<chain id hex>/layers
//! ```
//!
//! `3` is the version of how layers are unpacked (`LAYOUT`); [`LayerSweeper`] removes the
//! directories of other versions, whose content may differ.
//!
//! The `merged` trees ([`LayerDirs::merged`]) are whole images unpacked one layer over
//! the other, the sources of `RUN --mount=from=<stage or image>`: bound read-only, or
//! copied from, by every step that mounts the image, never written to.
//!
//! A directory is keyed by the layer's [chain id] (its `diff_id` and those of the layers
//! below), so every image that shares the chain shares the directory, and a hard link to
//! a file of a lower layer, which the overlay format cannot hold, is the same copy for all
//! of them. `<ns>` is `trusted` or `user`, the attribute namespace of the overlay mounts
//! made by this process (root or a user namespace), which read only their own.
//!
//! Rootless with subordinate ids, `<ns>` is `user-<maps>` and `merged` is
//! `merged-<maps>` (`<maps>` a hash of the user namespace's id maps): the layers keep the
//! owners they record, so their files belong to the subordinate ids the sandbox maps them
//! to, and only a process in that user namespace can write or remove them. Unpacking and
//! removing run there (`in_user_namespace`), as buildah does all its work.
//!
//! A directory is made atomically: unpacked into a temp beside it, then renamed. When two
//! builds unpack the same layer at once, the second rename fails and its copy is dropped.
//! Nothing is renamed before its `diff_id` was checked. The upper directory of a `RUN`
//! step's overlay, once its layer is written, becomes that layer's directory the same way
//! ([`LayerDirs::adopt`]), as BuildKit commits a snapshot: it holds exactly what
//! unpacking the layer gives, but for sub-second mtimes, which a layer does not keep.
//!
//! An unpacked layer is derived data, a cache of a verified blob, so it is not synced to
//! disk (a `syncfs` writes every dirty page of the file system, other programs' too):
//! a file `boot` in it names the boot it was made in (`/proc/sys/kernel/random/boot_id`),
//! and a directory with another boot's name is taken as absent, since a crash may have
//! lost part of it, and replaced when it is needed. A process killed in between loses
//! nothing the kernel already has. Where the boot id cannot be read, the directory is
//! synced before the rename instead, with a file `synced` in it. Every user holds a store
//! [`Lease`](crate::store::Lease), so [`Store::prune`] (which runs with no lease held)
//! never removes a directory in use; given the [`LayerSweeper`], it removes the
//! directories whose layer blobs are no longer all in the store, and temps left by
//! killed processes.
//!
//! [chain id]: https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid

mod error;
mod sweep;

use std::fs;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};

pub use error::RootfsError;
pub use sweep::LayerSweeper;

use crate::digest::sha256;
use crate::events::{Events, TaskRef};
use crate::exec::{ExecError, IdMapping, error_chain, in_user_namespace, overlay_xattr_prefix};
use crate::layer::{
    LayerError, OverlayFormat, OverlayXattrs, SkipReason, Unpacked, decompress, unpack,
    unpack_overlay,
};
use crate::store::Store;
use crate::tree::remove_tree;

/// The version of how layers are unpacked, the directory under `data/rootfs` that holds
/// them. Version 2: directories a layer does not carry take the metadata of the layers
/// below. Version 3: a merged tree follows no symlink of a lower layer to place a later
/// layer's entries, as the overlay format never did.
const LAYOUT: &str = "3";

/// The prefix of temps in the rootfs directory; [`LayerSweeper`] removes them.
const TEMP_PREFIX: &str = ".tmp-";

/// The file of an unpacked layer's directory that names the boot it was made in, when
/// it was not synced.
const BOOT_RECORD: &str = "boot";

/// The id of this boot of the machine, `None` when it cannot be read.
fn boot_id() -> Option<&'static [u8]> {
    static ID: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let id = fs::read("/proc/sys/kernel/random/boot_id").ok()?;
        let id = id.trim_ascii().to_vec();
        (!id.is_empty()).then_some(id)
    })
    .as_deref()
}

/// The file of an unpacked layer's directory that says it was synced before it was
/// renamed into place.
const SYNCED_RECORD: &str = "synced";

/// Whether the unpacked layer directory `dir` is there and whole: made in this boot, or
/// synced. (One made before these records were kept has neither, and is made again.)
fn usable(dir: &Path) -> bool {
    match fs::read(dir.join(BOOT_RECORD)) {
        Ok(boot) => Some(boot.as_slice()) == boot_id(),
        Err(_) => dir.join(SYNCED_RECORD).is_file(),
    }
}

/// The [chain ids] of layers with these `diff_id`s, bottom first.
///
/// [chain ids]: https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let id = match chain.last() {
            None => diff_id.clone(),
            Some(below) => sha256(format!("{below} {diff_id}").as_bytes()),
        };
        chain.push(id);
    }
    chain
}

/// The unpacked layers of a store, for the overlay namespace of this process.
#[derive(Debug, Clone)]
pub struct LayerDirs {
    store: Store,
    dir: PathBuf,
    /// Where the merged trees are.
    merged: PathBuf,
    xattrs: OverlayXattrs,
    /// The user namespace layers are unpacked in, rootless with subordinate ids.
    mapping: Option<IdMapping>,
}

impl LayerDirs {
    /// The unpacked layers kept in `store`.
    ///
    /// # Errors
    ///
    /// [`RootfsError::Store`] when the directory cannot be created.
    pub fn open(store: &Store) -> Result<LayerDirs, RootfsError> {
        let xattrs = if overlay_xattr_prefix().starts_with("trusted.") {
            OverlayXattrs::Trusted
        } else {
            OverlayXattrs::User
        };
        let rootfs = store.path_for("rootfs")?.join(LAYOUT);
        let mapping = IdMapping::subordinate()?;
        let (dir, merged) = match &mapping {
            None => (namespace_dir(&rootfs, xattrs), rootfs.join("merged")),
            Some(mapping) => {
                let maps = sha256(mapping.maps().as_bytes());
                let maps = &maps.digest()[..12];
                (
                    rootfs.join(format!("user-{maps}")),
                    rootfs.join(format!("merged-{maps}")),
                )
            }
        };
        for dir in [&dir, &merged] {
            crate::store::create_private_dir(dir).map_err(|source| RootfsError::WriteDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(LayerDirs {
            store: store.clone(),
            dir,
            merged,
            xattrs,
            mapping,
        })
    }

    /// The attribute namespace of the directories (that of the overlay mounts this
    /// process makes).
    pub fn xattrs(&self) -> OverlayXattrs {
        self.xattrs
    }

    /// The directories of an image's layers (`layers` from its manifest, `diff_ids` from
    /// its config, both bottom first), unpacking those not unpacked yet; returned top
    /// first, as overlay lower directories are given. The caller holds a store lease for
    /// as long as it uses them.
    ///
    /// # Errors
    ///
    /// [`RootfsError::LayerCount`] when the lists differ in length,
    /// [`RootfsError::DiffIdMismatch`] when a layer is not what the config says, and the
    /// errors of reading and unpacking a layer.
    pub fn prepare(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        events: &dyn Events,
    ) -> Result<Vec<PathBuf>, RootfsError> {
        if layers.len() != diff_ids.len() {
            return Err(RootfsError::LayerCount {
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(layers.len());
        for (index, chain_id) in chain_ids(diff_ids).iter().enumerate() {
            let dir = self.dir.join(chain_id.digest());
            if !usable(&dir) {
                let lower: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
                self.unpack(&layers[..=index], &diff_ids[index], &dir, lower, events)?;
            }
            dirs.push(dir.join("diff"));
        }
        dirs.reverse();
        Ok(dirs)
    }

    /// The filesystem of an image (`layers` from its manifest, `diff_ids` from its
    /// config, both bottom first) as one directory, unpacked when not unpacked yet;
    /// `None` for an image without layers. Nobody may write to it: bind it read-only or
    /// copy from it. The caller holds a store lease for as long as it uses it.
    ///
    /// # Errors
    ///
    /// As [`LayerDirs::prepare`].
    pub fn merged(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        events: &dyn Events,
    ) -> Result<Option<PathBuf>, RootfsError> {
        if layers.len() != diff_ids.len() {
            return Err(RootfsError::LayerCount {
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let Some(chain_id) = chain_ids(diff_ids).pop() else {
            return Ok(None);
        };
        let dir = self.merged.join(chain_id.digest());
        if !usable(&dir) {
            let temp = Temp::new(&self.merged)?;
            let tree = temp.path().join("tree");
            fs::create_dir(&tree).map_err(write_err(&tree))?;
            for (layer, diff_id) in layers.iter().zip(diff_ids) {
                self.unpack_layer(layer, diff_id, events, |tar| unpack(tar, &tree))?;
            }
            self.publish(temp, layers, &dir)?;
        }
        Ok(Some(dir.join("tree")))
    }

    /// Reads the blob of `layer`, applies its tar with `apply` (in the user namespace
    /// when there is one) and checks its `diff_id`.
    fn unpack_layer(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
        events: &dyn Events,
        apply: impl FnOnce(Box<dyn io::Read + '_>) -> Result<Unpacked, LayerError>,
    ) -> Result<(), RootfsError> {
        let digest = layer.digest();
        let task = TaskRef {
            label: format!("unpack {}", short(digest)),
        };
        events.task_started(&task, Some(layer.size()));
        let (unpacked, owners) = match &self.mapping {
            None => {
                let unpacked = unpack_blob(&self.store, layer, apply)?;
                let owners = owners_skipped(&unpacked);
                (unpacked.diff_id, owners)
            }
            Some(mapping) => {
                let answer = in_user_namespace(mapping, || {
                    let unpacked = unpack_blob(&self.store, layer, apply)
                        .map_err(|error| error_chain(&error))?;
                    let owners = owners_skipped(&unpacked);
                    Ok(format!("{} {owners}", unpacked.diff_id).into_bytes())
                })?;
                let answer = String::from_utf8_lossy(&answer).into_owned();
                let parsed = answer.split_once(' ').and_then(|(digest, owners)| {
                    Some((digest.parse::<Digest>().ok()?, owners.parse().ok()?))
                });
                parsed.ok_or(ExecError::NamespaceWork {
                    message: format!("unexpected answer `{answer}`"),
                })?
            }
        };
        events.task_finished(&task);
        if owners > 0 {
            events.warning(&match self.mapping {
                // Keeping them needs the store's files owned by subordinate ids.
                None => format!(
                    "layer {}: {owners} files owned by users other than root show as root's \
                     in RUN steps (not running as root, owners cannot be kept)",
                    short(digest)
                ),
                Some(_) => format!(
                    "layer {}: {owners} files owned by ids beyond the subordinate ranges \
                     show as root's in RUN steps",
                    short(digest)
                ),
            });
        }
        if unpacked != *diff_id {
            return Err(RootfsError::DiffIdMismatch {
                digest: digest.to_string(),
                expected: diff_id.to_string(),
                actual: unpacked.to_string(),
            });
        }
        Ok(())
    }

    /// Unpacks the top layer of `chain` into `dir`, through a temp renamed into place.
    fn unpack(
        &self,
        chain: &[Descriptor],
        diff_id: &Digest,
        dir: &Path,
        lower: Vec<PathBuf>,
        events: &dyn Events,
    ) -> Result<(), RootfsError> {
        let layer = chain.last().expect("a chain has at least its own layer");
        let temp = Temp::new(&self.dir)?;
        let diff = temp.path().join("diff");
        fs::create_dir(&diff).map_err(write_err(&diff))?;
        let format = OverlayFormat {
            xattrs: self.xattrs,
            lower,
        };
        self.unpack_layer(layer, diff_id, events, |tar| {
            unpack_overlay(tar, &diff, &format)
        })?;
        self.publish(temp, chain, dir)
    }

    /// Makes `upper`, the upper directory of a `RUN` step's overlay over `layers` whose
    /// changes were just written as the last of them, that layer's directory (`layers`
    /// and `diff_ids` bottom first, the new layer's last). The caller knows the directory
    /// holds what unpacking the layer would give: the layer was written from it with the
    /// owners and mtimes it has, and it has no socket.
    ///
    /// # Errors
    ///
    /// [`RootfsError::LayerCount`] when the lists differ in length, and
    /// [`RootfsError::WriteDir`] when the directory cannot be moved or recorded.
    pub fn adopt(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        upper: &Path,
    ) -> Result<(), RootfsError> {
        if layers.len() != diff_ids.len() {
            return Err(RootfsError::LayerCount {
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let Some(chain_id) = chain_ids(diff_ids).pop() else {
            return Ok(());
        };
        let dir = self.dir.join(chain_id.digest());
        if usable(&dir) {
            return Ok(());
        }
        let temp = Temp::new(&self.dir)?;
        let diff = temp.path().join("diff");
        fs::rename(upper, &diff).map_err(write_err(&diff))?;
        self.publish(temp, layers, &dir)
    }

    /// Records the layer blobs of `chain` in `temp`, marks it with the boot (or makes it
    /// durable) and renames it to `dir`; when another build made `dir` first, `temp` is
    /// dropped for it, and when `dir` is another boot's, they are swapped.
    fn publish(&self, temp: Temp, chain: &[Descriptor], dir: &Path) -> Result<(), RootfsError> {
        let write = write_err;
        let blobs: Vec<String> = chain.iter().map(|l| l.digest().to_string()).collect();
        let list = temp.path().join("layers");
        let json = serde_json::to_vec(&blobs).expect("a list of strings encodes as JSON");
        fs::write(&list, json).map_err(write(&list))?;
        match boot_id() {
            Some(boot) => {
                let record = temp.path().join(BOOT_RECORD);
                fs::write(&record, boot).map_err(write(&record))?;
            }
            None => {
                let record = temp.path().join(SYNCED_RECORD);
                fs::write(&record, b"").map_err(write(&record))?;
                // Make the content durable before the rename publishes it.
                let sync = fs::File::open(temp.path())
                    .and_then(|file| Ok(rustix::fs::syncfs(file)?))
                    .map_err(write(temp.path()));
                sync?;
            }
        }

        let temp_path = temp.keep();
        match fs::rename(&temp_path, dir) {
            Ok(()) => Ok(()),
            // Another build unpacked the same layer first: use its copy.
            Err(_) if usable(dir) => remove_tree(&temp_path).map_err(write(&temp_path)),
            // Another boot's copy, which may be partial: swap it out, atomically, for
            // whoever looks at it meanwhile.
            Err(_) if dir.is_dir() => {
                let swapped = rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &temp_path,
                    rustix::fs::CWD,
                    dir,
                    rustix::fs::RenameFlags::EXCHANGE,
                );
                let removed = remove_tree(&temp_path).map_err(write(&temp_path));
                swapped.map_err(|e| write(dir)(e.into()))?;
                removed
            }
            Err(source) => {
                let _ = remove_tree(&temp_path);
                Err(RootfsError::WriteDir {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Reads the blob of `layer` from `store` and applies its tar with `apply`.
fn unpack_blob(
    store: &Store,
    layer: &Descriptor,
    apply: impl FnOnce(Box<dyn io::Read + '_>) -> Result<Unpacked, LayerError>,
) -> Result<Unpacked, RootfsError> {
    let digest = layer.digest();
    let blob = BufReader::with_capacity(64 * 1024, store.open_blob(digest)?);
    let unpack_err = |source| RootfsError::Unpack {
        digest: digest.to_string(),
        source,
    };
    let tar =
        decompress(blob, Some(layer.media_type().to_string().as_str())).map_err(unpack_err)?;
    apply(tar).map_err(unpack_err)
}

/// How many files of a layer did not get their owner.
fn owners_skipped(unpacked: &Unpacked) -> usize {
    unpacked
        .skipped
        .iter()
        .filter(|skipped| skipped.what == SkipReason::Ownership)
        .count()
}

/// A temp directory in the rootfs directory, removed with [`remove_tree`] when dropped
/// unless kept; [`LayerSweeper`] removes those a killed process left.
struct Temp {
    path: PathBuf,
    kept: bool,
}

impl Temp {
    /// A new temp directory in `parent`.
    fn new(parent: &Path) -> Result<Temp, RootfsError> {
        let dir = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(parent)
            .map_err(write_err(parent))?;
        Ok(Temp {
            path: dir.keep(),
            kept: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The path, no longer removed on drop.
    fn keep(mut self) -> PathBuf {
        self.kept = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = remove_tree(&self.path);
        }
    }
}

/// The error of writing in `path`.
fn write_err(path: &Path) -> impl FnOnce(io::Error) -> RootfsError + use<> {
    let path = path.to_owned();
    move |source| RootfsError::WriteDir { path, source }
}

/// `<rootfs>/trusted` or `<rootfs>/user`.
fn namespace_dir(rootfs: &Path, xattrs: OverlayXattrs) -> PathBuf {
    rootfs.join(match xattrs {
        OverlayXattrs::Trusted => "trusted",
        OverlayXattrs::User => "user",
    })
}

/// `sha256:0123456789ab`, for progress.
fn short(digest: &Digest) -> String {
    let hex = digest.digest();
    format!("{}:{}", digest.algorithm(), &hex[..hex.len().min(12)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256(format!("{a} {b}").as_bytes()));
    }
}
