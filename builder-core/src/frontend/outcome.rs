//! What a Dockerfile build gives back: the image, how each step went, and the warnings.

use std::fmt;

use base64::Engine as _;
use oci_spec::image::Descriptor;

use crate::build::StepResult;
use crate::events::Events;
use crate::plan::Reference;

/// What a Dockerfile build produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The image: a manifest, or for several platforms an index of one per platform.
    pub image: Descriptor,
    /// The image's config blob; `None` for an index.
    pub config: Option<Descriptor>,
    /// The names the image was given in the store.
    pub tags: Vec<Reference>,
    /// Every step of every platform's build (named contexts excluded), in order, with
    /// whether it came from the cache.
    pub steps: Vec<StepResult>,
    /// The ids of the `RUN --mount=type=cache` directories the steps mount, sorted.
    pub cache_mounts: Vec<String>,
    /// What the user should know about the Dockerfile and the build arguments.
    pub warnings: Vec<Warning>,
}

impl Outcome {
    /// What `mkimage build --metadata-file` writes: the image and config digests under
    /// BuildKit's keys (`containerimage.digest`, `containerimage.config.digest`), the
    /// names (`image.name`), the cache's hits and misses with each step, and the build
    /// checks that fired under buildx's key (`buildx.build.warnings`).
    pub fn metadata(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|result| {
                serde_json::json!({
                    "step": result.step.to_string(),
                    "key": result.key.to_string(),
                    "cached": result.cached,
                })
            })
            .collect();
        let hits = self.steps.iter().filter(|result| result.cached).count();
        let names: Vec<String> = self.tags.iter().map(ToString::to_string).collect();
        let mut metadata = serde_json::json!({
            "containerimage.digest": self.image.digest().to_string(),
            "image.name": names.join(","),
            "cache": {"hits": hits, "misses": self.steps.len() - hits, "steps": steps},
        });
        if let Some(config) = &self.config {
            metadata["containerimage.config.digest"] = config.digest().to_string().into();
        }
        let checks: Vec<serde_json::Value> =
            self.warnings.iter().filter_map(Warning::buildx).collect();
        if !checks.is_empty() {
            metadata["buildx.build.warnings"] = checks.into();
        }
        metadata
    }
}

impl Warning {
    /// A build check as buildx writes it under `buildx.build.warnings`: the level, the
    /// short text (`Rule: message (line N)`) and the rule's description in base64, its
    /// URL, the file and the line range. Other warnings give `None`.
    fn buildx(&self) -> Option<serde_json::Value> {
        let Warning::Check {
            file,
            line,
            rule,
            description,
            url,
            message,
            ..
        } = self
        else {
            return None;
        };
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        Some(serde_json::json!({
            "level": 1,
            "short": encode(&format!("{rule}: {message} (line {line})")),
            "detail": [encode(description)],
            "url": url,
            "sourceInfo": {"filename": file},
            "range": [{"start": {"line": line}, "end": {"line": line}}],
        }))
    }
}

/// Something about the Dockerfile or the request that does not stop the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Lowering's, about an instruction: `Dockerfile:3:1: …`.
    Lower {
        /// The Dockerfile's name.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The 1-based column.
        col: usize,
        /// What, in one sentence.
        message: String,
    },
    /// A build check that fired: one of BuildKit's rules, by its name.
    Check {
        /// The Dockerfile's name.
        file: String,
        /// The 1-based line of the instruction.
        line: usize,
        /// The 1-based column of the instruction.
        col: usize,
        /// The rule's name (`StageNameCasing`).
        rule: &'static str,
        /// What the rule asks for.
        description: &'static str,
        /// The rule's documentation page.
        url: String,
        /// What is wrong here.
        message: String,
    },
    /// Build arguments that no `ARG` of the Dockerfile (or of its bases' `ONBUILD`
    /// triggers) declares.
    UnusedBuildArgs {
        /// The Dockerfile's name.
        file: String,
        /// The arguments, sorted.
        names: Vec<String>,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Lower {
                file,
                line,
                col,
                message,
            } => write!(f, "{file}:{line}:{col}: {message}"),
            Warning::Check {
                file,
                line,
                col,
                rule,
                message,
                ..
            } => write!(f, "{file}:{line}:{col}: {rule}: {message}"),
            Warning::UnusedBuildArgs { file, names } => write!(
                f,
                "build arguments that no ARG of {file} declares: {}",
                names.join(", ")
            ),
        }
    }
}

/// The warnings of a build so far, each told to the event sink as it is found.
pub(super) struct Warnings<'a> {
    found: Vec<Warning>,
    events: &'a dyn Events,
}

impl<'a> Warnings<'a> {
    /// No warnings yet; later ones are told to `events`.
    pub(super) fn new(events: &'a dyn Events) -> Warnings<'a> {
        Warnings {
            found: Vec::new(),
            events,
        }
    }

    /// Keeps `warning`, and tells `events` of it unless it is a build check, which the
    /// caller lists after the build as BuildKit does.
    pub(super) fn add(&mut self, warning: Warning) {
        if !matches!(warning, Warning::Check { .. }) {
            self.events.warning(&warning.to_string());
        }
        self.found.push(warning);
    }

    /// The build checks that fired so far.
    pub(super) fn checks(&self) -> Vec<Warning> {
        let checks = self.found.iter();
        checks
            .filter(|warning| matches!(warning, Warning::Check { .. }))
            .cloned()
            .collect()
    }

    /// The warnings, in the order they were found.
    pub(super) fn into_vec(self) -> Vec<Warning> {
        self.found
    }
}
