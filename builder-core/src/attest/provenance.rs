//! SLSA provenance of a build, as BuildKit fills it
//! (`docs/attestations/slsa-definitions.md` of moby/buildkit): v0.2 by default, v1 on
//! request.
//!
//! `mode=min` tells the builder, the build type, the invocation (the frontend
//! `dockerfile.v0`, the build arguments that do not look secret, labels, target and
//! platforms), the builder's platform and the materials (the base images by digest, the
//! `ADD` URLs with the digests of their bodies, the git sources with their commits).
//! `mode=max` adds the Dockerfile, each step with its cache key and whether it was
//! cached, the context's digest and the ids (never the values) of the secrets and SSH
//! agents. Times come from `SOURCE_DATE_EPOCH` when it is set, and the invocation id is
//! a digest of the request and that time, so that equal builds give equal provenance.
//! The structure follows BuildKit's build type, whose readers then read it.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::image::Digest;
use serde_json::{Value, json};

use crate::build::StepResult;
use crate::plan::{KeyValue, Platform};

use super::{ProvenanceMode, ProvenanceOptions, SlsaVersion};

/// The predicate type of SLSA provenance v0.2.
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// The predicate type of SLSA provenance v1.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// The build type of BuildKit's v0.2 provenance, whose fields we fill.
const BUILD_TYPE_V02: &str = "https://mobyproject.org/buildkit@v1";
/// The build type of BuildKit's v1 provenance.
const BUILD_TYPE_V1: &str =
    "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md";
/// The key of BuildKit's extension field in v0.2 metadata.
const METADATA_KEY: &str = "https://mobyproject.org/buildkit@v1#metadata";

/// What a build knows of itself, for its provenance.
#[derive(Debug, Clone)]
pub struct BuildFacts<'a> {
    /// The Dockerfile's name (`Dockerfile`).
    pub dockerfile_name: &'a str,
    /// The Dockerfile.
    pub dockerfile: &'a str,
    /// The URL of the context when it was fetched (a git repository, an archive).
    pub context_url: Option<&'a str>,
    /// The context's content digest, for `mode=max`.
    pub context_digest: Option<Digest>,
    /// The build arguments.
    pub build_args: &'a BTreeMap<String, String>,
    /// The `--label` values.
    pub labels: &'a [KeyValue],
    /// The target stage.
    pub target: Option<&'a str>,
    /// The platforms built.
    pub platforms: &'a [Platform],
    /// The ids of the build's secrets.
    pub secrets: Vec<String>,
    /// The ids of the build's SSH agents.
    pub ssh: Vec<String>,
    /// The materials: base images, downloads, git sources.
    pub materials: Vec<Material>,
    /// Every step, with its cache key and whether it was cached.
    pub steps: &'a [StepResult],
    /// When the build started and finished.
    pub started: DateTime<Utc>,
    /// When the build finished.
    pub finished: DateTime<Utc>,
}

/// Something the build read from outside: its URI and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// A package URL (`pkg:docker/…`), an http(s) URL or a git URL.
    pub uri: String,
    /// Its digests, by algorithm (`sha256`, `sha1` for a git commit).
    pub digest: BTreeMap<String, String>,
}

impl Material {
    /// The base image `reference` resolved for `platform` to `digest`, as a package URL.
    pub fn image(reference: &str, platform: &Platform, digest: &Digest) -> Material {
        Material {
            uri: image_purl(reference, platform),
            digest: BTreeMap::from([(digest.algorithm().to_string(), digest.digest().to_owned())]),
        }
    }
}

/// The package URL of the image `reference` for `platform`, as BuildKit writes it:
/// `pkg:docker/NAME@TAG?platform=OS%2FARCH`.
pub fn image_purl(reference: &str, platform: &Platform) -> String {
    format!(
        "{}?platform={}",
        docker_purl(reference),
        encode(&platform.to_string())
    )
}

/// `pkg:docker/NAME@TAG` for the reference `reference` (`NAME:TAG`, `NAME@DIGEST`).
fn docker_purl(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    let (repository, version) = match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (name, "latest"),
    };
    format!("pkg:docker/{repository}@{}", encode(version))
}

/// `text` percent-encoded as a package URL's qualifier or version.
pub(super) fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~')
        .remove(b'+');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// `url` without the credentials its authority may hold (`https://user:token@host/…`
/// gives `https://host/…`), as a provenance may show it.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_owned(),
    }
}

