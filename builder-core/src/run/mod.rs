//! `RUN` steps: a command run in a sandbox over the image's filesystem, its changes
//! captured as a layer.
//!
//! A [`Runner`] holds what stays the same for every step of a build (the store, the
//! sandbox, how layers are written, the secrets given to the build); [`Runner::run`] runs
//! one [`RunStep`] and returns the layer it wrote, or `None` when the command changed
//! nothing.
//!
//! # How a step runs
//! The parent image's layers are unpacked once into the store ([`crate::rootfs`]) and
//! stacked read-only as the lower directories of an overlay mount whose upper directory
//! is a fresh scratch directory of the store; after the command, the upper directory holds
//! exactly its changes, and is streamed into the layer ([`write_upper`]). Where the kernel refuses the overlay mount, the
//! layers are unpacked into one scratch directory, its metadata recorded ([`Snapshot`]),
//! and the command runs in it directly; the changes are then found by comparing.
//! `/etc/resolv.conf`, `/etc/hosts` and mount targets are bound in by the sandbox and
//! never reach the layer.
//!
//! The command gets the image's `ENV` and the build arguments in effect, runs as the
//! image's `USER` (resolved in the image's `/etc/passwd` and `/etc/group`) in its
//! `WORKDIR` (created if missing); the shell form runs through the image's `SHELL`. Its
//! output streams to [`Events::step_output`] as it comes. A non-zero exit is
//! [`RunError::Failed`], with the last lines of the output; nothing is written to the
//! store then.

mod agent;
mod copy;
mod error;
mod executor;
mod image_file;
mod mounts;
mod output;
mod parents;
mod process;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use oci_spec::image::{Descriptor, Digest};

pub use error::RunError;
pub use mounts::StepInputs;
pub(crate) use mounts::{cache_identity, cache_path};

use crate::events::{Events, StepRef, Stream};
use crate::exec::{
    ExecError, IdMapping, Pause, Rootfs, Sandbox, SandboxSpec, Session, error_chain,
    in_user_namespace,
};
use crate::layer::{
    Entry, EntryKind, LayerOptions, OverlayXattrs, Snapshot, WrittenLayer, write_layer, write_upper,
};
use crate::oci::RunConfig;
use crate::plan::Run;
use crate::rootfs::LayerDirs;
use crate::store::{ScratchDir, Store};
use crate::user::resolve;

/// How the step's filesystem is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RootfsMode {
    /// An overlay over the unpacked layers, or a copy where overlayfs is unavailable.
    #[default]
    Auto,
    /// Always an overlay mount (fails where the kernel refuses it).
    Overlay,
    /// Always a copy of the layers and a snapshot diff.
    Copy,
}

/// Set once an overlay mount failed in this process: later steps go straight to the copy.
static OVERLAY_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// One `RUN` step with the layers it runs over and mounts: what [`Runner::run`] takes
/// (the build engine hands its executor a [`crate::executor::RunInput`] instead).
#[derive(Debug, Clone, Copy)]
pub struct RunStep<'a> {
    /// The parent image's layers, bottom first (from its manifest).
    pub layers: &'a [Descriptor],
    /// Their `diff_id`s, bottom first (from its config).
    pub diff_ids: &'a [Digest],
    /// The parent image's run config: `Env`, `User`, `WorkingDir`, `Shell`.
    pub config: &'a RunConfig,
    /// The step.
    pub run: &'a Run,
    /// The layers of the stages built so far, by plan index (`None`: not built), for
    /// `--mount=type=bind,from=<stage>`.
    pub stages: &'a [Option<ImageLayers<'a>>],
    /// The layers of the images `--mount=from=<image>` names, by reference.
    pub images: &'a [(&'a str, ImageLayers<'a>)],
}

/// The layers of an image that a step mounts.
#[derive(Debug, Clone, Copy)]
pub struct ImageLayers<'a> {
    /// The layers, bottom first (from its manifest).
    pub layers: &'a [Descriptor],
    /// Their `diff_id`s, bottom first (from its config).
    pub diff_ids: &'a [Digest],
}

