//! Alpine packages: apk's `/lib/apk/db/installed`, a paragraph per package of one-letter
//! fields (`P:` name, `V:` version, `A:` architecture, `L:` license).

use super::package::{Distro, Package};
use super::view::View;

/// The path of apk's database.
const INSTALLED: &str = "lib/apk/db/installed";

/// The packages apk records in `view`.
pub(super) fn packages(view: &View, distro: &Distro) -> Vec<Package> {
    let Some(bytes) = view.get(INSTALLED) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    for block in text.split("\n\n") {
        let mut fields = std::collections::HashMap::new();
        for line in block.lines() {
            if let Some((key, value)) = line.split_once(':')
                && key.len() == 1
            {
                fields.entry(key).or_insert(value.trim());
            }
        }
        let (Some(name), Some(version)) = (fields.get("P"), fields.get("V")) else {
            continue;
        };
        let arch = fields.get("A").copied();
        found.push(Package {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
            arch: arch.map(str::to_owned),
            license: fields.get("L").map(|l| (*l).to_owned()),
            purl: distro.purl("apk", "alpine", name, version, arch),
            found_in: format!("/{INSTALLED}"),
        });
    }
    found
}
