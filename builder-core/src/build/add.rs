//! `ADD`: the part of `COPY` that differs.
//!
//! [`prepare`] runs before the step's cache key is known: it selects the local sources as
//! `COPY` does, finds among the matched files those that are tar archives (told by
//! content; unless `--unpack=false`), and downloads every URL, which is fetched on each
//! build as Docker does. The keys' inputs are the selection's content digest (which covers
//! the archives' bytes) and, per URL, the body's digest with its `Last-Modified`, so an
//! unchanged body hits the cache. On a miss, `COPY`'s path places the other sources and
//! calls [`add_entries`], which swaps each local archive for its extracted entries below
//! the destination and adds the downloads (mode `0600`, or what `--unpack=true` extracts
//! from them). Git sources fail with [`BuildError::AddUnsupported`].

use std::collections::HashSet;
use std::path::PathBuf;

use crate::add::{ArchiveError, ExtractOptions, extract, is_archive};
use crate::context::Destination;
use crate::digest::sha256;
use crate::fetch::{Checksum, Download, download};
use crate::layer::{Content, Entry, EntryKind, LayerPath};
use crate::plan::{AddOptions, Copy, CopySource, Platform};
use crate::store::ScratchDir;

use super::BuildError;
use super::chmod::Chmod;
use super::copy::{self, Prepared};
use super::executor::NewLayer;
use super::stage::{BuildRun, StageState};

/// What an `ADD` brings beyond `COPY`, found by [`prepare`].
#[derive(Debug, Default)]
pub(super) struct AddSources {
    /// Host paths of the matched context files that are archives, in match order.
    archives: Vec<PathBuf>,
    /// The downloaded URLs, in source order, each with whether it is extracted.
    downloads: Vec<(Download, bool)>,
    /// Holds the downloads and the extracted contents until the layer is written.
    scratch: Option<ScratchDir>,
}

impl AddSources {
    /// How many sources these add to the selection's matches (which hold the archives),
    /// for the rule that several need a directory.
    pub fn count(&self) -> usize {
        self.downloads.len()
    }
}

/// Finds the sources of an `ADD`: local ones as for `COPY`, plus the archives among them
/// and the downloads of its URLs.
pub(super) fn prepare(
    run: &BuildRun<'_>,
    copy: &Copy,
    options: &AddOptions,
    platform: &Platform,
) -> crate::Result<Prepared> {
    if let Some(CopySource::Git(url)) = copy
        .sources
        .iter()
        .find(|source| matches!(source, CopySource::Git(_)))
    {
        return Err(BuildError::AddUnsupported {
            what: format!("the git repository `{url}`"),
        }
        .into());
    }
    let checksum: Option<Checksum> = options.checksum.as_deref().map(str::parse).transpose()?;
    let mut prepared = copy::prepare_copy(run, copy, platform)?;
    let mut sources = AddSources::default();
    if options.unpack != Some(false)
        && let Some(selection) = copy::context_selection(&prepared)
    {
        for matched in selection.matches.iter().filter(|m| !m.is_dir) {
            let Some(path) = &matched.path else { continue };
            // Canonical, as the host paths of the entries `COPY` places.
            let host = selection.root().join(path.as_path());
            let host = std::fs::canonicalize(&host)
                .map_err(|source| ArchiveError::ReadArchive { path: host, source })?;
            if is_archive(&host)? {
                sources.archives.push(host);
            }
        }
    }
    let urls: Vec<&str> = copy
        .sources
        .iter()
        .filter_map(|source| match source {
            CopySource::Url(url) => Some(url.as_str()),
            _ => None,
        })
        .collect();
    if !urls.is_empty() || !sources.archives.is_empty() {
        sources.scratch = Some(run.builder.store.temp_dir()?);
    }
    for url in urls {
        let dir = sources
            .scratch
            .as_ref()
            .expect("made above for URLs")
            .path();
        let got = download(url, dir, checksum.as_ref(), run.events)?;
        // As BuildKit's key of an HTTP source: the body and the mtime it will carry.
        let mtime = got.last_modified.map_or("-".to_owned(), |m| m.to_string());
        prepared.push_input(sha256(format!("{}\n{mtime}", got.digest).as_bytes()));
        let extract = options.unpack == Some(true) && is_archive(&got.path)?;
        sources.downloads.push((got, extract));
    }
    prepared.add = sources;
    Ok(prepared)
}

