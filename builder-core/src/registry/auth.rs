//! Authentication: the `WWW-Authenticate` challenge, Basic credentials, Bearer tokens.
//!
//! A request goes out with what the cache holds for its registry and scope (nothing at
//! first). When the registry answers 401, its challenge says how to authenticate: `Basic`
//! sends the user's credentials with each request; `Bearer` asks the token service named
//! in `realm` for a token for the scope (with the credentials, if any, else anonymously)
//! and sends that. The result is cached per registry and scope until it expires, so the
//! threads of a pull share one token. See the [token authentication spec].
//!
//! [token authentication spec]: https://distribution.github.io/distribution/spec/auth/token/

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ureq::http::Response;
use ureq::{Body, RequestBuilder};

use super::RegistryError;
use super::client::{Client, error_message};
use crate::events::{NoEvents, RequestRef};
use crate::net::{Attempts, Watch, read_small};

/// What a token lives for when the token service does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The most bytes read from a token service's answer.
const TOKEN_LIMIT: u64 = 1024 * 1024;

/// A user name and password (or token) for a registry.
///
/// An OAuth identity (refresh) token is a credential whose user name is
/// [`IDENTITY_TOKEN_USER`] and whose password is the token, as credential helpers store it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

/// The user name that marks a [`Credential`] as an identity token (docker's convention).
pub const IDENTITY_TOKEN_USER: &str = "<token>";

impl Credential {
    /// The identity token this credential is, if it is one.
    pub fn identity_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USER).then_some(self.password.as_str())
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` header a request carries, if any.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Authorization(Option<String>);

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Authorization(..)"
        } else {
            "None"
        })
    }
}

impl Authorization {
    /// `request` with this header.
    pub(crate) fn apply<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.0 {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    fn basic(credential: &Credential) -> Self {
        let pair = format!("{}:{}", credential.username, credential.password);
        Authorization(Some(format!("Basic {}", STANDARD.encode(pair))))
    }
}

/// Cached authorizations and known credentials, per registry.
#[derive(Debug, Default)]
pub(crate) struct AuthCache {
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    tokens: Mutex<HashMap<(String, String), (Authorization, Instant)>>,
}

impl Client {
    /// Uses `credential` for `domain` (`host[:port]`, `docker.io`) instead of looking
    /// for one in the credential files.
    pub fn set_credential(&self, domain: &str, credential: Credential) {
        lock(&self.auth().credentials).insert(domain.to_owned(), Some(credential));
    }

    /// Checks that the registry at `domain` accepts `credential` (`GET /v2/`, answering
    /// its challenge), and uses it from now on.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Denied`] when the registry refuses it, and the errors of reaching
    /// the registry and its token service.
    pub fn check_login(&self, domain: &str, credential: Credential) -> Result<(), RegistryError> {
        self.set_credential(domain, credential);
        let notice = self.http().options().notice();
        Watch::run(&NoEvents, notice, |watch| self.try_login(domain, watch))
    }

    /// [`check_login`](Client::check_login) with the credential set.
    fn try_login(&self, domain: &str, watch: &Watch<'_>) -> Result<(), RegistryError> {
        let url = self.base_url(domain);
        let label = format!("login to `{domain}`");
        let mut attempts = Attempts::new(self.http(), watch, RequestRef { label });
        let mut response = attempts.execute(|agent| agent.get(&url).call(), error_message)?;
        if response.status().as_u16() == 401
            && let Some(auth) =
                self.authenticate(domain, "", &response, &Authorization::default(), watch)?
        {
            response =
                attempts.execute(|agent| auth.apply(agent.get(&url)).call(), error_message)?;
        }
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::Denied {
                reference: domain.to_owned(),
                message: error_message(&mut response),
            }),
            _ => Err(super::client::status_error("GET", &url, &mut response)),
        }
    }

    /// The credential for `domain`: one set with [`set_credential`](Client::set_credential),
    /// else the one the lookup function finds (looked up once per registry).
    fn credential(&self, domain: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(known) = lock(&self.auth().credentials).get(domain) {
            return Ok(known.clone());
        }
        let found = self.lookup_credential(domain)?;
        lock(&self.auth().credentials).insert(domain.to_owned(), found.clone());
        Ok(found)
    }

    /// What the cache holds for `domain` and `scope`; nothing when it holds nothing valid.
    pub(crate) fn authorization(&self, domain: &str, scope: &str) -> Authorization {
        let tokens = lock(&self.auth().tokens);
        match tokens.get(&(domain.to_owned(), scope.to_owned())) {
            Some((auth, expires)) if *expires > Instant::now() => auth.clone(),
            _ => Authorization::default(),
        }
    }

    /// Answers a 401: authenticates as the challenge in `response` asks and caches the
    /// result. `None` when there is nothing new to try (no credentials for Basic, or the
    /// same authorization was refused already). A token request's waits go to `watch`.
    pub(crate) fn authenticate(
        &self,
        domain: &str,
        scope: &str,
        response: &Response<Body>,
        refused: &Authorization,
        watch: &Watch<'_>,
    ) -> Result<Option<Authorization>, RegistryError> {
        let challenges: Vec<Challenge> = response
            .headers()
            .get_all("WWW-Authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Challenge::parse)
            .collect();
        let bearer = challenges.iter().find(|c| c.scheme == "bearer");
        let basic = challenges.iter().find(|c| c.scheme == "basic");
        let (auth, lifetime) = if let Some(challenge) = bearer {
            self.token(domain, scope, challenge, watch)?
        } else if basic.is_some() {
            match self.credential(domain)? {
                Some(credential) => (Authorization::basic(&credential), Duration::MAX),
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        if auth == *refused {
            return Ok(None);
        }
        let expires = Instant::now()
            .checked_add(lifetime)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        lock(&self.auth().tokens).insert(
            (domain.to_owned(), scope.to_owned()),
            (auth.clone(), expires),
        );
        Ok(Some(auth))
    }

    /// Gets a Bearer token from the challenge's realm for `scope` (the challenge's own
    /// scope when it names one), with the credentials for `domain` if there are any.
    fn token(
        &self,
        domain: &str,
        scope: &str,
        challenge: &Challenge,
        watch: &Watch<'_>,
    ) -> Result<(Authorization, Duration), RegistryError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| RegistryError::Challenge {
                registry: domain.to_owned(),
                what: "a Bearer challenge without `realm`".to_owned(),
            })?
            .to_owned();
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = challenge.param("service") {
            query.push(("service", service));
        }
        match challenge.param("scope") {
            Some(asked) => query.push(("scope", asked)),
            None if !scope.is_empty() => query.push(("scope", scope)),
            None => {}
        }
        let credential = self.credential(domain)?;
        let label = format!("token from `{realm}`");
        let mut attempts = Attempts::new(self.http(), watch, RequestRef { label });
        let bytes = loop {
            let mut response =
                self.ask_token(&realm, &query, credential.as_ref(), &mut attempts)?;
            if !response.status().is_success() {
                let status = response.status().as_u16();
                return Err(RegistryError::Token {
                    realm,
                    status,
                    message: error_message(&mut response),
                });
            }
            match read_small(&mut response, TOKEN_LIMIT, self.http().options()) {
                Ok(Some(bytes)) => break bytes,
                Ok(None) => {
                    return Err(RegistryError::TokenTooLarge {
                        realm,
                        limit: TOKEN_LIMIT,
                    });
                }
                Err(failure) => attempts.retry(failure)?,
            }
        };
        let reply: TokenReply =
            serde_json::from_slice(&bytes).map_err(|source| RegistryError::TokenReply {
                realm: realm.clone(),
                source,
            })?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Challenge {
                registry: domain.to_owned(),
                what: format!("the token service `{realm}` sent no token"),
            })?;
        let lifetime = reply
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            // Renew a little early rather than send an expired token.
            .saturating_sub(Duration::from_secs(5));
        Ok((Authorization(Some(format!("Bearer {token}"))), lifetime))
    }

    /// Asks the token service `realm` for a token with `query`: trading an identity
    /// token (docker's OAuth flow), else with the credential's Basic authorization, else
    /// anonymously.
    fn ask_token(
        &self,
        realm: &str,
        query: &[(&str, &str)],
        credential: Option<&Credential>,
        attempts: &mut Attempts<'_>,
    ) -> Result<Response<Body>, RegistryError> {
        let response = match credential.and_then(Credential::identity_token) {
            // Docker's OAuth flow: trade the identity (refresh) token for an access token.
            Some(refresh) => {
                let mut form = query.to_vec();
                form.extend([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", "mkimage"),
                ]);
                attempts.execute(
                    |agent| agent.post(realm).send_form(form.iter().copied()),
                    error_message,
                )?
            }
            None => {
                let basic = credential.map(Authorization::basic);
                attempts.execute(
                    |agent| {
                        let request = agent.get(realm).query_pairs(query.iter().copied());
                        match &basic {
                            Some(auth) => auth.apply(request).call(),
                            None => request.call(),
                        }
                    },
                    error_message,
                )?
            }
        };
        Ok(response)
    }
}

