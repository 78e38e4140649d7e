//! `COPY` (and `ADD` of local files): select the sources, place them with Docker's
//! destination rules, and write them as one layer.

use std::collections::{BTreeSet, HashSet};
use std::time::SystemTime;

use oci_spec::image::{Descriptor, Digest};

use crate::context::{Context, ContextError, Destination, Origin, SelectOptions, Selection};
use crate::layer::{
    self, Content, Entry, EntryKind, LayerOptions, LayerPath, LayerWriter, WrittenLayer,
    write_layer,
};
use crate::oci::Image;
use crate::plan::{Copy, CopySource, Platform, Source};
use crate::store::{ScratchDir, UnhashedBlobWriter};
use crate::user;

use super::add;
use super::chmod::Chmod;
use super::fs::{self, FsView, NodeKind};
use super::stage::{BuildRun, StageState};
use crate::executor::NewLayer;

/// The sources of a `COPY`, found before its cache key is known.
pub(super) struct Prepared {
    from: From,
    inputs: Vec<Digest>,
    /// Whether the content digest of the context sources waits for the layer, whose
    /// writer hashes each file as it copies it: `inputs` are complete only after
    /// [`run`], and the step's key is known only then.
    deferred: bool,
    /// What an `ADD` brings beyond `COPY`.
    pub add: add::AddSources,
}

/// Where the files of a `COPY` come from.
enum From {
    /// The build context, with what the path sources select (`None`: only inline ones).
    Context(Option<Selection>),
    /// An earlier stage.
    Stage(usize),
    /// An image.
    Image(Box<Image>),
}

impl Prepared {
    /// The digests of what the step reads, for its cache key.
    pub(super) fn inputs(&self) -> Vec<Digest> {
        self.inputs.clone()
    }

    /// Adds the digest of something else the step reads.
    pub(super) fn push_input(&mut self, digest: Digest) {
        self.inputs.push(digest);
    }
}

/// Finds the sources of `copy` (an `ADD` goes through [`add::prepare`]); with `defer`,
/// a `COPY` from the context leaves its digest to [`run`].
pub(super) fn prepare(
    run: &BuildRun<'_>,
    copy: &Copy,
    platform: &Platform,
    defer: bool,
) -> crate::Result<Prepared> {
    if let Some(options) = &copy.add {
        return add::prepare(run, copy, options, platform);
    }
    prepare_copy(run, copy, platform, defer)
}

/// Finds the sources of a `COPY`: selects and digests context sources (with `defer`,
/// [`run`] digests them); an earlier stage or an image stands for itself by its key or
/// digest.
pub(super) fn prepare_copy(
    run: &BuildRun<'_>,
    copy: &Copy,
    platform: &Platform,
    defer: bool,
) -> crate::Result<Prepared> {
    match &copy.from {
        Source::Context => {
            let paths = path_sources(copy);
            if paths.is_empty() {
                return Ok(Prepared {
                    from: From::Context(None),
                    inputs: Vec::new(),
                    deferred: false,
                    add: add::AddSources::default(),
                });
            }
            let mut selection = run.context.select(&paths, &select_options(copy))?;
            let inputs = if defer {
                Vec::new()
            } else {
                vec![selection.digest(run.hashes)?]
            };
            Ok(Prepared {
                from: From::Context(Some(selection)),
                inputs,
                deferred: defer,
                add: add::AddSources::default(),
            })
        }
        Source::Stage(index) => {
            let key = run.stage_image(*index)?.key.digest().clone();
            Ok(Prepared {
                from: From::Stage(*index),
                inputs: vec![key],
                deferred: false,
                add: add::AddSources::default(),
            })
        }
        Source::Image(reference) => {
            let image = run.image(reference, platform)?;
            Ok(Prepared {
                inputs: vec![image.digest().clone()],
                from: From::Image(Box::new(image)),
                deferred: false,
                add: add::AddSources::default(),
            })
        }
    }
}

/// The selection of a prepared `COPY` from the context, if it has one.
pub(super) fn context_selection(prepared: &Prepared) -> Option<&Selection> {
    match &prepared.from {
        From::Context(selection) => selection.as_ref(),
        _ => None,
    }
}

fn path_sources(copy: &Copy) -> Vec<&str> {
    copy.sources
        .iter()
        .filter_map(|source| match source {
            CopySource::Path(path) => Some(path.as_str()),
            _ => None,
        })
        .collect()
}

fn select_options(copy: &Copy) -> SelectOptions {
    SelectOptions {
        exclude: copy.exclude.clone(),
        parents: copy.parents,
    }
}

