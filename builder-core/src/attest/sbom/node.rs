//! Node packages: the `package.json` of each package under a `node_modules` directory
//! (`node_modules/NAME/` or `node_modules/@SCOPE/NAME/`).

use serde::Deserialize;

use super::package::Package;
use super::view::View;

/// The fields of a `package.json` the SBOM reads.
#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    license: Option<serde_json::Value>,
}

/// Whether `path` is the `package.json` of a package in a `node_modules` directory.
pub(super) fn is_module_manifest(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let n = parts.len();
    (n >= 3 && parts[n - 3] == "node_modules" && !parts[n - 2].starts_with('@'))
        || (n >= 4 && parts[n - 4] == "node_modules" && parts[n - 3].starts_with('@'))
}

/// The Node packages of `view`, with PURLs `pkg:npm/[%40SCOPE/]NAME@VERSION`.
pub(super) fn packages(view: &View) -> Vec<Package> {
    let files = view.matching(|path| path.ends_with("/package.json") && is_module_manifest(path));
    let mut found = Vec::new();
    for (path, bytes) in files {
        let Ok(manifest) = serde_json::from_slice::<Manifest>(bytes) else {
            continue;
        };
        let (Some(name), Some(version)) = (manifest.name, manifest.version) else {
            continue;
        };
        let encode = super::super::provenance::encode;
        let purl_name = match name.split_once('/') {
            Some((scope, rest)) => format!("{}/{}", encode(scope), encode(rest)),
            None => encode(&name),
        };
        let license = match manifest.license {
            Some(serde_json::Value::String(license)) => Some(license),
            _ => None,
        };
        found.push(Package {
            purl: format!("pkg:npm/{purl_name}@{}", encode(&version)),
            name,
            version,
            arch: None,
            license,
            found_in: format!("/{path}"),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_manifests_are_those_under_node_modules() {
        assert!(is_module_manifest("app/node_modules/left-pad/package.json"));
        assert!(is_module_manifest(
            "app/node_modules/@types/node/package.json"
        ));
        assert!(!is_module_manifest("app/package.json"));
        assert!(!is_module_manifest(
            "app/node_modules/left-pad/lib/package.json"
        ));
    }
}
