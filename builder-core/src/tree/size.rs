//! The bytes a tree holds, for prune to report what removing it frees.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::exec::{IdMapping, in_user_namespace};

/// The bytes of the regular files in the tree `path` (or of `path`, a file): each file
/// once, and only when all its hard links are in the tree, since a file linked from
/// elsewhere stays. Rootless with subordinate ids, a tree with directories the caller
/// may not read (those of the sandbox's users) is measured in the user namespace. What
/// cannot be measured counts as nothing: the number is a report, not a decision.
pub(crate) fn tree_size(path: &Path) -> u64 {
    let (size, complete) = own_tree_size(path);
    if complete {
        return size;
    }
    let Ok(Some(mapping)) = IdMapping::subordinate() else {
        return size;
    };
    let answer = in_user_namespace(&mapping, || {
        Ok(own_tree_size(path).0.to_string().into_bytes())
    });
    answer
        .ok()
        .and_then(|bytes| String::from_utf8_lossy(&bytes).parse().ok())
        .unwrap_or(size)
}

/// [`tree_size`] with the rights of this process, and whether every entry could be read.
fn own_tree_size(path: &Path) -> (u64, bool) {
    let mut size = 0;
    let mut complete = true;
    // Files with several links: (device, inode) → (links, links seen, size).
    let mut linked: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        let metadata = match entry.and_then(|entry| entry.metadata()) {
            Ok(metadata) => metadata,
            Err(error) => {
                let denied = error
                    .io_error()
                    .is_some_and(|e| e.kind() == io::ErrorKind::PermissionDenied);
                complete &= !denied;
                continue;
            }
        };
        if !metadata.is_file() {
            continue;
        }
        if metadata.nlink() <= 1 {
            size += metadata.len();
            continue;
        }
        let file = linked.entry((metadata.dev(), metadata.ino())).or_insert((
            metadata.nlink(),
            0,
            metadata.len(),
        ));
        file.1 += 1;
    }
    let whole = linked.values().filter(|(links, seen, _)| seen >= links);
    (size + whole.map(|(_, _, len)| len).sum::<u64>(), complete)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn counts_each_file_once_when_all_its_links_go() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("sub"))?;
        fs::write(tree.join("a"), [0; 1000])?;
        fs::write(tree.join("sub/b"), [0; 200])?;
        fs::hard_link(tree.join("sub/b"), tree.join("b-again"))?;
        fs::write(tree.join("shared"), [0; 30])?;
        fs::hard_link(tree.join("shared"), dir.path().join("outside"))?;
        std::os::unix::fs::symlink("/etc/passwd", tree.join("link"))?;
        assert_eq!(tree_size(&tree), 1200);
        assert_eq!(tree_size(&tree.join("a")), 1000);
        assert_eq!(tree_size(&dir.path().join("missing")), 0);
        Ok(())
    }
}
