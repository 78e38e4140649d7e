//! Ruby gems: the gemspecs RubyGems installs under `specifications/`
//! (`…/gems/3.1.0/specifications/rake-13.0.6.gemspec`), read for their `name`, `version`
//! and `licenses` assignments (`pkg:gem/NAME@VERSION`). The gemspec is Ruby and is never
//! run: only those string literals are read.

use std::sync::LazyLock;

use regex::Regex;

use super::package::Package;
use super::view::View;

/// Whether `path` is an installed gem's specification.
pub(super) fn is_gemspec(path: &str) -> bool {
    path.ends_with(".gemspec")
        && path
            .rsplit('/')
            .nth(1)
            .is_some_and(|dir| dir == "specifications")
}

/// The string assigned to the gemspec attribute `name` in `text` (`s.name = "rake"`).
fn attribute<'t>(text: &'t str, pattern: &Regex) -> Option<&'t str> {
    pattern
        .captures(text)
        .and_then(|captures| captures.get(1))
        .map(|m| m.as_str())
}

/// The gems of `view`.
pub(super) fn packages(view: &View) -> Vec<Package> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\.name\s*=\s*"([^"]+)""#).expect("a valid pattern"));
    static VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\.version\s*=\s*"([^"]+)""#).expect("a valid pattern"));
    static LICENSE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"\.licenses?\s*=\s*\[?\s*"([^"]+)""#).expect("a valid pattern")
    });
    let encode = super::super::provenance::encode;
    let mut found = Vec::new();
    for (path, bytes) in view.matching(is_gemspec) {
        let text = String::from_utf8_lossy(bytes);
        let (Some(name), Some(version)) = (attribute(&text, &NAME), attribute(&text, &VERSION))
        else {
            continue;
        };
        found.push(Package {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: None,
            license: attribute(&text, &LICENSE).map(str::to_owned),
            purl: format!("pkg:gem/{}@{}", encode(name), encode(version)),
            found_in: format!("/{path}"),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemspecs_are_those_rubygems_installs() {
        assert!(is_gemspec(
            "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec"
        ));
        assert!(!is_gemspec("app/rake.gemspec"));
    }
}