/// The predicate type of provenance `version`.
pub fn predicate_type(version: SlsaVersion) -> &'static str {
    match version {
        SlsaVersion::V02 => SLSA_V02,
        SlsaVersion::V1 => SLSA_V1,
    }
}

/// The provenance predicate of the build `facts` for `options`.
pub fn provenance(facts: &BuildFacts<'_>, options: &ProvenanceOptions) -> Value {
    let max = options.mode == ProvenanceMode::Max;
    let builder_id = options
        .builder_id
        .clone()
        .unwrap_or_else(|| env!("CARGO_PKG_REPOSITORY").to_owned());
    let materials: Vec<Value> = facts
        .materials
        .iter()
        .map(|m| json!({"uri": m.uri, "digest": m.digest}))
        .collect();
    let parameters = parameters(facts, max);
    let started = time(&facts.started);
    let finished = time(&facts.finished);
    let id = invocation_id(facts);
    let host = Platform::host().to_string();
    let mut config_source = serde_json::Map::new();
    if let Some(url) = facts.context_url {
        config_source.insert("uri".to_owned(), url.into());
    }
    match options.version {
        SlsaVersion::V02 => {
            config_source.insert("entryPoint".to_owned(), facts.dockerfile_name.into());
            let mut predicate = json!({
                "builder": {"id": builder_id},
                "buildType": BUILD_TYPE_V02,
                "materials": materials,
                "invocation": {
                    "configSource": config_source,
                    "parameters": parameters,
                    "environment": {"platform": host},
                },
                "metadata": {
                    "buildInvocationID": id,
                    "buildStartedOn": started,
                    "buildFinishedOn": finished,
                    "completeness": {"parameters": max, "environment": true, "materials": false},
                    "reproducible": false,
                },
            });
            if max {
                predicate["buildConfig"] = build_config(facts);
                predicate["metadata"][METADATA_KEY] = source(facts);
            }
            predicate
        }
        SlsaVersion::V1 => {
            config_source.insert("path".to_owned(), facts.dockerfile_name.into());
            let mut predicate = json!({
                "buildDefinition": {
                    "buildType": BUILD_TYPE_V1,
                    "externalParameters": {"configSource": config_source, "request": parameters},
                    "internalParameters": {"builderPlatform": host},
                    "resolvedDependencies": materials,
                },
                "runDetails": {
                    "builder": {"id": builder_id},
                    "metadata": {
                        "invocationID": id,
                        "startedOn": started,
                        "finishedOn": finished,
                        "buildkit_completeness": {"request": max, "resolvedDependencies": false},
                        "buildkit_reproducible": false,
                    },
                },
            });
            if max {
                predicate["buildDefinition"]["internalParameters"]["buildConfig"] =
                    build_config(facts);
                predicate["runDetails"]["metadata"]["buildkit_metadata"] = source(facts);
            }
            predicate
        }
    }
}

/// The request as the frontend got it: build arguments that do not look secret,
/// labels, target and platforms; with `max`, the secrets' and SSH agents' ids and the
/// context's digest.
fn parameters(facts: &BuildFacts<'_>, max: bool) -> Value {
    let mut args = BTreeMap::new();
    for (key, value) in facts.build_args {
        if !mkimage_dockerfile::checks::looks_secret(key) {
            args.insert(format!("build-arg:{key}"), value.clone());
        }
    }
    for label in facts.labels {
        args.insert(format!("label:{}", label.key), label.value.clone());
    }
    if let Some(target) = facts.target {
        args.insert("target".to_owned(), target.to_owned());
    }
    let platforms: Vec<String> = facts.platforms.iter().map(ToString::to_string).collect();
    args.insert("platform".to_owned(), platforms.join(","));
    let mut context = json!({"name": "context"});
    if max && let Some(digest) = &facts.context_digest {
        context["digest"] = json!({digest.algorithm().to_string(): digest.digest()});
    }
    let mut parameters = json!({
        "frontend": "dockerfile.v0",
        "args": args,
        "locals": [context, {"name": "dockerfile"}],
    });
    if max {
        let secrets: Vec<Value> = facts
            .secrets
            .iter()
            .map(|id| json!({"id": id, "optional": false}))
            .collect();
        let ssh: Vec<Value> = facts.ssh.iter().map(|id| json!({"id": id})).collect();
        parameters["secrets"] = secrets.into();
        parameters["ssh"] = ssh.into();
    }
    parameters
}