/// Runs a prepared `ADD` onto `state`: `COPY`'s path, which calls [`add_entries`].
pub(super) fn run(
    run: &mut BuildRun<'_>,
    state: &mut StageState,
    copy: &Copy,
    _options: &AddOptions,
    prepared: &Prepared,
) -> crate::Result<Option<NewLayer>> {
    copy::run_copy(run, state, copy, prepared)
}

/// How `COPY` placed its sources, for [`add_entries`].
pub(super) struct Placement<'a> {
    /// The destination, symlinks of the image resolved.
    pub dest: &'a Destination,
    /// Whether the destination is a directory.
    pub into_dir: bool,
    /// `--chown`, resolved.
    pub owner: Option<(u32, u32)>,
    /// `--chmod`, parsed.
    pub chmod: Option<&'a Chmod>,
    /// The mtime of a download without `Last-Modified` and of implied directories.
    pub now: i64,
}

/// Turns the entries `COPY` placed into those of the `ADD`: each local archive's entry is
/// replaced by the archive's content extracted below the destination (owners from the
/// archive unless `--chown`, no `--chmod`), and each download is added, as a file
/// (`0600`, `--chown`, `--chmod`) or extracted. A later source's path replaces an earlier
/// one's.
pub(super) fn add_entries(
    prepared: &Prepared,
    entries: &mut Vec<Entry>,
    placement: &Placement<'_>,
) -> crate::Result<()> {
    let sources = &prepared.add;
    let Some(scratch) = &sources.scratch else {
        return Ok(());
    };
    let archives: HashSet<&PathBuf> = sources.archives.iter().collect();
    entries.retain(|entry| {
        !matches!(&entry.kind, EntryKind::File(Content::Host(host)) if archives.contains(host))
    });
    let options = ExtractOptions {
        owner: placement.owner,
        implied_mtime: placement.now,
    };
    let dest_dir = placement.dest.path();
    let mut added: Vec<Entry> = Vec::new();
    for (index, archive) in sources.archives.iter().enumerate() {
        let staging = staging_dir(scratch, index)?;
        added.extend(extract(archive, dest_dir, &staging, &options)?);
    }
    for (index, (got, unpack)) in sources.downloads.iter().enumerate() {
        if *unpack {
            let staging = staging_dir(scratch, sources.archives.len() + index)?;
            added.extend(extract(&got.path, dest_dir, &staging, &options)?);
            continue;
        }
        let path = match (placement.into_dir, dest_dir) {
            (false, Some(path)) => path.clone(),
            (_, Some(dir)) => LayerPath::new(dir.as_path().join(&got.file_name))?,
            (_, None) => LayerPath::new(&got.file_name)?,
        };
        let (uid, gid) = placement.owner.unwrap_or((0, 0));
        let mut entry = got.entry(path, placement.now).with_owner(uid, gid);
        if let Some(chmod) = placement.chmod {
            entry.mode = chmod.apply(entry.mode, false);
        }
        added.push(entry);
    }
    // What the archives and downloads put at a path wins over a copied file there.
    let replaced: HashSet<LayerPath> = added.iter().map(|entry| entry.path.clone()).collect();
    entries.retain(|entry| !replaced.contains(&entry.path));
    // Between archives and downloads, the later source wins.
    let mut seen = HashSet::new();
    let mut unique: Vec<Entry> = added
        .into_iter()
        .rev()
        .filter(|entry| seen.insert(entry.path.clone()))
        .collect();
    unique.reverse();
    entries.extend(unique);
    Ok(())
}

/// A new directory of `scratch` for the contents of the `index`th extracted archive.
fn staging_dir(scratch: &ScratchDir, index: usize) -> crate::Result<PathBuf> {
    let dir = scratch.path().join(format!("extract-{index}"));
    std::fs::create_dir(&dir).map_err(|source| ArchiveError::WriteStaging {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}
