//! Dockerfile builds: what `mkimage build` does, as one call.
//!
//! A [`Frontend`] holds what stays the same across builds (the store, the registry
//! options, how bases are resolved and how `RUN` runs); [`Frontend::build`] takes a
//! [`Request`] (the Dockerfile, the context, build arguments, platforms, outputs…) and
//! returns an [`Outcome`] (the image, how each step went, the warnings):
//!
//! 1. the context is read ([`ContextSource`]: a directory, a tar stream, a git
//!    repository or a URL) and the Dockerfile parsed;
//! 2. named build contexts become images in the store;
//! 3. for each platform, the Dockerfile is lowered into a plan, its bases resolved and
//!    lowered again with their environment and `ONBUILD` triggers, then built by a
//!    [`Builder`]; several platforms make an image index;
//! 4. the outputs are written ([`Output`]: a registry, an archive, the filesystem).
//!
//! Each base is resolved once per build, through one resolver that pins what it found
//! for lowering and building alike, so a tag that moves mid-build cannot make them
//! disagree. By default bases come from the store, else their registry, and `RUN` runs
//! in mkimage's own sandbox; [`Frontend::with_resolver`] and [`Frontend::with_executor`]
//! replace them. Progress and warnings go to the [`Events`] given to the build; errors in
//! the Dockerfile carry their [`Location`]. Nothing is printed.

mod attestations;
mod build_args;
mod cache;
mod checks;
mod error;
mod index;
mod input;
mod lowering;
mod named;
mod network;
mod outcome;
mod output;
mod pinned;
mod request;
mod session;

use std::sync::Arc;

use mkimage_dockerfile::Dockerfile;

use crate::build::Builder;
use crate::events::Events;
use crate::exec::Sandbox;
use crate::executor::{NewLayer, RunInput, StepExecutor};
use crate::net::Http;
use crate::registry::{Client, ClientOptions, RegistryResolver};
use crate::remote_cache::RegistryFetcher;
use crate::resolver::BaseResolver;
use crate::run::Runner;
use crate::store::Store;

pub use error::{DockerfileCause, DockerfileError, FrontendError, Location};
pub use input::{DOCKERFILE_LIMIT, read_dockerfile};
pub use network::ExtraHost;
pub use outcome::{Outcome, Warning};
pub use output::Output;
pub use request::{CacheOptions, ContextSource, DockerfileSource, Entitlement, Isolation, Request};

use error::parse_error;
use input::{Fetch, Input};
use outcome::Warnings;
use pinned::Pinned;
use session::Session;

/// Builds Dockerfiles into images of one store.
pub struct Frontend {
    store: Store,
    registry: ClientOptions,
    always_pull: bool,
    resolver: Option<Arc<dyn BaseResolver>>,
    executor: Executor,
}

/// How `RUN` steps run.
enum Executor {
    /// A [`Runner`] in this sandbox, with the request's secrets and SSH agents.
    Runner(Sandbox),
    /// The caller's.
    Custom(Arc<dyn StepExecutor>),
}

impl Frontend {
    /// Builds into `store`; bases come from the store, else from their registry (with
    /// default registry options), and `RUN` steps run in mkimage's own sandbox.
    pub fn new(store: Store) -> Frontend {
        Frontend {
            store,
            registry: ClientOptions::default(),
            always_pull: false,
            resolver: None,
            executor: Executor::Runner(Sandbox::native()),
        }
    }

    /// Reaches registries (pulls, pushes) with `options`, and download servers (`ADD`,
    /// a context's URL) with its network options.
    pub fn with_registry(mut self, options: ClientOptions) -> Frontend {
        self.registry = options;
        self
    }

    /// With `pull`, asks the registry for every base image, even those in the store
    /// (`--pull`); for the default resolver only.
    pub fn always_pull(mut self, pull: bool) -> Frontend {
        self.always_pull = pull;
        self
    }

