//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Build OCI container images from Dockerfiles, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "mkimage", version)]
pub(crate) struct Args {
    /// The store's directory [default: `$XDG_DATA_HOME/mkimage`, else
    /// `~/.local/share/mkimage`].
    #[arg(long, global = true, env = "MKIMAGE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the version.
    Version,
    /// Build an image from a Dockerfile and a build context.
    Build(Box<BuildArgs>),
    /// Parse a Dockerfile and print its instructions.
    Parse(ParseArgs),
    /// List the images in the store.
    Images(ImagesArgs),
    /// Show images' config, manifest and layers as JSON.
    Inspect(InspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove images (their blobs go at the next prune).
    Rmi(RmiArgs),
    /// Write images to an OCI or docker archive.
    Save(SaveArgs),
    /// Read images from an OCI or docker archive into the store.
    Load(LoadArgs),
    /// Remove untagged images, unreferenced blobs and leftovers of interrupted runs.
    Prune(PruneArgs),
    /// Download an image from a registry into the store.
    Pull(PullArgs),
    /// Upload an image from the store to a registry.
    Push(PushArgs),
    /// Check and store credentials for a registry in docker's config file.
    Login(LoginArgs),
    /// Remove a registry's credentials from docker's config file.
    Logout(LogoutArgs),
}

/// `mkimage prune`.
#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Also trim the build cache to this size (`512MB`, `10GB`, bytes), removing the least
    /// recently used entries first; `0` empties it.
    #[arg(long, value_name = "SIZE", value_parser = mkimage_core::spec::parse_size)]
    pub keep_storage: Option<u64>,
}

/// `mkimage login`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// The registry [default: Docker Hub].
    #[arg(default_value = "docker.io")]
    pub server: String,
    /// The user name; `<token>` makes the password an OAuth identity (refresh) token,
    /// stored as docker stores one.
    #[arg(short, long)]
    pub username: String,
    /// The password (visible to other users of this machine: prefer `--password-stdin`).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `mkimage logout`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogoutArgs {
    /// The registry [default: Docker Hub].
    #[arg(default_value = "docker.io")]
    pub server: String,
}

/// `mkimage push`.
#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// The image in the store: a name, id or digest.
    pub image: String,
    /// Where to push it, `[REGISTRY/]REPOSITORY[:TAG]` [default: the image's name].
    pub destination: Option<String>,
    /// Print only the pushed image's digest.
    #[arg(short, long)]
    pub quiet: bool,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of every command that talks to a registry (or, for `build`, downloads).
#[derive(Debug, clap::Args)]
pub(crate) struct RegistryArgs {
    /// A registry (`host[:port]`) to reach over plain HTTP; loopback registries and those
    /// containers' `registries.conf` marks insecure always are. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// How long a registry or download server may take to accept a connection, to
    /// start answering a request, and between any two reads or writes of it.
    #[arg(
        long,
        env = "MKIMAGE_NETWORK_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = crate::human::parse_duration
    )]
    pub network_timeout: Duration,
    /// How long one manifest, blob or download may take in all, retries included.
    #[arg(
        long,
        env = "MKIMAGE_TRANSFER_DEADLINE",
        value_name = "DURATION",
        default_value = "1h",
        value_parser = crate::human::parse_duration
    )]
    pub transfer_deadline: Duration,
    /// How many times a request that timed out, broke or met a server error is tried
    /// again, after pauses of 0.5s, 1s, 2s, ….
    #[arg(long, env = "MKIMAGE_RETRY", value_name = "N", default_value_t = 3)]
    pub retry: u32,
}

