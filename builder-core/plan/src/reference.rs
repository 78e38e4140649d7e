//! Image references (`registry/repo:tag@digest`), parsed and normalized as docker does.
//!
//! The grammar is the one of the distribution project's `reference` package:
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]       host: DNS labels joined by ".", or "[" IPv6 "]"
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//!
//! The first part of a name is a domain when it contains `.` or `:`, is `localhost`, or
//! has an uppercase letter; otherwise the name is on Docker Hub (`docker.io`), where a
//! one-component path gets `library/` in front. A name without tag or digest gets the
//! tag `latest`.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use oci_spec::image::Digest;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Docker Hub's canonical domain.
const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy domain, normalized to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL: &str = "library/";
/// The tag a name without tag or digest gets.
const DEFAULT_TAG: &str = "latest";
/// The longest name (domain and path) allowed.
const NAME_MAX: usize = 255;

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let label = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{label}(?:\.{label})*|\[[a-fA-F0-9:]+\])");
    Regex::new(&format!(r"^{host}(?::[0-9]+)?$")).expect("the domain pattern is valid")
});
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    let component = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    Regex::new(&format!("^{component}(?:/{component})*$")).expect("the path pattern is valid")
});
/// The distribution spec's `[\w][\w.-]{0,127}`, whose `\w` (Go's) is ASCII: a Unicode
/// `\w` would take tags no registry accepts, and compiling 128 copies of its class was
/// the largest CPU cost of a whole `RUN true` build.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("the tag pattern is valid")
});
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
        .expect("the digest pattern is valid")
});
static IMAGE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{64}$").expect("the id pattern is valid"));

/// A normalized image reference: domain, repository path, and a tag, a digest or both.
///
/// `Display` gives the full form (`docker.io/library/busybox:latest`), which store tags
/// use; [`familiar`](Reference::familiar) gives the short form docker shows
/// (`busybox:latest`).
///
/// ```
/// use mkimage_plan::Reference;
///
/// let r: Reference = "busybox".parse()?;
/// assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
/// assert_eq!(r.familiar(), "busybox:latest");
/// let r: Reference = "localhost:5000/team/app:1.0".parse()?;
/// assert_eq!((r.domain(), r.path(), r.tag()), ("localhost:5000", "team/app", Some("1.0")));
/// # Ok::<(), mkimage_plan::ParseReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference `{text}`: {reason}")]
pub struct ParseReferenceError {
    text: String,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Reason {
    #[error("it is empty")]
    Empty,
    #[error("a 64-character hexadecimal string is an image id, not a name")]
    ImageId,
    #[error("repository name `{0}` must be lowercase")]
    Uppercase(String),
    #[error("invalid domain `{0}`")]
    Domain(String),
    #[error(
        "invalid repository name `{0}`: use lowercase letters and digits, separated by `/`, `.`, `_`, `__` or `-`"
    )]
    Path(String),
    #[error(
        "invalid tag `{0}`: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    Tag(String),
    #[error("invalid digest `{0}`")]
    Digest(String),
    #[error("repository name is longer than {NAME_MAX} characters")]
    TooLong,
}

impl Reference {
    /// The registry's domain, with its port (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any; a reference parsed without tag or digest has `latest`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The repository name, domain and path (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The same repository with this tag and no digest.
    ///
    /// # Errors
    ///
    /// When `tag` is not a valid tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ParseReferenceError> {
        if !TAG.is_match(tag) {
            return Err(ParseReferenceError {
                text: format!("{}:{tag}", self.name()),
                reason: Reason::Tag(tag.to_owned()),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with this digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The short form docker shows: Docker Hub's domain and `library/` left out
    /// (`busybox:latest`, `user/app:1`, `localhost:5000/app:1`). Docker Hub's domain
    /// stays when the path's first component would read as a domain
    /// (`docker.io/quay.io/app`), so that the short form names the same repository.
    pub fn familiar(&self) -> String {
        let mut name = if self.domain == DOCKER_HUB {
            let short = match self.path.strip_prefix(OFFICIAL) {
                Some(short) if !short.contains('/') => short,
                _ => &self.path,
            };
            let (_, path) = split_domain(short);
            if path.len() == short.len() {
                short.to_owned()
            } else {
                self.name()
            }
        } else {
            self.name()
        };
        self.push_suffix(&mut name);
        name
    }

    /// Appends `:tag` and `@digest` as present.
    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_ref());
        }
    }
}

