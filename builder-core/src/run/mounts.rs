//! `RUN --mount`: what each mount of the plan becomes in the sandbox.
//!
//! - `tmpfs`: an empty tmpfs.
//! - `secret`: a read-only file on a tmpfs private to the sandbox (and/or an environment
//!   variable), from the secrets given to the build; never on disk, in a layer or a key.
//! - `ssh`: a socket forwarding to the agent given to the build ([`AgentProxy`]), with
//!   the mount's mode and owner, bound in, with `SSH_AUTH_SOCK` set.
//! - `cache`: a directory kept in the store (`data/cache-mounts/<sha256 of the id>`, of
//!   the id, mode and owner when these are not the defaults), created with the mount's
//!   mode and owner (and the content of `from`, a directory of
//!   the context, a stage or an image), persisting across builds. `sharing=locked`
//!   waits for other users of the cache; `private` uses it when no other step holds it and
//!   an empty directory otherwise; `shared` uses it at once.
//! - `bind`: a path of the build context ([`StepInputs::context`]), of an earlier stage
//!   or of an image ([`RunStep::images`], resolved by the build like a base image),
//!   read-only; with `rw` a copy of it, dropped after the step. A stage or an image is
//!   unpacked once into the store ([`LayerDirs::merged`]) and shared by every step that
//!   mounts it, so only read-only binds see that tree itself.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Path, PathBuf};

use crate::digest::sha256;
use crate::events::Events;
use crate::exec::{ExecError, IdMapping, SandboxMount, SandboxSpecBuilder, in_user_namespace};
use crate::fsroot::Root;
use crate::plan::{Mount, Sharing, Source};
use crate::rootfs::LayerDirs;
use crate::store::{ScratchDir, Store};

use super::agent::AgentProxy;
use super::copy::{copy_into, copy_tree};
use super::{ImageLayers, RunError, RunStep};

/// What a build gives its `RUN` steps beyond the plan: secrets and SSH agents by id, and
/// the build context's directory.
#[derive(Clone, Default)]
pub struct StepInputs {
    secrets: BTreeMap<String, Vec<u8>>,
    ssh: BTreeMap<String, PathBuf>,
    context: Option<PathBuf>,
}

impl std::fmt::Debug for StepInputs {
    /// Shows the ids only, never a secret's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepInputs")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ssh", &self.ssh)
            .field("context", &self.context)
            .finish()
    }
}

impl StepInputs {
    /// The ids of the secrets, sorted; never their values.
    pub fn secret_ids(&self) -> Vec<String> {
        self.secrets.keys().cloned().collect()
    }

    /// The ids of the SSH agents, sorted.
    pub fn ssh_ids(&self) -> Vec<String> {
        self.ssh.keys().cloned().collect()
    }

    /// Adds the secret `id` with its value (`--secret id=…,src=…` or `env=…`).
    pub fn secret(mut self, id: impl Into<String>, value: impl Into<Vec<u8>>) -> StepInputs {
        self.secrets.insert(id.into(), value.into());
        self
    }

    /// Adds the SSH agent `id` listening on the socket `path` (`--ssh default` forwards
    /// `SSH_AUTH_SOCK`).
    pub fn ssh(mut self, id: impl Into<String>, path: impl Into<PathBuf>) -> StepInputs {
        self.ssh.insert(id.into(), path.into());
        self
    }

    /// Sets the build context's directory, the source of `--mount=type=bind` without
    /// `from`.
    pub fn context(mut self, dir: impl Into<PathBuf>) -> StepInputs {
        self.context = Some(dir.into());
        self
    }
}

/// The mounts of one step, with what must be held while it runs.
pub(super) struct Resolved {
    mounts: Vec<SandboxMount>,
    env: Vec<String>,
    /// Cache locks (`sharing=locked` and `private`), released when the step ends.
    _locks: Vec<File>,
    /// Empty directories standing in for busy private caches.
    _scratch: Vec<ScratchDir>,
    /// The SSH agent proxies, stopped when the step ends.
    _agents: Vec<AgentProxy>,
}

