//! Insecure registries from containers' `registries.conf` (podman's and buildah's
//! configuration), read at `$CONTAINERS_REGISTRIES_CONF`, else
//! `/etc/containers/registries.conf`.
//!
//! Both formats are read: version 2's `[[registry]]` tables with `location` and
//! `insecure = true`, and version 1's `[registries.insecure] registries = [...]`. A
//! location's namespace path (`host/ns`) is dropped: insecure is per host here.

use std::io;
use std::path::{Path, PathBuf};

/// The system-wide file, when `$CONTAINERS_REGISTRIES_CONF` is not set.
const SYSTEM_FILE: &str = "/etc/containers/registries.conf";

/// What can fail reading `registries.conf`.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesConfError {
    /// The file exists but could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not the TOML it should be.
    #[error("`{}` is not a valid registries.conf", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
}

/// The registries (`host[:port]`, or `*.domain` wildcards) the user's `registries.conf`
/// marks insecure; empty when there is no such file.
///
/// # Errors
///
/// When the file exists but cannot be read or parsed.
pub fn insecure_registries() -> Result<Vec<String>, RegistriesConfError> {
    let path = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(SYSTEM_FILE), PathBuf::from);
    read(&path)
}

/// The insecure registries in the file at `path`; empty when it does not exist.
pub(crate) fn read(path: &Path) -> Result<Vec<String>, RegistriesConfError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistriesConfError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text).map_err(|source| RegistriesConfError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The insecure registries `text` (a `registries.conf`) names.
fn parse(text: &str) -> Result<Vec<String>, toml::de::Error> {
    let conf: Conf = toml::from_str(text)?;
    let v2 = conf
        .registry
        .into_iter()
        .filter(|r| r.insecure)
        .filter_map(|r| r.location.or(r.prefix));
    let v1 = conf
        .registries
        .and_then(|r| r.insecure)
        .map(|list| list.registries)
        .unwrap_or_default();
    Ok(v2
        .chain(v1)
        .map(|location| {
            let host = location.split('/').next().unwrap_or(&location);
            host.to_owned()
        })
        .filter(|host| !host.is_empty())
        .collect())
}

/// The parts of `registries.conf` read here; the rest is ignored.
#[derive(Debug, serde::Deserialize)]
struct Conf {
    #[serde(default)]
    registry: Vec<RegistryTable>,
    registries: Option<V1Registries>,
}

/// A version 2 `[[registry]]` table.
#[derive(Debug, serde::Deserialize)]
struct RegistryTable {
    location: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    insecure: bool,
}

/// Version 1's `[registries]` table.
#[derive(Debug, serde::Deserialize)]
struct V1Registries {
    insecure: Option<V1List>,
}

/// A version 1 list: `registries = [...]`.
#[derive(Debug, serde::Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_insecure_registries_of_both_versions() -> Result<(), toml::de::Error> {
        let v2 = r#"
            unqualified-search-registries = ["docker.io"]
            [[registry]]
            location = "registry.lan:5000/team"
            insecure = true
            [[registry]]
            location = "quay.io"
            [[registry]]
            prefix = "*.corp.example"
            insecure = true
            [[registry.mirror]]
            location = "mirror.lan"
        "#;
        assert_eq!(parse(v2)?, ["registry.lan:5000", "*.corp.example"]);
        let v1 = r#"
            [registries.search]
            registries = ["docker.io"]
            [registries.insecure]
            registries = ["old.lan"]
        "#;
        assert_eq!(parse(v1)?, ["old.lan"]);
        assert!(parse("")?.is_empty());
        Ok(())
    }

    #[test]
    fn a_missing_file_names_none_and_a_bad_one_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("registries.conf");
        assert!(read(&path).expect("no file is fine").is_empty());
        std::fs::write(&path, "[[registry]\n").expect("write");
        let err = read(&path).expect_err("invalid TOML");
        assert!(matches!(err, RegistriesConfError::Parse { .. }), "{err}");
    }
}
