//! Insecure registries from containers' `registries.conf` (podman's and buildah's
//! configuration), found as containers-registries.conf(5) and
//! containers-registries.conf.d(5) say:
//!
//! - the main file is `$CONTAINERS_REGISTRIES_CONF` when set, else the user's
//!   `$XDG_CONFIG_HOME/containers/registries.conf` (`~/.config/containers/…` without
//!   `XDG_CONFIG_HOME`) when it exists, which then replaces the system file, else
//!   `/etc/containers/registries.conf`;
//! - then the drop-ins, `*.conf` files of `registries.conf.d` directories in name order:
//!   the user's directory alone when the main file is the user's, else
//!   `/etc/containers/registries.conf.d` and then the user's.
//!
//! A later file's `[[registry]]` table replaces an earlier one with the same prefix (the
//! location when it has none); new prefixes add to the list. Both formats are read:
//! version 2's `[[registry]]` tables with `location` and `insecure = true`, and version
//! 1's `[registries.insecure] registries = [...]`, whose lists add up. A location's
//! namespace path (`host/ns`) is dropped: insecure is per host here.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The system-wide configuration directory.
const SYSTEM_DIR: &str = "/etc/containers";

/// What can fail reading `registries.conf`.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesConfError {
    /// A file or drop-in directory exists but could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file or directory.
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
/// and its drop-ins mark insecure; empty when there are no such files.
///
/// # Errors
///
/// When a file exists but cannot be read or parsed.
pub fn insecure_registries() -> Result<Vec<String>, RegistriesConfError> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")));
    let locations = Locations::find(
        Path::new(SYSTEM_DIR),
        env("CONTAINERS_REGISTRIES_CONF"),
        config_home.as_deref(),
    );
    locations.insecure_registries()
}

/// The files that make up the configuration, in the order they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locations {
    /// The main file.
    pub main: PathBuf,
    /// The drop-in directories, read in this order.
    pub dirs: Vec<PathBuf>,
}

impl Locations {
    /// The files for the system directory `system` (`/etc/containers`), the value of
    /// `$CONTAINERS_REGISTRIES_CONF` and the user's configuration directory
    /// (`~/.config`), as containers/image chooses them.
    pub(crate) fn find(
        system: &Path,
        env_file: Option<OsString>,
        config_home: Option<&Path>,
    ) -> Self {
        let user = config_home.map(|home| home.join("containers"));
        let user_file = user.as_ref().map(|dir| dir.join("registries.conf"));
        let user_dir = user.as_ref().map(|dir| dir.join("registries.conf.d"));
        if env_file.is_none()
            && let Some(file) = user_file.filter(|file| file.exists())
        {
            return Self {
                main: file,
                dirs: user_dir.into_iter().collect(),
            };
        }
        Self {
            main: env_file.map_or_else(|| system.join("registries.conf"), PathBuf::from),
            dirs: std::iter::once(system.join("registries.conf.d"))
                .chain(user_dir)
                .collect(),
        }
    }

    /// The insecure registries of the merged configuration.
    pub(crate) fn insecure_registries(&self) -> Result<Vec<String>, RegistriesConfError> {
        let mut merged = Conf::default();
        if let Some(conf) = read(&self.main)? {
            merged.merge(conf);
        }
        for dir in &self.dirs {
            for file in drop_ins(dir)? {
                if let Some(conf) = read(&file)? {
                    merged.merge(conf);
                }
            }
        }
        Ok(merged.insecure())
    }
}

/// The `*.conf` files of the drop-in directory `dir`, by name; none when it does not exist.
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, RegistriesConfError> {
    let read_err = |source| RegistriesConfError::Read {
        path: dir.to_owned(),
        source,
    };
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(read_err(source)),
    };
    let mut files = Vec::new();
    for item in listing {
        let path = item.map_err(read_err)?.path();
        if path.extension().is_some_and(|ext| ext == "conf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The file at `path`, parsed; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<Conf>, RegistriesConfError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RegistriesConfError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|source| RegistriesConfError::Parse {
            path: path.to_owned(),
            source,
        })
}

impl Conf {
    /// Applies the later file `later`: its tables replace those of the same prefix.
    fn merge(&mut self, later: Conf) {
        for table in later.registry {
            match self
                .registry
                .iter_mut()
                .find(|known| known.prefix() == table.prefix())
            {
                Some(known) => *known = table,
                None => self.registry.push(table),
            }
        }
        if let Some(list) = later.registries.and_then(|r| r.insecure) {
            let mine = self
                .registries
                .get_or_insert_with(V1Registries::default)
                .insecure
                .get_or_insert_with(V1List::default);
            mine.registries.extend(list.registries);
        }
    }