    /// Resolves base images with `resolver` instead of the store and their registry.
    /// Each build still asks it once per reference and platform.
    pub fn with_resolver(mut self, resolver: impl BaseResolver + 'static) -> Frontend {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Runs `RUN` steps in `sandbox` (for example [`Sandbox::runc`]) where the request
    /// asks for [`Isolation::Oci`].
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> Frontend {
        self.executor = Executor::Runner(sandbox);
        self
    }

    /// Runs `RUN` steps with `executor`, which then gets no secrets, SSH agents or
    /// context directory from the requests.
    pub fn with_executor(mut self, executor: impl StepExecutor + 'static) -> Frontend {
        self.executor = Executor::Custom(Arc::new(executor));
        self
    }

    /// The store images are built into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Builds what `request` asks, telling `events` the progress and the warnings (also
    /// returned in the [`Outcome`]).
    ///
    /// # Errors
    ///
    /// [`FrontendError::Dockerfile`] for a Dockerfile that does not parse or lower, or a
    /// step or `FROM` that failed, located in it; the errors of reading the context and
    /// the Dockerfile, of named contexts and of outputs;
    /// [`FrontendError::CacheExport`] when a `--cache-to` without `ignore-error` fails
    /// (after the image and outputs are written); and the engine's.
    pub fn build(
        &self,
        mut request: Request,
        events: &dyn Events,
    ) -> Result<Outcome, FrontendError> {
        network::check_network(request.network, &request.entitlements)?;
        // `type=image` names the image in the store, as a tag does.
        for output in &request.outputs {
            if let Output::Image { name, .. } = output
                && !request.tags.contains(name)
            {
                request.tags.push(name.clone());
            }
        }
        // Layers a cache hit took without downloading them come with this build's
        // registry options when their bytes are read.
        let fetcher = RegistryFetcher::new(Client::new(self.registry.clone()));
        self.store.set_fetcher(Arc::new(fetcher));
        let (http, input, parsed) = self.read(&mut request, events)?;
        // The parser's one warning, an empty continuation line, is the build check
        // NoEmptyContinuation here, as in BuildKit's builds.
        let warnings = Warnings::new(events);
        let resolver = Pinned::new(self.resolver());
        let mut builder = self.builder(http, &resolver, &input, &request);
        if let Some(imported) = cache::import(&request, &self.store, &self.registry, events) {
            builder = builder.with_imported(imported);
        }
        let session = Session {
            store: &self.store,
            platforms: Session::platforms(&request.platforms),
            request: &request,
            input: &input,
            dockerfile: &parsed,
            builder: &builder,
            resolver: &resolver,
            events,
        };
        let outcome = session.run(warnings)?;
        let client = Client::new(self.registry.clone());
        session.write_outputs(&outcome, &client)?;
        cache::export_all(&request, &outcome, &self.store, &client, events)?;
        Ok(outcome)
    }

    /// Evaluates the build checks of what `request` asks, building nothing (`mkimage
    /// build --check`, as `docker build --check`): the Dockerfile is parsed and lowered
    /// for the first platform, its bases resolved. Returns every warning, the checks
    /// that fired among them ([`Warning::Check`]), also told to `events`.
    ///
    /// # Errors
    ///
    /// As [`Frontend::build`], for what is done before building.
    pub fn check(
        &self,
        mut request: Request,
        events: &dyn Events,
    ) -> Result<Vec<Warning>, FrontendError> {
        let (http, input, parsed) = self.read(&mut request, events)?;
        let warnings = Warnings::new(events);
        let resolver = Pinned::new(self.resolver());
        let session = Session {
            store: &self.store,
            platforms: Session::platforms(&request.platforms),
            request: &request,
            input: &input,
            dockerfile: &parsed,
            builder: &self.builder(http, &resolver, &input, &request),
            resolver: &resolver,
            events,
        };
        session.check(warnings)
    }

    /// The request's context and Dockerfile, fetched (through the HTTP client returned
    /// for the build's later requests) and parsed.
    fn read(
        &self,
        request: &mut Request,
        events: &dyn Events,
    ) -> Result<(Http, Input, Dockerfile), FrontendError> {
        let http = Http::new(self.registry.net.clone());
        let fetch = Fetch {
            http: &http,
            keep_git_dir: build_args::keeps_git_dir(&request.build_args),
            events,
        };
        let input = Input::read(&mut request.context, &request.dockerfile, &fetch)?;
        let parsed = mkimage_dockerfile::parse(&input.text)
            .map_err(|error| parse_error(&input.name, &input.text, error))?;
        Ok((http, input, parsed))
    }

    /// A builder resolving with `resolver` and running steps as this frontend does, for
    /// the build of `request` from `input`.
    fn builder(&self, http: Http, resolver: &Pinned, input: &Input, request: &Request) -> Builder {
        let builder = Builder::new(self.store.clone())
            .with_http(http)
            .with_resolver(resolver.clone());
        match &self.executor {
            Executor::Runner(sandbox) => builder.with_executor(
                Runner::new(&self.store)
                    .sandbox(match request.isolation {
                        Isolation::Oci => sandbox.clone(),
                        Isolation::Chroot => Sandbox::chroot(),
                    })
                    .inputs(request.run_inputs.clone().context(&input.context_dir)),
            ),
            Executor::Custom(executor) => builder.with_executor(Shared(Arc::clone(executor))),
        }
    }

    /// The caller's resolver, or the store's images, else their registry's.
    fn resolver(&self) -> Arc<dyn BaseResolver> {
        match &self.resolver {
            Some(resolver) => Arc::clone(resolver),
            None => Arc::new(RegistryResolver::new(
                Client::new(self.registry.clone()),
                self.always_pull,
            )),
        }
    }
}

/// The caller's executor, shared by the builds of a [`Frontend`].
struct Shared(Arc<dyn StepExecutor>);

impl StepExecutor for Shared {
    fn run(&self, input: &RunInput<'_>) -> crate::Result<Option<NewLayer>> {
        self.0.run(input)
    }
}
