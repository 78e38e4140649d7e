//! Reading a small file of the image (`/etc/passwd`) from its unpacked layers.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::exec::overlay_xattr_prefix;

/// The most bytes read of such a file.
const LIMIT: u64 = 4 * 1024 * 1024;

/// The content of the file at `path` (`etc/passwd`, relative, without symlinks in its
/// directories) in the image whose layer directories in overlay format are `layers`, top
/// first; `None` when the image has no such file. A whiteout of the file or of a
/// directory on its way hides it, and an opaque directory hides the layers below.
///
/// The file is opened resolved inside its layer, so a symlink in the image never leads
/// to a file of the host.
pub(super) fn read(layers: &[PathBuf], path: &str) -> io::Result<Option<String>> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let opaque = format!("{}opaque", overlay_xattr_prefix());
    for layer in layers {
        let mut at = layer.clone();
        let mut hidden_below = false;
        for (i, component) in components.iter().enumerate() {
            at.push(component);
            let last = i + 1 == components.len();
            match fs::symlink_metadata(&at) {
                Ok(meta) if is_whiteout(&meta) => return Ok(None),
                Ok(meta) if last && meta.is_file() => return read_in(layer, path).map(Some),
                // A symlink or something else: not followed.
                Ok(_) if last => return Ok(None),
                Ok(meta) if meta.is_dir() => {
                    if xattr::get(&at, &opaque).ok().flatten().as_deref() == Some(b"y") {
                        hidden_below = true;
                    }
                }
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        if hidden_below {
            return Ok(None);
        }
    }
    Ok(None)
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Reads `path` resolved inside `root`, at most [`LIMIT`] bytes.
fn read_in(root: &Path, path: &str) -> io::Result<String> {
    let dir = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let fd = rustix::fs::openat2(
        &dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    let mut bytes = Vec::new();
    File::from(fd).take(LIMIT).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
