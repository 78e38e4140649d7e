//! A blocking client for the [OCI distribution API]: options, URLs, error bodies. Its
//! requests go through [`crate::net`], which bounds their waits and retries them.
//!
//! Written by hand on `ureq` rather than taken from `oci-client`, the maintained Rust
//! client: that one is async on tokio, while the engine is synchronous and streams blobs
//! into the store through `std::io`. A tokio runtime, `block_on` at every call and async
//! streams bridged into our writers would cost more than the dozen endpoints used here.
//! Everything else comes from crates: HTTP, TLS (rustls, with the platform's roots) and
//! timeouts from `ureq`, JSON from `serde_json`, manifests from `oci-spec`, base64 from `base64`.
//!
//! [OCI distribution API]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md

use std::io::Read as _;
use std::net::IpAddr;

use ureq::Body;
use ureq::http::Response;

use super::RegistryError;
use super::auth::{AuthCache, Credential};
use crate::net::{Http, NetOptions};

/// The most bytes read from an error body; a longer one is cut, and a message that
/// does not fit is not shown.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries (`host[:port]`, or `*.domain` for every host under a domain) reached
    /// over plain HTTP. Loopback hosts (`localhost`, `127.0.0.0/8`, `::1`) always are;
    /// every other registry needs TLS.
    pub insecure_registries: Vec<String>,
    /// Timeouts, deadline and retries of each request.
    pub net: NetOptions,
    /// How many blobs are transferred at once.
    pub concurrency: usize,
    /// Blobs larger than this are pushed in chunks of this size.
    pub chunk_size: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure_registries: Vec::new(),
            net: NetOptions::default(),
            concurrency: 3,
            chunk_size: 16 * 1024 * 1024,
        }
    }
}

/// A registry client: one connection pool, shared by the threads of a pull or push.
#[derive(Debug)]
pub struct Client {
    http: Http,
    options: ClientOptions,
    auth: AuthCache,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(ClientOptions::default())
    }
}

impl Client {
    /// A client with these options.
    pub fn new(options: ClientOptions) -> Client {
        Client {
            http: Http::new(options.net.clone()),
            options,
            auth: AuthCache::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The HTTP agent, with the options' timeouts.
    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    /// The cached credentials and tokens.
    pub(crate) fn auth(&self) -> &AuthCache {
        &self.auth
    }

    /// The credential stored for `domain` in the credential files or helpers.
    pub(crate) fn lookup_credential(
        &self,
        domain: &str,
    ) -> Result<Option<Credential>, RegistryError> {
        Ok(super::credentials::find(domain)?)
    }

    /// The base URL of a registry's API: `https://host/v2/`, plain HTTP for loopback
    /// hosts and insecure registries. Docker Hub's API is at `registry-1.docker.io`.
    pub(crate) fn base_url(&self, domain: &str) -> String {
        let host = if domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            domain
        };
        let scheme = if is_loopback(domain)
            || self
                .options
                .insecure_registries
                .iter()
                .any(|r| names(r, domain))
        {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}/v2/")
    }
}

/// Whether the insecure-registry entry `entry` names `domain`: equal, or `*.suffix` and
/// `domain` a host under `suffix`.
fn names(entry: &str, domain: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(suffix) => domain
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => entry == domain,
    }
}

/// Whether `domain` (`host[:port]`) names this machine: `localhost`, `127.0.0.0/8`, `::1`.
pub(crate) fn is_loopback(domain: &str) -> bool {
    let host = match domain.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => domain.split(':').next().unwrap_or(domain),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The registry's error messages from an error response's body
/// (`{"errors":[{"code":…,"message":…}]}`), joined by `; `; empty when there are none.
pub(crate) fn error_message(response: &mut Response<Body>) -> String {
    let mut bytes = Vec::new();
    if response
        .body_mut()
        .as_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return String::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return String::new();
    };
    let errors = value.get("errors").and_then(|e| e.as_array());
    errors
        .into_iter()
        .flatten()
        .filter_map(|error| {
            let message = error.get("message").and_then(|m| m.as_str());
            let code = error.get("code").and_then(|c| c.as_str());
            match (code, message) {
                (Some(code), Some(message)) => Some(format!("{code}: {message}")),
                (None, Some(text)) | (Some(text), None) => Some(text.to_owned()),
                (None, None) => None,
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The error for an unexpected answer: the registry's messages, and the status.
pub(crate) fn status_error(
    method: &'static str,
    url: &str,
    response: &mut Response<Body>,
) -> RegistryError {
    RegistryError::Status {
        method,
        url: url.to_owned(),
        status: response.status().as_u16(),
        message: error_message(response),
    }
}

/// A header's value as text, if present and valid.
pub(crate) fn header<'r>(response: &'r Response<Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_use_plain_http() {
        let client = Client::new(ClientOptions {
            insecure_registries: vec!["registry.lan:5000".into(), "*.corp.example".into()],
            ..ClientOptions::default()
        });
        for (domain, url) in [
            ("localhost:5000", "http://localhost:5000/v2/"),
            ("127.0.0.1:39999", "http://127.0.0.1:39999/v2/"),
            ("127.3.4.5", "http://127.3.4.5/v2/"),
            ("[::1]:5000", "http://[::1]:5000/v2/"),
            ("registry.lan:5000", "http://registry.lan:5000/v2/"),
            ("registry.lan", "https://registry.lan/v2/"),
            ("ghcr.io", "https://ghcr.io/v2/"),
            ("docker.io", "https://registry-1.docker.io/v2/"),
            ("localhost.example.com", "https://localhost.example.com/v2/"),
            ("r.corp.example", "http://r.corp.example/v2/"),
            ("corp.example", "https://corp.example/v2/"),
            ("xcorp.example", "https://xcorp.example/v2/"),
        ] {
            assert_eq!(client.base_url(domain), url, "{domain}");
        }
    }

    #[test]
    fn registries_marked_insecure_in_registries_conf_use_plain_http() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("registries.conf");
        let conf = "[[registry]]\nlocation = \"registry.lan:5000/team\"\ninsecure = true\n";
        std::fs::write(&path, conf).expect("write");
        let client = Client::new(ClientOptions {
            insecure_registries: super::super::registries_conf::Locations {
                main: path,
                dirs: Vec::new(),
            }
            .insecure_registries()
            .expect("valid"),
            ..ClientOptions::default()
        });
        assert_eq!(
            client.base_url("registry.lan:5000"),
            "http://registry.lan:5000/v2/"
        );
        assert_eq!(client.base_url("registry.lan"), "https://registry.lan/v2/");
    }
}
