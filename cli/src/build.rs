//! `mkimage build`: build an image from a Dockerfile and a build context, into the store
//! and the outputs asked for.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mkimage_core::NoEvents;
use mkimage_core::add::ArchiveFormat as Compressed;
use mkimage_core::build::{
    BaseResolver, BuildError, BuildOptions, Builder, Built, export_rootfs, export_rootfs_tar,
};
use mkimage_core::context::{Context, extract, open_in};
use mkimage_core::exec::Sandbox;
use mkimage_core::fetch::{GitSource, download};
use mkimage_core::layer::Compression;
use mkimage_core::net::Http;
use mkimage_core::oci::{ArchiveFormat, ArchiveImage, Image, write_archive, write_index};
use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::plan::{Base, KeyValue, Network, Op, Platform, Reference};
use mkimage_core::registry::{Client, RegistryError, RegistryResolver, push};
use mkimage_core::run::Runner;
use mkimage_core::store::Store;
use mkimage_dockerfile::{Arguments, BaseImage, Dockerfile, Keyword, LowerOptions};

use crate::args::{BuildArgs, CompressionArg, Entitlement, NetworkArg, ProgressMode};
use crate::located::Located;
use crate::parse::{lower_error, read_dockerfile, read_text};
use crate::render::{self, Progress, StepBars};
use crate::{named_context, secrets};

/// Where `-o` writes the image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Output {
    /// A registry, as this reference.
    Registry(Reference),
    /// An OCI image-layout tarball.
    Oci(PathBuf),
    /// A docker archive that is also an OCI layout.
    Docker(PathBuf),
    /// The image's filesystem, in a directory.
    Local(PathBuf),
    /// The image's filesystem, as one tar file.
    Tar(PathBuf),
}

