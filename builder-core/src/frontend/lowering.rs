//! Lowering the Dockerfile with what its base images hold.
//!
//! A base's environment matters to expansion (`ENV PATH=$PATH:/x`) and its `ONBUILD`
//! triggers run at the start of the stage, but the parser does no I/O. So the Dockerfile
//! is lowered once to learn its bases, they are resolved (through the build's resolver,
//! which pins them for the build) and read, and it is lowered again with them.

use std::collections::BTreeMap;

use mkimage_dockerfile::{BaseImage, Dockerfile, LowerOptions, Lowered};

use crate::Plan;
use crate::build::BuildError;
use crate::events::Events;
use crate::oci::Image;
use crate::plan::{Base, KeyValue, Platform};
use crate::resolver::BaseResolver;
use crate::store::Store;

use super::FrontendError;
use super::error::{build_error, lower_error};

/// The Dockerfile of a build, and how its bases are found.
pub(super) struct Lowering<'a> {
    pub store: &'a Store,
    pub dockerfile: &'a Dockerfile,
    /// The Dockerfile's name and text, to locate errors.
    pub name: &'a str,
    pub text: &'a str,
    pub resolver: &'a dyn BaseResolver,
    pub events: &'a dyn Events,
}

impl Lowering<'_> {
    /// Lowers the Dockerfile with `options`, its bases' environment and triggers
    /// included; returns the plan and what lowering learnt of the bases.
    ///
    /// # Errors
    ///
    /// The lowering's, located in the Dockerfile, and a base that cannot be resolved or
    /// read, located at its `FROM`.
    pub(super) fn lower(
        &self,
        mut options: LowerOptions,
    ) -> Result<(Lowered, BTreeMap<String, BaseImage>), FrontendError> {
        let lower = |options: &LowerOptions| {
            mkimage_dockerfile::lower(self.dockerfile, options)
                .map_err(|error| lower_error(self.name, self.text, error))
        };
        let lowered = lower(&options)?;
        options.base_images = self
            .base_images(&lowered.plan, &options.target_platform)
            .map_err(|error| build_error(self.name, self.text, error))?;
        if options.base_images.is_empty() {
            return Ok((lowered, options.base_images));
        }
        Ok((lower(&options)?, options.base_images))
    }

    /// The environment and `ONBUILD` triggers of the plan's base images, by reference.
    fn base_images(
        &self,
        plan: &Plan,
        platform: &Platform,
    ) -> crate::Result<BTreeMap<String, BaseImage>> {
        let mut found = BTreeMap::new();
        for stage in &plan.stages {
            let Base::Image(reference) = &stage.base else {
                continue;
            };
            let platform = stage.platform.as_ref().unwrap_or(platform);
            let image = self
                .resolver
                .resolve(self.store, reference, platform, self.events)
                .and_then(|descriptor| Image::load(self.store, &descriptor, platform))
                .map_err(|source| BuildError::Base {
                    span: stage.span,
                    reference: reference.clone(),
                    source: Box::new(source),
                })?;
            found.insert(reference.clone(), base_image(&image));
        }
        Ok(found)
    }
}

/// What lowering uses of `image`: its environment and triggers.
fn base_image(image: &Image) -> BaseImage {
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
    BaseImage { env, onbuild }
}
