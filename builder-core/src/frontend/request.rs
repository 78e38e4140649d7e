//! What a Dockerfile build is asked to do.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use crate::attest::Attestations;
use crate::layer::Compression;
use crate::plan::{KeyValue, Network, Platform, Reference};
use crate::remote_cache::{CacheFrom, CacheTo};
use crate::run::StepInputs;

use super::network::ExtraHost;
use super::output::Output;

/// A Dockerfile build: what `mkimage build` takes on its command line.
///
/// [`Request::new`] gives a build of the context's `Dockerfile` for the host's platform,
/// into the store only, with the cache; set the fields to ask for more.
#[derive(Debug)]
pub struct Request {
    /// Where the build context comes from.
    pub context: ContextSource,
    /// Where the Dockerfile comes from.
    pub dockerfile: DockerfileSource,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build (`--target`); the last one when `None`.
    pub target: Option<String>,
    /// The platforms to build for; none is the host's. Several make an image index, each
    /// platform built once.
    pub platforms: Vec<Platform>,
    /// Named build contexts (`--build-context NAME=VALUE`), by name: a directory,
    /// `docker-image://REF`, `oci-layout://DIR[:TAG][@DIGEST]`, a git URL or an http(s)
    /// URL (the one file `context`). `FROM NAME`, `COPY --from=NAME` and mounts
    /// `from=NAME` read it, and it replaces a stage named NAME.
    pub named_contexts: BTreeMap<String, String>,
    /// The secrets and SSH agents of `RUN --mount=type=secret|ssh` (`--secret`, `--ssh`),
    /// for the default executor; the build sets their context directory.
    pub run_inputs: StepInputs,
    /// The network of `RUN` steps that choose none with `--network` (`--network`): by
    /// default a private one with outbound access; the host's needs
    /// [`Entitlement::NetworkHost`].
    pub network: Network,
    /// Extra `/etc/hosts` entries of `RUN` steps (`--add-host`).
    pub extra_hosts: Vec<ExtraHost>,
    /// The names to give the image in the store (`--tag`).
    pub tags: Vec<Reference>,
    /// Where else to write the image (`-o`, `--push`), in order, after the build.
    pub outputs: Vec<Output>,
    /// How the build uses its cache.
    pub cache: CacheOptions,
    /// Labels added to the image's config (`--label`), after the Dockerfile's.
    pub labels: Vec<KeyValue>,
    /// How new layers are compressed.
    pub compression: Compression,
    /// Every `created` time, and the newest mtime in new layers, in seconds since the
    /// epoch; when `None`, the build argument `SOURCE_DATE_EPOCH` if given.
    pub source_date_epoch: Option<i64>,
    /// The extra privileges the build may use (`--allow`).
    pub entitlements: Vec<Entitlement>,
    /// How the default executor isolates `RUN` steps (`--isolation`).
    pub isolation: Isolation,
    /// The SBOM and provenance attestations to attach (`--sbom`, `--provenance`,
    /// `--attest`); by default, as buildx, provenance `mode=min` when an output is a
    /// registry or an OCI archive.
    pub attestations: Attestations,
}

impl Request {
    /// A build of the Dockerfile `Dockerfile` of `context`, for the host's platform, into
    /// the store only, untagged.
    pub fn new(context: ContextSource) -> Request {
        Request {
            context,
            dockerfile: DockerfileSource::Default,
            build_args: BTreeMap::new(),
            target: None,
            platforms: Vec::new(),
            named_contexts: BTreeMap::new(),
            run_inputs: StepInputs::default(),
            network: Network::Default,
            extra_hosts: Vec::new(),
            tags: Vec::new(),
            outputs: Vec::new(),
            cache: CacheOptions::default(),
            labels: Vec::new(),
            compression: Compression::default(),
            source_date_epoch: None,
            entitlements: Vec::new(),
            isolation: Isolation::default(),
            attestations: Attestations::default(),
        }
    }
}

/// Where a build context comes from.
pub enum ContextSource {
    /// A directory; its `.dockerignore` applies.
    Dir(PathBuf),
    /// A tar stream, plain or compressed with gzip, bzip2, xz or zstd; or, as docker
    /// takes it, a lone Dockerfile with an empty context.
    Stream {
        /// How to show it: the name of a lone Dockerfile in errors (`<stdin>`).
        name: String,
        /// The bytes.
        reader: Box<dyn Read + Send>,
    },
    /// A git repository, `URL#REF:DIR` as `docker build` takes it. The context has no
    /// `.git` unless the build argument `BUILDKIT_CONTEXT_KEEP_GIT_DIR` is true.
    Git(String),
    /// An http(s) URL of a tar stream or of a lone Dockerfile.
    Url(String),
}

impl ContextSource {
    /// The context `location` names: a git repository URL, another http(s) URL, or
    /// else a directory.
    pub fn from_location(location: &str) -> ContextSource {
        if mkimage_dockerfile::is_git(location) {
            ContextSource::Git(location.to_owned())
        } else if is_url(location) {
            ContextSource::Url(location.to_owned())
        } else {
            ContextSource::Dir(PathBuf::from(location))
        }
    }
}

impl fmt::Debug for ContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextSource::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            ContextSource::Stream { name, .. } => f.debug_tuple("Stream").field(name).finish(),
            ContextSource::Git(url) => f.debug_tuple("Git").field(url).finish(),
            ContextSource::Url(url) => f.debug_tuple("Url").field(url).finish(),
        }
    }
}

/// Whether `text` is an http(s) URL.
pub(super) fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// `Dockerfile` at the root of the context, shown as `Dockerfile`.
    Default,
    /// A file, shown as given: for a directory context, a path on the host (its own
    /// `NAME.dockerignore` beside it applies, as in BuildKit); for a context that is
    /// fetched or streamed, a path inside the context.
    Path(PathBuf),
    /// The text itself, shown as `name` (`<stdin>`).
    Text {
        /// How to show it.
        name: String,
        /// The Dockerfile.
        text: String,
    },
}

/// How a build uses the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheOptions {
    /// Run every step, reading no cache record (`--no-cache`); records are still written.
    pub no_cache: bool,
    /// Stages, by name or index, whose steps read no cache record (`--no-cache-filter`).
    pub no_cache_stages: Vec<String>,
    /// Cache artifacts to look steps up in after the store (`--cache-from`), in order.
    pub from: Vec<CacheFrom>,
    /// Where to export the build's step records after the image is written
    /// (`--cache-to`).
    pub to: Vec<CacheTo>,
}

/// How `RUN` steps are isolated, named as buildah's `--isolation` names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// `oci`: the frontend's sandbox (mkimage's own namespaces, or an OCI runtime), with
    /// new mount, pid, network, IPC and UTS namespaces, Docker's capabilities, seccomp
    /// profile and masked paths.
    #[default]
    Oci,
    /// `chroot`: a chroot into a copy of the image, sharing the caller's namespaces,
    /// network and capabilities ([`Sandbox::chroot`](crate::exec::Sandbox::chroot)):
    /// weaker isolation, for builds inside unprivileged containers.
    Chroot,
}

/// An extra privilege a build may use, named as BuildKit names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entitlement {
    /// `security.insecure`: `RUN --security=insecure` may run with all capabilities.
    SecurityInsecure,
    /// `network.host`: `RUN --network=host` steps, and [`Request::network`]
    /// [`Network::Host`], may share the host's network.
    NetworkHost,
}
