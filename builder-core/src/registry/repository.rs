//! One repository of a registry: its URLs, and requests sent with its credentials.

use ureq::http::Response;
use ureq::{Agent, Body};

use super::RegistryError;
use super::auth::Authorization;
use super::client::{Client, error_message};
use super::reference::Reference;

/// A repository (`registry/path`) reached through a [`Client`], for pulling or pushing.
#[derive(Debug)]
pub(crate) struct Repository<'a> {
    client: &'a Client,
    domain: String,
    path: String,
    base: String,
    push: bool,
}

impl<'a> Repository<'a> {
    /// The repository of `reference`; `push` asks for write access as well as read.
    pub fn new(client: &'a Client, reference: &Reference, push: bool) -> Self {
        Repository {
            client,
            domain: reference.domain().to_owned(),
            path: reference.path().to_owned(),
            base: client.base_url(reference.domain()),
            push,
        }
    }

    /// The client.
    pub fn client(&self) -> &'a Client {
        self.client
    }

    /// `…/v2/<path>/manifests/<target>`.
    pub fn manifest_url(&self, target: &str) -> String {
        format!("{}{}/manifests/{target}", self.base, self.path)
    }

    /// `…/v2/<path>/blobs/<digest>`.
    pub fn blob_url(&self, digest: &str) -> String {
        format!("{}{}/blobs/{digest}", self.base, self.path)
    }

    /// `…/v2/<path>/blobs/uploads/`.
    pub fn uploads_url(&self) -> String {
        format!("{}{}/blobs/uploads/", self.base, self.path)
    }

    /// An upload `Location` made absolute: registries may send a path only.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            return location.to_owned();
        }
        let origin = self.base.trim_end_matches("/v2/");
        format!("{origin}/{}", location.trim_start_matches('/'))
    }

    /// `registry/path:tag` or `registry/path@digest`, for messages.
    pub fn display(&self, target: &str) -> String {
        let separator = if target.contains(':') { '@' } else { ':' };
        format!("{}/{}{separator}{target}", self.domain, self.path)
    }

    /// Sends a request built by `send` (again on server errors and broken connections),
    /// with the credentials the registry asks for: when it answers 401, the client
    /// authenticates for this repository and the request is sent once more.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Denied`] when the registry still refuses (401 or 403), and the
    /// errors of reaching it and authenticating.
    pub fn send(
        &self,
        url: &str,
        mut send: impl FnMut(&Agent, &Authorization) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let scope = self.scope();
        let auth = self.client.authorization(&self.domain, &scope);
        let mut response = self.client.execute(url, |agent| send(agent, &auth))?;
        if response.status().as_u16() == 401
            && let Some(auth) = self
                .client
                .authenticate(&self.domain, &scope, &response, &auth)?
        {
            response = self.client.execute(url, |agent| send(agent, &auth))?;
        }
        match response.status().as_u16() {
            401 | 403 => Err(RegistryError::Denied {
                reference: format!("{}/{}", self.domain, self.path),
                message: error_message(&mut response),
            }),
            _ => Ok(response),
        }
    }

    /// The token scope this repository's requests need.
    fn scope(&self) -> String {
        let actions = if self.push { "pull,push" } else { "pull" };
        format!("repository:{}:{actions}", self.path)
    }
}