    /// The hosts of the insecure registries.
    fn insecure(self) -> Vec<String> {
        let v2 = self
            .registry
            .into_iter()
            .filter(|r| r.insecure)
            .filter_map(|r| r.location.or(r.prefix));
        let v1 = self
            .registries
            .and_then(|r| r.insecure)
            .map(|list| list.registries)
            .unwrap_or_default();
        v2.chain(v1)
            .map(|location| {
                let host = location.split('/').next().unwrap_or(&location);
                host.to_owned()
            })
            .filter(|host| !host.is_empty())
            .collect()
    }
}

impl RegistryTable {
    /// What the table is for: its prefix, which defaults to its location.
    fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref().or(self.location.as_deref())
    }
}

/// The parts of `registries.conf` read here; the rest is ignored.
#[derive(Debug, Default, serde::Deserialize)]
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
#[derive(Debug, Default, serde::Deserialize)]
struct V1Registries {
    insecure: Option<V1List>,
}

/// A version 1 list: `registries = [...]`.
#[derive(Debug, Default, serde::Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<String>, toml::de::Error> {
        toml::from_str::<Conf>(text).map(Conf::insecure)
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

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
        let locations = Locations {
            main: dir.path().join("registries.conf"),
            dirs: vec![dir.path().join("registries.conf.d")],
        };
        assert!(
            locations
                .insecure_registries()
                .expect("no file is fine")
                .is_empty()
        );
        let bad = dir.path().join("registries.conf.d/50-bad.conf");
        write(&bad, "[[registry]\n");
        let err = locations.insecure_registries().expect_err("invalid TOML");
        assert_eq!(
            err.to_string(),
            format!("`{}` is not a valid registries.conf", bad.display())
        );
    }

    #[test]
    fn drop_ins_apply_in_name_order_and_replace_tables_by_prefix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let system = dir.path().join("etc");
        write(
            &system.join("registries.conf"),
            "[[registry]]\nlocation = \"a.lan\"\ninsecure = true\n\
             [[registry]]\nlocation = \"b.lan\"\n",
        );
        let drop_in = system.join("registries.conf.d");
        // `20-` comes after `10-`: `b.lan` ends insecure, `a.lan` not.
        write(
            &drop_in.join("20-b.conf"),
            "[[registry]]\nlocation = \"b.lan\"\ninsecure = true\n",
        );
        write(
            &drop_in.join("10-b.conf"),
            "[[registry]]\nlocation = \"b.lan\"\ninsecure = false\n\
             [[registry]]\nprefix = \"a.lan\"\nlocation = \"a.lan\"\n",
        );
        // Only `*.conf` files count.
        write(
            &drop_in.join("30-c.conf.off"),
            "[[registry]]\nlocation = \"c.lan\"\ninsecure = true\n",
        );
        std::fs::create_dir(drop_in.join("40-dir.conf")).expect("mkdir");
        let home = dir.path().join("home");
        write(
            &home.join("containers/registries.conf.d/00-user.conf"),
            "[[registry]]\nlocation = \"user.lan:5000/ns\"\ninsecure = true\n",
        );
        let locations = Locations::find(&system, None, Some(&home));
        assert_eq!(
            locations.insecure_registries().expect("valid"),
            ["b.lan", "user.lan:5000"]
        );
    }

    #[test]
    fn the_user_file_replaces_the_system_one_unless_the_variable_names_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let system = dir.path().join("etc");
        let home = dir.path().join("home");
        let user = home.join("containers");
        let without_user = Locations::find(&system, None, Some(&home));
        assert_eq!(
            without_user,
            Locations {
                main: system.join("registries.conf"),
                dirs: vec![
                    system.join("registries.conf.d"),
                    user.join("registries.conf.d")
                ],
            }
        );
        write(&user.join("registries.conf"), "");
        assert_eq!(
            Locations::find(&system, None, Some(&home)),
            Locations {
                main: user.join("registries.conf"),
                dirs: vec![user.join("registries.conf.d")],
            }
        );
        let named = dir.path().join("named.conf");
        assert_eq!(
            Locations::find(&system, Some(named.clone().into()), Some(&home)),
            Locations {
                main: named,
                dirs: vec![
                    system.join("registries.conf.d"),
                    user.join("registries.conf.d")
                ],
            }
        );
        assert_eq!(
            Locations::find(&system, None, None),
            Locations {
                main: system.join("registries.conf"),
                dirs: vec![system.join("registries.conf.d")],
            }
        );
    }
}
