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
//! from them). A git source is resolved to its commit (the key's input) with
//! `git ls-remote`, and on a miss checked out and copied into the destination directory,
//! without `.git` unless `--keep-git-dir`, every file with the commit's time.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::add::{ArchiveError, Below, ExtractOptions, extract, extract_from, is_archive};
use crate::archive::reads_as_tar;
use crate::context::{Context, Destination, Origin, SelectOptions};
use crate::digest::sha256;
use crate::fetch::{Checksum, Download, FetchError, GitSource, Resolved, download};
use crate::layer::{Content, Entry, EntryKind, LayerPath, TreeFile};
use crate::net::NetOptions;
use crate::plan::{AddOptions, Copy, CopySource, Platform};
use crate::store::ScratchDir;

use super::Fetched;
use super::chmod::Chmod;
use super::copy::{self, Prepared};
use super::stage::{BuildRun, StageState};
use crate::executor::NewLayer;

/// What an `ADD` brings beyond `COPY`, found by [`prepare`].
#[derive(Debug, Default)]
pub(super) struct AddSources {
    /// The matched context files that are archives, in match order.
    archives: Vec<TreeFile>,
    /// The downloaded URLs, in source order, each with whether it is extracted.
    downloads: Vec<(Download, bool)>,
    /// The git sources, in source order, with their commits.
    gits: Vec<(GitSource, Resolved)>,
    /// The bounds of the waits of the git sources' checkouts.
    net: NetOptions,
    /// `--keep-git-dir`.
    keep_git_dir: bool,
    /// The URLs and git sources, each pinned by what it gave.
    pub(super) fetched: Vec<Fetched>,
    /// Holds the downloads and the extracted contents until the layer is written.
    scratch: Option<ScratchDir>,
}

impl AddSources {
    /// Whether the `ADD` brings nothing beyond `COPY` (no archive, download or git
    /// source), so that [`add_entries`] leaves the entries as they are.
    pub(super) fn is_empty(&self) -> bool {
        self.scratch.is_none()
    }