/// Runs `RUN` steps against one store.
#[derive(Debug, Clone)]
pub struct Runner {
    store: Store,
    sandbox: Sandbox,
    layer: LayerOptions,
    mode: RootfsMode,
    inputs: StepInputs,
    hostname: String,
}

/// What the sandbox runs over, with what must live until the layer is written.
struct Prepared {
    rootfs: Rootfs,
    /// The layer directories (top first) or the copy, to read `/etc/passwd` from.
    layers: Vec<PathBuf>,
    /// How the changes are found afterwards.
    capture: Capture,
    scratch: ScratchDir,
}

impl Drop for Prepared {
    /// Removes the step's scratch directory even where the store's plain removal cannot:
    /// overlayfs leaves its work directory with mode 000, and an image may hold read-only
    /// directories, which only root could delete as they are. A failure leaves a temp for
    /// [`Store::prune`].
    fn drop(&mut self) {
        let _ = crate::tree::remove_tree(self.scratch.path());
    }
}

/// How a step's changes are found.
enum Capture {
    /// Read from the overlay's upper directory.
    Upper {
        upper: PathBuf,
        xattrs: OverlayXattrs,
    },
    /// Compared with the snapshot of the copy taken before the run.
    Snapshot { root: PathBuf, before: Snapshot },
    /// Rootless with subordinate ids: the copy was made and recorded by a process in the
    /// user namespace (the step's users' files may be unreadable to the caller), paused
    /// while the step runs; it then compares and writes the layer.
    Session(Session),
}

impl Runner {
    /// A runner for `store` with the native sandbox, default layer options (gzip),
    /// [`RootfsMode::Auto`] and no secrets.
    pub fn new(store: &Store) -> Runner {
        Runner {
            store: store.clone(),
            sandbox: Sandbox::native(),
            layer: LayerOptions::default(),
            mode: RootfsMode::Auto,
            inputs: StepInputs::default(),
            hostname: "buildkitsandbox".to_owned(),
        }
    }

