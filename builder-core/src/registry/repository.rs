//! One repository of a registry: its URLs, and requests sent with its credentials.

use ureq::Body;
use ureq::http::Response;

use super::RegistryError;
use super::auth::Authorization;
use super::client::{Client, error_message};
use crate::events::RequestRef;
use crate::net::{Attempts, Failure, NetError, TimedAgent, Watch};
use crate::plan::Reference;

/// A repository (`registry/path`) reached through a [`Client`], for pulling or pushing,
/// its requests' waits reported by a [`Watch`].
pub(crate) struct Repository<'a> {
    client: &'a Client,
    watch: &'a Watch<'a>,
    domain: String,
    path: String,
    base: String,
    push: bool,
}

impl<'a> Repository<'a> {
    /// The repository of `reference`; `push` asks for write access as well as read.
    pub(super) fn new(
        client: &'a Client,
        reference: &Reference,
        push: bool,
        watch: &'a Watch<'a>,
    ) -> Self {
        Repository {
            client,
            watch,
            domain: reference.domain().to_owned(),
            path: reference.path().to_owned(),
            base: client.base_url(reference.domain()),
            push,
        }
    }

    /// The client.
    pub(super) fn client(&self) -> &'a Client {
        self.client
    }

    /// The watch of this pull or push.
    pub(super) fn watch(&self) -> &'a Watch<'a> {
        self.watch
    }

    /// The budget of tries of one transfer, named `label` in waits, retries and errors.
    pub(super) fn attempts(&self, label: String) -> Attempts<'a> {
        Attempts::new(self.client.http(), self.watch, RequestRef { label })
    }

    /// `registry/path`, for messages.
    pub(super) fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `…/v2/<path>/manifests/<target>`.
    pub(super) fn manifest_url(&self, target: &str) -> String {
        format!("{}{}/manifests/{target}", self.base, self.path)
    }

    /// `…/v2/<path>/blobs/<digest>`.
    pub(super) fn blob_url(&self, digest: &str) -> String {
        format!("{}{}/blobs/{digest}", self.base, self.path)
    }

    /// `…/v2/<path>/blobs/uploads/`.
    pub(super) fn uploads_url(&self) -> String {
        format!("{}{}/blobs/uploads/", self.base, self.path)
    }

    /// An upload `Location` made absolute: registries may send a path only.
    pub(super) fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            return location.to_owned();
        }
        let origin = self.base.trim_end_matches("/v2/");
        format!("{origin}/{}", location.trim_start_matches('/'))
    }

    /// `registry/path:tag` or `registry/path@digest`, for messages.
    pub(super) fn display(&self, target: &str) -> String {
        let separator = if target.contains(':') { '@' } else { ':' };
        format!("{}/{}{separator}{target}", self.domain, self.path)
    }

    /// Sends a request built by `send` within `attempts` (again after a server error, a
    /// timeout or a broken connection), with the credentials the registry asks for: when
    /// it answers 401, the client authenticates for this repository and the request is
    /// sent once more.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Denied`] when the registry still refuses (401 or 403),
    /// [`RegistryError::Net`] when no try got an answer, and the errors of
    /// authenticating.
    pub(super) fn send(
        &self,
        attempts: &mut Attempts<'_>,
        mut send: impl FnMut(&TimedAgent<'_>, &Authorization) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, RegistryError> {
        let scope = self.scope();
        let auth = self.client.authorization(&self.domain, &scope);
        let mut response = attempts.execute(|agent| send(agent, &auth), error_message)?;
        if response.status().as_u16() == 401
            && let Some(auth) =
                self.client
                    .authenticate(&self.domain, &scope, &response, &auth, self.watch)?
        {
            response = attempts.execute(|agent| send(agent, &auth), error_message)?;
        }
        match response.status().as_u16() {
            401 | 403 => Err(RegistryError::Denied {
                reference: self.name(),
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

/// The failure of the one try that failed `error`, for the transfer to try again;
/// any other error as it is.
///
/// # Errors
///
/// `error` when it is not a failed try.
pub(crate) fn failed_try(error: crate::Error) -> crate::Result<Failure> {
    match error {
        crate::Error::Registry(RegistryError::Net(NetError::Failed { cause, .. })) => Ok(cause),
        other => Err(other),
    }
}
