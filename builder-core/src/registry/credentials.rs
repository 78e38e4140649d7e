//! Stored registry credentials: docker's `config.json` and containers' `auth.json`, and
//! `docker-credential-*` helpers.
//!
//! Looked up, first match wins: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! then docker's `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`). In each
//! file, a `credHelpers` entry for the registry names the helper to ask; else an `auths`
//! entry gives the credential (`auth`, base64 `user:password`, or `username` and
//! `password`); else `credsStore` names a helper for every registry. A helper is
//! `docker-credential-<name> get`, given the server on stdin; a helper that is not
//! installed is passed over. An `identitytoken` entry is an OAuth refresh token (see
//! [`Credential::identity_token`]). [`login`] and [`logout`] edit docker's file, or,
//! when it names a helper for the registry, go through `docker-credential-<name> store`
//! and `erase` as docker does.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::auth::{Credential, IDENTITY_TOKEN_USER};
use crate::atomic;

/// The key Docker Hub's credentials are stored under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// What can fail reading or writing credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A credentials file could not be read.
    #[error("failed to read credentials file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A credentials file is not the JSON it should be.
    #[error("credentials file `{}` is not valid", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A stored `auth` value is not base64 of `user:password`.
    #[error("the credential for `{registry}` in `{}` is not base64 of `user:password`", path.display())]
    BadAuth {
        /// The file.
        path: PathBuf,
        /// The registry.
        registry: String,
    },
    /// A credential helper failed.
    #[error("credential helper `{helper}` failed for `{registry}`: {message}")]
    Helper {
        /// The helper program.
        helper: String,
        /// The registry.
        registry: String,
        /// Its error output.
        message: String,
    },
    /// The credential helper docker's config names is not installed.
    #[error("credential helper `{helper}` is not installed (named in docker's config)")]
    HelperMissing {
        /// The helper program.
        helper: String,
    },
    /// The docker config file could not be written.
    #[error("failed to write credentials file `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No home directory to find docker's config in.
    #[error("cannot find docker's config: set `DOCKER_CONFIG` or `HOME`")]
    NoConfigDir,
    /// `logout` from a registry that has no stored credential.
    #[error("not logged in to `{registry}`")]
    NotLoggedIn {
        /// The registry.
        registry: String,
    },
}

/// The stored credential for `domain` (`host[:port]`, `docker.io`), if any.
///
/// # Errors
///
/// When a file that exists cannot be read or parsed, or a helper fails.
pub fn find(domain: &str) -> Result<Option<Credential>, CredentialsError> {
    for path in files() {
        if let Some(config) = read(&path)?
            && let Some(found) = from_config(&config, &path, domain)?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Stores `credential` for `domain`: through the credential helper docker's config file
/// names for it (`credHelpers`, else `credsStore`), else in the file itself (created with
/// mode 0600 if missing; its other settings kept). An identity token (user name
/// [`IDENTITY_TOKEN_USER`]) is stored as the file's `identitytoken`, or given to the
/// helper as the secret of that user name, as docker does. Returns the file.
///
/// # Errors
///
/// When the file cannot be read, parsed or written, or the helper fails.
pub fn login(domain: &str, credential: &Credential) -> Result<PathBuf, CredentialsError> {
    let path = docker_config()?;
    let mut config = read(&path)?.unwrap_or_default();
    if let Some(helper) = helper_for(&config, domain) {
        let input = serde_json::json!({
            "ServerURL": key(domain),
            "Username": credential.username,
            "Secret": credential.password,
        });
        call_helper(&helper, "store", domain, &input.to_string())?;
        return Ok(path);
    }
    // An identity token goes in `identitytoken`, with an `auth` of the user name alone,
    // as docker writes it after an OAuth login.
    let entry = match credential.identity_token() {
        Some(token) => serde_json::json!({
            "auth": STANDARD.encode(format!("{}:", credential.username)),
            "identitytoken": token,
        }),
        None => {
            let pair = format!("{}:{}", credential.username, credential.password);
            serde_json::json!({ "auth": STANDARD.encode(pair) })
        }
    };
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    if let Value::Object(auths) = auths {
        auths.insert(key(domain), entry);
    }
    write(&path, &config)?;
    Ok(path)
}

/// Removes the credential for `domain`: through the credential helper docker's config
/// file names for it, else from the file itself. Returns the file.
///
/// # Errors
///
/// [`CredentialsError::NotLoggedIn`] when it has none, and when the file cannot be read,
/// parsed or written, or the helper fails.
pub fn logout(domain: &str) -> Result<PathBuf, CredentialsError> {
    let path = docker_config()?;
    let mut config = read(&path)?.unwrap_or_default();
    if let Some(helper) = helper_for(&config, domain) {
        return match call_helper(&helper, "erase", domain, &key(domain))? {
            Some(_) => Ok(path),
            None => Err(CredentialsError::NotLoggedIn {
                registry: domain.to_owned(),
            }),
        };
    }
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|auths| {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| normalize(k) == domain)
                .cloned()
                .collect();
            keys.iter().filter(|k| auths.remove(*k).is_some()).count()
        })
        .unwrap_or(0);
    if removed == 0 {
        return Err(CredentialsError::NotLoggedIn {
            registry: domain.to_owned(),
        });
    }
    write(&path, &config)?;
    Ok(path)
}

