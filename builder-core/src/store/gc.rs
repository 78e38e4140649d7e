//! Garbage collection: remove blobs nothing references, and stray temps.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use oci_spec::image::Digest;

use super::blobs::JSON_LIMIT;
use super::records::RecordRoots;
use super::refs::has_links;
use super::{Store, StoreError};
use crate::atomic::{TEMP_PREFIX, sync_dir};
use crate::tree::{remove_tree, tree_size};

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Blobs removed.
    pub blobs: Vec<Digest>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Every byte removed: blobs, temps and scratch directories, unpacked layers and
    /// records (the sizes of the regular files removed, each file once, and not those
    /// still linked from elsewhere).
    pub freed: u64,
    /// Temps and scratch directories left by processes that are gone.
    pub temps: usize,
    /// Records that could not be read (they read as missing anyway).
    pub records: usize,
    /// Directories the [`GcHook`]s removed: unpacked layers whose blobs are gone.
    pub unpacked: usize,
    /// Cache records removed to fit [`PruneOptions::keep_storage`].
    pub trimmed: usize,
    /// With [`PruneOptions::keep_storage`], the bytes of blobs the remaining cache records
    /// keep beyond what images keep (0 otherwise: a plain prune does not weigh the cache).
    pub cache_bytes: u64,
}

/// What [`Store::prune_with`] may remove besides what nothing references.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Keep at most this many bytes of blobs for cache records (beyond those images
    /// keep), removing the least recently used records first; `None` keeps them all.
    pub keep_storage: Option<u64>,
}

/// A user of the store that keeps data of its own derived from blobs (unpacked layers),
/// which [`Store::prune`] asks to remove what the blobs no longer back: the store knows
/// which blobs are gone, only the user knows what it derived from them.
pub trait GcHook: Send + Sync {
    /// Removes what this user keeps for blobs that are no longer all in `store`, and
    /// leftovers of its interrupted writes. Called by [`Store::prune`] after it removed
    /// the blobs nothing references, while it holds the store exclusively, so no
    /// [`Lease`](super::Lease) is held and nothing is in use.
    ///
    /// # Errors
    ///
    /// The file system errors of listing and removing.
    fn sweep(&self, store: &Store) -> Result<Swept, StoreError>;
}

/// What a [`GcHook`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// The directories it removed.
    pub dirs: usize,
    /// The bytes that freed (as [`Pruned::freed`] counts them).
    pub bytes: u64,
}

impl Store {
    /// Removes every blob that no image of the index and no record references, every
    /// temp left behind by an interrupted process, and what `hooks` derived from blobs
    /// that are gone (unpacked layers: pass every user of the store that keeps such data).
    ///
    /// An image keeps its manifest, config and layers; an index keeps its manifests; a
    /// record keeps the blobs it declared and, for a manifest or index among them, what
    /// those reference. Prune waits until every [`Lease`](super::Lease) is released and
    /// holds the index lock, so no writer runs while it sweeps: do not call it while
    /// holding a lease or a [`BlobWriter`](super::BlobWriter) yourself.
    ///
    /// # Errors
    ///
    /// [`StoreError::ParseBlob`] when a manifest or index cannot be read (nothing is
    /// removed then), the file system errors of listing and removing, and those of the
    /// hooks.
    pub fn prune(&self, hooks: &[&dyn GcHook]) -> Result<Pruned, StoreError> {
        self.prune_with(&PruneOptions::default(), hooks)
    }

    /// [`Store::prune`], first removing cache records as `options` asks.
    ///
    /// # Errors
    ///
    /// As [`Store::prune`].
    pub fn prune_with(
        &self,
        options: &PruneOptions,
        hooks: &[&dyn GcHook],
    ) -> Result<Pruned, StoreError> {
        let _gc = self.lock_exclusive("gc")?;
        let _index = self.lock_exclusive("index")?;
        let mut pruned = Pruned::default();

        let images: Vec<(Digest, Option<String>)> = self
            .read_index()?
            .manifests()
            .iter()
            .map(|d| (d.digest().clone(), Some(d.media_type().to_string())))
            .collect();
        let mut live: HashSet<Digest> = HashSet::new();
        self.mark(images, &mut live)?;

        let mut records = Vec::new();
        let mut weak_records = Vec::new();
        let mut referenced_records = Vec::new();
        let records_dir = self.root.join("records");
        for namespace in list_dir(&records_dir)? {
            if !namespace.is_dir() {
                continue;
            }
            for file in list_dir(&namespace)? {
                if is_temp(&file) {
                    pruned.freed += remove(&file)?;
                    pruned.temps += 1;
                    continue;
                }
                let roots = fs::read(&file)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<RecordRoots>(&bytes).ok());
                match roots {
                    Some(record) if record.roots.is_empty() && !record.weak.is_empty() => {
                        weak_records.push((file, record.weak));
                    }
                    Some(record) if record.roots.is_empty() && !record.referenced.is_empty() => {
                        referenced_records.push((file, record.referenced));
                    }
                    Some(record) => {
                        let modified = fs::metadata(&file)
                            .and_then(|m| m.modified())
                            .unwrap_or(SystemTime::UNIX_EPOCH);
                        records.push((modified, file, record.roots));
                    }
                    None => {
                        pruned.freed += remove(&file)?;
                        pruned.records += 1;
                    }
                }
            }
        }
        // Newest first: each record keeps what it adds to what the images and the newer
        // records keep, until the budget is spent; that record and all older ones go.
        records.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut cache_bytes = 0_u64;
        let mut over = false;
        for (_, file, roots) in records {
            if !over {
                let added = self.mark(roots.into_iter().map(|d| (d, None)).collect(), &mut live)?;
                let size: u64 = added.iter().map(|d| self.blob_size(d).unwrap_or(0)).sum();
                match options.keep_storage {
                    Some(keep) if cache_bytes + size > keep => {
                        for digest in &added {
                            live.remove(digest);
                        }
                        over = true;
                    }
                    _ => {
                        cache_bytes += size;
                        continue;
                    }
                }
            }
            pruned.freed += remove(&file)?;
            pruned.trimmed += 1;
        }
        if options.keep_storage.is_some() {
            pruned.cache_bytes = cache_bytes;
        }