    /// Uses `sandbox` (for example [`Sandbox::runc`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Runner {
        self.sandbox = sandbox;
        self
    }

    /// Writes layers with these options (compression, `SOURCE_DATE_EPOCH` clamping).
    pub fn layer_options(mut self, options: LayerOptions) -> Runner {
        self.layer = options;
        self
    }

    /// Chooses how the step's filesystem is made.
    pub fn rootfs_mode(mut self, mode: RootfsMode) -> Runner {
        self.mode = mode;
        self
    }

    /// Gives the steps secrets, SSH agents and the build context (`--secret`, `--ssh`,
    /// `--mount=type=bind`).
    pub fn inputs(mut self, inputs: StepInputs) -> Runner {
        self.inputs = inputs;
        self
    }

    /// Runs one step; returns its layer, written to the store, or `None` when the command
    /// changed no file. `step` names the step in the events.
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] or [`RunError::Killed`] when the command fails, and the errors
    /// of preparing the filesystem, the sandbox and the layer. Nothing is left in the
    /// store but unpacked base layers.
    pub fn run(
        &self,
        input: &RunStep<'_>,
        step: &StepRef,
        events: &dyn Events,
    ) -> Result<Option<WrittenLayer>, RunError> {
        self.run_with(input, &self.layer, step, events)
    }

    /// [`Runner::run`] writing the layer with `layer` rather than the runner's options.
    fn run_with(
        &self,
        input: &RunStep<'_>,
        layer: &LayerOptions,
        step: &StepRef,
        events: &dyn Events,
    ) -> Result<Option<WrittenLayer>, RunError> {
        let _lease = self.store.lease()?;
        // Chroot isolation mounts nothing of its own: it runs in the copy.
        let overlay = !self.sandbox.is_chroot()
            && match self.mode {
                RootfsMode::Overlay => true,
                RootfsMode::Copy => false,
                RootfsMode::Auto => !OVERLAY_UNAVAILABLE.load(Ordering::Relaxed),
            };
        if overlay {
            let prepared = self.prepare_overlay(input, events)?;
            match self.execute(input, prepared, layer, step, events) {
                Err(RunError::Exec(ExecError::Mount { what, .. }))
                    if what == "overlay" && self.mode == RootfsMode::Auto =>
                {
                    OVERLAY_UNAVAILABLE.store(true, Ordering::Relaxed);
                    events
                        .warning("overlayfs is unavailable: RUN steps run in a copy of the image");
                }
                other => return other,
            }
        }
        let prepared = self.prepare_copy(input, layer)?;
        self.execute(input, prepared, layer, step, events)
    }

    /// An overlay over the unpacked layers, with a fresh upper directory.
    fn prepare_overlay(
        &self,
        input: &RunStep<'_>,
        events: &dyn Events,
    ) -> Result<Prepared, RunError> {
        let dirs = LayerDirs::open(&self.store)?;
        let layers = dirs.prepare(input.layers, input.diff_ids, events)?;
        let scratch = self.store.temp_dir()?;
        let upper = scratch.path().join("upper");
        let work = scratch.path().join("work");
        for dir in [&upper, &work] {
            std::fs::create_dir(dir).map_err(|source| RunError::Prepare {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Prepared {
            rootfs: Rootfs::Overlay {
                lower: layers.clone(),
                upper: upper.clone(),
                work,
            },
            layers,
            capture: Capture::Upper {
                upper,
                xattrs: dirs.xattrs(),
            },
            scratch,
        })
    }

    /// The layers unpacked into one directory, with a snapshot of it.
    fn prepare_copy(
        &self,
        input: &RunStep<'_>,
        layer_options: &LayerOptions,
    ) -> Result<Prepared, RunError> {
        let scratch = self.store.temp_dir()?;
        let root = scratch.path().join("rootfs");
        std::fs::create_dir(&root).map_err(|source| RunError::Prepare {
            path: root.clone(),
            source,
        })?;
        // Chroot isolation maps at most the caller: its files are the caller's to read.
        let mapping = match self.sandbox.is_chroot() {
            true => None,
            false => IdMapping::subordinate()?,
        };
        let capture = match mapping {
            None => {
                copy::unpack_layers(&self.store, input.layers, &root)?;
                let before = Snapshot::capture(&root)?;
                Capture::Snapshot {
                    root: root.clone(),
                    before,
                }
            }
            Some(mapping) => {
                let mut session = Session::start(&mapping, |pause: &mut Pause| {
                    let before = copy::unpack_layers(&self.store, input.layers, &root)
                        .and_then(|()| Ok(Snapshot::capture(&root)?))
                        .map_err(|error| error_chain(&error))?;
                    pause.pause()?;
                    let written = self.write_changes(snapshot_diff(&before, &root), layer_options);
                    // Here, where it is allowed, rather than from another process later.
                    let _ = crate::tree::remove_tree(&root);
                    written_bytes(written)
                })?;
                session.paused()?;
                Capture::Session(session)
            }
        };
        Ok(Prepared {
            rootfs: Rootfs::Directory(root.clone()),
            layers: vec![root],
            capture,
            scratch,
        })
    }

    /// Runs the command over `prepared` and writes its changes as a layer.
    fn execute(
        &self,
        input: &RunStep<'_>,
        mut prepared: Prepared,
        layer_options: &LayerOptions,
        step: &StepRef,
        events: &dyn Events,
    ) -> Result<Option<WrittenLayer>, RunError> {
        let config = input.config;
        let read = |path: &str| {
            image_file::read(&prepared.layers, path).map_err(|source| RunError::ReadImageFile {
                path: format!("/{path}"),
                source,
            })
        };
        let user_spec = config
            .user
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("0");
        let user = resolve(
            user_spec,
            read("etc/passwd")?.as_deref(),
            read("etc/group")?.as_deref(),
        )?;
        let argv = process::argv(config, input.run);
        let command = process::shown(&argv);
        let cwd = config
            .working_dir
            .as_deref()
            .filter(|dir| !dir.is_empty())
            .unwrap_or("/");
        let mut builder = SandboxSpec::builder(prepared.rootfs.clone(), argv)
            .env(process::env(config, input.run, &user.home))
            .cwd(cwd)
            .user(user.uid, user.gid, user.groups.clone())
            .hostname(self.hostname.clone())
            .extra_hosts(
                input
                    .run
                    .extra_hosts
                    .iter()
                    .map(|pair| (pair.key.clone(), pair.value.clone())),
            )
            .network(input.run.network)
            .security(input.run.security);
        for file in &input.run.files {
            builder = builder.pipe_file(file.name.clone(), file.content.clone(), 0o755);
        }
        let mounts = mounts::resolve(&self.store, &self.inputs, input, events)?;
        builder = mounts.apply(builder);
        let spec = builder.build()?;

        let mut tail = output::Tail::default();
        let sandbox = self
            .sandbox
            .clone()
            .scratch_dir(prepared.scratch.path().to_owned());
        let status = sandbox.run(&spec, |stream: Stream, bytes: &[u8]| {
            tail.push(bytes);
            events.step_output(step, stream, bytes);
        })?;
        drop(mounts);
        if let Some(code) = status.code() {
            if code != 0 {
                return Err(RunError::Failed {
                    command,
                    code,
                    output: tail.lines(),
                });
            }
        } else {
            use std::os::unix::process::ExitStatusExt as _;
            return Err(RunError::Killed {
                command,
                signal: status.signal().unwrap_or(0),
                output: tail.lines(),
            });
        }

        match (&mut prepared.capture, IdMapping::subordinate()?) {
            (Capture::Session(session), _) => {
                session.resume()?;
                written_answer(&session.finish()?)
            }
            (Capture::Upper { upper, xattrs }, Some(mapping)) => {
                // The step's users' files may be unreadable to the caller.
                let scratch = prepared.scratch.path();
                let answer = in_user_namespace(&mapping, || {
                    let written = self.write_upper(upper, *xattrs, |_| {}, layer_options);
                    // Here, where it is allowed, rather than from another process later.
                    let _ = crate::tree::remove_tree(scratch);
                    written_bytes(written.map(|layer| layer.map(|(layer, _)| layer)))
                })?;
                written_answer(&answer)
            }
            (Capture::Upper { upper, xattrs }, None) => {
                let mapping = IdMapping::detect()?;
                let inside = |entry: &mut Entry| owner_inside(entry, &mapping);
                let Some((layer, whole)) =
                    self.write_upper(upper, *xattrs, inside, layer_options)?
                else {
                    return Ok(None);
                };
                // The upper directory is now what unpacking the layer gives, unless the
                // layer maps owners, clamps mtimes or left a socket out.
                let same = whole
                    && matches!(mapping, IdMapping::Host)
                    && layer_options.source_date_epoch.is_none();
                if same {
                    self.keep_upper(input, &layer, upper, events);
                }
                Ok(Some(layer))
            }
            (Capture::Snapshot { root, before }, _) => {
                let mut entries = snapshot_diff(before, root);
                if let Ok(entries) = &mut entries {
                    owners_inside(entries, &IdMapping::detect()?);
                }
                self.write_changes(entries, layer_options)
            }
        }
    }

    /// Writes the changes `entries` as a layer blob of the store; `None` when there are
    /// none.
    fn write_changes(
        &self,
        entries: Result<Vec<Entry>, crate::layer::LayerError>,
        layer_options: &LayerOptions,
    ) -> Result<Option<WrittenLayer>, RunError> {
        let entries = entries?;
        if entries.is_empty() {
            return Ok(None);
        }
        let blob = self.store.begin_unhashed_blob()?;
        let (blob, layer) = write_layer(blob, entries, layer_options)?;
        blob.commit_as(&layer.digest)?;
        Ok(Some(layer))
    }

    /// Writes the changes in the overlay's upper directory `upper` as a layer blob of the
    /// store, each entry given to `adjust` first; `None` when there are none, else the
    /// layer and whether it holds every path of `upper`.
    fn write_upper(
        &self,
        upper: &Path,
        xattrs: OverlayXattrs,
        adjust: impl FnMut(&mut Entry),
        layer_options: &LayerOptions,
    ) -> Result<Option<(WrittenLayer, bool)>, RunError> {
        let blob = self.store.begin_unhashed_blob()?;
        let Some(written) = write_upper(upper, xattrs, adjust, blob, layer_options)? else {
            return Ok(None);
        };
        written.sink.commit_as(&written.layer.digest)?;
        Ok(Some((written.layer, written.whole)))
    }

    /// Keeps `upper`, whose changes are `layer`, as that layer's unpacked directory for the
    /// steps that run over it, rather than removing it and unpacking the layer again. A
    /// failure costs only that: the step is done, so it becomes a warning.
    fn keep_upper(
        &self,
        input: &RunStep<'_>,
        layer: &WrittenLayer,
        upper: &Path,
        events: &dyn Events,
    ) {
        let descriptor =
            Descriptor::new(layer.media_type.clone(), layer.size, layer.digest.clone());
        let layers = [input.layers, &[descriptor]].concat();
        let diff_ids = [input.diff_ids, std::slice::from_ref(&layer.diff_id)].concat();
        let kept =
            LayerDirs::open(&self.store).and_then(|dirs| dirs.adopt(&layers, &diff_ids, upper));
        if let Err(error) = kept {
            events.warning(&format!(
                "the layer {} will be unpacked again for the next step: {}",
                layer.digest,
                error_chain(&error)
            ));
        }
    }
}

/// The changes in the copy `root` since `before`, with the parent directories of each.
fn snapshot_diff(before: &Snapshot, root: &Path) -> Result<Vec<Entry>, crate::layer::LayerError> {
    let mut entries = before.diff(root)?;
    parents::add_parents(&mut entries, root)?;
    Ok(entries)
}

/// The answer of a process in the user namespace that wrote a step's layer.
fn written_bytes(written: Result<Option<WrittenLayer>, RunError>) -> Result<Vec<u8>, String> {
    let wire = written
        .map_err(|error| error_chain(&error))?
        .map(WrittenWire::from);
    Ok(serde_json::to_vec(&wire).expect("a written layer encodes as JSON"))
}

/// Decodes [`written_bytes`].
fn written_answer(answer: &[u8]) -> Result<Option<WrittenLayer>, RunError> {
    let wire: Option<WrittenWire> =
        serde_json::from_slice(answer).map_err(|error| ExecError::NamespaceWork {
            message: format!("unexpected answer: {error}"),
        })?;
    Ok(wire.map(WrittenLayer::from))
}

/// A [`WrittenLayer`] as the user namespace's process sends it.
#[derive(serde::Serialize, serde::Deserialize)]
struct WrittenWire {
    diff_id: Digest,
    digest: Digest,
    size: u64,
    tar_size: u64,
    media_type: oci_spec::image::MediaType,
    chunks: Option<crate::layer::ChunkIndex>,
    reused: u64,
    corrupt_chunks: u64,
}

impl From<WrittenLayer> for WrittenWire {
    fn from(layer: WrittenLayer) -> Self {
        WrittenWire {
            diff_id: layer.diff_id,
            digest: layer.digest,
            size: layer.size,
            tar_size: layer.tar_size,
            media_type: layer.media_type,
            chunks: layer.chunks,
            reused: layer.reused,
            corrupt_chunks: layer.corrupt_chunks,
        }
    }
}

impl From<WrittenWire> for WrittenLayer {
    fn from(wire: WrittenWire) -> Self {
        WrittenLayer {
            diff_id: wire.diff_id,
            digest: wire.digest,
            size: wire.size,
            tar_size: wire.tar_size,
            media_type: wire.media_type,
            chunks: wire.chunks,
            reused: wire.reused,
            corrupt_chunks: wire.corrupt_chunks,
        }
    }
}

/// Gives the entries read from the host the owners the sandbox saw: in a user namespace
/// the host sees the caller's and subordinate ids where the step wrote root, `1000`, ….
/// Whiteouts and opaque markers carry no owner of the host.
fn owners_inside(entries: &mut [Entry], mapping: &IdMapping) {
    for entry in entries {
        owner_inside(entry, mapping);
    }
}

/// [`owners_inside`] for one entry.
fn owner_inside(entry: &mut Entry, mapping: &IdMapping) {
    if !matches!(entry.kind, EntryKind::Whiteout | EntryKind::Opaque) {
        (entry.uid, entry.gid) = mapping.owner_inside(entry.uid, entry.gid);
    }
}
