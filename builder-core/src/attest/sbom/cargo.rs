//! Rust crates: every `Cargo.lock` in the image, each `[[package]]` with its name and
//! version (`pkg:cargo/NAME@VERSION`).

use serde::Deserialize;

use super::package::Package;
use super::view::View;

/// The part of a `Cargo.lock` the SBOM reads.
#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Locked>,
}

/// One locked package.
#[derive(Deserialize)]
struct Locked {
    name: String,
    version: String,
}

/// Whether `path` is a `Cargo.lock`.
pub(super) fn is_lock_file(path: &str) -> bool {
    path == "Cargo.lock" || path.ends_with("/Cargo.lock")
}

/// The crates the `Cargo.lock` files of `view` lock; a file that does not parse gives
/// none.
pub(super) fn packages(view: &View) -> Vec<Package> {
    let encode = super::super::provenance::encode;
    let mut found = Vec::new();
    for (path, bytes) in view.matching(is_lock_file) {
        let Some(lock) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| toml::from_str::<Lock>(text).ok())
        else {
            continue;
        };
        for locked in lock.package {
            found.push(Package {
                purl: format!(
                    "pkg:cargo/{}@{}",
                    encode(&locked.name),
                    encode(&locked.version)
                ),
                name: locked.name,
                version: locked.version,
                arch: None,
                license: None,
                found_in: format!("/{path}"),
            });
        }
    }
    found
}