impl Ord for Reference {
    /// By name, then tag, then digest (as text; `Digest` has no order of its own).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let digest = |r: &Reference| r.digest.as_ref().map(|d| d.as_ref().to_owned());
        (&self.domain, &self.path, &self.tag)
            .cmp(&(&other.domain, &other.path, &other.tag))
            .then_with(|| digest(self).cmp(&digest(other)))
    }
}

impl PartialOrd for Reference {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut full = self.name();
        self.push_suffix(&mut full);
        f.write_str(&full)
    }
}

impl FromStr for Reference {
    type Err = ParseReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ParseReferenceError {
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(fail(Reason::Empty));
        }
        if IMAGE_ID.is_match(text) {
            return Err(fail(Reason::ImageId));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !DIGEST.is_match(digest) {
                    return Err(fail(Reason::Digest(digest.to_owned())));
                }
                let parsed = Digest::from_str(digest)
                    .map_err(|_| fail(Reason::Digest(digest.to_owned())))?;
                (rest, Some(parsed))
            }
            None => (text, None),
        };
        let (domain, remainder) = split_domain(rest);
        let (path, tag) = match remainder.rsplit_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (remainder, None),
        };
        if !DOMAIN.is_match(domain) {
            return Err(fail(Reason::Domain(domain.to_owned())));
        }
        if path.to_lowercase() != path {
            return Err(fail(Reason::Uppercase(path.to_owned())));
        }
        if !PATH.is_match(path) {
            return Err(fail(Reason::Path(path.to_owned())));
        }
        if let Some(tag) = tag
            && !TAG.is_match(tag)
        {
            return Err(fail(Reason::Tag(tag.to_owned())));
        }
        let domain = if domain == DOCKER_HUB_LEGACY {
            DOCKER_HUB
        } else {
            domain
        };
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL}{path}")
        } else {
            path.to_owned()
        };
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(fail(Reason::TooLong));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag,
            digest,
        })
    }
}

/// Splits `name[:tag]` into its domain and the rest, as docker decides: the part before
/// the first `/` is a domain when it has a `.` or a `:`, is `localhost`, or is not
/// lowercase.
fn split_domain(text: &str) -> (&str, &str) {
    match text.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, text),
    }
}

impl TryFrom<String> for Reference {
    type Error = ParseReferenceError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Reference> for String {
    fn from(reference: Reference) -> String {
        reference.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalizes_like_docker() -> Result<(), ParseReferenceError> {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            ("user/app", "docker.io/user/app:latest", "user/app:latest"),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/busybox:1",
                "docker.io/library/busybox:1",
                "busybox:1",
            ),
            (
                "docker.io/library/a/b:1",
                "docker.io/library/a/b:1",
                "library/a/b:1",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/x:1",
                "localhost:5000/x:1",
                "localhost:5000/x:1",
            ),
            (
                "host:5000/a/b/c:v1.0-rc_1",
                "host:5000/a/b/c:v1.0-rc_1",
                "host:5000/a/b/c:v1.0-rc_1",
            ),
            (
                "quay.io/org/app",
                "quay.io/org/app:latest",
                "quay.io/org/app:latest",
            ),
            ("[::1]:5000/app:1", "[::1]:5000/app:1", "[::1]:5000/app:1"),
            ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
            (
                "a__b-c--d/e_f.g:T",
                "docker.io/a__b-c--d/e_f.g:T",
                "a__b-c--d/e_f.g:T",
            ),
            ("foo:5000", "docker.io/library/foo:5000", "foo:5000"),
        ];
        for (text, full, familiar) in cases {
            let reference: Reference = text.parse()?;
            assert_eq!(reference.to_string(), full, "{text}");
            assert_eq!(reference.familiar(), familiar, "{text}");
            assert_eq!(full.parse::<Reference>()?, reference, "{text} round trip");
        }
        Ok(())
    }