    /// How many sources these add to the selection's matches (which hold the archives),
    /// for the rule that several need a directory.
    pub(super) fn count(&self) -> usize {
        self.downloads.len() + self.gits.len()
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
    let mut prepared = copy::prepare_copy(run, copy, platform, false)?;
    let mut sources = AddSources {
        keep_git_dir: options.keep_git_dir,
        net: run.builder.http.options().clone(),
        ..AddSources::default()
    };
    if options.unpack != Some(false)
        && let Some(selection) = copy::context_selection(&prepared)
    {
        for matched in selection.matches.iter().filter(|m| !m.is_dir) {
            let Some(path) = &matched.resolved else {
                continue;
            };
            // The file the entry `COPY` places reads, through the context's root.
            let file = selection.file(path);
            let read_err = |source| ArchiveError::ReadArchive {
                path: file.shown(),
                source,
            };
            let opened = file.open().map_err(read_err)?;
            if opened.metadata().map_err(read_err)?.is_file()
                && reads_as_tar(opened).map_err(read_err)?
            {
                sources.archives.push(file);
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
    let gits: Vec<&str> = copy
        .sources
        .iter()
        .filter_map(|source| match source {
            CopySource::Git(url) => Some(url.as_str()),
            _ => None,
        })
        .collect();
    // A URL's checksum is a digest; a git source's, a commit id or its prefix.
    let checksum: Option<Checksum> = match &options.checksum {
        Some(checksum) if !urls.is_empty() => Some(checksum.parse()?),
        _ => None,
    };
    if !urls.is_empty() || !gits.is_empty() || !sources.archives.is_empty() {
        sources.scratch = Some(run.builder.store.temp_dir()?);
    }
    for url in gits {
        let git = GitSource::parse(url)?;
        let resolved = git.resolve(&sources.net)?;
        if let Some(expected) = options.checksum.as_deref().filter(|_| checksum.is_none())
            && (expected.is_empty() || !resolved.commit.starts_with(expected))
        {
            return Err(FetchError::GitCommitMismatch {
                remote: git.remote().to_owned(),
                expected: expected.to_owned(),
                actual: resolved.commit,
            }
            .into());
        }
        prepared.push_input(sha256(format!("git\n{}", resolved.commit).as_bytes()));
        sources.fetched.push(Fetched {
            url: url.to_owned(),
            algorithm: "sha1",
            hex: resolved.commit.clone(),
        });
        sources.gits.push((git, resolved));
    }
    for url in urls {
        let dir = sources
            .scratch
            .as_ref()
            .expect("made above for URLs")
            .path();
        let got = download(url, dir, checksum.as_ref(), &run.builder.http, run.events)?;
        // As BuildKit's key of an HTTP source: the body and the mtime it will carry.
        let mtime = got.last_modified.map_or("-".to_owned(), |m| m.to_string());
        prepared.push_input(sha256(format!("{}\n{mtime}", got.digest).as_bytes()));
        sources.fetched.push(Fetched {
            url: url.to_owned(),
            algorithm: "sha256",
            hex: got.digest.digest().to_owned(),
        });
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
    prepared: &mut Prepared,
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
    /// The image below the layer, where an archive's hard links to paths it does not
    /// hold find their files.
    pub below: &'a dyn Below,
}

/// Turns the entries `COPY` placed into those of the `ADD`: each local archive's entry is
/// replaced by the archive's content extracted below the destination (owners from the
/// archive unless `--chown`, no `--chmod`), and each download is added, as a file
/// (`0600`, `--chown`, `--chmod`) or extracted. A later source's path replaces an earlier
/// one's. Each git source's commit is checked out and copied into the destination
/// directory.
pub(super) fn add_entries(
    prepared: &Prepared,
    entries: &mut Vec<Entry>,
    placement: &Placement<'_>,
) -> crate::Result<()> {
    let sources = &prepared.add;
    let Some(scratch) = &sources.scratch else {
        return Ok(());
    };
    let archives: HashSet<&LayerPath> = sources.archives.iter().map(TreeFile::path).collect();
    entries.retain(|entry| {
        !matches!(&entry.kind, EntryKind::File(Content::Tree(file)) if archives.contains(file.path()))
    });
    let options = ExtractOptions {
        owner: placement.owner,
        implied_mtime: placement.now,
    };
    let dest_dir = placement.dest.path();
    let mut added: Vec<Entry> = Vec::new();
    for (index, archive) in sources.archives.iter().enumerate() {
        let staging = staging_dir(scratch, index)?;
        let opened = archive.open().map_err(|source| ArchiveError::ReadArchive {
            path: archive.shown(),
            source,
        })?;
        added.extend(extract_from(
            opened,
            &archive.shown(),
            dest_dir,
            placement.below,
            &staging,
            &options,
        )?);
    }
    for (index, (got, unpack)) in sources.downloads.iter().enumerate() {
        if *unpack {
            let staging = staging_dir(scratch, sources.archives.len() + index)?;
            added.extend(extract(
                &got.path,
                dest_dir,
                placement.below,
                &staging,
                &options,
            )?);
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
    let dest = match dest_dir {
        Some(dir) => Destination::new(&format!("/{dir}/"), "/")?,
        None => Destination::new("/", "/")?,
    };
    for (index, (git, resolved)) in sources.gits.iter().enumerate() {
        let dir = scratch.path().join(format!("git-{index}"));
        let checkout = git.checkout(resolved, &dir, &sources.net)?;
        if !(sources.keep_git_dir || git.keeps_git_dir()) {
            checkout.remove_git_dirs()?;
        }
        let tree = Context::without_ignore_file(&checkout.root, Origin::Git(git.remote().into()))?;
        let selection = tree.select(&["."], &SelectOptions::default())?;
        for mut entry in selection.place(&dest, true)? {
            let (uid, gid) = placement.owner.unwrap_or((0, 0));
            (entry.uid, entry.gid, entry.mtime) = (uid, gid, checkout.commit_time);
            if let Some(chmod) = placement.chmod
                && !matches!(entry.kind, EntryKind::Symlink(_))
            {
                entry.mode = chmod.apply(entry.mode, entry.kind == EntryKind::Dir);
            }
            added.push(entry);
        }
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