/// A token service's answer.
#[derive(Debug, serde::Deserialize)]
struct TokenReply {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// One `WWW-Authenticate` challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased (`bearer`, `basic`).
    pub(crate) scheme: String,
    /// The parameters in order, keys lowercased.
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `Scheme key="value", key=token, …` (RFC 9110 §11.6.1, one challenge).
    pub(crate) fn parse(text: &str) -> Option<Challenge> {
        let text = text.trim();
        let (scheme, mut rest) = text.split_once(' ').unwrap_or((text, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let key = key.trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let mut value = String::new();
                    let mut chars = quoted.char_indices();
                    let mut end = quoted.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, escaped)) = chars.next() {
                                    value.push(escaped);
                                }
                            }
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    (value, &quoted[end.min(quoted.len())..])
                }
                None => {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_owned(), &after[end..])
                }
            };
            params.push((key, value));
            rest = remaining;
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    /// The value of the first parameter `key` (lowercase).
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Locks a mutex, even one a panicking thread left poisoned: the maps stay consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .expect("a challenge");
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/busybox:pull"));

        let c = Challenge::parse(r#"Basic realm="a \"quoted\" realm", charset=UTF-8"#)
            .expect("a challenge");
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c.param("charset"), Some("UTF-8"));
    }

    #[test]
    fn basic_authorization_is_base64() {
        let auth = Authorization::basic(&Credential {
            username: "user".into(),
            password: "pass".into(),
        });
        assert_eq!(auth.0.as_deref(), Some("Basic dXNlcjpwYXNz"));
    }
}
