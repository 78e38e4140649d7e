//! One Dockerfile build in progress: named contexts, then a plan and a build per
//! platform, then the image or index and its outputs.

use std::collections::BTreeMap;

use oci_spec::image::Descriptor;

use mkimage_dockerfile::{BaseImage, Dockerfile, LowerOptions, Lowered, NamedContext};

use crate::Plan;
use crate::build::{BuildOptions, Builder, Built};
use crate::context::Context;
use crate::events::Events;
use crate::plan::Platform;
use crate::registry::Client;
use crate::remote_cache::CacheLocation;
use crate::store::Store;

use super::checks::Checks;
use super::error::build_error;
use super::input::Input;
use super::lowering::Lowering;
use super::outcome::Warnings;
use super::output::Written;
use super::pinned::Pinned;
use super::{
    Entitlement, FrontendError, Outcome, Request, Warning, attestations, build_args, index, named,
    network,
};

/// One build: the request and what was made of it so far.
pub(super) struct Session<'a> {
    pub store: &'a Store,
    /// The platforms to build, each once.
    pub platforms: Vec<Platform>,
    pub request: &'a Request,
    pub input: &'a Input,
    pub dockerfile: &'a Dockerfile,
    pub builder: &'a Builder,
    /// The builder's resolver, which lowering shares.
    pub resolver: &'a Pinned,
    pub events: &'a dyn Events,
}