/// Runs a prepared `COPY` (an `ADD` goes through [`add::run`]) onto `state`; returns its
/// layer.
pub(super) fn run(
    run: &mut BuildRun<'_>,
    state: &mut StageState,
    copy: &Copy,
    prepared: &mut Prepared,
) -> crate::Result<Option<NewLayer>> {
    if let Some(options) = &copy.add {
        return add::run(run, state, copy, options, prepared);
    }
    run_copy(run, state, copy, prepared)
}

/// Runs a prepared `COPY`: the sources placed at the destination, with their owner,
/// mode and missing parent directories, as one layer.
pub(super) fn run_copy(
    run: &mut BuildRun<'_>,
    state: &mut StageState,
    copy: &Copy,
    prepared: &mut Prepared,
) -> crate::Result<Option<NewLayer>> {
    let store = run.builder.store.clone();
    state.fs.update(&store, &state.image.layers)?;
    // `--link`: the layer stands alone, so nothing below it is looked at.
    let unlinked = FsView::default();
    let view = if copy.link { &unlinked } else { &state.fs };
    let workdir = state
        .image
        .config
        .config
        .working_dir
        .clone()
        .unwrap_or_else(|| "/".to_owned());
    let mut dest = Destination::new(&copy.dest, &workdir)?;
    let resolved = view.resolve(dest.path())?;
    if resolved.as_ref() != dest.path() {
        let slash = if dest.is_dir() { "/" } else { "" };
        let path = resolved.as_ref().map_or(String::new(), ToString::to_string);
        dest = Destination::new(&format!("/{path}{slash}"), "/")?;
    }
    let exists_as_dir = dest.path().is_none_or(|path| {
        view.get(path)
            .is_some_and(|node| node.kind == NodeKind::Dir)
    });

    let from_image;
    let (selection, keep_owner) = match &prepared.from {
        From::Context(selection) => (selection.as_ref(), false),
        From::Stage(index) => {
            let layers = run.stage_image(*index)?.layers.clone();
            let dir = unpacked(run, &format!("stage-{index}"), &layers)?;
            let name = run.plan.stages[*index]
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}"));
            from_image = select_in(&dir, copy, Origin::Stage(name))?;
            (Some(&from_image), true)
        }
        From::Image(image) => {
            let layers = image.layers().to_vec();
            let dir = unpacked(run, &format!("image-{}", image.digest()), &layers)?;
            let reference = match &copy.from {
                Source::Image(reference) => reference.clone(),
                _ => image.digest().to_string(),
            };
            from_image = select_in(&dir, copy, Origin::Image(reference))?;
            (Some(&from_image), true)
        }
    };
    let inline: Vec<&crate::plan::InlineFile> = copy
        .sources
        .iter()
        .filter_map(|source| match source {
            CopySource::Inline(file) => Some(file),
            _ => None,
        })
        .collect();
    let matched =
        selection.as_ref().map_or(0, |s| s.matches.len()) + inline.len() + prepared.add.count();
    if matched == 0 {
        // Only wildcards, matching nothing: BuildKit copies nothing and makes no
        // directory.
        return Ok(None);
    }
    let into_dir = dest.is_dir() || exists_as_dir;
    if matched > 1 && !into_dir {
        return Err(ContextError::DestNotDir {
            dest: copy.dest.clone(),
        }
        .into());
    }
    let owner = match &copy.chown {
        Some(spec) => Some(resolve_user(run, state, spec)?),
        None => None,
    };
    let chmod = copy.chmod.as_deref().map(Chmod::parse).transpose()?;
    let adjust = |entry: &mut Entry| {
        match owner {
            Some((uid, gid)) => (entry.uid, entry.gid) = (uid, gid),
            None if !keep_owner => (entry.uid, entry.gid) = (0, 0),
            None => {}
        }
        if let Some(chmod) = &chmod
            && !matches!(entry.kind, EntryKind::Symlink(_))
        {
            entry.mode = chmod.apply(entry.mode, entry.kind == EntryKind::Dir);
        }
    };
    let mut extras = Vec::new();
    for file in inline {
        let path = match (into_dir, dest.path()) {
            (false, Some(path)) => path.clone(),
            (_, Some(dir)) => LayerPath::new(dir.as_path().join(&file.name))?,
            (_, None) => LayerPath::new(&file.name)?,
        };
        let mut entry = Entry::new(
            path,
            EntryKind::File(Content::Bytes(file.content.clone().into_bytes())),
        )
        .with_mode(0o644)
        .with_mtime(run.now_secs);
        adjust(&mut entry);
        extras.push(entry);
    }
    let dest_dir = if into_dir { dest.path().cloned() } else { None };

    if !prepared.add.is_empty() {
        // What an `ADD` extracts or downloads replaces copied entries: build the list.
        let mut entries = match selection {
            Some(selection) => selection.place(&dest, exists_as_dir)?,
            None => Vec::new(),
        };
        entries.iter_mut().for_each(adjust);
        entries.extend(extras);
        let placement = add::Placement {
            dest: &dest,
            into_dir,
            owner,
            chmod: chmod.as_ref(),
            now: run.now_secs,
            below: &fs::ImageFiles {
                store: &store,
                layers: if copy.link { &[] } else { &state.image.layers },
                view,
            },
        };
        add::add_entries(prepared, &mut entries, &placement)?;
        let parents = parent_dirs(
            view,
            &entries,
            dest_dir.as_ref(),
            owner.unwrap_or((0, 0)),
            run.now_secs,
        );
        entries.extend(parents);
        if entries.is_empty() {
            return Ok(None);
        }
        return write_entries(run, entries).map(Some);
    }

    // The selection is written as it is placed, one entry at a time, so that memory does
    // not grow with the number of files copied; the few other entries (inline files,
    // missing parents) are merged in by path.
    let selection = selection.filter(|selection| !selection.is_empty());
    let outer = selection.and_then(|s| s.outer_parent(&dest, exists_as_dir));
    let have: HashSet<&LayerPath> = extras.iter().map(|entry| &entry.path).collect();
    let starts = extras
        .iter()
        .filter_map(|entry| entry.path.parent())
        .chain(outer)
        .chain(dest_dir);
    let parents = missing_dirs(view, &have, starts, owner.unwrap_or((0, 0)), run.now_secs);
    extras.extend(parents);
    extras.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(pair) = extras.windows(2).find(|pair| pair[0].path == pair[1].path) {
        return Err(layer::LayerError::DuplicatePath {
            path: pair[0].path.to_string(),
        }
        .into());
    }
    let placed = match selection {
        Some(selection) => Some(selection.placed(&dest, exists_as_dir)?),
        None => None,
    };
    if placed.is_none() && extras.is_empty() {
        return Ok(None);
    }
    // A step no cache record can match gets its content digest from the files as they
    // are copied.
    let mut digest = selection
        .filter(|_| prepared.deferred)
        .map(|selection| selection.copied_digest(SystemTime::now(), run.hashes));
    let placed = placed.into_iter().flatten().map(|placed| {
        let (mut entry, source) = placed?;
        adjust(&mut entry);
        Ok((entry, Some(source)))
    });
    let store = &run.builder.store;
    let options = LayerOptions {
        hash_contents: digest.is_some(),
        ..run.layer_options.clone()
    };
    let mut writer = LayerWriter::new(store.begin_unhashed_blob()?, &options);
    for item in merge(extras, placed) {
        let (entry, source) = item?;
        writer.append(&entry)?;
        if let (Some(digest), Some(source)) = (&mut digest, source) {
            digest.add(source, writer.take_copied())?;
        }
    }
    let (blob, written) = writer.finish()?;
    let layer = committed(blob, written)?;
    if let Some(digest) = digest {
        prepared.inputs = vec![digest.finish()];
    }
    Ok(Some(layer))
}

