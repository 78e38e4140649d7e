//! The `unpack` target: layer blobs, decompressed as their first bytes say and unpacked
//! one over the other, as a base image's layers are, into a scratch directory whose
//! surroundings are checked afterwards.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use tempfile::TempDir;

use crate::digest::sha256;
use crate::layer::{
    LayerError, OverlayFormat, OverlayXattrs, Unpacked, decompress, unpack, unpack_overlay,
};

/// Separates the layers of one input; the first [`MAX_LAYERS`] are applied.
pub const LAYER_SEPARATOR: &[u8] = b"\0mkimage-fuzz-next-layer\0";
/// The most layers of one input that are applied.
const MAX_LAYERS: usize = 3;
/// The most bytes a layer's tar may have, and the most its entries may declare, for the
/// harness to unpack it. A bomb or a sparse entry of a terabyte is valid in a layer (and
/// writing it is not a bug); skipping it keeps every run, and the corpus replay in CI,
/// small and fast.
const MAX_TAR: u64 = 16 << 20;
/// What the canary file holds.
const CANARY: &[u8] = b"a layer must not change this file\n";

/// Unpacks `data`, split at [`LAYER_SEPARATOR`] into layers, twice: one over the other
/// into one directory (as [`unpack`] makes an image's merged tree), and each into its
/// own directory in overlay format over the ones before (as [`unpack_overlay`] prepares
/// the lower directories of a `RUN`), stopping at the first layer that fails.
///
/// # Panics
///
/// When something was created or changed outside the directory being unpacked into
/// (checked with canary directories and a canary file around it, and by a write failing
/// on a read-only file system, which is where the sandbox the fuzzer runs in puts
/// everything but the scratch directory), when the `diff_id` is not the SHA-256 of the
/// decompressed tar, or when the code under test panics.
pub fn unpack_layers(data: &[u8]) {
    let layers = split(data);
    let expected: Option<Vec<Option<Digest>>> =
        layers.iter().map(|l| decompressed_digest(l)).collect();
    let Some(expected) = expected else {
        return;
    };
    let scratch = Scratch::new(layers.len());
    for (layer, digest) in layers.iter().zip(&expected) {
        let applied = apply(layer, digest.as_ref(), |tar| unpack(tar, &scratch.merged()));
        if !applied {
            break;
        }
    }
    let xattrs = if rustix::process::geteuid().is_root() {
        OverlayXattrs::Trusted
    } else {
        OverlayXattrs::User
    };
    for (index, (layer, digest)) in layers.iter().zip(&expected).enumerate() {
        let format = OverlayFormat {
            xattrs,
            lower: (0..index).rev().map(|i| scratch.layer(i)).collect(),
        };
        let dir = scratch.layer(index);
        let applied = apply(layer, digest.as_ref(), |tar| {
            unpack_overlay(tar, &dir, &format)
        });
        if !applied {
            break;
        }
    }
    scratch.check();
}

/// The layers of `data`, at most [`MAX_LAYERS`].
fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut layers = Vec::new();
    while layers.len() + 1 < MAX_LAYERS {
        let Some(at) = data
            .windows(LAYER_SEPARATOR.len())
            .position(|w| w == LAYER_SEPARATOR)
        else {
            break;
        };
        layers.push(&data[..at]);
        data = &data[at + LAYER_SEPARATOR.len()..];
    }
    layers.push(data);
    layers
}

/// The SHA-256 of the tar in `layer` when it decompresses (`Some(None)` when it does
/// not: unpacking it must fail); `None` when the tar or what its entries declare is too
/// large to unpack here.
fn decompressed_digest(layer: &[u8]) -> Option<Option<Digest>> {
    let mut tar = Vec::new();
    let read = decompress(layer, None)
        .map_err(|_| ())
        .and_then(|r| r.take(MAX_TAR + 1).read_to_end(&mut tar).map_err(|_| ()));
    if read.is_err() {
        return Some(None);
    }
    if tar.len() as u64 > MAX_TAR {
        return None;
    }
    let mut declared: u64 = 0;
    let mut archive = tar::Archive::new(&tar[..]);
    if let Ok(entries) = archive.entries() {
        for entry in entries.map_while(Result::ok) {
            declared = declared.saturating_add(entry.size());
        }
    }
    (declared <= MAX_TAR).then(|| Some(sha256(&tar)))
}