/// Runs `mkimage build`.
pub fn run(store: &Store, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let outputs = args
        .outputs
        .iter()
        .map(|text| parse_output(text))
        .collect::<anyhow::Result<Vec<Output>>>()?;
    let tags = args
        .tags
        .iter()
        .map(|tag| {
            tag.parse::<Reference>()
                .with_context(|| format!("invalid tag `{tag}`"))
        })
        .collect::<anyhow::Result<Vec<Reference>>>()?;
    if args.push && tags.is_empty() {
        bail!("`--push` needs a name: give one with `--tag`");
    }
    let allow_host_network = args.allow.contains(&Entitlement::NetworkHost);
    if args.network == NetworkArg::Host && !allow_host_network {
        bail!(
            "`--network host` shares the host's network with every `RUN` step, which needs \
             the `network.host` entitlement (`--allow network.host`)"
        );
    }
    let platforms = platforms(args.platform.as_deref())?;
    let build_args = build_args(&args.build_args);
    let source_date_epoch =
        match build_args
            .get("SOURCE_DATE_EPOCH")
            .cloned()
            .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
            .filter(|value| !value.is_empty())
        {
            Some(value) => Some(value.parse::<i64>().with_context(|| {
                format!("SOURCE_DATE_EPOCH `{value}` is not a number of seconds")
            })?),
            None => None,
        };

    let input = BuildInput::read(args)?;
    let (name, text) = (&input.dockerfile_name, &input.dockerfile_text);
    let dockerfile = mkimage_dockerfile::parse(text).map_err(|error| {
        let at = error.position();
        Located::new(name, text, at.line, at.col, error.message())
    })?;
    for warning in &dockerfile.warnings {
        render::warning(&format!("{name}:{}: {}", warning.line, warning.message));
    }
    let mut context = Context::open(&input.context_dir, input.dockerfile_path.as_deref())?;
    if input.temp.is_some() {
        context = context.streamed();
    }
    let options = BuildOptions {
        tags: tags.clone(),
        platform: platforms[0].clone(),
        compression: compression(args.compression, args.compression_level)?,
        no_cache: args.no_cache,
        no_cache_stages: args.no_cache_filter.clone(),
        source_date_epoch,
        allow_insecure: args.allow.contains(&Entitlement::SecurityInsecure),
        allow_host_network,
        labels: args
            .labels
            .iter()
            .map(|label| match label.split_once('=') {
                Some((key, value)) => KeyValue::new(key, value),
                None => KeyValue::new(label.as_str(), ""),
            })
            .collect(),
    };
    let inputs = secrets::step_inputs(&args.secrets, &args.ssh)?.context(&input.context_dir);
    let mut runner = Runner::new(store).inputs(inputs);
    if let Some(runtime) = &args.runtime {
        runner = runner.sandbox(Sandbox::runc(runtime));
    }
    let builder = Builder::new(store.clone())
        .with_executor(runner)
        .with_http(Http::new(crate::registry::net_options(&args.registry)))
        .with_resolver(RegistryResolver::new(
            crate::registry::client(&args.registry)?,
            args.pull,
        ));
    let plain = Progress::new();
    let tty = match (args.quiet, args.progress) {
        (false, ProgressMode::Tty) => Some(StepBars::new()),
        (false, ProgressMode::Auto) if std::io::stderr().is_terminal() => Some(StepBars::new()),
        _ => None,
    };
    let events: &dyn mkimage_core::Events = match &tty {
        _ if args.quiet => &NoEvents,
        Some(bars) => bars,
        None => &plain,
    };
    let named_contexts =
        named_context::resolve(&args.build_contexts, store, &builder, &options, events)?;
    let extra_hosts = extra_hosts(&args.add_hosts)?;
    let transfers = render::Transfers::new(args.quiet);
    let resolver = RegistryResolver::new(crate::registry::client(&args.registry)?, args.pull);
    // One build per platform; several make one image index of their images.
    let mut builds = Vec::new();
    for platform in &platforms {
        let mut lower_options = LowerOptions {
            build_args: build_args.clone(),
            target: args.target.clone(),
            named_contexts: named_contexts.clone(),
            build_platform: Platform::host(),
            ..LowerOptions::new(platform.clone())
        };
        let mut lowered = mkimage_dockerfile::lower(&dockerfile, &lower_options)
            .map_err(|error| lower_error(name, text, error))?;
        // The bases' environment and triggers matter to lowering: resolve them and lower
        // again.
        lower_options.base_images =
            base_images(store, &lowered.plan, platform, &resolver, &transfers)
                .map_err(|error| located(name, text, error))?;
        if !lower_options.base_images.is_empty() {
            lowered = mkimage_dockerfile::lower(&dockerfile, &lower_options)
                .map_err(|error| lower_error(name, text, error))?;
        }
        if builds.is_empty() {
            let triggers = lower_options
                .base_images
                .values()
                .flat_map(|base| &base.onbuild);
            let unused = unconsumed(&dockerfile, triggers, &build_args);
            if !unused.is_empty() {
                render::warning(&format!(
                    "build arguments that no ARG of {name} declares: {}",
                    unused.join(", ")
                ));
            }
            for warning in &lowered.warnings {
                render::warning(&format!("{name}:{}: {}", warning.span, warning.message));
            }
        }
        run_defaults(&mut lowered.plan, args.network, &extra_hosts);
        let options = BuildOptions {
            platform: platform.clone(),
            tags: if platforms.len() == 1 {
                options.tags.clone()
            } else {
                Vec::new()
            },
            ..options.clone()
        };
        builds.push(
            builder
                .build(&lowered.plan, &context, &options, events)
                .map_err(|error| located(name, text, error))?,
        );
    }
    let image = match builds.as_slice() {
        [built] => built.image.clone(),
        _ => {
            let manifests: Vec<_> = builds.iter().map(|built| built.image.clone()).collect();
            let index = write_index(store, &manifests)?;
            store.add_image(&index)?;
            for tag in &tags {
                store.tag(tag, &index)?;
            }
            // The index keeps its manifests; they are not listed on their own unless
            // something names them.
            let named: Vec<Descriptor> = store
                .tags()?
                .into_iter()
                .filter(|entry| entry.name.is_some())
                .map(|entry| entry.descriptor)
                .collect();
            for manifest in &manifests {
                if !named
                    .iter()
                    .any(|entry| entry.digest() == manifest.digest())
                {
                    store.remove_image(manifest.digest().as_ref(), false)?;
                }
            }
            index
        }
    };

    let client = crate::registry::client(&args.registry)?;
    for output in &outputs {
        write_output(
            store, &image, &tags, &platforms, output, &client, &transfers,
        )?;
    }
    if args.push {
        for tag in &tags {
            push(&client, store, &image, tag, &transfers)?;
        }
    }
    let id = image.digest().to_string();
    if let Some(path) = &args.metadata_file {
        let metadata = metadata(&image, &builds, &tags);
        let text = serde_json::to_string_pretty(&metadata).context("failed to write JSON")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    render::line(&id)?;
    Ok(ExitCode::SUCCESS)
}

/// The context directory and the Dockerfile, wherever they come from.
struct BuildInput {
    context_dir: PathBuf,
    /// The Dockerfile's path, when it is a file (its `.dockerignore` may sit beside it).
    dockerfile_path: Option<PathBuf>,
    dockerfile_name: String,
    dockerfile_text: String,
    /// Holds a context made for this build (from standard input, a URL): a new
    /// directory each time, so the context is [streamed](Context::streamed).
    temp: Option<tempfile::TempDir>,
}

impl BuildInput {
    fn read(args: &BuildArgs) -> anyhow::Result<BuildInput> {
        let stdin_file = args.file.as_deref() == Some(Path::new("-"));
        let source = args.context.to_string_lossy();
        if mkimage_dockerfile::is_git(&source) {
            return Self::git(args, &source);
        }
        if source.starts_with("http://") || source.starts_with("https://") {
            let temp = tempfile::tempdir().context("failed to create a temporary directory")?;
            let http = Http::new(crate::registry::net_options(&args.registry));
            let progress = render::Transfers::new(args.quiet);
            let download = download(&source, temp.path(), None, &http, &progress)
                .with_context(|| format!("failed to download the build context `{source}`"))?;
            return Self::from_file(args, temp, &download.path, &source);
        }
        if args.context != Path::new("-") {
            let path = match &args.file {
                Some(file) if !stdin_file => file.clone(),
                Some(_) => PathBuf::from("-"),
                None => args.context.join("Dockerfile"),
            };
            let (read_name, text) = read_dockerfile(&path)?;
            // As docker names it: as given, or `Dockerfile` for the default one.
            let name = match &args.file {
                Some(_) => read_name,
                None => "Dockerfile".to_owned(),
            };
            return Ok(BuildInput {
                context_dir: args.context.clone(),
                dockerfile_path: (!stdin_file).then_some(path),
                dockerfile_name: name,
                dockerfile_text: text,
                temp: None,
            });
        }
        if stdin_file {
            bail!("the build context and the Dockerfile cannot both be read from standard input");
        }
        let temp = tempfile::tempdir().context("failed to create a temporary directory")?;
        let spool = temp.path().join("stdin");
        let mut file = File::create(&spool).context("failed to spool standard input")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file)
            .context("failed to read the build context from standard input")?;
        drop(file);
        Self::from_file(args, temp, &spool, "<stdin>")
    }

    /// A context in the file `spool` (inside `temp`): a tar stream of the context, or, as
    /// docker takes it, a lone Dockerfile (shown as `shown`) with an empty context.
    fn from_file(
        args: &BuildArgs,
        temp: tempfile::TempDir,
        spool: &Path,
        shown: &str,
    ) -> anyhow::Result<BuildInput> {
        if args.file.as_deref() == Some(Path::new("-")) {
            bail!("the Dockerfile cannot be read from standard input with this build context");
        }
        let context_dir = temp.path().join("context");
        std::fs::create_dir(&context_dir).context("failed to create the context directory")?;
        if is_archive(spool)? {
            let tar = File::open(spool).context("failed to read the spooled context")?;
            extract(tar, &context_dir)?;
            Self::in_dir(args, context_dir, temp)
        } else {
            let (_, text) = read_dockerfile(spool)?;
            Ok(BuildInput {
                context_dir,
                dockerfile_path: None,
                dockerfile_name: shown.to_owned(),
                dockerfile_text: text,
                temp: Some(temp),
            })
        }
    }

    /// A git repository's commit as the context (`URL#REF:DIR` as `docker build` takes
    /// it); `-f` is a path inside it. As in BuildKit, the context has no `.git` unless the
    /// build argument `BUILDKIT_CONTEXT_KEEP_GIT_DIR` is true.
    fn git(args: &BuildArgs, url: &str) -> anyhow::Result<BuildInput> {
        let failed = || format!("failed to fetch the build context `{url}`");
        let net = crate::registry::net_options(&args.registry);
        let source = GitSource::parse(url).with_context(failed)?;
        let resolved = source.resolve(&net).with_context(failed)?;
        let temp = tempfile::tempdir().context("failed to create a temporary directory")?;
        let repo = temp.path().join("repo");
        let checkout = source
            .checkout(&resolved, &repo, &net)
            .with_context(failed)?;
        let keep = source.keeps_git_dir()
            || build_args(&args.build_args)
                .get("BUILDKIT_CONTEXT_KEEP_GIT_DIR")
                .is_some_and(|value| is_true(value));
        if !keep {
            checkout.remove_git_dirs().with_context(failed)?;
        }
        Self::in_dir(args, checkout.root, temp)
    }

    /// The context `context_dir` (inside `temp`) with its Dockerfile: `-f`, relative to
    /// it, or `Dockerfile`.
    fn in_dir(
        args: &BuildArgs,
        context_dir: PathBuf,
        temp: tempfile::TempDir,
    ) -> anyhow::Result<BuildInput> {
        if args.file.as_deref() == Some(Path::new("-")) {
            bail!("the Dockerfile cannot be read from standard input with this build context");
        }
        let file = args.file.as_deref().unwrap_or(Path::new("Dockerfile"));
        // Inside the fetched context: its symlinks do not lead out of it.
        let path = context_dir.join(file);
        let opened = open_in(&context_dir, file)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        let text = read_text(&path.display().to_string(), opened)?;
        Ok(BuildInput {
            context_dir,
            dockerfile_path: Some(path),
            dockerfile_name: file.display().to_string(),
            dockerfile_text: text,
            temp: Some(temp),
        })
    }
}