        let blobs = self.root.join("blobs");
        for algorithm_dir in list_dir(&blobs)? {
            let algorithm = file_name(&algorithm_dir);
            for blob in list_dir(&algorithm_dir)? {
                let Ok(digest) = Digest::try_from(format!("{algorithm}:{}", file_name(&blob)))
                else {
                    continue;
                };
                if live.contains(&digest) {
                    continue;
                }
                let size = remove(&blob)?;
                pruned.bytes += size;
                pruned.blobs.push(digest);
            }
            sync_dir(&algorithm_dir).map_err(|source| StoreError::Remove {
                path: algorithm_dir.clone(),
                source,
            })?;
        }
        pruned.blobs.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        for (file, weak) in weak_records {
            if !weak.iter().all(|digest| self.has_blob(digest)) {
                pruned.freed += remove(&file)?;
            }
        }
        for (file, referenced) in referenced_records {
            if !referenced.iter().all(|digest| live.contains(digest)) {
                pruned.freed += remove(&file)?;
            }
        }
        let mut unpacked_bytes = 0;
        for hook in hooks {
            let swept = hook.sweep(self)?;
            pruned.unpacked += swept.dirs;
            unpacked_bytes += swept.bytes;
        }

        // No lease is held, so nothing under tmp/ is in use.
        let mut temp_bytes = 0;
        for temp in list_dir(&self.tmp_root())? {
            temp_bytes += remove(&temp)?;
            pruned.temps += 1;
        }
        for file in list_dir(&self.root)? {
            if is_temp(&file) {
                temp_bytes += remove(&file)?;
                pruned.temps += 1;
            }
        }
        pruned.freed += pruned.bytes + unpacked_bytes + temp_bytes;
        Ok(pruned)
    }

    /// Adds to `live` the digests `roots` reach (following manifests and indexes in the
    /// store), and returns those it added. A digest whose blob is not in the store (a
    /// layer known to be in a registry) is live too, for the records that name it.
    fn mark(
        &self,
        mut queue: Vec<(Digest, Option<String>)>,
        live: &mut HashSet<Digest>,
    ) -> Result<Vec<Digest>, StoreError> {
        let mut added = Vec::new();
        while let Some((digest, media_type)) = queue.pop() {
            if !live.insert(digest.clone()) {
                continue;
            }
            added.push(digest.clone());
            if !self.has_blob(&digest) {
                continue;
            }
            let links = match media_type {
                Some(media_type) if has_links(&media_type) => Some(self.read_node(&digest)?),
                Some(_) => None,
                // A record's root of unknown type: follow it if it reads as a manifest or
                // an index; anything else is a leaf.
                None if self.looks_like_json(&digest) => self
                    .read_node(&digest)
                    .ok()
                    .filter(|node| node.media_type.as_deref().is_some_and(has_links)),
                None => None,
            };
            if let Some(node) = links {
                queue.extend(node.links().map(|link| (link.digest, link.media_type)));
            }
        }
        Ok(added)
    }

    /// Whether a blob is small enough to be a JSON document and starts like one.
    fn looks_like_json(&self, digest: &Digest) -> bool {
        let Ok(mut file) = self.open_blob(digest) else {
            return false;
        };
        let small = file.metadata().is_ok_and(|m| m.len() <= JSON_LIMIT);
        let mut first = [0_u8; 1];
        small && file.read_exact(&mut first).is_ok() && first[0] == b'{'
    }
}

fn is_temp(path: &Path) -> bool {
    file_name(path).starts_with(TEMP_PREFIX)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The paths in `dir`, sorted.
fn list_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>, StoreError> {
    let list = |source| StoreError::ListDir {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for dirent in fs::read_dir(dir).map_err(list)? {
        paths.push(dirent.map_err(list)?.path());
    }
    paths.sort();
    Ok(paths)
}

/// Removes a file or a directory tree, and returns the bytes that freed (see
/// [`Pruned::freed`]); one already gone is fine.
fn remove(path: &Path) -> Result<u64, StoreError> {
    let size = tree_size(path);
    let result = match fs::symlink_metadata(path) {
        // Scratch directories of rootless steps may hold the sandbox users' files.
        Ok(metadata) if metadata.is_dir() => remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(size),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(StoreError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}
