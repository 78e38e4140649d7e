//! Lexical operations on slash-separated paths inside an image, as Go's `path` package
//! does them; Docker derives some defaults this way (a cache mount's id, a secret's file).

/// The shortest path equivalent to `path` by purely lexical processing (Go's `path.Clean`):
/// repeated slashes, `.` elements and `..` after a name are removed; `""` becomes `.`.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            name => parts.push(name),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The last element of `path` (Go's `path.Base`): trailing slashes are ignored, `""`
/// becomes `.` and a path of only slashes `/`.
pub(crate) fn base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_s() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def/", "abc/def"),
            ("/", "/"),
            ("//abc//def//", "/abc/def"),
            ("abc/./def", "abc/def"),
            ("abc/../def", "def"),
            ("abc/..", "."),
            ("../../abc", "../../abc"),
            ("/../abc", "/abc"),
            ("/abc/../../x", "/x"),
            ("a/../..", ".."),
            ("./", "."),
            ("/root/.cache/go-build", "/root/.cache/go-build"),
        ];
        for (path, expected) in cases {
            assert_eq!(clean(path), expected, "{path}");
        }
    }

    #[test]
    fn base_is_go_s() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/.", "."),
            ("/", "/"),
            ("////", "/"),
            ("x/", "x"),
            ("abc", "abc"),
            ("abc/def", "def"),
            ("a/b/.x", ".x"),
            ("/run/secrets/tok//", "tok"),
        ];
        for (path, expected) in cases {
            assert_eq!(base(path), expected, "{path}");
        }
    }
}
