//! The HTTP agent every request goes through, configured with [`NetOptions`].

use std::time::Duration;

use ureq::typestate::{WithBody, WithoutBody};
use ureq::{Agent, RequestBuilder};

use super::options::NetOptions;

/// HTTP for registries and downloads: one connection pool whose requests wait no
/// longer than the [`NetOptions`] say, and those options for the tries of a transfer.
/// Cloning it shares the pool.
#[derive(Debug, Clone)]
pub struct Http {
    agent: Agent,
    options: NetOptions,
}

impl Default for Http {
    fn default() -> Self {
        Http::new(NetOptions::default())
    }
}

impl Http {
    /// An agent with these options: TLS with the platform's roots, answers taken as
    /// stored (blobs are hashed as they arrive), statuses given back rather than raised,
    /// and the options' connect, first-byte and idle timeouts.
    pub fn new(options: NetOptions) -> Http {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .user_agent(concat!("mkimage/", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .timeout_resolve(Some(options.connect_timeout))
            .timeout_connect(Some(options.connect_timeout))
            .timeout_recv_response(Some(options.first_byte_timeout))
            .timeout_per_read(Some(options.idle_timeout))
            .timeout_per_write(Some(options.idle_timeout))
            .build()
            .into();
        Http { agent, options }
    }

    /// The options.
    pub fn options(&self) -> &NetOptions {
        &self.options
    }

    /// The agent for a try with `left` until the transfer's deadline.
    pub(crate) fn timed(&self, left: Duration) -> TimedAgent<'_> {
        TimedAgent {
            agent: &self.agent,
            left,
        }
    }
}

/// The agent for one try: each request it makes, its body included, ends by the
/// transfer's deadline.
#[derive(Debug)]
pub(crate) struct TimedAgent<'a> {
    agent: &'a Agent,
    left: Duration,
}

impl TimedAgent<'_> {
    /// A `GET` request.
    pub(crate) fn get(&self, url: &str) -> RequestBuilder<WithoutBody> {
        self.limit(self.agent.get(url))
    }

    /// A `HEAD` request.
    pub(crate) fn head(&self, url: &str) -> RequestBuilder<WithoutBody> {
        self.limit(self.agent.head(url))
    }

    /// A `POST` request.
    pub(crate) fn post(&self, url: &str) -> RequestBuilder<WithBody> {
        self.limit(self.agent.post(url))
    }

    /// A `PUT` request.
    pub(crate) fn put(&self, url: &str) -> RequestBuilder<WithBody> {
        self.limit(self.agent.put(url))
    }

    /// A `PATCH` request.
    pub(crate) fn patch(&self, url: &str) -> RequestBuilder<WithBody> {
        self.limit(self.agent.patch(url))
    }

    fn limit<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        request.config().timeout_global(Some(self.left)).build()
    }
}
