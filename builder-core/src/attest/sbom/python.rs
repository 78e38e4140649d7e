//! Python distributions: the `METADATA` of `*.dist-info` and the `PKG-INFO` of
//! `*.egg-info` (a directory, or a file of that name) in `site-packages` and
//! `dist-packages` directories.

use super::package::{Package, field, paragraphs};
use super::view::View;

/// The Python distributions of `view`, with PURLs `pkg:pypi/NAME@VERSION`.
pub(super) fn packages(view: &View) -> Vec<Package> {
    let files = view.matching(|path| {
        path.contains("-packages/")
            && (path.ends_with(".dist-info/METADATA")
                || path.ends_with(".egg-info/PKG-INFO")
                || path.ends_with(".egg-info"))
    });
    let mut found = Vec::new();
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        let Some(header) = paragraphs(&text).into_iter().next() else {
            continue;
        };
        let (Some(name), Some(version)) = (field(&header, "Name"), field(&header, "Version"))
        else {
            continue;
        };
        // PEP 503: the PURL's name is normalized to lowercase with `-`.
        let normalized = name.to_lowercase().replace(['_', '.'], "-");
        found.push(Package {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: None,
            license: field(&header, "License-Expression")
                .or_else(|| field(&header, "License"))
                .map(str::to_owned),
            purl: format!(
                "pkg:pypi/{}@{}",
                super::super::provenance::encode(&normalized),
                super::super::provenance::encode(version)
            ),
            found_in: format!("/{path}"),
        });
    }
    found
}
