//! Reading a small file of the image (`/etc/passwd`) from its unpacked layers.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType};

use crate::exec::overlay_xattr_prefix;
use crate::fsroot::{Root, open_child_dir};

/// The most bytes read of such a file.
const LIMIT: u64 = 4 * 1024 * 1024;

/// The content of the file at `path` (`etc/passwd`, relative, without symlinks in its
/// directories) in the image whose layer directories in overlay format are `layers`, top
/// first; `None` when the image has no such file. A whiteout of the file or of a
/// directory on its way hides it, and an opaque directory hides the layers below.
///
/// Each layer is walked from its root by descriptors, never following a symlink, and the
/// file is opened resolved inside its layer, so a symlink in the image never leads to a
/// file of the host.
pub(super) fn read(layers: &[PathBuf], path: &str) -> io::Result<Option<String>> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let opaque = format!("{}opaque", overlay_xattr_prefix());
    for layer in layers {
        let root = Root::open(layer)?;
        let mut dir = root.dir(Path::new("/"), false)?;
        let mut hidden_below = false;
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let stat = match rustix::fs::statat(&dir, *component, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(rustix::io::Errno::NOENT) => break,
                Err(e) => return Err(e.into()),
            };
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::CharacterDevice if stat.st_rdev == 0 => return Ok(None),
                FileType::RegularFile if last => return read_in(&root, path).map(Some),
                // A symlink or something else: not followed.
                _ if last => return Ok(None),
                FileType::Directory => {
                    dir = open_child_dir(&dir, component.as_bytes())?;
                    let mut value = [0_u8; 1];
                    if matches!(rustix::fs::fgetxattr(&dir, &opaque, &mut value), Ok(1))
                        && value[0] == b'y'
                    {
                        hidden_below = true;
                    }
                }
                _ => return Ok(None),
            }
        }
        if hidden_below {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Reads `path` resolved inside `root`, at most [`LIMIT`] bytes.
fn read_in(root: &Root, path: &str) -> io::Result<String> {
    let mut bytes = Vec::new();
    root.open_file(Path::new(path))?
        .take(LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