/// The helper `config` names for storing `domain`'s credential: its `credHelpers` entry,
/// else `credsStore`.
fn helper_for(config: &Map<String, Value>, domain: &str) -> Option<String> {
    let helpers = config.get("credHelpers").and_then(Value::as_object);
    helpers
        .into_iter()
        .flatten()
        .find(|(k, _)| normalize(k) == domain)
        .and_then(|(_, v)| v.as_str())
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// The files to look in, in order.
fn files() -> Vec<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    if let Some(file) = var("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(file));
    }
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(runtime).join("containers/auth.json"));
    }
    if let Ok(docker) = docker_config() {
        files.push(docker);
    }
    files
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config() -> Result<PathBuf, CredentialsError> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    var("HOME")
        .map(|home| PathBuf::from(home).join(".docker/config.json"))
        .ok_or(CredentialsError::NoConfigDir)
}

/// A config file's top-level object; `None` when the file does not exist.
fn read(path: &Path) -> Result<Option<Map<String, Value>>, CredentialsError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| CredentialsError::Parse {
            path: path.to_owned(),
            source,
        })
}

/// Replaces `path` with `config` atomically, mode 0600.
fn write(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialsError> {
    let error = |source| CredentialsError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(error)?;
    let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| error(e.into()))?;
    bytes.push(b'\n');
    atomic::write(path, &bytes).map_err(error)
}