/// Whether the file at `path` is a tar stream, plain or compressed.
fn is_archive(path: &Path) -> anyhow::Result<bool> {
    let mut head = Vec::with_capacity(512);
    File::open(path)
        .and_then(|file| file.take(512).read_to_end(&mut head))
        .context("failed to read the spooled standard input")?;
    Ok(Compressed::sniff(&head) != Compressed::Tar || head.get(257..262) == Some(b"ustar"))
}

/// Whether a build argument's value is true, as Go's `strconv.ParseBool` (which BuildKit
/// uses) reads it.
fn is_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// `--build-arg` values: `KEY=VALUE`, or `KEY` taken from the environment (skipped when
/// unset), as docker does.
fn build_args(args: &[String]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) => {
                values.insert(key.to_owned(), value.to_owned());
            }
            None => {
                if let Ok(value) = std::env::var(arg) {
                    values.insert(arg.clone(), value);
                }
            }
        }
    }
    values
}

/// The environment and `ONBUILD` triggers of the plan's base images that the store (or
/// an archive, or a registry) has; the others are left for the build to report, but a
/// registry that gave no answer fails the build at once, located at its `FROM`.
fn base_images(
    store: &Store,
    plan: &mkimage_core::Plan,
    platform: &Platform,
    resolver: &dyn BaseResolver,
    events: &dyn mkimage_core::Events,
) -> Result<BTreeMap<String, BaseImage>, mkimage_core::Error> {
    let mut found = BTreeMap::new();
    for stage in &plan.stages {
        let Base::Image(reference) = &stage.base else {
            continue;
        };
        let platform = stage.platform.as_ref().unwrap_or(platform);
        let descriptor = match resolver.resolve(store, reference, platform, events) {
            Ok(descriptor) => descriptor,
            // The build would wait for the same server again before it fails.
            Err(error @ mkimage_core::Error::Registry(RegistryError::Net(_))) => {
                return Err(BuildError::Base {
                    span: stage.span,
                    reference: reference.clone(),
                    source: Box::new(error),
                }
                .into());
            }
            Err(_) => continue,
        };
        let Ok(image) = Image::load(store, &descriptor, platform) else {
            continue;
        };
        let config = &image.config().config;
        let env = config
            .env
            .iter()
            .flatten()
            .map(|item| match item.split_once('=') {
                Some((key, value)) => KeyValue::new(key, value),
                None => KeyValue::new(item.as_str(), ""),
            })
            .collect();
        let onbuild = config.on_build.clone().unwrap_or_default();
        found.insert(reference.clone(), BaseImage { env, onbuild });
    }
    Ok(found)
}

