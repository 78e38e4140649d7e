//! Parent directories of a snapshot diff's entries.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::Path;

use crate::layer::{Entry, EntryKind, LayerError, LayerPath, host_entry};

/// Adds to `entries` the directories above them that are not in it yet, with their
/// metadata from `root`, as a layer from an overlay's upper directory always has them
/// (and as containerd's differ writes them): a snapshot diff leaves out a directory whose
/// own metadata did not change, and some tools refuse a layer whose entries have no
/// parents.
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
    let mut inodes = HashMap::new();
    for dir in missing {
        let host = root.join(dir.as_path());
        let metadata = fs::symlink_metadata(&host).map_err(|source| LayerError::ScanHost {
            path: host.clone(),
            source,
        })?;
        entries.extend(host_entry(&host, dir, &metadata, None, &mut inodes)?);
    }
    Ok(())
}