/// The credential `config` (read from `path`) holds for `domain`.
fn from_config(
    config: &Map<String, Value>,
    path: &Path,
    domain: &str,
) -> Result<Option<Credential>, CredentialsError> {
    let helpers = config.get("credHelpers").and_then(Value::as_object);
    if let Some(helper) = helpers
        .into_iter()
        .flatten()
        .find(|(k, _)| normalize(k) == domain)
        .and_then(|(_, v)| v.as_str())
        && let Some(found) = run_helper(helper, domain)?
    {
        return Ok(Some(found));
    }
    let auths = config.get("auths").and_then(Value::as_object);
    if let Some(entry) = auths
        .into_iter()
        .flatten()
        .find(|(k, _)| normalize(k) == domain)
        .map(|(_, v)| v)
    {
        let bad = || CredentialsError::BadAuth {
            path: path.to_owned(),
            registry: domain.to_owned(),
        };
        let field = |name| entry.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(token) = field("identitytoken").filter(|t| !t.is_empty()) {
            return Ok(Some(Credential {
                username: IDENTITY_TOKEN_USER.to_owned(),
                password: token,
            }));
        }
        if let Some(auth) = entry.get("auth").and_then(Value::as_str)
            && !auth.is_empty()
        {
            let decoded = STANDARD.decode(auth).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credential {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
        if let (Some(username), Some(password)) = (field("username"), field("password")) {
            return Ok(Some(Credential { username, password }));
        }
    }
    if let Some(store) = config.get("credsStore").and_then(Value::as_str) {
        return run_helper(store, domain);
    }
    Ok(None)
}

/// Asks `docker-credential-<helper> get` for `domain`'s credential; `None` when the
/// helper is not installed or has none.
fn run_helper(helper: &str, domain: &str) -> Result<Option<Credential>, CredentialsError> {
    let stdout = match call_helper(helper, "get", domain, &key(domain)) {
        Ok(Some(stdout)) => stdout,
        Ok(None) => return Ok(None),
        Err(CredentialsError::HelperMissing { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let reply: Value = serde_json::from_str(&stdout).map_err(|e| CredentialsError::Helper {
        helper: format!("docker-credential-{helper}"),
        registry: domain.to_owned(),
        message: format!("invalid answer: {e}"),
    })?;
    let field = |name| reply.get(name).and_then(Value::as_str).map(str::to_owned);
    match (field("Username"), field("Secret")) {
        (Some(username), Some(password)) if !password.is_empty() => {
            Ok(Some(Credential { username, password }))
        }
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin and returns its
/// output; `None` when it answers "credentials not found" (the helpers' protocol for
/// "nothing stored").
fn call_helper(
    helper: &str,
    action: &str,
    domain: &str,
    input: &str,
) -> Result<Option<String>, CredentialsError> {
    let program = format!("docker-credential-{helper}");
    let failed = |message: String| CredentialsError::Helper {
        helper: program.clone(),
        registry: domain.to_owned(),
        message,
    };
    let child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(CredentialsError::HelperMissing {
                helper: program.clone(),
            });
        }
        Err(error) => return Err(failed(error.to_string())),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(
            format!("{} {}", stdout.trim(), stderr.trim())
                .trim()
                .to_owned(),
        ));
    }
    Ok(Some(stdout))
}

/// The registry a config key or server argument names (`https://index.docker.io/v1/`,
/// `localhost:5000`): scheme and path dropped, Docker Hub's other names mapped to
/// `docker.io`.
pub fn normalize(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// The key docker stores `domain`'s credential under.
fn key(domain: &str) -> String {
    if domain == "docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn reads_auths_by_normalized_key() -> Result<(), CredentialsError> {
        let path = Path::new("config.json");
        let c = config(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "http://localhost:5000/v2/":{"username":"u","password":"p"}}}"#,
        );
        let hub = from_config(&c, path, "docker.io")?.expect("a credential");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pa:ss")
        );
        let local = from_config(&c, path, "localhost:5000")?.expect("a credential");
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("u", "p")
        );
        assert_eq!(from_config(&c, path, "ghcr.io")?, None);
        Ok(())
    }

    #[test]
    fn a_missing_helper_is_passed_over() -> Result<(), CredentialsError> {
        let c = config(
            r#"{"credsStore":"mkimage-test-absent","credHelpers":{"ghcr.io":"mkimage-test-absent"}}"#,
        );
        assert_eq!(from_config(&c, Path::new("c.json"), "ghcr.io")?, None);
        Ok(())
    }

    #[test]
    fn an_identity_token_is_a_token_credential() -> Result<(), CredentialsError> {
        let c = config(r#"{"auths":{"r.io":{"auth":"dTpw","identitytoken":"abc"}}}"#);
        let found = from_config(&c, Path::new("c.json"), "r.io")?.expect("a credential");
        assert_eq!(found.identity_token(), Some("abc"));
        Ok(())
    }

    #[test]
    fn the_helper_for_a_registry_is_its_own_then_the_store() {
        let c = config(r#"{"credsStore":"pass","credHelpers":{"https://ghcr.io":"gh"}}"#);
        assert_eq!(helper_for(&c, "ghcr.io").as_deref(), Some("gh"));
        assert_eq!(helper_for(&c, "docker.io").as_deref(), Some("pass"));
        assert_eq!(helper_for(&config("{}"), "docker.io"), None);
    }

    #[test]
    fn bad_base64_is_an_error() {
        let c = config(r#"{"auths":{"r.io":{"auth":"%%%"}}}"#);
        let err = from_config(&c, Path::new("c.json"), "r.io").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the credential for `r.io` in `c.json` is not base64 of `user:password`"
        );
    }
}
