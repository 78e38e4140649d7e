//! The SBOM as an SPDX 2.3 JSON document
//! (<https://spdx.github.io/spdx-spec/v2.3/>).
//!
//! The document DESCRIBES one package, the image, which CONTAINS each package found.
//! Every package is `filesAnalyzed: false` with its PURL as an external reference, its
//! version, its architecture in its PURL, its license when the package manager recorded
//! a valid SPDX expression (else `NOASSERTION`, the recorded text kept in
//! `licenseComments`), and in `sourceInfo` the file that recorded it and the layer that
//! added it.

use serde_json::{Value, json};

use super::Found;

/// Where a package came from, for SPDX's `downloadLocation` and the like: nothing is
/// asserted.
const NOASSERTION: &str = "NOASSERTION";

/// The SPDX document of the image `name` (manifest `digest`) holding `packages`,
/// created at `created` (RFC 3339).
pub(super) fn document(name: &str, digest: &str, created: &str, packages: &[Found]) -> Value {
    let mut spdx_packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": name,
        "versionInfo": digest,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (n, found) in packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}-{}", n + 1, id_part(&found.package.name));
        spdx_packages.push(package(&id, found));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("sbom-{name}"),
        "documentNamespace": format!("{}/spdx/{}", env!("CARGO_PKG_REPOSITORY"), digest.replace(':', "-")),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: mkimage-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": spdx_packages,
        "relationships": relationships,
    })
}

/// One package's SPDX entry.
fn package(id: &str, found: &Found) -> Value {
    let package = &found.package;
    let license = package.license.as_deref();
    let valid = license.filter(|text| is_valid_expression(text));
    let mut entry = json!({
        "SPDXID": id,
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": valid.unwrap_or(NOASSERTION),
        "copyrightText": NOASSERTION,
        "sourceInfo": format!("recorded in {} by layer {}", package.found_in, found.layer),
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": package.purl,
        }],
    });
    if let (Some(text), None) = (license, valid) {
        entry["licenseComments"] = format!("recorded license: {text}").into();
    }
    entry
}

/// Whether `text` is an SPDX license expression of known licenses only (a
/// `LicenseRef-` would need its text in the document).
fn is_valid_expression(text: &str) -> bool {
    spdx::Expression::parse(text).is_ok_and(|expression| {
        expression
            .requirements()
            .all(|r| matches!(r.req.license, spdx::LicenseItem::Spdx { .. }))
    })
}

/// `name` as SPDX ids may spell it: letters, digits, `.` and `-`.
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_license_expressions_are_declared() {
        assert!(is_valid_expression("MIT"));
        assert!(is_valid_expression("GPL-2.0-only OR MIT"));
        assert!(!is_valid_expression("GPL2+ and BSD"));
        assert!(!is_valid_expression("LicenseRef-custom"));
        assert_eq!(id_part("libstdc++6"), "libstdc--6");
    }
}
