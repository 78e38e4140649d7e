//! Parent directories of a snapshot diff's entries.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use crate::fsroot::DIR_FLAGS;
use crate::layer::{Entry, EntryKind, LayerError, LayerPath, Scanned, host_entry, open_tree};

/// Adds to `entries` the directories above them that are not in it yet, with their
/// metadata from `root`, as a layer from an overlay's upper directory always has them
/// (and as containerd's differ writes them): a snapshot diff leaves out a directory whose
/// own metadata did not change, and some tools refuse a layer whose entries have no
/// parents. Each is opened below `root` through no symlink: one the step put on the way
/// fails the diff instead of being followed.
pub(super) fn add_parents(entries: &mut Vec<Entry>, root: &Path) -> Result<(), LayerError> {
    let present: HashSet<LayerPath> = entries
        .iter()
        .filter(|entry| entry.kind == EntryKind::Dir)
        .map(|entry| entry.path.clone())
        .collect();
    let mut missing = BTreeSet::new();
    for entry in entries.iter() {
        let mut at = entry.path.parent();
        while let Some(dir) = at {
            if present.contains(&dir) || !missing.insert(dir.clone()) {
                break;
            }
            at = dir.parent();
        }
    }
    let tree = open_tree(root)?;
    let mut inodes = HashMap::new();
    for dir in missing {
        let opened = tree
            .open_walked(dir.as_bytes(), DIR_FLAGS)
            .map_err(|source| LayerError::ScanHost {
                path: tree.shown(dir.as_path()),
                source,
            })?;
        let scanned = Scanned::read_dir(&tree, &File::from(opened), &dir)?;
        entries.extend(host_entry(&tree, dir, &scanned, None, &mut inodes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    // See: issue 13
    #[test]
    fn parents_are_not_read_through_a_symlink_the_step_made() {
        let dir = tempfile::tempdir().unwrap();
        let (root, host) = (dir.path().join("root"), dir.path().join("host"));
        fs::create_dir_all(host.join("sub")).unwrap();
        fs::create_dir_all(&root).unwrap();
        symlink(&host, root.join("d")).unwrap();
        let mut entries = vec![Entry::new(
            LayerPath::new("d/sub/x").unwrap(),
            EntryKind::Fifo,
        )];
        match add_parents(&mut entries, &root) {
            Err(LayerError::ScanHost { source, .. }) => {
                // `O_DIRECTORY | O_NOFOLLOW` on a symlink: `ENOTDIR`.
                assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR), "{source}");
            }
            other => panic!("the host's directory was read: {other:?} {entries:?}"),
        }
    }
}