impl Drop for Resolved {
    /// Removes the scratch directories even where the steps' users own files in them
    /// (rootless with subordinate ids); a failure leaves them for [`Store::prune`].
    fn drop(&mut self) {
        for scratch in &self._scratch {
            let _ = crate::tree::remove_tree(scratch.path());
        }
    }
}

impl Resolved {
    /// Adds the mounts and their environment variables to the sandbox spec.
    pub(super) fn apply(&self, mut builder: SandboxSpecBuilder) -> SandboxSpecBuilder {
        builder = builder.env(self.env.iter().cloned());
        for mount in &self.mounts {
            builder = builder.mount(mount.clone());
        }
        builder
    }
}

/// Resolves the mounts of the step.
pub(super) fn resolve(
    store: &Store,
    inputs: &StepInputs,
    input: &RunStep<'_>,
    events: &dyn Events,
) -> Result<Resolved, RunError> {
    let run = input.run;
    let sources = Sources {
        store,
        inputs,
        input,
        events,
    };
    let mut resolved = Resolved {
        mounts: Vec::new(),
        env: Vec::new(),
        _locks: Vec::new(),
        _scratch: Vec::new(),
        _agents: Vec::new(),
    };
    let mut ssh_count = 0;
    for mount in &run.mounts {
        match mount {
            Mount::Tmpfs { target, size } => resolved.mounts.push(SandboxMount::Tmpfs {
                target: target.clone(),
                size: *size,
            }),
            Mount::Secret {
                id,
                target,
                env,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(value) = inputs.secrets.get(id) else {
                    if *required {
                        return Err(RunError::MissingInput {
                            what: "secret",
                            id: id.clone(),
                        });
                    }
                    continue;
                };
                if let Some(name) = env {
                    resolved
                        .env
                        .push(format!("{name}={}", String::from_utf8_lossy(value)));
                }
                let target = match (target, env) {
                    (Some(target), _) => Some(target.clone()),
                    (None, None) => Some(format!("/run/secrets/{id}")),
                    (None, Some(_)) => None,
                };
                if let Some(target) = target {
                    resolved.mounts.push(SandboxMount::File {
                        target,
                        content: value.clone(),
                        mode: *mode,
                        uid: *uid,
                        gid: *gid,
                    });
                }
            }
            Mount::Ssh {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(socket) = inputs.ssh.get(id) else {
                    if *required {
                        return Err(RunError::MissingInput {
                            what: "ssh agent",
                            id: id.clone(),
                        });
                    }
                    continue;
                };
                ssh_count += 1;
                let target = target
                    .clone()
                    .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{}", ssh_count - 1));
                // As BuildKit, the first agent is the default one.
                if ssh_count == 1 {
                    resolved.env.push(format!("SSH_AUTH_SOCK={target}"));
                }
                let proxy = AgentProxy::start(socket)?;
                resolved.mounts.push(SandboxMount::Socket {
                    source: proxy.path(),
                    target,
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                });
                resolved._agents.push(proxy);
            }
            Mount::Cache {
                target,
                id,
                sharing,
                from,
                readonly,
                mode,
                uid,
                gid,
                source,
            } => {
                let seed = match from {
                    Some(from)
                        if !cache_path(store, &cache_identity(id, *mode, *uid, *gid))?.is_dir() =>
                    {
                        Some(sources.find("cache", from, source, &mut resolved._scratch)?)
                    }
                    _ => None,
                };
                let dir = cache_dir(store, id, *mode, *uid, *gid, seed.as_ref())?;
                let root = match sharing {
                    Sharing::Shared => dir,
                    Sharing::Locked => {
                        resolved
                            ._locks
                            .push(lock(&dir, true)?.expect("a blocking lock"));
                        dir
                    }
                    Sharing::Private => match lock(&dir, false)? {
                        Some(file) => {
                            resolved._locks.push(file);
                            dir
                        }
                        None => {
                            let scratch = store.temp_dir()?;
                            let empty = scratch.path().to_owned();
                            set_owner(&empty, *mode, *uid, *gid)?;
                            resolved._scratch.push(scratch);
                            empty
                        }
                    },
                };
                resolved.mounts.push(SandboxMount::Bind {
                    root,
                    source: "/".to_owned(),
                    target: target.clone(),
                    readonly: *readonly,
                });
            }
            Mount::Bind {
                target,
                source,
                from,
                rw,
            } => {
                let found = sources.find("bind", from, source, &mut resolved._scratch)?;
                let (root, source) = if *rw {
                    // A copy, so that writes are dropped with it.
                    let scratch = store.temp_dir()?;
                    copy_tree(&found, scratch.path(), "bind")?;
                    let root = scratch.path().to_owned();
                    resolved._scratch.push(scratch);
                    (root, "/bind".to_owned())
                } else {
                    (found.root, found.path)
                };
                resolved.mounts.push(SandboxMount::Bind {
                    root,
                    source,
                    target: target.clone(),
                    readonly: !*rw,
                });
            }
        }
    }
    Ok(resolved)
}

