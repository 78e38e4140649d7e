//! Lexical operations on `/`-separated paths, with the semantics of Go's `path` package:
//! the paths inside an image, in a Dockerfile and in a `.dockerignore` are written for
//! Docker, which derives defaults and matches patterns this way. Nothing here touches a
//! file system; a cleaned path still has to be resolved inside its root.

/// The shortest path equivalent to `path` by purely lexical processing, as Go's
/// `path.Clean`: repeated slashes become one, `.` elements go, a `..` element goes with
/// the element before it (a `..` at the start of a rooted path just goes: `/..` is `/`),
/// and a trailing slash goes except on `/` itself. An empty result is `.`.
///
/// ```
/// use mkimage_plan::slash_path::clean;
///
/// assert_eq!(clean("/../a/b/../././/c"), "/a/c");
/// assert_eq!(clean("a/../.."), "..");
/// assert_eq!(clean(""), ".");
/// ```
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut kept: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match kept.last() {
                Some(&last) if last != ".." => {
                    kept.pop();
                }
                // A rooted path cannot climb above its root.
                _ if rooted => {}
                _ => kept.push(".."),
            },
            name => kept.push(name),
        }
    }
    let joined = kept.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The last element of `path`, as Go's `path.Base`: trailing slashes are ignored, `""`
/// becomes `.` and a path of only slashes `/`.
pub fn base(path: &str) -> &str {
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

    /// Each rule of Go's `path.Clean` documentation, case by case.
    #[test]
    fn clean_follows_go_s_rules() {
        let table = [
            // Already clean.
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            // Empty is the current directory.
            ("", "."),
            // Trailing slashes go, except on the root.
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("../../", "../.."),
            ("/abc/", "/abc"),
            // Repeated slashes become one.
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("//abc//", "/abc"),
            ("abc//", "abc"),
            // `.` elements go.
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            // A `..` goes with the element before it.
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            // A `..` at the start of a rooted path stays at the root.
            ("/../abc", "/abc"),
            ("/..", "/"),
            ("/../..", "/"),
            // All the rules at once.
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
            // The examples of the documentation.
            ("a/c", "a/c"),
            ("a//c", "a/c"),
            ("a/c/.", "a/c"),
            ("a/c/b/..", "a/c"),
            ("/../a/c", "/a/c"),
            ("/../a/b/../././/c", "/a/c"),
        ];
        for (path, want) in table {
            assert_eq!(clean(path), want, "clean({path:?})");
            // Cleaning is idempotent.
            assert_eq!(clean(want), want, "clean({want:?})");
        }
    }

    #[test]
    fn base_follows_go_s_rules() {
        let table = [
            ("", "."),
            (".", "."),
            ("/.", "."),
            ("/", "/"),
            ("////", "/"),
            ("x/", "x"),
            ("abc", "abc"),
            ("abc/def", "def"),
            ("a/b/.x", ".x"),
            ("a/b/c.", "c."),
            ("a/b/c.x", "c.x"),
            ("/run/secrets/tok//", "tok"),
        ];
        for (path, want) in table {
            assert_eq!(base(path), want, "base({path:?})");
        }
    }
}