/// Unpacks `layer` with `unpack`; whether it succeeded. A success must report the
/// `diff_id` `expected`, a failure must be an error that is not a write outside.
fn apply(
    layer: &[u8],
    expected: Option<&Digest>,
    unpack: impl FnOnce(Box<dyn Read + '_>) -> Result<Unpacked, LayerError>,
) -> bool {
    match decompress(layer, None).and_then(unpack) {
        Ok(unpacked) => {
            assert_eq!(Some(&unpacked.diff_id), expected, "the diff_id of a layer");
            true
        }
        Err(error) => {
            assert!(!escaped(&error), "a write left the root: {error}");
            assert!(!error.to_string().is_empty());
            false
        }
    }
}

/// Whether `error` comes from writing to a read-only file system: outside the scratch
/// directory when the fuzzer runs in its sandbox.
fn escaped(error: &LayerError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::ReadOnlyFilesystem
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A temp directory laid out as
///
/// ```text
/// canary/  canary.txt  work/canary/  work/merged/root/  work/layer<N>/root/
/// ```
///
/// where only the `root` directories may change.
struct Scratch {
    dir: TempDir,
    layers: usize,
    /// The canary file's mode as made (the umask decides it).
    canary_mode: u32,
}

impl Scratch {
    fn new(layers: usize) -> Scratch {
        let dir = tempfile::tempdir().expect("a temp directory");
        let made = (|| -> io::Result<()> {
            fs::create_dir(dir.path().join("canary"))?;
            fs::write(dir.path().join("canary.txt"), CANARY)?;
            fs::create_dir_all(dir.path().join("work/canary"))?;
            for name in Self::names(layers) {
                fs::create_dir_all(dir.path().join("work").join(name).join("root"))?;
            }
            Ok(())
        })();
        made.expect("the scratch directories");
        let canary_mode = mode(&dir.path().join("canary.txt"));
        Scratch {
            dir,
            layers,
            canary_mode,
        }
    }

    /// The names of the directories in `work` that hold a root.
    fn names(layers: usize) -> impl Iterator<Item = String> {
        std::iter::once("merged".to_owned()).chain((0..layers).map(|i| format!("layer{i}")))
    }

    fn merged(&self) -> PathBuf {
        self.dir.path().join("work/merged/root")
    }

    fn layer(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("work/layer{index}/root"))
    }

    /// Panics unless everything around the roots is as [`Scratch::new`] made it.
    fn check(&self) {
        let top = self.dir.path();
        assert_eq!(names(top), set(["canary", "canary.txt", "work"]));
        assert_eq!(names(&top.join("canary")), set([]));
        let canary = top.join("canary.txt");
        assert_eq!(fs::read(&canary).expect("the canary file"), CANARY);
        assert_eq!(mode(&canary), self.canary_mode);
        let work = top.join("work");
        let mut expected: BTreeSet<String> = Self::names(self.layers).collect();
        expected.insert("canary".to_owned());
        assert_eq!(names(&work), expected);
        assert_eq!(names(&work.join("canary")), set([]));
        for name in Self::names(self.layers) {
            assert_eq!(names(&work.join(name)), set(["root"]));
        }
    }
}

/// The names in the directory `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_else(|e| panic!("failed to list `{}`: {e}", dir.display()))
}

/// The type and mode bits of `path`, not following a symlink.
fn mode(path: &Path) -> u32 {
    let metadata = fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("failed to stat `{}`: {e}", path.display()));
    metadata.permissions().mode()
}

fn set<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}
