//! The build engine: executes a [`Plan`] into an image in the store.
//!
//! A [`Builder`] holds a [`Store`], a [`BaseResolver`] (how `FROM <image>` finds its
//! image: by default the store, then `oci-archive:`/`docker-archive:`/`oci:` files) and a
//! [`StepExecutor`] (how `RUN` runs: by default it does not). [`Builder::build`] builds
//! the stages the target needs, each as soon as the stages it reads from are built (so
//! independent stages build at the same time), each step on top of the previous:
//!
//! - `COPY` (and `ADD`) selects its sources from the build [`Context`], an earlier stage
//!   or an image, places them with Docker's destination rules and writes them as one
//!   layer; `ADD` also extracts local archives and downloads URLs ([`crate::add`],
//!   [`crate::fetch`]);
//! - `WORKDIR` sets the working directory and writes a layer creating it when missing;
//! - the other instructions edit the image config;
//! - `RUN` goes to the executor.
//!
//! Progress shows a stage's base as its first step when it is an image or an earlier
//! stage (`[stage-1 1/3] FROM alpine`), as docker does, so [`StepRef::step`] counts it.
//!
//! Every step has a cache key ([`crate::cache`]): its parent's key, its op, and the
//! content digest of what it reads. What a step produced is recorded in the store under
//! its key; a later build finds it there and neither reads nor writes the layer again
//! (the step is reported with [`Events::step_cached`]).
//!
//! ```
//! use mkimage_core::build::{BuildOptions, Builder};
//! use mkimage_core::context::Context;
//! use mkimage_core::plan::{Base, Copy, Op, Plan, Stage, Step, StepMeta, Span};
//! use mkimage_core::store::Store;
//! use mkimage_core::NoEvents;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("ctx"))?;
//! std::fs::write(dir.path().join("ctx/hello.txt"), "hello\n")?;
//! let store = Store::open(dir.path().join("store"))?;
//! let context = Context::open(dir.path().join("ctx"), None)?;
//! let step = |op| Step { op, meta: StepMeta::default() };
//! let plan = Plan {
//!     stages: vec![Stage {
//!         name: None,
//!         base: Base::Scratch,
//!         platform: None,
//!         steps: vec![step(Op::Copy(Copy::new(vec!["hello.txt".into()], "/")))],
//!         span: Span::default(),
//!         from_text: None,
//!     }],
//!     target: 0,
//! };
//! let options = BuildOptions { tags: vec!["hello:latest".parse()?], ..BuildOptions::default() };
//! let built = Builder::new(store.clone()).build(&plan, &context, &options, &NoEvents)?;
//! assert_eq!(store.find_image("hello")?.digest(), built.image.digest());
//! // The same build again finds every step in the cache.
//! let again = Builder::new(store).build(&plan, &context, &options, &NoEvents)?;
//! assert!(again.steps.iter().all(|step| step.cached));
//! assert_eq!(again.image.digest(), built.image.digest());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod add;
mod chmod;
mod config;
mod copy;
mod error;
mod fs;
mod history;
mod imported;
mod lineage;
mod no_run;
mod ops;
mod output;
mod record;
mod schedule;
mod stage;
mod staging;
mod workdir;

use std::sync::Arc;

use oci_spec::image::Descriptor;

use crate::cache::{CacheKey, CachedStep, INLINE_KEY, ImportedCache};
use crate::context::{Context, FileHashes};
use crate::digest::sha256;
use crate::events::{Events, StepRef};
use crate::executor::StepExecutor;
use crate::layer::Compression;
use crate::net::Http;
use crate::oci::write_image;
use crate::plan::{Base, KeyValue, Network, Op, Plan, Platform, Reference, Security};
use crate::resolver::{BaseResolver, LocalResolver};
use crate::store::Store;

pub use error::BuildError;
pub use imported::cache_config;
pub use no_run::NoRun;
pub use output::{export_rootfs, export_rootfs_tar};

/// Builds plans into images of one store.
pub struct Builder {
    store: Store,
    resolver: Box<dyn BaseResolver>,
    executor: Box<dyn StepExecutor>,
    http: Http,
    imported: Option<Arc<dyn ImportedCache>>,
}