/// The `--build-arg` names that no `ARG` of the Dockerfile or of the bases' `ONBUILD`
/// `triggers` declares, as `docker build` reports them: the proxy settings,
/// `SOURCE_DATE_EPOCH`, the platform arguments and `BUILDKIT_*` are used without an `ARG`.
fn unconsumed<'a>(
    dockerfile: &Dockerfile,
    triggers: impl Iterator<Item = &'a String>,
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    const IMPLICIT: &[&str] = &[
        "SOURCE_DATE_EPOCH",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDOSVERSION",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETOSVERSION",
        "TARGETARCH",
        "TARGETVARIANT",
        "TARGETSTAGE",
    ];
    const PROXIES: &[&str] = &[
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
    ];
    // A trigger that does not parse fails the lowering, which reports it.
    let triggers: Vec<Dockerfile> = triggers
        .filter_map(|trigger| mkimage_dockerfile::parse(trigger).ok())
        .collect();
    let declared: Vec<&str> = std::iter::once(dockerfile)
        .chain(&triggers)
        .flat_map(|file| &file.instructions)
        .filter(|instr| instr.kind == Keyword::Arg)
        .filter_map(|instr| match &instr.args {
            Arguments::Words(words) => Some(words),
            _ => None,
        })
        .flatten()
        .map(|word| word.split_once('=').map_or(word.as_str(), |(key, _)| key))
        .collect();
    build_args
        .keys()
        .filter(|key| {
            !declared.contains(&key.as_str())
                && !IMPLICIT.contains(&key.as_str())
                && !PROXIES.iter().any(|proxy| key.eq_ignore_ascii_case(proxy))
                && !key.starts_with("BUILDKIT_")
        })
        .cloned()
        .collect()
}