/// The entries of `extras` and `placed`, both sorted by path, in one sorted sequence,
/// each placed one with what comes with it.
///
/// # Errors
///
/// The items fail with [`layer::LayerError::DuplicatePath`] for a path in both, and with
/// the errors of `placed`.
fn merge<T>(
    extras: Vec<Entry>,
    placed: impl Iterator<Item = crate::Result<(Entry, Option<T>)>>,
) -> impl Iterator<Item = crate::Result<(Entry, Option<T>)>> {
    let mut extras = extras.into_iter().peekable();
    let mut placed = placed.peekable();
    std::iter::from_fn(move || {
        let extra_first = match (extras.peek(), placed.peek()) {
            (None, None) => return None,
            (_, Some(Err(_))) | (None, Some(_)) => false,
            (Some(_), None) => true,
            (Some(extra), Some(Ok((next, _)))) => {
                if extra.path == next.path {
                    return Some(Err(layer::LayerError::DuplicatePath {
                        path: next.path.to_string(),
                    }
                    .into()));
                }
                extra.path < next.path
            }
        };
        if extra_first {
            extras.next().map(|extra| Ok((extra, None)))
        } else {
            placed.next()
        }
    })
}

/// The owner that `spec` (`user[:group]`, from `--chown` or the USER of a new WORKDIR)
/// gives files in the image of `state`, as BuildKit resolves it for file operations: a
/// numeric user without a group takes its own number as the group (the Dockerfile
/// reference: "a UID without GID will use the same numeric UID as the GID"), a name takes
/// its primary group from the image's passwd, and an empty group (`user:`) is group 0.
pub(super) fn resolve_user(
    run: &BuildRun<'_>,
    state: &StageState,
    spec: &str,
) -> crate::Result<(u32, u32)> {
    let numeric = spec
        .split(':')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let (passwd, group) = if numeric {
        (None, None)
    } else {
        let store = &run.builder.store;
        let layers = &state.image.layers;
        let read = |path: &str| -> crate::Result<Option<String>> {
            let path = LayerPath::new(path)?;
            Ok(
                fs::read_file(store, layers, &path, crate::user::FILE_LIMIT)?
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            )
        };
        (read("etc/passwd")?, read("etc/group")?)
    };
    let user = user::resolve(spec, passwd.as_deref(), group.as_deref())?;
    let gid = match spec.split_once(':') {
        Some((_, "")) => 0,
        Some(_) => user.gid,
        None if numeric => user.uid,
        None => user.gid,
    };
    Ok((user.uid, gid))
}