/// `mkimage pull`.
#[derive(Debug, clap::Args)]
pub(crate) struct PullArgs {
    /// The image: `[REGISTRY/]REPOSITORY[:TAG|@DIGEST]`.
    pub reference: String,
    /// The platform to pull from a multi-platform image, `os/arch[/variant]` [default:
    /// the host's].
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the image's full name.
    #[arg(short, long)]
    pub quiet: bool,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `mkimage images`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImagesArgs {
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print full ids.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `mkimage inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// Images: names, ids or digests.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Print the SBOM attestation's SPDX document instead (an object per platform
    /// when the image has several).
    #[arg(long, conflicts_with = "provenance")]
    pub sbom: bool,
    /// Print the provenance attestation's SLSA predicate instead (an object per
    /// platform when the image has several).
    #[arg(long)]
    pub provenance: bool,
}

/// `mkimage history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// The image: a name, id or digest.
    pub image: String,
    /// Print commands and ids in full.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `mkimage tag`.
#[derive(Debug, clap::Args)]
pub(crate) struct TagArgs {
    /// The image: a name, id or digest.
    pub source: String,
    /// The new name, `[REGISTRY/]REPOSITORY[:TAG]`.
    pub target: String,
}

/// `mkimage rmi`.
#[derive(Debug, clap::Args)]
pub(crate) struct RmiArgs {
    /// Images: names, ids or digests.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove an image given by id even when it has several names.
    #[arg(short, long)]
    pub force: bool,
}

/// `mkimage save`.
#[derive(Debug, clap::Args)]
pub(crate) struct SaveArgs {
    /// The archive to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// `docker`: a docker archive that is also an OCI layout; `oci`: an OCI layout.
    #[arg(long, value_enum, default_value_t = SaveFormat::Docker)]
    pub format: SaveFormat,
    /// Images: names, ids or digests.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// The archive formats of `mkimage save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SaveFormat {
    /// An OCI image-layout tarball.
    Oci,
    /// A docker archive (`docker load`, `podman load`) that is also an OCI layout.
    Docker,
}

/// `mkimage load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The archive to read: an OCI image layout or a docker archive.
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `mkimage parse`.
#[derive(Debug, clap::Args)]
pub(crate) struct ParseArgs {
    /// The Dockerfile to read; `-` reads standard input.
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: PathBuf,
    /// Print the instructions as parsed, before expansion, as one JSON document.
    #[arg(long, conflicts_with = "plan")]
    pub json: bool,
    /// Print the build plan (expanded, pruned to the target) as one JSON document.
    #[arg(long)]
    pub plan: bool,
    /// A build argument for `--plan`: `KEY=VALUE`, or `KEY` to take the value from the
    /// environment (skipped when it is not set). Repeatable.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]", requires = "plan")]
    pub build_args: Vec<String>,
    /// The stage to plan for with `--plan`; the last one by default.
    #[arg(long, value_name = "STAGE", requires = "plan")]
    pub target: Option<String>,
}

/// `mkimage build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// The build context: a directory; `-` for a tar stream (or a lone Dockerfile) on
    /// standard input; a git repository URL (`URL#REF:DIR`); or an `http(s)://` URL of a
    /// tar stream or a lone Dockerfile.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    /// The Dockerfile [default: `CONTEXT/Dockerfile`]; `-` reads standard input.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A name for the image, `NAME[:TAG]`. Repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// A build argument: `KEY=VALUE`, or `KEY` to take the value from the environment.
    /// Repeatable.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// The stage to build; the last one by default.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// A label for the image, `KEY=VALUE`. Repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The platform to build for, `os/arch[/variant]` [default: the host's].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// How new layers are compressed.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// The compression level [default: 6 for gzip, 3 for zstd].
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,
    /// Build every step, using no cached result.
    #[arg(long)]
    pub no_cache: bool,
    /// Build the steps of this stage (a name or an index) using no cached result; the
    /// other stages still use the cache. Repeatable.
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// Also look steps up in this exported cache, after the store:
    /// `type=registry,ref=REF` or `type=local,src=DIR`. Repeatable.
    #[arg(long = "cache-from", value_name = "type=TYPE,...")]
    pub cache_from: Vec<String>,
    /// After the build, export its step records: `type=registry,ref=REF` or
    /// `type=local,dest=DIR`, with `mode=min|max` (the image's stages, or every stage)
    /// and `ignore-error=true`; `cache-mounts=true` adds the content of the cache
    /// mounts (up to `cache-mounts-max=SIZE` each); `type=inline` writes the image's
    /// records into its config. Repeatable.
    #[arg(long = "cache-to", value_name = "type=TYPE,...")]
    pub cache_to: Vec<String>,
    /// Also write the image: `type=oci,dest=FILE`, `type=docker,dest=FILE` (archives),
    /// `type=local,dest=DIR` or `type=tar,dest=FILE` (its filesystem). `dest=-` streams
    /// to standard output (a tar for `local`), and `-o -` is `type=tar,dest=-`.
    /// `type=image,name=REF[,push=true]` names it in the store (and pushes it),
    /// `type=registry,name=REF` pushes it. Repeatable.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,dest=PATH")]
    pub outputs: Vec<String>,
    /// Write the image id to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// An extra privilege the build may use: `security.insecure` lets
    /// `RUN --security=insecure` run with all capabilities; `network.host` lets
    /// `RUN --network=host` and `--network host` share the host's network. Repeatable.
    #[arg(long = "allow", value_enum, value_name = "ENTITLEMENT")]
    pub allow: Vec<Entitlement>,
    /// The network of `RUN` steps that do not choose one with `--network`: `default` is a
    /// private one with outbound access (needs `slirp4netns`), `none` has only loopback,
    /// `host` shares the host's (with `--allow network.host`).
    #[arg(long, value_enum, default_value_t = NetworkArg::Default)]
    pub network: NetworkArg,
    /// An extra `/etc/hosts` entry for `RUN` steps, `HOST:IP` (or `HOST=IP`); `IP` may be
    /// `host-gateway`, the host's address on its default route.
    /// Repeatable.
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,
    /// A named build context, `NAME=VALUE`: a directory, `docker-image://REF`,
    /// `oci-layout://DIR[:TAG][@DIGEST]`, a git URL or an http(s) URL (the file
    /// `context`). `FROM NAME`, `COPY --from=NAME` and
    /// mounts `from=NAME` read it, and it replaces a stage named NAME. Repeatable.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR`
    /// (`id=ID` alone reads the variable `ID`, else the file `ID`). Repeatable.
    #[arg(long = "secret", value_name = "id=ID,src=FILE|env=VAR")]
    pub secrets: Vec<String>,
    /// Run `RUN` steps through this OCI runtime (`runc`, or a path) instead of mkimage's
    /// own sandbox; needs root.
    #[arg(long, value_name = "runc|PATH", conflicts_with = "isolation")]
    pub runtime: Option<PathBuf>,
    /// How `RUN` steps are isolated: `oci` (alias `native`) in new namespaces with
    /// Docker's confinement; `chroot` chrooted into a copy of the image, sharing this
    /// process's namespaces, network and capabilities: weaker isolation, for builds inside
    /// unprivileged containers (CI), where `oci` is refused.
    #[arg(long, value_enum, default_value_t = IsolationArg::Oci, env = "MKIMAGE_ISOLATION")]
    pub isolation: IsolationArg,
    /// An SSH agent for `RUN --mount=type=ssh`: `default` forwards `SSH_AUTH_SOCK`,
    /// `ID=SOCKET` names one. Repeatable.
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    pub ssh: Vec<String>,
    /// Evaluate the build checks and build nothing: exit 1 when any fires, as
    /// `docker build --check`.
    #[arg(long)]
    pub check: bool,
    /// Write the image and config digests and the cache hits and misses to this file, as
    /// JSON.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Print only the image id, no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// How progress is shown: `tty` redraws a line per step, `plain` prints every event,
    /// `auto` is `tty` on a terminal and `plain` otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, env = "BUILDKIT_PROGRESS")]
    pub progress: ProgressMode,
    /// Ask the registry for every base image, even those in the store.
    #[arg(long)]
    pub pull: bool,
    /// Push the image to the registry of each `--tag` after the build.
    #[arg(long)]
    pub push: bool,
    /// Attach an SBOM attestation, made by reading the image's packages: `true`,
    /// `false`, or `generator=IMAGE` (accepted and not run).
    #[arg(long, value_name = "true|false|generator=IMAGE", num_args = 0..=1,
        require_equals = true, default_missing_value = "true")]
    pub sbom: Option<String>,
    /// Attach a provenance attestation: `true`, `false`, or
    /// `mode=min|max[,version=v0.2|v1][,builder-id=URI]`. By default `mode=min` when
    /// pushing or writing an OCI archive.
    #[arg(long, value_name = "true|false|mode=min|max", num_args = 0..=1,
        require_equals = true, default_missing_value = "true")]
    pub provenance: Option<String>,
    /// An attestation as buildx spells it: `type=sbom[,generator=IMAGE]`,
    /// `type=provenance[,mode=max]`, `type=…,disabled=true`. Repeatable.
    #[arg(long = "attest", value_name = "type=sbom|provenance,…")]
    pub attest: Vec<String>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The progress displays of `mkimage build --progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// `tty` when stderr is a terminal, else `plain`.
    Auto,
    /// One line per event.
    Plain,
    /// A redrawn line per step.
    Tty,
}

/// The entitlements of `mkimage build --allow`, named as BuildKit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Entitlement {
    /// `RUN --security=insecure` may run with all capabilities.
    #[value(name = "security.insecure")]
    SecurityInsecure,
    /// `RUN --network=host` and `--network host` may share the host's network.
    #[value(name = "network.host")]
    NetworkHost,
}

/// The isolations of `mkimage build --isolation`, named as buildah names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum IsolationArg {
    /// New namespaces, Docker's capabilities, seccomp profile and masked paths.
    #[value(alias = "native")]
    Oci,
    /// A chroot sharing this process's namespaces (weaker; for unprivileged containers).
    Chroot,
}

/// The networks of `mkimage build --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum NetworkArg {
    /// A private network namespace with outbound access through `slirp4netns`.
    Default,
    /// A private network namespace with loopback only.
    None,
    /// The host's network.
    Host,
}

/// The layer compressions of `mkimage build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompressionArg {
    /// Gzip, as docker writes.
    Gzip,
    /// Zstandard.
    Zstd,
    /// None.
    Uncompressed,
}