/// Gives every `RUN` of `plan` the network of `--network` (where the step chose none) and
/// the hosts of `--add-host`.
fn run_defaults(plan: &mut mkimage_core::Plan, network: NetworkArg, hosts: &[KeyValue]) {
    let network = match network {
        NetworkArg::Default => Network::Default,
        NetworkArg::None => Network::None,
        NetworkArg::Host => Network::Host,
    };
    for step in plan.stages.iter_mut().flat_map(|stage| &mut stage.steps) {
        if let Op::Run(run) = &mut step.op {
            if run.network == Network::Default {
                run.network = network;
            }
            run.extra_hosts = hosts.to_vec();
        }
    }
}

/// The `--add-host` values, `HOST:IP` or `HOST=IP`, as host and address.
fn extra_hosts(values: &[String]) -> anyhow::Result<Vec<KeyValue>> {
    values
        .iter()
        .map(|value| {
            let Some((host, ip)) = value
                .split_once(['=', ':'])
                .filter(|(host, ip)| !host.is_empty() && !ip.is_empty())
            else {
                bail!("invalid `--add-host` `{value}`: expected HOST:IP");
            };
            if ip == "host-gateway" {
                let gateway = host_gateway()
                    .with_context(|| format!("`--add-host` `{value}` needs the host's address"))?;
                return Ok(KeyValue::new(host, gateway.to_string()));
            }
            if ip.parse::<IpAddr>().is_err() {
                bail!("invalid `--add-host` `{value}`: `{ip}` is not an IP address");
            }
            Ok(KeyValue::new(host, ip))
        })
        .collect()
}

/// The address `host-gateway` stands for: the host's own address on its default route. A
/// step on the default network reaches it through its network stack, as a docker
/// container reaches its bridge's gateway (the step's `127.0.0.1` is its own loopback).
fn host_gateway() -> anyhow::Result<IpAddr> {
    // Connecting a UDP socket sends nothing: it only asks the kernel for a route, whose
    // source address is the host's. The destination is a documentation address, routed by
    // the default route like any other.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket
        .connect((Ipv4Addr::new(203, 0, 113, 1), 9))
        .context("the host has no IPv4 route")?;
    Ok(socket.local_addr()?.ip())
}

/// The compression `--compression` and `--compression-level` ask for.
fn compression(kind: CompressionArg, level: Option<i32>) -> anyhow::Result<Compression> {
    Ok(match kind {
        CompressionArg::Gzip => {
            let level = level.unwrap_or(6);
            if !(0..=9).contains(&level) {
                bail!("gzip compression level {level} is not between 0 and 9");
            }
            Compression::Gzip {
                level: level.unsigned_abs(),
            }
        }
        CompressionArg::Zstd => {
            let level = level.unwrap_or(3);
            if !(1..=22).contains(&level) {
                bail!("zstd compression level {level} is not between 1 and 22");
            }
            Compression::Zstd { level }
        }
        CompressionArg::Uncompressed => Compression::Uncompressed,
    })
}