/// How to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// The names to give the image; none keeps it untagged.
    pub tags: Vec<Reference>,
    /// The platform to build for, where a stage does not name one.
    pub platform: Platform,
    /// How new layers are compressed.
    pub compression: Compression,
    /// Run every step, reading no cache record (records are still written).
    pub no_cache: bool,
    /// Stages whose steps run without reading the cache (`--no-cache-filter`), by name or
    /// index; the steps of other stages still hit.
    pub no_cache_stages: Vec<String>,
    /// `SOURCE_DATE_EPOCH`: every `created` is this time, and file mtimes in new layers
    /// are clamped to it.
    pub source_date_epoch: Option<i64>,
    /// Labels added to the image's config (`--label`), after the Dockerfile's.
    pub labels: Vec<KeyValue>,
    /// Whether `RUN --security=insecure` steps may run, with all capabilities (the
    /// `security.insecure` entitlement, `--allow security.insecure`). Without it, a build
    /// that has one is refused before any step runs, as BuildKit refuses it.
    pub allow_insecure: bool,
    /// Whether `RUN --network=host` steps may share the host's network namespace (the
    /// `network.host` entitlement, `--allow network.host`). Without it, a build that has
    /// one is refused before any step runs, as BuildKit refuses it.
    pub allow_host_network: bool,
    /// Whether the image's config holds the cache records of its steps
    /// (`--cache-to type=inline`), under [`INLINE_KEY`].
    pub inline_cache: bool,
}

impl BuildOptions {
    /// Whether the steps of stage `index`, named `name`, read no cache record.
    pub fn skips_cache(&self, index: usize, name: Option<&str>) -> bool {
        self.no_cache
            || self.no_cache_stages.iter().any(|stage| {
                name.is_some_and(|name| stage.eq_ignore_ascii_case(name))
                    || stage.parse() == Ok(index)
            })
    }
}

impl Default for BuildOptions {
    /// No tags, the host's platform, gzip at level 6, with the cache.
    fn default() -> Self {
        BuildOptions {
            tags: Vec::new(),
            platform: Platform::host(),
            compression: Compression::default(),
            no_cache: false,
            no_cache_stages: Vec::new(),
            source_date_epoch: None,
            labels: Vec::new(),
            allow_insecure: false,
            allow_host_network: false,
            inline_cache: false,
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The image's manifest, in the store.
    pub image: Descriptor,
    /// The image's config blob.
    pub config: Descriptor,
    /// Every step built, in order, with whether it came from the cache.
    pub steps: Vec<StepResult>,
    /// The ids of the `RUN --mount=type=cache` directories the build's steps mount,
    /// sorted.
    pub cache_mounts: Vec<String>,
}

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The step.
    pub step: StepRef,
    /// Its cache key.
    pub key: CacheKey,
    /// Whether its result came from the cache.
    pub cached: bool,
    /// Where a cached result came from, when an imported cache had it: the cache's
    /// reference or directory.
    pub imported_from: Option<String>,
    /// For a `COPY` from the context that made a layer, its definition key (its key
    /// without its inputs), which a cache artifact lists so that an importing build
    /// hashes the sources before it runs the step.
    pub definition: Option<CacheKey>,
    /// What the step produced, as a cache artifact records it.
    pub record: CachedStep,
    /// Whether the step is in a stage the image is made of: the target, or a stage it
    /// is `FROM` (BuildKit's `mode=min` exports those steps only).
    pub in_image: bool,
    /// What an `ADD` fetched: each URL with its body's digest, each git source with
    /// its commit (a provenance's materials).
    pub fetched: Vec<Fetched>,
}

/// A source a step fetched from outside the build, pinned by what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL as the Dockerfile gives it.
    pub url: String,
    /// The digest's algorithm: `sha256` (a body), `sha1` (a git commit).
    pub algorithm: &'static str,
    /// The digest, in hex.
    pub hex: String,
}

impl Builder {
    /// A builder over `store`, resolving bases with [`LocalResolver`] and failing `RUN`
    /// steps ([`NoRun`]).
    pub fn new(store: Store) -> Builder {
        Builder {
            store,
            resolver: Box::new(LocalResolver),
            executor: Box::new(NoRun),
            http: Http::default(),
            imported: None,
        }
    }

    /// Looks steps the store has no record of up in `imported` (`--cache-from`).
    pub fn with_imported(mut self, imported: Arc<dyn ImportedCache>) -> Builder {
        self.imported = Some(imported);
        self
    }

    /// Downloads `ADD` URLs with `http` (its timeouts and retries).
    pub fn with_http(mut self, http: Http) -> Builder {
        self.http = http;
        self
    }