/// Where mounts read from: the context, earlier stages, images.
struct Sources<'a> {
    store: &'a Store,
    inputs: &'a StepInputs,
    input: &'a RunStep<'a>,
    events: &'a dyn Events,
}

/// A mount source found: a path inside a host directory, never joined to it.
pub(super) struct Found {
    /// The directory the path is resolved in: the context, the unpacked tree of a stage
    /// or an image.
    root: PathBuf,
    /// The path inside `root`, as the Dockerfile gives it.
    path: String,
    /// Where the path was looked for, for errors (`the build context`).
    from: String,
    /// The mount type, for errors.
    kind: &'static str,
}

impl Found {
    /// Opens the source, resolved inside its root (`O_PATH`).
    pub(super) fn open(&self) -> Result<OwnedFd, RunError> {
        Root::open(&self.root)
            .and_then(|root| root.resolve(Path::new(&self.path)))
            .map_err(|source| self.error(source))
    }

    /// The error for the source failing with `source`.
    pub(super) fn error(&self, source: std::io::Error) -> RunError {
        RunError::MountSource {
            kind: self.kind,
            source_path: self.path.clone(),
            from: self.from.clone(),
            source,
        }
    }
}

impl Sources<'_> {
    /// Finds `source` in `from`: in the context, or in the shared unpacked tree of an
    /// earlier stage or an image (an image without layers gets an empty directory, kept
    /// alive in `scratch`). Neither may be written to. The source must exist there,
    /// resolved inside that tree. `kind` names the mount in errors.
    fn find(
        &self,
        kind: &'static str,
        from: &Source,
        source: &str,
        scratch: &mut Vec<ScratchDir>,
    ) -> Result<Found, RunError> {
        let (root, from) = match from {
            Source::Context => {
                let Some(context) = &self.inputs.context else {
                    return Err(RunError::UnsupportedMount {
                        kind,
                        detail: " without a build context".to_owned(),
                    });
                };
                (context.clone(), "the build context".to_owned())
            }
            Source::Stage(index) => {
                let Some(Some(image)) = self.input.stages.get(*index) else {
                    return Err(RunError::UnsupportedMount {
                        kind,
                        detail: format!(" from stage {index}, which is not built"),
                    });
                };
                (self.unpacked(image, scratch)?, format!("stage {index}"))
            }
            Source::Image(name) => {
                let Some((_, image)) = self.input.images.iter().find(|(image, _)| image == name)
                else {
                    return Err(RunError::UnsupportedMount {
                        kind,
                        detail: format!(
                            " from the image `{name}`, which the build did not resolve"
                        ),
                    });
                };
                (
                    self.unpacked(image, scratch)?,
                    format!("the image `{name}`"),
                )
            }
        };
        let found = Found {
            root,
            path: source.to_owned(),
            from,
            kind,
        };
        found.open()?;
        Ok(found)
    }

    /// The shared unpacked tree of `image`, or an empty directory kept alive in
    /// `scratch` for an image without layers.
    fn unpacked(
        &self,
        image: &ImageLayers<'_>,
        scratch: &mut Vec<ScratchDir>,
    ) -> Result<PathBuf, RunError> {
        let dirs = LayerDirs::open(self.store)?;
        Ok(
            match dirs.merged(image.layers, image.diff_ids, self.events)? {
                Some(root) => root,
                None => {
                    let dir = self.store.temp_dir()?;
                    let root = dir.path().to_owned();
                    scratch.push(dir);
                    root
                }
            },
        )
    }
}

