//! Debian packages: dpkg's `/var/lib/dpkg/status`, and the one file per package under
//! `/var/lib/dpkg/status.d/` that distroless images carry instead.

use super::package::{Distro, Package, field, paragraphs};
use super::view::View;

/// The packages dpkg records in `view`: every paragraph with a name and a version whose
/// state is not `not-installed` (as `dpkg-query -W` lists them), and every package of
/// `status.d/`.
pub(super) fn packages(view: &View, distro: &Distro) -> Vec<Package> {
    let files = view.matching(|path| {
        path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/")
    });
    let mut found = Vec::new();
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for paragraph in paragraphs(&text) {
            let (Some(name), Some(version)) =
                (field(&paragraph, "Package"), field(&paragraph, "Version"))
            else {
                continue;
            };
            let state = field(&paragraph, "Status").and_then(|s| s.split_whitespace().nth(2));
            if state == Some("not-installed") {
                continue;
            }
            let arch = field(&paragraph, "Architecture");
            found.push(Package {
                name: name.to_owned(),
                version: version.to_owned(),
                arch: arch.map(str::to_owned),
                license: None,
                purl: distro.purl("deb", "debian", name, version, arch),
                found_in: format!("/{path}"),
            });
        }
    }
    found
}