/// Parses `-o`: `type=oci|docker|local|tar,dest=PATH`, `type=registry,name=REF`, or a
/// bare path for `type=local`.
fn parse_output(text: &str) -> anyhow::Result<Output> {
    if !text.contains('=') {
        return Ok(Output::Local(PathBuf::from(text)));
    }
    let mut kind = None;
    let mut dest = None;
    let mut name = None;
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("type", value)) => kind = Some(value),
            Some(("dest", value)) => dest = Some(PathBuf::from(value)),
            Some(("name", value)) => name = Some(value),
            _ => bail!("invalid output `{text}`: unknown field `{part}`"),
        }
    }
    if kind == Some("registry") {
        let Some(name) = name else {
            bail!("invalid output `{text}`: `name=REF` is missing");
        };
        let reference = name
            .parse()
            .with_context(|| format!("invalid output `{text}`"))?;
        return Ok(Output::Registry(reference));
    }
    let Some(dest) = dest else {
        bail!("invalid output `{text}`: `dest=PATH` is missing");
    };
    match kind {
        Some("oci") => Ok(Output::Oci(dest)),
        Some("docker") => Ok(Output::Docker(dest)),
        Some("local") => Ok(Output::Local(dest)),
        Some("tar") => Ok(Output::Tar(dest)),
        Some(other) => {
            bail!(
                "invalid output `{text}`: unknown type `{other}` (oci, docker, local, tar, registry)"
            )
        }
        None => bail!("invalid output `{text}`: `type=` is missing"),
    }
}

/// Writes the image `image` to `output`.
fn write_output(
    store: &Store,
    image: &Descriptor,
    tags: &[Reference],
    platforms: &[Platform],
    output: &Output,
    client: &Client,
    events: &dyn mkimage_core::Events,
) -> anyhow::Result<()> {
    let (format, path) = match output {
        Output::Registry(name) => {
            push(client, store, image, name, events)?;
            return Ok(());
        }
        Output::Local(dir) => {
            export_rootfs(store, image, platforms, dir)?;
            return Ok(());
        }
        Output::Tar(path) => (None, path),
        Output::Oci(path) => (Some(ArchiveFormat::Oci), path),
        // As BuildKit's docker exporter: `docker load` takes no image index.
        Output::Docker(_) if platforms.len() > 1 => bail!(
            "a docker archive holds one platform's image: write several platforms with \
             `type=oci`"
        ),
        Output::Docker(path) => (Some(ArchiveFormat::Docker), path),
    };
    let images = [ArchiveImage {
        descriptor: image.clone(),
        names: tags.to_vec(),
    }];
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let write = || format!("failed to write `{}`", path.display());
    let temp = tempfile::Builder::new()
        .prefix(".mkimage-build-")
        .tempfile_in(dir)
        .with_context(write)?;
    let sink = BufWriter::new(temp);
    let mut sink = match format {
        Some(format) => write_archive(store, &images, format, &platforms[0], sink)?,
        None => export_rootfs_tar(store, image, platforms, sink)?,
    };
    sink.flush().with_context(write)?;
    let temp = sink
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(write)?;
    temp.as_file().sync_all().with_context(write)?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(write)?;
    Ok(())
}

/// What `--metadata-file` holds: the image and config digests (under BuildKit's keys;
/// no config for an index of several platforms), the names, and each step of each build
/// with whether it came from the cache.
fn metadata(image: &Descriptor, builds: &[Built], tags: &[Reference]) -> serde_json::Value {
    let results: Vec<_> = builds.iter().flat_map(|built| &built.steps).collect();
    let steps: Vec<serde_json::Value> = results
        .iter()
        .map(|result| {
            serde_json::json!({
                "step": result.step.to_string(),
                "key": result.key.to_string(),
                "cached": result.cached,
            })
        })
        .collect();
    let hits = results.iter().filter(|result| result.cached).count();
    let mut metadata = serde_json::json!({
        "containerimage.digest": image.digest().to_string(),
        "image.name": tags.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "cache": {"hits": hits, "misses": results.len() - hits, "steps": steps},
    });
    if let [built] = builds {
        metadata["containerimage.config.digest"] = built.config.digest().to_string().into();
    }
    metadata
}

/// The platforms of `--platform`: a comma-separated list, the host's when not given.
fn platforms(text: Option<&str>) -> anyhow::Result<Vec<Platform>> {
    let Some(text) = text else {
        return Ok(vec![Platform::host()]);
    };
    let mut platforms: Vec<Platform> = Vec::new();
    for part in text.split(',').map(str::trim) {
        let platform: Platform = part.parse()?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Ok(platforms)
}

/// A build error, located in the Dockerfile when it is about a step or a `FROM`.
fn located(name: &str, text: &str, error: mkimage_core::Error) -> anyhow::Error {
    let span = match &error {
        mkimage_core::Error::Build(build) => build.span().filter(|span| span.line > 0),
        _ => None,
    };
    match span {
        Some(span) => Located::error(name, text, span.line, span.col, &error).into(),
        None => error.into(),
    }
}
