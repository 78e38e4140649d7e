//! What kind of source a `COPY` or `ADD` argument is, as BuildKit tells them apart.
//!
//! - A git repository: `ssh://…`, `git://…`, an `http(s)://` URL whose path ends in
//!   `.git` (`https://github.com/o/r.git#v1:dir`), or scp-like `user@host:path`.
//! - A URL: any other `http://` or `https://` source.
//! - Otherwise a path in the source, even `ftp://x` or `github.com/o/r`.

use mkimage_plan::CopySource;

/// Classifies one source argument of `ADD` (`add`) or `COPY`.
pub(super) fn classify(source: &str) -> CopySource {
    if is_git(source) {
        CopySource::Git(source.to_owned())
    } else if source.starts_with("http://") || source.starts_with("https://") {
        CopySource::Url(source.to_owned())
    } else {
        CopySource::Path(source.to_owned())
    }
}

/// Whether `source` is a git repository reference, as BuildKit tells them apart (for
/// `ADD`, a build context or a named context).
pub fn is_git(source: &str) -> bool {
    if source.starts_with("./") || source.starts_with("../") || source.starts_with("github.com/") {
        return false;
    }
    if let Some((scheme, rest)) = source.split_once("://")
        && !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return match scheme.to_ascii_lowercase().as_str() {
            "ssh" | "git" => true,
            "http" | "https" => url_path(rest).ends_with(".git"),
            _ => false,
        };
    }
    is_scp_like(source)
}

/// The path of a URL after `scheme://`: from the first `/` to a `?` or `#`.
fn url_path(after_scheme: &str) -> &str {
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let without_query = &after_scheme[..end];
    without_query
        .find('/')
        .map_or("", |start| &without_query[start..])
}

/// `user@host:path`, with a user of letters, digits, `-` and `_`, and a host of letters,
/// digits, `-` and `.`.
fn is_scp_like(source: &str) -> bool {
    let Some((user, rest)) = source.split_once('@') else {
        return false;
    };
    let Some((host, _path)) = rest.split_once(':') else {
        return false;
    };
    !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `checksum` is a digest `ADD --checksum` can check a download against:
/// `sha256:`, `sha384:` or `sha512:` and that many lowercase hex digits.
pub(super) fn is_digest(checksum: &str) -> bool {
    let Some((algorithm, hex)) = checksum.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources() {
        for source in [
            "https://github.com/moby/buildkit.git",
            "https://github.com/moby/buildkit.git#v0.10.1:docs",
            "https://example.com/r.git?ref=main",
            "HTTP://example.com/r.git",
            "git://example.com/r",
            "ssh://git@github.com/o/r",
            "git@github.com:moby/buildkit.git",
            "git@github.com:moby/buildkit#main",
        ] {
            assert_eq!(classify(source), CopySource::Git(source.into()), "{source}");
        }
    }

    #[test]
    fn url_sources() {
        for source in [
            "https://example.com/file.tar.gz",
            "http://example.com/",
            "https://example.com/r.git.tar",
            "https://example.com/x?name=r.git",
        ] {
            assert_eq!(classify(source), CopySource::Url(source.into()), "{source}");
        }
    }

    #[test]
    fn everything_else_is_a_path() {
        for source in [
            "src/",
            "*.go",
            "github.com/moby/buildkit",
            "ftp://example.com/x",
            "./git@host:x",
            "a@b",
            "user name@host:x",
            "HTTPS://example.com/file",
        ] {
            assert_eq!(
                classify(source),
                CopySource::Path(source.into()),
                "{source}"
            );
        }
    }

    #[test]
    fn digests() {
        let hex = "a".repeat(64);
        assert!(is_digest(&format!("sha256:{hex}")));
        assert!(is_digest(&format!("sha512:{}", "0".repeat(128))));
        assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_digest(&format!("md5:{hex}")));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&hex));
    }
}