    /// Resolves base images with `resolver`.
    pub fn with_resolver(mut self, resolver: impl BaseResolver + 'static) -> Builder {
        self.resolver = Box::new(resolver);
        self
    }

    /// Runs `RUN` steps with `executor`.
    pub fn with_executor(mut self, executor: impl StepExecutor + 'static) -> Builder {
        self.executor = Box::new(executor);
        self
    }

    /// The store images are built into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Builds `plan`'s target with files from `context`, stores the image and tags it
    /// with `options.tags` (or keeps it untagged).
    ///
    /// # Errors
    ///
    /// [`BuildError::Step`] naming the step that failed and why,
    /// [`BuildError::Base`] for a base image that cannot be resolved,
    /// [`BuildError::InsecureNotAllowed`] for a `RUN --security=insecure` step without
    /// [`BuildOptions::allow_insecure`], [`BuildError::HostNetworkNotAllowed`] for a
    /// `RUN --network=host` step without [`BuildOptions::allow_host_network`], and the
    /// store's errors.
    pub fn build(
        &self,
        plan: &Plan,
        context: &Context,
        options: &BuildOptions,
        events: &dyn Events,
    ) -> crate::Result<Built> {
        plan.validate()?;
        refuse_entitlements(plan, options)?;
        let _lease = self.store.lease()?;
        // A streamed context's files are new each build: no record of them would match.
        let hashes = if context.is_streamed() {
            FileHashes::in_memory()
        } else {
            let hashes_dir = self.store.path_for("context-hashes")?;
            let context_id = sha256(context.root().as_os_str().as_encoded_bytes());
            FileHashes::load(hashes_dir.join(context_id.digest()))
        };
        events.build_started(plan);

        let mut run = stage::BuildRun::new(self, plan, context, &hashes, options, events)?;
        run.build_stages(&plan.needed_stages())?;
        let (mut image, mut steps) = run.finish(plan.target);
        let in_image = image_stages(plan);
        for step in &mut steps {
            step.in_image = in_image.contains(&step.step.stage);
        }
        hashes.save()?;

        for KeyValue { key, value } in &options.labels {
            image
                .config
                .config
                .labels
                .insert(key.clone(), value.clone());
        }
        if options.inline_cache {
            let records = serde_json::to_value(cache_config(&steps, true))
                .expect("cache records encode as JSON");
            image.config.extra.insert(INLINE_KEY.to_owned(), records);
        }
        image.config.created = image
            .config
            .history
            .iter()
            .filter_map(|entry| entry.created.clone())
            .max()
            .or(image.config.created);
        let descriptor = write_image(&self.store, &image.config, &image.layers)?;
        let manifest = crate::oci::Image::load(&self.store, &descriptor, &options.platform)?;
        let config = manifest.config_descriptor().clone();
        if options.tags.is_empty() {
            self.store.add_image(&descriptor)?;
        }
        for tag in &options.tags {
            self.store.tag(tag, &descriptor)?;
        }
        Ok(Built {
            image: descriptor,
            config,
            steps,
            cache_mounts: imported::cache_mount_ids(plan),
        })
    }
}

/// The stages the image of `plan` is made of: its target and the stages that one is
/// `FROM`, transitively.
fn image_stages(plan: &Plan) -> Vec<usize> {
    let mut stages = vec![plan.target];
    // A plan is validated: each `FROM` stage comes before its reader, so this ends.
    while let Some(Base::Stage(base)) = stages.last().map(|&index| &plan.stages[index].base) {
        stages.push(*base);
    }
    stages
}

/// Refuses a plan whose target needs a `RUN` step, cached or not, that asks for an
/// entitlement `options` do not allow: all capabilities or the host's network.
fn refuse_entitlements(plan: &Plan, options: &BuildOptions) -> Result<(), BuildError> {
    for index in plan.needed_stages() {
        for step in &plan.stages[index].steps {
            let Op::Run(run) = &step.op else { continue };
            let (span, text) = (step.meta.span, step.meta.text.clone());
            if run.security == Security::Insecure && !options.allow_insecure {
                return Err(BuildError::InsecureNotAllowed { span, text });
            }
            if run.network == Network::Host && !options.allow_host_network {
                return Err(BuildError::HostNetworkNotAllowed { span, text });
            }
        }
    }
    Ok(())
}