    // See: issue 13
    #[test]
    fn familiar_form_names_the_same_repository() -> Result<(), ParseReferenceError> {
        for (text, familiar) in [
            ("docker.io/quay.io/app", "docker.io/quay.io/app:latest"),
            ("docker.io/localhost/app:1", "docker.io/localhost/app:1"),
            ("docker.io/docker.io/app", "docker.io/docker.io/app:latest"),
            ("docker.io/library/a.b", "a.b:latest"),
            ("docker.io/a.b", "a.b:latest"),
        ] {
            let reference: Reference = text.parse()?;
            assert_eq!(reference.familiar(), familiar, "{text}");
            assert_eq!(familiar.parse::<Reference>()?, reference, "{text}");
        }
        Ok(())
    }

    // See: issue 16
    #[test]
    fn tags_are_ascii_words() {
        assert!("app:v1.0_rc-2".parse::<Reference>().is_ok());
        for text in ["app:caf\u{e9}", "app:\u{661}", "app:.v1", "app:-v1"] {
            assert!(text.parse::<Reference>().is_err(), "{text}");
        }
    }

    #[test]
    fn digests_keep_or_drop_the_tag() -> Result<(), ParseReferenceError> {
        let only: Reference = format!("busybox@sha256:{HEX}").parse()?;
        assert_eq!(only.tag(), None);
        assert_eq!(
            only.to_string(),
            format!("docker.io/library/busybox@sha256:{HEX}")
        );
        assert_eq!(only.familiar(), format!("busybox@sha256:{HEX}"));
        let both: Reference = format!("host:5000/app:1@sha256:{HEX}").parse()?;
        assert_eq!(both.tag(), Some("1"));
        assert_eq!(
            both.digest().map(|d| d.digest().to_owned()),
            Some(HEX.to_owned())
        );
        assert_eq!(both.to_string(), format!("host:5000/app:1@sha256:{HEX}"));
        Ok(())
    }

    #[test]
    fn rejects_invalid_references_with_a_reason() {
        let long = "a".repeat(250);
        let cases = [
            ("", "invalid reference ``: it is empty".to_owned()),
            (
                HEX,
                format!(
                    "invalid reference `{HEX}`: a 64-character hexadecimal string is an image id, not a name"
                ),
            ),
            (
                "Busybox",
                "invalid reference `Busybox`: repository name `Busybox` must be lowercase".to_owned(),
            ),
            (
                "registry.io/Team/app",
                "invalid reference `registry.io/Team/app`: repository name `Team/app` must be lowercase"
                    .to_owned(),
            ),
            (
                "a//b",
                "invalid reference `a//b`: invalid repository name `a//b`: use lowercase letters and digits, separated by `/`, `.`, `_`, `__` or `-`".to_owned(),
            ),
            (
                "app-:1",
                "invalid reference `app-:1`: invalid repository name `app-`: use lowercase letters and digits, separated by `/`, `.`, `_`, `__` or `-`".to_owned(),
            ),
            (
                "app:.bad",
                "invalid reference `app:.bad`: invalid tag `.bad`: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`".to_owned(),
            ),
            (
                "app:",
                "invalid reference `app:`: invalid tag ``: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`".to_owned(),
            ),
            (
                "host:port/app",
                "invalid reference `host:port/app`: invalid domain `host:port`".to_owned(),
            ),
            (
                "-host.io/app",
                "invalid reference `-host.io/app`: invalid domain `-host.io`".to_owned(),
            ),
            (
                "app@sha256:abc",
                "invalid reference `app@sha256:abc`: invalid digest `sha256:abc`".to_owned(),
            ),
            (
                "a:b:c",
                "invalid reference `a:b:c`: invalid repository name `a:b`: use lowercase letters and digits, separated by `/`, `.`, `_`, `__` or `-`".to_owned(),
            ),
        ];
        for (text, message) in cases {
            let err = text.parse::<Reference>().unwrap_err();
            assert_eq!(err.to_string(), message, "{text}");
        }
        let err = format!("registry.io/{long}/{long}")
            .parse::<Reference>()
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("repository name is longer than 255 characters")
        );
        let tag = "t".repeat(129);
        assert!(format!("app:{tag}").parse::<Reference>().is_err());
        assert!(format!("app:{}", &tag[..128]).parse::<Reference>().is_ok());
    }

    #[test]
    fn with_tag_replaces_tag_and_digest() -> Result<(), ParseReferenceError> {
        let reference: Reference = format!("app:1@sha256:{HEX}").parse()?;
        assert_eq!(
            reference.with_tag("2")?.to_string(),
            "docker.io/library/app:2"
        );
        assert!(reference.with_tag("-x").is_err());
        Ok(())
    }
}
