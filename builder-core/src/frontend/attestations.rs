//! The attestations of a build: what the build knows of itself, handed to [`attest`]
//! for each platform's image, and their manifests for the image index.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::image::{Descriptor, Digest};

use crate::attest::{
    self, Attestations, BuildFacts, Material, ProvenanceMode, STATEMENT_V01, STATEMENT_V1, Setting,
    SlsaVersion, Statement, Subject,
};
use crate::build::Built;
use crate::context::{FileHashes, SelectOptions};
use crate::oci::Image;
use crate::plan::Platform;

use super::FrontendError;
use super::output::Output;
use super::request::ContextSource;
use super::session::Session;

/// The attestations `session`'s request asks for, with buildx's defaults for its outputs.
fn asked(session: &Session<'_>) -> Attestations {
    let keeps_index = session
        .request
        .outputs
        .iter()
        .any(|output| matches!(output, Output::Registry(_) | Output::Oci(_)));
    session.request.attestations.resolve(keeps_index)
}

/// Writes the attestation manifest of each of `builds` (one per platform, in order)
/// into the store; none when nothing is asked. `started` is when the build started;
/// `epoch` the build's `SOURCE_DATE_EPOCH`, which then gives every time.
pub(super) fn write(
    session: &Session<'_>,
    builds: &[Built],
    started: DateTime<Utc>,
    epoch: Option<i64>,
) -> Result<Vec<Descriptor>, FrontendError> {
    let asked = asked(session);
    if !asked.any() {
        return Ok(Vec::new());
    }
    if let Some(generator) = asked.sbom.as_ref().and_then(|s| s.generator.as_deref()) {
        session.events.warning(&format!(
            "the SBOM generator `{generator}` is not run: mkimage reads the image's packages itself"
        ));
    }
    let at = |time: DateTime<Utc>| {
        epoch
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .unwrap_or(time)
    };
    let (started, finished) = (at(started), at(DateTime::from(SystemTime::now())));
    let steps: Vec<_> = builds.iter().flat_map(|b| b.steps.clone()).collect();
    let fetched_from = context_url(&session.request.context).map(attest::redact_url);
    let facts = BuildFacts {
        dockerfile_name: &session.input.name,
        dockerfile: &session.input.text,
        context_url: fetched_from.as_deref(),
        context_digest: context_digest(session, &asked)?,
        build_args: &session.request.build_args,
        labels: &session.request.labels,
        target: session.request.target.as_deref(),
        platforms: &session.platforms,
        secrets: session.request.run_inputs.secret_ids(),
        ssh: session.request.run_inputs.ssh_ids(),
        materials: materials(session, builds),
        steps: &steps,
        started,
        finished,
    };
    let created = finished.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut manifests = Vec::new();
    for (built, platform) in builds.iter().zip(&session.platforms) {
        let statements = statements(session, built, platform, &asked, &facts, &created)?;
        manifests.push(attest::write_attestations(
            session.store,
            &built.image,
            &statements,
        )?);
    }
    Ok(manifests)
}

/// The statements about `built`, the image for `platform`.
fn statements(
    session: &Session<'_>,
    built: &Built,
    platform: &Platform,
    asked: &Attestations,
    facts: &BuildFacts<'_>,
    created: &str,
) -> Result<Vec<Statement>, FrontendError> {
    let subjects = subjects(session, built, platform);
    let mut statements = Vec::new();
    if asked.sbom.is_some() {
        let image = Image::load(session.store, &built.image, platform)?;
        let name = subjects
            .first()
            .map_or_else(|| built.image.digest().to_string(), |s| s.name.clone());
        statements.push(Statement {
            kind: STATEMENT_V01.to_owned(),
            subject: subjects.clone(),
            predicate_type: attest::SPDX_DOCUMENT.to_owned(),
            predicate: attest::sbom(session.store, &image, &name, created)?,
        });
    }
    if let Setting::On(options) = &asked.provenance {
        let kind = match options.version {
            SlsaVersion::V02 => STATEMENT_V01,
            SlsaVersion::V1 => STATEMENT_V1,
        };
        statements.push(Statement {
            kind: kind.to_owned(),
            subject: subjects,
            predicate_type: attest::predicate_type(options.version).to_owned(),
            predicate: attest::provenance(facts, options),
        });
    }
    Ok(statements)
}

/// The subjects of statements about `built`: the image manifest under each name the
/// image gets, as a package URL with its platform (`_` when it has no name).
fn subjects(session: &Session<'_>, built: &Built, platform: &Platform) -> Vec<Subject> {
    let names: Vec<String> = session
        .request
        .tags
        .iter()
        .map(|tag| attest::image_purl(&tag.to_string(), platform))
        .collect();
    if names.is_empty() {
        return vec![Subject::new("_".to_owned(), built.image.digest())];
    }
    names
        .into_iter()
        .map(|name| Subject::new(name, built.image.digest()))
        .collect()
}

/// The base images the build resolved, by digest, then what the steps of `builds`
/// fetched (`ADD` URLs by their bodies' digests, git sources by commit), each once.
fn materials(session: &Session<'_>, builds: &[Built]) -> Vec<Material> {
    let mut materials: Vec<Material> = session
        .resolver
        .resolved()
        .into_iter()
        .map(|(reference, platform, descriptor)| {
            Material::image(&reference, &platform, descriptor.digest())
        })
        .collect();
    let fetched = builds
        .iter()
        .flat_map(|b| &b.steps)
        .flat_map(|s| &s.fetched);
    for source in fetched {
        let material = Material {
            uri: attest::redact_url(&source.url),
            digest: BTreeMap::from([(source.algorithm.to_owned(), source.hex.clone())]),
        };
        if !materials.contains(&material) {
            materials.push(material);
        }
    }
    materials
}

/// For a provenance of `mode=max`, the content digest of the whole context, as a
/// `COPY . /` would select it (`.dockerignore` applied).
fn context_digest(
    session: &Session<'_>,
    asked: &Attestations,
) -> Result<Option<Digest>, FrontendError> {
    let max = matches!(&asked.provenance, Setting::On(o) if o.mode == ProvenanceMode::Max);
    if !max {
        return Ok(None);
    }
    let context = session.input.open_context()?;
    let mut selection = context
        .select(&["."], &SelectOptions::default())
        .map_err(crate::Error::from)?;
    let digest = selection
        .digest(&FileHashes::in_memory())
        .map_err(crate::Error::from)?;
    Ok(Some(digest))
}

/// The URL of a context that was fetched.
fn context_url(context: &ContextSource) -> Option<&str> {
    match context {
        ContextSource::Git(url) | ContextSource::Url(url) => Some(url),
        ContextSource::Dir(_) | ContextSource::Stream { .. } => None,
    }
}