/// The name the cache `id` made with `mode`, `uid` and `gid` is kept under: one per id
/// and mode and owner, as BuildKit keys a cache mount by its id and the directory it
/// makes for a mode or owner, so that mounts of one id with different ones share
/// nothing. Without them (the defaults), the id alone names it.
pub(crate) fn cache_identity(id: &str, mode: u32, uid: u32, gid: u32) -> String {
    if (mode, uid, gid) == (0o755, 0, 0) {
        id.to_owned()
    } else {
        // Length-prefixed, so that no id reads as another id with other settings.
        format!("{}:{id}:{mode:o}:{uid}:{gid}", id.len())
    }
}

/// Where the cache named `identity` ([`cache_identity`]) is kept.
///
/// # Errors
///
/// The store's, when its data directory cannot be made.
pub(crate) fn cache_path(store: &Store, identity: &str) -> Result<PathBuf, RunError> {
    Ok(store
        .path_for("cache-mounts")?
        .join(sha256(identity.as_bytes()).digest()))
}

/// The directory of the cache `id`, created with `mode`, `uid` and `gid` and the content
/// of the directory `seed` (`from=`) when new.
fn cache_dir(
    store: &Store,
    id: &str,
    mode: u32,
    uid: u32,
    gid: u32,
    seed: Option<&Found>,
) -> Result<PathBuf, RunError> {
    let dir = cache_path(store, &cache_identity(id, mode, uid, gid))?;
    if dir.is_dir() {
        return Ok(dir);
    }
    let caches = store.path_for("cache-mounts")?;
    // Made aside and renamed, so a concurrent step sees it whole or not at all.
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&caches)
        .map_err(|source| prepare(&caches, source))?;
    if let Some(seed) = seed {
        copy_into(seed, temp.path())?;
    }
    // Last: once another id owns it, a rootless caller may not write in it.
    set_owner(temp.path(), mode, uid, gid)?;
    let temp = temp.keep();
    if let Err(source) = fs::rename(&temp, &dir) {
        let _ = fs::remove_dir(&temp);
        if !dir.is_dir() {
            return Err(prepare(&dir, source));
        }
    }
    Ok(dir)
}

/// Gives the directory `path` the mode `mode` and the owner `uid:gid` as the sandbox sees
/// it: the host's ids as root; rootless, the ids of the user namespace, set there when it
/// maps subordinate ids (only root, the caller itself, exists otherwise).
fn set_owner(path: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), RunError> {
    let apply = || -> std::io::Result<()> {
        chown(path, Some(uid), Some(gid))?;
        // After `chown`, which clears set-id bits.
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    };
    match IdMapping::detect()? {
        IdMapping::Host => apply().map_err(|source| prepare(path, source)),
        mapping @ IdMapping::Namespace {
            helpers: Some(_), ..
        } => {
            in_user_namespace(&mapping, || {
                apply().map(|()| Vec::new()).map_err(|error| {
                    format!("failed to set the owner of `{}`: {error}", path.display())
                })
            })?;
            Ok(())
        }
        IdMapping::Namespace { .. } => {
            if uid != 0 {
                return Err(ExecError::UnmappedUid { id: uid }.into());
            }
            if gid != 0 {
                return Err(ExecError::UnmappedGid { id: gid }.into());
            }
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|source| prepare(path, source))
        }
    }
}

/// Locks the cache `dir` (through `<dir>.lock`) exclusively: waiting when `wait`, else
/// `None` when another step holds it.
fn lock(dir: &Path, wait: bool) -> Result<Option<File>, RunError> {
    let path = dir.with_extension("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| prepare(&path, source))?;
    if wait {
        file.lock().map_err(|source| prepare(&path, source))?;
        return Ok(Some(file));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(source)) => Err(prepare(&path, source)),
    }
}

fn prepare(path: &Path, source: std::io::Error) -> RunError {
    RunError::Prepare {
        path: path.to_owned(),
        source,
    }
}