/// The directories above `entries` (and `dest`, a destination directory) that the
/// entries do not hold: those in the image as they are, missing ones new (`0o755`,
/// `owner`, `mtime`).
pub(super) fn parent_dirs(
    view: &FsView,
    entries: &[Entry],
    dest: Option<&LayerPath>,
    owner: (u32, u32),
    mtime: i64,
) -> Vec<Entry> {
    let have: HashSet<&LayerPath> = entries.iter().map(|entry| &entry.path).collect();
    let starts = entries
        .iter()
        .filter_map(|entry| entry.path.parent())
        .chain(dest.cloned());
    missing_dirs(view, &have, starts, owner, mtime)
}

/// The directories from each of `starts` up to the root that are not in `have`: those
/// in the image as they are, missing ones new (`0o755`, `owner`, `mtime`).
fn missing_dirs(
    view: &FsView,
    have: &HashSet<&LayerPath>,
    starts: impl Iterator<Item = LayerPath>,
    owner: (u32, u32),
    mtime: i64,
) -> Vec<Entry> {
    let mut dirs: BTreeSet<LayerPath> = BTreeSet::new();
    for start in starts {
        let mut next = Some(start);
        while let Some(dir) = next {
            if have.contains(&dir) || dirs.contains(&dir) {
                break;
            }
            next = dir.parent();
            dirs.insert(dir);
        }
    }
    dirs.into_iter()
        .map(|dir| match view.get(&dir) {
            Some(node) if node.kind == NodeKind::Dir => Entry::new(dir, EntryKind::Dir)
                .with_mode(node.mode)
                .with_owner(node.uid, node.gid)
                .with_mtime(node.mtime),
            _ => Entry::new(dir, EntryKind::Dir)
                .with_mode(0o755)
                .with_owner(owner.0, owner.1)
                .with_mtime(mtime),
        })
        .collect()
}

/// Writes `entries` as a layer blob into the store.
pub(super) fn write_entries(run: &BuildRun<'_>, entries: Vec<Entry>) -> crate::Result<NewLayer> {
    let store = &run.builder.store;
    let (blob, written) = write_layer(store.begin_unhashed_blob()?, entries, &run.layer_options)?;
    committed(blob, written)
}

/// Commits the blob of a layer just written.
fn committed(blob: UnhashedBlobWriter, written: WrittenLayer) -> crate::Result<NewLayer> {
    blob.commit_as(&written.digest)?;
    Ok(NewLayer {
        descriptor: Descriptor::new(written.media_type, written.size, written.digest),
        diff_id: written.diff_id,
        chunks: written.chunks,
        reused: written.reused,
        corrupt_chunks: written.corrupt_chunks,
    })
}

/// The directory where `layers` are unpacked for this build, unpacking them the first
/// time; `name` identifies them.
fn unpacked(
    run: &BuildRun<'_>,
    name: &str,
    layers: &[Descriptor],
) -> crate::Result<std::path::PathBuf> {
    let lock = || {
        run.unpacked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(dir) = lock().get(name) {
        return Ok(dir.path().to_owned());
    }
    // Unpacked without holding the lock, so other stages go on; when two stages unpack
    // the same layers at once, the first one kept is used and the other dropped.
    let store = &run.builder.store;
    let dir: ScratchDir = store.temp_dir()?;
    for descriptor in layers {
        store.read_verified(descriptor.digest(), |blob| -> crate::Result<_> {
            let tar = layer::decompress(blob, Some(descriptor.media_type().as_ref()))?;
            Ok(layer::unpack(tar, dir.path())?)
        })?;
    }
    let mut unpacked = lock();
    let kept = unpacked.entry(name.to_owned()).or_insert(dir);
    Ok(kept.path().to_owned())
}

/// Selects the path sources of `copy` in an unpacked image at `dir`, which holds
/// `origin`.
fn select_in(dir: &std::path::Path, copy: &Copy, origin: Origin) -> crate::Result<Selection> {
    let context = Context::without_ignore_file(dir, origin)?;
    Ok(context.select(&path_sources(copy), &select_options(copy))?)
}