impl Session<'_> {
    /// The platforms of `asked`, each once, in order: the host's when none is asked.
    pub(super) fn platforms(asked: &[Platform]) -> Vec<Platform> {
        let mut platforms: Vec<Platform> = Vec::new();
        for platform in asked {
            if !platforms.contains(platform) {
                platforms.push(platform.clone());
            }
        }
        if platforms.is_empty() {
            platforms.push(Platform::host());
        }
        platforms
    }

    /// Builds the named contexts, then the Dockerfile for each platform (untagged when
    /// there are several, then gathered in an index); adds the first platform's
    /// lowering warnings to `warnings`.
    pub(super) fn run(&self, mut warnings: Warnings<'_>) -> Result<Outcome, FrontendError> {
        let started = chrono::DateTime::from(std::time::SystemTime::now());
        let options = self.options()?;
        let named = named::resolve(
            &self.request.named_contexts,
            self.builder,
            &options,
            self.events,
        )?;
        let context = self.input.open_context()?;
        let hosts = network::host_entries(&self.request.extra_hosts)?;
        let mut builds = Vec::new();
        for platform in &self.platforms {
            let mut lowered = if builds.is_empty() {
                let (lowered, checks) =
                    self.first_lowering(platform, &named, &context, &mut warnings)?;
                checks.failure(&warnings)?;
                lowered
            } else {
                self.lower(platform, &named)?.0
            };
            network::run_defaults(&mut lowered.plan, self.request.network, &hosts);
            builds.push(self.build(&lowered.plan, &context, platform, &options)?);
        }
        let attestations = attestations::write(self, &builds, started, options.source_date_epoch)?;
        self.finish(&builds, &attestations, warnings.into_vec())
    }

    /// What `mkimage build --check` does: lowers the Dockerfile for the first platform
    /// and evaluates its checks, building nothing; returns every warning.
    pub(super) fn check(&self, mut warnings: Warnings<'_>) -> Result<Vec<Warning>, FrontendError> {
        let named = named::resolve(
            &self.request.named_contexts,
            self.builder,
            &self.options()?,
            self.events,
        )?;
        let context = self.input.open_context()?;
        self.first_lowering(&self.platforms[0], &named, &context, &mut warnings)?;
        Ok(warnings.into_vec())
    }

    /// Lowers the Dockerfile for the first platform and adds the warnings of lowering
    /// and of the build checks to `warnings`. The checks are evaluated even when lowering
    /// fails (without the bases' environment then), so that they explain the failure.
    fn first_lowering(
        &self,
        platform: &Platform,
        named: &BTreeMap<String, NamedContext>,
        context: &Context,
        warnings: &mut Warnings<'_>,
    ) -> Result<(Lowered, Checks), FrontendError> {
        let mut checks = Checks::new(self.dockerfile, &self.request.build_args)?;
        let lowered = self.lower(platform, named);
        let mut options = self.lower_options(platform, named);
        if let Ok((_, bases)) = &lowered {
            options.base_images = bases.clone();
        }
        let source = (self.dockerfile, self.input.text.as_str());
        checks.run(&self.input.name, source, &options, Some(context), warnings);
        let (lowered, bases) = lowered?;
        self.warn(&lowered, &bases, warnings);
        Ok((lowered, checks))
    }

    /// Writes the image of `outcome` to each output of the request, in order.
    pub(super) fn write_outputs(
        &self,
        outcome: &Outcome,
        client: &Client,
    ) -> Result<(), FrontendError> {
        let written = Written {
            store: self.store,
            image: &outcome.image,
            tags: &outcome.tags,
            platforms: &self.platforms,
            client,
            events: self.events,
        };
        self.request
            .outputs
            .iter()
            .try_for_each(|output| written.write(output))
    }

    /// How every platform's build (and the named contexts') is built.
    fn options(&self) -> Result<BuildOptions, FrontendError> {
        let request = self.request;
        Ok(BuildOptions {
            tags: request.tags.clone(),
            platform: Platform::host(),
            compression: request.compression,
            no_cache: request.cache.no_cache,
            no_cache_stages: request.cache.no_cache_stages.clone(),
            source_date_epoch: build_args::source_date_epoch(
                request.source_date_epoch,
                &request.build_args,
            )?,
            labels: request.labels.clone(),
            allow_insecure: request
                .entitlements
                .contains(&Entitlement::SecurityInsecure),
            allow_host_network: request.entitlements.contains(&Entitlement::NetworkHost),
            inline_cache: request
                .cache
                .to
                .iter()
                .any(|to| to.location == CacheLocation::Inline),
        })
    }

    /// The Dockerfile lowered for `platform`, and what lowering learnt of its bases.
    fn lower(
        &self,
        platform: &Platform,
        named: &BTreeMap<String, NamedContext>,
    ) -> Result<(Lowered, BTreeMap<String, BaseImage>), FrontendError> {
        let lowering = Lowering {
            store: self.store,
            dockerfile: self.dockerfile,
            name: &self.input.name,
            text: &self.input.text,
            resolver: self.resolver,
            events: self.events,
        };
        lowering.lower(self.lower_options(platform, named))
    }

    /// The options of lowering for `platform`, without the bases.
    fn lower_options(
        &self,
        platform: &Platform,
        named: &BTreeMap<String, NamedContext>,
    ) -> LowerOptions {
        LowerOptions {
            build_args: self.request.build_args.clone(),
            target: self.request.target.clone(),
            named_contexts: named.clone(),
            build_platform: Platform::host(),
            ..LowerOptions::new(platform.clone())
        }
    }

    /// Adds to `warnings` the build arguments that no `ARG` of the Dockerfile or of the
    /// bases' triggers declares, and lowering's warnings.
    fn warn(
        &self,
        lowered: &Lowered,
        bases: &BTreeMap<String, BaseImage>,
        warnings: &mut Warnings<'_>,
    ) {
        let file = &self.input.name;
        let triggers = bases.values().flat_map(|base| &base.onbuild);
        let unused = build_args::unconsumed(self.dockerfile, triggers, &self.request.build_args);
        if !unused.is_empty() {
            warnings.add(Warning::UnusedBuildArgs {
                file: file.clone(),
                names: unused,
            });
        }
        for warning in &lowered.warnings {
            warnings.add(Warning::Lower {
                file: file.clone(),
                line: warning.span.line,
                col: warning.span.col,
                message: warning.message.clone(),
            });
        }
    }

    /// Builds `plan` for `platform` from `context`: tagged when it is the only platform.
    fn build(
        &self,
        plan: &Plan,
        context: &Context,
        platform: &Platform,
        options: &BuildOptions,
    ) -> Result<Built, FrontendError> {
        let options = BuildOptions {
            platform: platform.clone(),
            tags: if self.platforms.len() == 1 {
                options.tags.clone()
            } else {
                Vec::new()
            },
            ..options.clone()
        };
        self.builder
            .build(plan, context, &options, self.events)
            .map_err(|error| build_error(&self.input.name, &self.input.text, error))
    }

    /// The outcome of `builds`: the one image, or an index of them with their
    /// `attestations`, tagged.
    fn finish(
        &self,
        builds: &[Built],
        attestations: &[Descriptor],
        warnings: Vec<Warning>,
    ) -> Result<Outcome, FrontendError> {
        let config = match builds {
            [built] => Some(built.config.clone()),
            _ => None,
        };
        let image = match builds {
            [built] if attestations.is_empty() => built.image.clone(),
            _ => {
                let manifests: Vec<_> = builds.iter().map(|built| built.image.clone()).collect();
                index::write(self.store, &manifests, attestations, &self.request.tags)?
            }
        };
        Ok(Outcome {
            image,
            config,
            tags: self.request.tags.clone(),
            steps: builds
                .iter()
                .flat_map(|built| built.steps.clone())
                .collect(),
            cache_mounts: {
                let mut ids: Vec<String> = builds
                    .iter()
                    .flat_map(|built| built.cache_mounts.clone())
                    .collect();
                ids.sort();
                ids.dedup();
                ids
            },
            warnings,
        })
    }
}
