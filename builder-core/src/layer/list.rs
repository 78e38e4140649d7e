//! Reading a layer tar back into entries.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use tar::EntryType;

use super::entry::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::{Entry, EntryKind, LayerError, LayerPath};

/// The entries of a layer tar (already decompressed, see [`decompress`](super::decompress)),
/// in tar order, with each regular file's size instead of its content: enough to index an
/// image's paths without unpacking it. `.wh.` files come back as whiteouts and
/// `.wh..wh..opq` files as opaque markers; the root directory entry (`./`) and aufs
/// metadata (`.wh..wh.*`) are skipped.
///
/// # Errors
///
/// [`LayerError::ReadTar`] for a malformed tar, [`LayerError::UnsafeTarPath`] for a name or
/// hard link target that leaves the root, [`LayerError::UnknownEntryType`] for an entry
/// type a layer cannot hold.
pub fn list<R: Read>(tar: R) -> Result<Vec<Entry<u64>>, LayerError> {
    let mut archive = tar::Archive::new(tar);
    let mut entries = Vec::new();
    for item in archive.entries().map_err(read_tar)? {
        let mut item = item.map_err(read_tar)?;
        if let Some(entry) = decode(&mut item)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn read_tar(source: std::io::Error) -> LayerError {
    LayerError::ReadTar { source }
}

/// The entry a tar record describes, `None` for records that describe no path of the
/// image (the root, PAX global headers, aufs metadata).
pub(crate) fn decode<R: Read>(
    item: &mut tar::Entry<'_, R>,
) -> Result<Option<Entry<u64>>, LayerError> {
    let header = item.header();
    let entry_type = header.entry_type();
    if entry_type == EntryType::XGlobalHeader {
        return Ok(None);
    }
    let name = item.path_bytes().into_owned();
    let lossy = || String::from_utf8_lossy(&name).into_owned();
    let unsafe_path = |_| LayerError::UnsafeTarPath { path: lossy() };
    let path = match LayerPath::from_bytes(&name) {
        Ok(path) => path,
        Err(LayerError::EmptyPath { .. }) => return Ok(None),
        Err(e) => return Err(unsafe_path(e)),
    };
    let field = |r: std::io::Result<u64>| r.map_err(read_tar);
    let mode = header.mode().map_err(read_tar)? & 0o7777;
    let mut uid = field(header.uid())?;
    let mut gid = field(header.gid())?;
    let mut mtime = i64::try_from(field(header.mtime())?).unwrap_or(i64::MAX);
    // Only devices have meaningful numbers; other entries may leave the fields empty.
    let device = if matches!(entry_type, EntryType::Char | EntryType::Block) {
        (
            header.device_major().map_err(read_tar)?.unwrap_or(0),
            header.device_minor().map_err(read_tar)?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let link = item.link_name_bytes().map(|l| l.into_owned());
    let size = item.size();

    let mut xattrs = BTreeMap::new();
    if let Some(pax) = item.pax_extensions().map_err(read_tar)? {
        for record in pax {
            let record = record.map_err(read_tar)?;
            let Ok(key) = record.key() else { continue };
            let value = record.value_bytes();
            let number = || std::str::from_utf8(value).ok();
            match key {
                "uid" => uid = number().and_then(|v| v.parse().ok()).unwrap_or(uid),
                "gid" => gid = number().and_then(|v| v.parse().ok()).unwrap_or(gid),
                "mtime" => {
                    // PAX times may have a fraction; layers keep whole seconds.
                    let whole = number().and_then(|v| v.split('.').next());
                    mtime = whole.and_then(|v| v.parse().ok()).unwrap_or(mtime);
                }
                _ => {
                    if let Some(xattr) = key.strip_prefix("SCHILY.xattr.") {
                        xattrs.insert(xattr.to_owned(), value.to_vec());
                    }
                }
            }
        }
    }
    let too_big = |_| LayerError::IdOutOfRange { path: lossy() };
    let uid = u32::try_from(uid).map_err(too_big)?;
    let gid = u32::try_from(gid).map_err(too_big)?;

    let file_name = path.file_name();
    let parent = path.parent();
    if file_name.starts_with(WHITEOUT_PREFIX) && entry_type.is_file() {
        let (path, kind) = if file_name == OPAQUE_MARKER {
            let Some(dir) = parent else {
                return Err(LayerError::UnsafeTarPath { path: lossy() });
            };
            (dir, EntryKind::Opaque)
        } else if file_name.starts_with(b".wh..wh.") {
            return Ok(None);
        } else {
            let hidden = &file_name[WHITEOUT_PREFIX.len()..];
            if matches!(hidden, b"" | b"." | b"..") {
                return Err(LayerError::UnsafeTarPath { path: lossy() });
            }
            (
                LayerPath::child(parent.as_ref(), hidden),
                EntryKind::Whiteout,
            )
        };
        return Ok(Some(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        }));
    }

    let kind = match entry_type {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => EntryKind::File(size),
        EntryType::Directory => EntryKind::Dir,
        EntryType::Symlink => EntryKind::Symlink(PathBuf::from(std::ffi::OsStr::from_bytes(
            link.as_deref().unwrap_or_default(),
        ))),
        EntryType::Link => {
            let target = link.unwrap_or_default();
            let lossy_target = || String::from_utf8_lossy(&target).into_owned();
            if target.starts_with(b"/") {
                return Err(LayerError::UnsafeTarPath {
                    path: lossy_target(),
                });
            }
            let target = LayerPath::from_bytes(&target).map_err(|_| LayerError::UnsafeTarPath {
                path: lossy_target(),
            })?;
            EntryKind::HardLink(target)
        }
        EntryType::Char => EntryKind::CharDevice {
            major: device.0,
            minor: device.1,
        },
        EntryType::Block => EntryKind::BlockDevice {
            major: device.0,
            minor: device.1,
        },
        EntryType::Fifo => EntryKind::Fifo,
        other => {
            return Err(LayerError::UnknownEntryType {
                path: lossy(),
                kind: format!("{:?}", other),
            });
        }
    };
    Ok(Some(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    }))
}
