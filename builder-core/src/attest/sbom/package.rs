//! A package found in an image, and the OS it was built for.

use super::super::provenance::encode;
use super::view::View;

/// One package an SBOM lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Package {
    /// Its name.
    pub name: String,
    /// Its version, as its package manager writes it.
    pub version: String,
    /// Its architecture, when recorded.
    pub arch: Option<String>,
    /// Its license, when recorded.
    pub license: Option<String>,
    /// Its package URL.
    pub purl: String,
    /// The file that recorded it, absolute in the image.
    pub found_in: String,
}

/// What makes a package the same one from layer to layer: the file that records it,
/// its name, version and architecture.
pub(super) type Identity = (String, String, String, Option<String>);

impl Package {
    /// Its identity.
    pub(super) fn identity(&self) -> Identity {
        (
            self.found_in.clone(),
            self.name.clone(),
            self.version.clone(),
            self.arch.clone(),
        )
    }
}

/// The distribution of an image, from its `os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Distro {
    /// `ID` (`debian`, `alpine`).
    pub id: Option<String>,
    /// `VERSION_ID` (`12`, `3.20.1`).
    pub version_id: Option<String>,
}

impl Distro {
    /// The distribution `/etc/os-release` (else `/usr/lib/os-release`) of `view` names.
    pub(super) fn of(view: &View) -> Distro {
        let Some(bytes) = view
            .get("etc/os-release")
            .or_else(|| view.get("usr/lib/os-release"))
        else {
            return Distro::default();
        };
        let mut distro = Distro::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches(['"', '\'']).to_owned();
            match key.trim() {
                "ID" => distro.id = Some(value),
                "VERSION_ID" => distro.version_id = Some(value),
                _ => {}
            }
        }
        distro
    }

    /// The PURL of the package `name` `version` of type `kind` (`deb`, `apk`), its
    /// namespace the distribution's id else `fallback`, with its architecture and the
    /// distribution as qualifiers.
    pub(super) fn purl(
        &self,
        kind: &str,
        fallback: &str,
        name: &str,
        version: &str,
        arch: Option<&str>,
    ) -> String {
        let namespace = self.id.as_deref().unwrap_or(fallback);
        let mut purl = format!(
            "pkg:{kind}/{namespace}/{}@{}",
            encode(name),
            encode(version)
        );
        let mut qualifiers = Vec::new();
        if let Some(arch) = arch {
            qualifiers.push(format!("arch={}", encode(arch)));
        }
        if let (Some(id), Some(version_id)) = (&self.id, &self.version_id) {
            qualifiers.push(format!("distro={}", encode(&format!("{id}-{version_id}"))));
        }
        if !qualifiers.is_empty() {
            purl.push('?');
            purl.push_str(&qualifiers.join("&"));
        }
        purl
    }
}

/// The paragraphs of a file of `Key: value` fields separated by blank lines (dpkg's
/// status, Python's `METADATA` header), each as its fields in order; a continuation line
/// (starting with a space or a tab) belongs to the field before it and is skipped.
pub(super) fn paragraphs(text: &str) -> Vec<Vec<(&str, &str)>> {
    let mut found = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                found.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim(), value.trim()));
        }
    }
    if !current.is_empty() {
        found.push(current);
    }
    found
}

/// The value of the field `key` of a paragraph.
pub(super) fn field<'a>(paragraph: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    paragraph
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| *v)
        .filter(|v| !v.is_empty())
}