/// `mode=max`'s steps: each with its cache key, whether it was cached, and whether it
/// is in a stage the image is made of.
fn build_config(facts: &BuildFacts<'_>) -> Value {
    let steps: Vec<Value> = facts
        .steps
        .iter()
        .map(|result| {
            json!({
                "id": result.step.to_string(),
                "cacheKey": result.key.to_string(),
                "cached": result.cached,
                "inImage": result.in_image,
            })
        })
        .collect();
    json!({"steps": steps})
}

/// `mode=max`'s source: the Dockerfile, in base64 as BuildKit gives it.
fn source(facts: &BuildFacts<'_>) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(facts.dockerfile);
    json!({"source": {"infos": [{
        "filename": facts.dockerfile_name,
        "language": "Dockerfile",
        "data": data,
    }]}})
}

/// A time as SLSA writes it: RFC 3339 in UTC, to the second.
fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An id of this invocation: a digest of the request and its start, so that two builds
/// of one request at one `SOURCE_DATE_EPOCH` share it.
fn invocation_id(facts: &BuildFacts<'_>) -> String {
    let mut text = String::new();
    for part in [
        facts.dockerfile_name,
        facts.dockerfile,
        facts.target.unwrap_or(""),
    ] {
        text.push_str(&format!("{}:{part}", part.len()));
    }
    for (key, value) in facts.build_args {
        text.push_str(&format!("{}:{key}{}:{value}", key.len(), value.len()));
    }
    for platform in facts.platforms {
        text.push_str(&format!("p:{platform}"));
    }
    text.push_str(&time(&facts.started));
    let digest = crate::digest::sha256(text.as_bytes());
    digest.digest()[..25].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(args: &'a BTreeMap<String, String>, steps: &'a [StepResult]) -> BuildFacts<'a> {
        let epoch = DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time");
        BuildFacts {
            dockerfile_name: "Dockerfile",
            dockerfile: "FROM scratch\n",
            context_url: None,
            context_digest: None,
            build_args: args,
            labels: &[],
            target: Some("app"),
            platforms: &[],
            secrets: vec!["npmrc".to_owned()],
            ssh: Vec::new(),
            materials: vec![Material::image(
                "localhost:5000/base:1",
                &Platform::new("linux", "amd64", None),
                &crate::digest::sha256(b"base"),
            )],
            steps,
            started: epoch,
            finished: epoch,
        }
    }

    #[test]
    fn min_has_the_request_and_materials_but_no_secret_args() {
        let args = BTreeMap::from([
            ("VERSION".to_owned(), "1.2".to_owned()),
            ("API_TOKEN".to_owned(), "hunter2".to_owned()),
        ]);
        let predicate = provenance(&facts(&args, &[]), &ProvenanceOptions::default());
        let text = predicate.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("npmrc"), "min names no secret: {text}");
        let parameters = &predicate["invocation"]["parameters"];
        assert_eq!(parameters["frontend"], "dockerfile.v0");
        assert_eq!(parameters["args"]["build-arg:VERSION"], "1.2");
        assert_eq!(parameters["args"]["target"], "app");
        assert_eq!(
            predicate["materials"][0]["uri"],
            "pkg:docker/localhost:5000/base@1?platform=linux%2Famd64"
        );
        assert_eq!(
            predicate["metadata"]["buildStartedOn"],
            "2023-11-14T22:13:20Z"
        );
        assert!(predicate.get("buildConfig").is_none());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:tok@example.com/repo.git#main"),
            "https://example.com/repo.git#main"
        );
        assert_eq!(
            redact_url("https://example.com/a@b.tar"),
            "https://example.com/a@b.tar"
        );
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn max_adds_the_dockerfile_and_secret_ids() {
        let args = BTreeMap::new();
        let options = ProvenanceOptions {
            mode: ProvenanceMode::Max,
            ..ProvenanceOptions::default()
        };
        let predicate = provenance(&facts(&args, &[]), &options);
        assert_eq!(
            predicate["invocation"]["parameters"]["secrets"][0]["id"],
            "npmrc"
        );
        let data = &predicate["metadata"][METADATA_KEY]["source"]["infos"][0]["data"];
        assert_eq!(data, "RlJPTSBzY3JhdGNoCg==");
        let v1 = provenance(
            &facts(&args, &[]),
            &ProvenanceOptions {
                version: SlsaVersion::V1,
                ..options
            },
        );
        assert_eq!(
            v1["buildDefinition"]["externalParameters"]["request"]["frontend"],
            "dockerfile.v0"
        );
        assert_eq!(
            v1["runDetails"]["metadata"]["startedOn"],
            "2023-11-14T22:13:20Z"
        );
    }
}
