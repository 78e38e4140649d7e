//! `mkimage build`: the flags made into a [`Request`] for the library's Dockerfile
//! build, its progress shown, and the image id printed.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mkimage_core::Events;
use mkimage_core::attest::{AttestError, Attestations, Setting};
use mkimage_core::exec::Sandbox;
use mkimage_core::frontend::{
    CacheOptions, ContextSource, DockerfileSource, Entitlement, Frontend, FrontendError, Isolation,
    Output, Request,
};
use mkimage_core::layer::Compression;
use mkimage_core::plan::{KeyValue, Network, Platform, Reference};
use mkimage_core::store::Store;

use crate::args::{
    BuildArgs, CompressionArg, Entitlement as EntitlementArg, IsolationArg, NetworkArg,
    ProgressMode,
};
use crate::located::frontend_error;
use crate::parse::read_dockerfile;
use crate::render::{self, Progress, Quiet, StepBars};
use crate::secrets;

/// Runs `mkimage build`.
pub(crate) fn run(store: &Store, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let request = request(args)?;
    let outputs_stdout = request.outputs.iter().any(Output::is_stdout);
    let mut frontend = Frontend::new(store.clone())
        .with_registry(crate::registry::client_options(&args.registry)?)
        .always_pull(args.pull);
    if let Some(runtime) = &args.runtime {
        frontend = frontend.with_sandbox(Sandbox::runc(runtime));
    }
    let plain = Progress::new();
    let bars = match (args.quiet, args.progress) {
        (false, ProgressMode::Tty) => Some(StepBars::new()),
        (false, ProgressMode::Auto) if std::io::stderr().is_terminal() => Some(StepBars::new()),
        _ => None,
    };
    let events: &dyn Events = match &bars {
        _ if args.quiet => &Quiet,
        Some(bars) => bars,
        None => &plain,
    };
    if args.check {
        let warnings = frontend.check(request, events).map_err(frontend_error)?;
        let fired = render::check_report(&warnings)?;
        return Ok(if fired {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let outcome = frontend.build(request, events).map_err(|error| {
        if let FrontendError::ChecksFailed { warnings, .. } = &error {
            render::check_summary(warnings);
        }
        frontend_error(error)
    })?;
    render::check_summary(&outcome.warnings);
    let id = outcome.image.digest().to_string();
    if let Some(path) = &args.metadata_file {
        let text =
            serde_json::to_string_pretty(&outcome.metadata()).context("failed to write JSON")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    // Standard output holds the streamed output alone.
    if !outputs_stdout {
        render::line(&id)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses outputs to standard output (`dest=-`) when it is a terminal, as buildx does,
/// or when more than one would share it.
fn check_stdout(outputs: &[Output]) -> anyhow::Result<()> {
    let mut streamed = outputs.iter().filter(|output| output.is_stdout());
    let Some(first) = streamed.next() else {
        return Ok(());
    };
    if streamed.next().is_some() {
        bail!("only one output can go to standard output (`dest=-`)");
    }
    if std::io::stdout().is_terminal() {
        bail!(
            "dest file is required for the `{}` output: refusing to write to a terminal",
            first.kind()
        );
    }
    Ok(())
}

/// The build the flags ask for.
fn request(args: &BuildArgs) -> anyhow::Result<Request> {
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
    let mut outputs = args
        .outputs
        .iter()
        .map(|text| text.parse())
        .collect::<Result<Vec<Output>, _>>()?;
    if args.push {
        outputs.extend(tags.iter().cloned().map(Output::Registry));
    }
    check_stdout(&outputs)?;
    let build_args = build_args(&args.build_args);
    Ok(Request {
        dockerfile: dockerfile(args)?,
        source_date_epoch: source_date_epoch(&build_args)?,
        build_args,
        target: args.target.clone(),
        platforms: platforms(args.platform.as_deref())?,
        named_contexts: named_contexts(&args.build_contexts)?,
        run_inputs: secrets::step_inputs(&args.secrets, &args.ssh)?,
        isolation: match args.isolation {
            IsolationArg::Oci => Isolation::Oci,
            IsolationArg::Chroot => Isolation::Chroot,
        },
        network: match args.network {
            NetworkArg::Default => Network::Default,
            NetworkArg::None => Network::None,
            NetworkArg::Host => Network::Host,
        },
        extra_hosts: args
            .add_hosts
            .iter()
            .map(|text| text.parse())
            .collect::<Result<_, _>>()?,
        tags,
        outputs,
        cache: CacheOptions {
            no_cache: args.no_cache,
            no_cache_stages: args.no_cache_filter.clone(),
            from: parse_all(&args.cache_from)?,
            to: parse_all(&args.cache_to)?,
        },
        labels: args
            .labels
            .iter()
            .map(|label| match label.split_once('=') {
                Some((key, value)) => KeyValue::new(key, value),
                None => KeyValue::new(label.as_str(), ""),
            })
            .collect(),
        compression: compression(args.compression, args.compression_level)?,
        entitlements: args
            .allow
            .iter()
            .map(|allowed| match allowed {
                EntitlementArg::SecurityInsecure => Entitlement::SecurityInsecure,
                EntitlementArg::NetworkHost => Entitlement::NetworkHost,
            })
            .collect(),
        attestations: attestations(args)?,
        ..Request::new(context(args))
    })
}

/// The attestations `--attest`, then `--sbom` and `--provenance`, ask for. With
/// `BUILDX_NO_DEFAULT_ATTESTATIONS` set (not to `0` or `false`), as in buildx, only those.
fn attestations(args: &BuildArgs) -> Result<Attestations, AttestError> {
    let no_defaults = std::env::var("BUILDX_NO_DEFAULT_ATTESTATIONS")
        .is_ok_and(|value| !["", "0", "false"].contains(&value.as_str()));
    let mut asked = Attestations {
        provenance: if no_defaults {
            Setting::Off
        } else {
            Setting::Default
        },
        ..Attestations::default()
    };
    for text in &args.attest {
        asked.apply_attest(text)?;
    }
    if let Some(text) = &args.sbom {
        asked.apply_sbom(text)?;
    }
    if let Some(text) = &args.provenance {
        asked.apply_provenance(text)?;
    }
    Ok(asked)
}

/// Each of `values` parsed (`--cache-from`, `--cache-to`).
fn parse_all<T: std::str::FromStr>(values: &[String]) -> Result<Vec<T>, T::Err> {
    values.iter().map(|value| value.parse()).collect()
}

/// The build context: standard input for `-`, else a git URL, an http(s) URL or a
/// directory.
fn context(args: &BuildArgs) -> ContextSource {
    if args.context == Path::new("-") {
        return ContextSource::Stream {
            name: "<stdin>".to_owned(),
            reader: Box::new(std::io::stdin()),
        };
    }
    match args.context.to_str() {
        Some(location) => ContextSource::from_location(location),
        None => ContextSource::Dir(args.context.clone()),
    }
}

/// The Dockerfile of `-f`: standard input for `-`, read here.
fn dockerfile(args: &BuildArgs) -> anyhow::Result<DockerfileSource> {
    Ok(match &args.file {
        None => DockerfileSource::Default,
        Some(file) if file == Path::new("-") => {
            if args.context == Path::new("-") {
                bail!(
                    "the build context and the Dockerfile cannot both be read from standard input"
                );
            }
            let (name, text) = read_dockerfile(file)?;
            DockerfileSource::Text { name, text }
        }
        Some(file) => DockerfileSource::Path(file.clone()),
    })
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

/// The environment's `SOURCE_DATE_EPOCH`, when no build argument gives one.
fn source_date_epoch(build_args: &BTreeMap<String, String>) -> Result<Option<i64>, FrontendError> {
    if build_args.contains_key("SOURCE_DATE_EPOCH") {
        return Ok(None);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.is_empty() => value
            .parse()
            .map(Some)
            .map_err(|source| FrontendError::SourceDateEpoch { value, source }),
        _ => Ok(None),
    }
}

/// `--build-context NAME=VALUE` values, by name.
fn named_contexts(values: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut named = BTreeMap::new();
    for value in values {
        let Some((name, source)) = value.split_once('=').filter(|(name, _)| !name.is_empty())
        else {
            bail!("invalid `--build-context` `{value}`: expected NAME=VALUE");
        };
        named.insert(name.to_owned(), source.to_owned());
    }
    Ok(named)
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

/// The platforms of `--platform`, a comma-separated list; none (the host's) when not
/// given.
fn platforms(text: Option<&str>) -> anyhow::Result<Vec<Platform>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    Ok(text
        .split(',')
        .map(|part| part.trim().parse())
        .collect::<Result<_, _>>()?)
}
