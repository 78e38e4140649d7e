//! Docker's path patterns: the lines of a `.dockerignore` and `COPY --exclude`.
//!
//! The semantics are those of moby's `patternmatcher` (the spec; its code is not copied):
//!
//! - a pattern is cleaned like Go's `filepath.Clean` and is relative to the root it is
//!   matched against (a leading `/` is dropped when an ignore file is read);
//! - `*`, `?`, `[...]` and `\` follow Go's `filepath.Match` within a component, and `**`
//!   matches any number of directories (`**/` even none);
//! - a pattern matches a path or any of its parent directories, and of all the patterns
//!   that match, the last one decides: a `!` pattern re-includes what earlier lines
//!   excluded, even below an excluded directory; where a parent's match was never
//!   evaluated, BuildKit's walk does not inherit it (see `Patterns::matches_below`);
//! - an excluded directory is still walked when a `!` pattern could match below it, and
//!   appears only as the parent of something re-included.
//!
//! The `ignore` and `globset` crates do not fit: gitignore anchors a pattern without `/`
//! at every depth (Docker anchors every pattern at the root), gives `**` meaning only as a
//! whole component, matches parents only through directory pruning (so a child of an
//! excluded directory cannot come back) and negates classes with `!`. moby compiles a
//! pattern into one of four matchers (exact, prefix for a trailing `**`, suffix for a
//! leading `**`, or a regular expression); we do the same with the `regex` crate so that
//! the corner cases agree (`foo**` matches `foobar/x`, `**.go` matches `a.go`). Where
//! moby's translation gives a different regular expression than the pattern says (a `*`
//! inside a class, `\d` becoming a digit class, `^` an anchor), we follow the pattern as
//! `filepath.Match` reads it.

use regex::Regex;

use super::glob::{self, Glob};
use crate::plan::slash_path::clean;

/// An ordered list of Docker path patterns: what a `.dockerignore` or `--exclude` says.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`.
    cleaned: String,
    /// A `!` pattern: a match re-includes.
    exclusion: bool,
    matcher: Matcher,
    /// For a `!` pattern without `**`: its components, to tell whether it could match
    /// below a directory.
    components: Option<Vec<Glob>>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    /// Starts with the cleaned pattern minus its trailing `**`.
    Prefix,
    /// Ends with the cleaned pattern minus its leading `**`.
    Suffix,
    Regex(Regex),
}

/// A pattern that Docker rejects (Go's `filepath.ErrBadPattern`, or a lone `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern(pub(crate) String);

impl Patterns {
    /// Compiles `patterns`, each trimmed and cleaned; blank ones are skipped and a leading
    /// `!` makes a re-inclusion. This is how `--exclude` values are read.
    ///
    /// # Errors
    ///
    /// The first pattern that is malformed (an unclosed `[`, a trailing `\`, a lone `!`).
    pub(crate) fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Patterns, BadPattern> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for raw in patterns {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let cleaned = clean(raw);
            let (exclusion, cleaned) = match cleaned.strip_prefix('!') {
                Some("") => return Err(BadPattern(raw.to_owned())),
                Some(rest) => (true, rest.to_owned()),
                None => (false, cleaned),
            };
            let bad = || BadPattern(raw.to_owned());
            // Go validates every pattern with `filepath.Match`; so do we.
            Glob::new(&cleaned).map_err(|_| bad())?;
            let matcher = compile(&cleaned).ok_or_else(bad)?;
            let components = if exclusion && !cleaned.contains("**") {
                let globs: Result<Vec<Glob>, _> = cleaned.split('/').map(Glob::new).collect();
                Some(globs.map_err(|_| bad())?)
            } else {
                None
            };
            compiled.push(Pattern {
                cleaned,
                exclusion,
                matcher,
                components,
            });
        }
        Ok(Patterns { patterns: compiled })
    }

    /// Reads the text of an ignore file as Docker does: a line starting with `#` is a
    /// comment, lines are trimmed, blank ones skipped, `!` may be followed by blanks, and
    /// a pattern is cleaned with a leading `/` dropped. A UTF-8 byte-order mark is ignored.
    ///
    /// # Errors
    ///
    /// As [`Patterns::new`].
    pub(crate) fn parse_ignore_file(text: &str) -> Result<Patterns, BadPattern> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (invert, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut pattern = if pattern.is_empty() {
                String::new()
            } else {
                clean(pattern)
            };
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            lines.push(if invert {
                format!("!{pattern}")
            } else {
                pattern
            });
        }
        Patterns::new(&lines)
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a `!` pattern re-includes something.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|pattern| pattern.exclusion)
    }

    /// Whether a pattern excludes every entry of the root (`*`, `**`, `**/*`).
    pub fn excludes_every_entry(&self) -> bool {
        self.patterns
            .iter()
            .any(|p| !p.exclusion && matches!(p.cleaned.as_str(), "*" | "**" | "**/*"))
    }

    /// Whether `path` (relative, `/`-separated, clean) is excluded: the last pattern that
    /// matches it or one of its parent directories is not a `!` pattern.
    pub fn matches(&self, path: &str) -> bool {
        self.state_of(path).0
    }

    /// Whether `path` is excluded, and the per-pattern results for it (see
    /// [`Patterns::matches_below`]), from its ancestors down.
    pub(crate) fn state_of(&self, path: &str) -> (bool, Vec<bool>) {
        let mut state = Vec::new();
        let mut parent: Vec<bool> = Vec::new();
        let mut excluded = false;
        let ends = path.match_indices('/').map(|(i, _)| i).chain([path.len()]);
        for end in ends {
            excluded = self.matches_below(&parent, &path[..end], Some(&mut state));
            std::mem::swap(&mut parent, &mut state);
        }
        (excluded, parent)
    }

    /// Whether `path` is excluded, given `parent`, the per-pattern results of its parent
    /// directory (empty at the top). When `state` is given, it receives the same for
    /// `path`, for its children.
    ///
    /// This is how BuildKit's context walk (fsutil over moby's `patternmatcher`) decides,
    /// quirk included: a pattern is evaluated only when it could change the result at
    /// that point (a `!` pattern while the path is excluded, another while it is not),
    /// and its result is inherited only when it was evaluated. So `a`, `!a/b/c`, `a/b`
    /// keeps `a/b/c`: `a/b` was not evaluated on `a/b` (already excluded by `a`) and
    /// does not match `a/b/c` itself. Checking every pattern on every parent, as moby's
    /// `MatchesOrParentMatches` does, would exclude it.
    pub(crate) fn matches_below(
        &self,
        parent: &[bool],
        path: &str,
        mut state: Option<&mut Vec<bool>>,
    ) -> bool {
        if let Some(state) = state.as_deref_mut() {
            state.clear();
        }
        let mut excluded = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut matched = parent.get(i).copied().unwrap_or(false);
            // As moby's `MatchesUsingParentResults`: a pattern that cannot change the
            // result so far is not evaluated, and is recorded as not matching, so that
            // the children of `path` evaluate it again on their own path only.
            if !matched && pattern.exclusion == excluded {
                matched = pattern.matches(path);
            }
            if matched {
                excluded = !pattern.exclusion;
            }
            if let Some(state) = state.as_deref_mut() {
                state.push(matched);
            }
        }
        excluded
    }

    /// Whether a `!` pattern could re-include something below the directory `dir`, so
    /// that a walk must descend into it although it is excluded.
    ///
    /// Conservative: every `!` pattern with `**` could. moby's walkers only look for a `!`
    /// pattern that starts with `dir/` literally, and so miss `!**/keep`.
    pub(crate) fn may_include_below(&self, dir: &str) -> bool {
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let Some(components) = &p.components else {
                return true;
            };
            // A pattern that matches `dir` or an ancestor re-includes all below it; a
            // longer one may match below it if its first components match `dir`'s.
            components
                .iter()
                .zip(dir.split('/'))
                .all(|(glob, name)| glob.matches(name))
        })
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        let cleaned = self.cleaned.as_str();
        match &self.matcher {
            Matcher::Exact => path == cleaned,
            Matcher::Prefix => path.starts_with(&cleaned[..cleaned.len() - 2]),
            Matcher::Suffix => {
                let suffix = &cleaned[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/') == Some(path)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

/// Compiles a cleaned pattern the way moby classifies it. `None` when the regular
/// expression does not compile (a reversed range, which Go's regexp rejects too).
fn compile(pattern: &str) -> Option<Matcher> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut kind = Kind::Exact;
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.next_if_eq(&'*').is_some() => {
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '\\' => {
                // A trailing `\` was rejected by `Glob::new`.
                let escaped = chars.next()?;
                re.push_str(&regex::escape(escaped.encode_utf8(&mut [0; 4])));
                kind = Kind::Regex;
            }
            '[' => {
                // `Glob::new` accepted the class, so it is closed and well formed.
                let (negated, ranges) = glob::class(&mut chars).ok()?;
                re.push_str(if negated { "[^" } else { "[" });
                for (lo, hi) in ranges {
                    re.push_str(&regex::escape(lo.encode_utf8(&mut [0; 4])));
                    if hi != lo {
                        re.push('-');
                        re.push_str(&regex::escape(hi.encode_utf8(&mut [0; 4])));
                    }
                }
                re.push(']');
                kind = Kind::Regex;
            }
            ']' => {
                re.push_str("\\]");
                kind = Kind::Regex;
            }
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        first = false;
    }
    Some(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix,
        Kind::Suffix => Matcher::Suffix,
        Kind::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(lines: &[&str], path: &str) -> bool {
        Patterns::new(lines).expect("valid patterns").matches(path)
    }

    // Docker's documented `.dockerignore` examples and moby's test table.
    #[test]
    fn matches_like_docker() {
        let table: &[(&str, &str, bool)] = &[
            // "*/temp*": top-level subdirectories' children starting with temp.
            ("*/temp*", "somedir/temporary.txt", true),
            ("*/temp*", "somedir/temp", true),
            ("*/temp*", "temp", false),
            ("*/temp*", "a/b/temp", false),
            // A match of a parent directory excludes its content.
            ("*/temp*", "somedir/temp/x/y", true),
            // "*/*/temp*": two levels below the root.
            ("*/*/temp*", "somedir/subdir/temporary.txt", true),
            ("*/*/temp*", "somedir/temporary.txt", false),
            // "temp?": one character.
            ("temp?", "tempa", true),
            ("temp?", "temp", false),
            ("temp?", "tempab", false),
            ("temp?", "temp/", false),
            // "**/*.go": any depth, the root too.
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/c/main.go", true),
            ("**/*.go", "a/b/main.rs", false),
            ("**", "anything/at/all", true),
            ("dir/**", "dir/x", true),
            ("dir/**", "dir", false),
            ("dir/**/x", "dir/x", true),
            ("dir/**/x", "dir/a/b/x", true),
            ("**/x", "x", true),
            ("**/x", "a/x", true),
            ("**/x", "ax", false),
            // moby's prefix and suffix shortcuts.
            ("foo**", "foobar/baz", true),
            ("**foo", "barfoo", true),
            ("**.go", "a/b.go", true),
            // Classes, negation and ranges.
            ("[a-c]at", "bat", true),
            ("[a-c]at", "hat", false),
            ("[^a-c]at", "hat", true),
            ("[^a-c]at", "cat", false),
            // Escapes.
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("\\[x\\]", "[x]", true),
            ("a\\d", "ad", true),
            ("a\\d", "a1", false),
            // Regex specials are literal.
            ("a.b", "axb", false),
            ("a.b*", "axb", false),
            ("a.b*", "a.bc", true),
            ("(x)|y*", "(x)|yz", true),
            // Cleaning: trailing slash, `./`, repeated slashes.
            ("dir/", "dir/a", true),
            ("./dir//sub", "dir/sub/a", true),
            // Anchored at the root, unlike gitignore.
            ("a.txt", "sub/a.txt", false),
        ];
        for &(pattern, path, want) in table {
            assert_eq!(ignored(&[pattern], path), want, "{pattern:?} ~ {path:?}");
        }
    }

    /// Whether `patterns` exclude `path` as BuildKit's walk finds it: each parent
    /// directory matched first, its results handed down.
    fn walked(patterns: &[&str], path: &str) -> bool {
        Patterns::new(patterns)
            .expect("valid patterns")
            .state_of(path)
            .0
    }

    // The cases of moby/patternmatcher's match table, each through the walk's matcher
    // (what the context sends) and with the path given alone.
    #[test]
    fn agrees_with_the_patternmatcher_table() {
        let table: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
            // Go's `filepath.Match` table, one component.
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "ab/c", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "ab", false),
            ("a?b", "a\u{263a}b", true),
            ("a[^a]b", "a\u{263a}b", true),
            ("a???b", "a\u{263a}b", false),
            ("[a-\u{3b6}]*", "\u{3b1}", true),
            ("*[a-\u{3b6}]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for &(pattern, path, want) in table {
            assert_eq!(
                walked(&[pattern], path),
                want,
                "walked: {pattern:?} ~ {path:?}"
            );
            let alone = Patterns::new(&[pattern])
                .expect("valid")
                .matches_below(&[], path, None);
            if !path.trim_end_matches('/').contains('/') {
                assert_eq!(alone, want, "alone: {pattern:?} ~ {path:?}");
            }
        }
        let multi: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (
                &["**", "!dist/*.whl"],
                "dist/proxy.py-2.4.0rc3+g08acad9-py3-none-any.whl",
                false,
            ),
            (&["!fileutils.go", "*.go"], "fileutils.go", true),
            (&["*.go", "!fileutils.go"], "fileutils.go", false),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs/", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        ];
        for &(patterns, path, want) in multi {
            assert_eq!(walked(patterns, path), want, "{patterns:?} ~ {path:?}");
        }
    }

    // The malformed patterns of Go's `filepath.Match` table, which moby rejects.
    #[test]
    fn rejects_what_filepath_match_rejects() {
        for bad in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[",
        ] {
            assert!(Patterns::new(&[bad]).is_err(), "{bad:?}");
        }
    }

    // The walk's quirk: a pattern not evaluated on a parent is not inherited from it.
    #[test]
    fn an_unevaluated_parent_match_is_not_inherited() {
        let lines = ["a", "!a/b/c", "a/b"];
        assert!(walked(&lines, "a"));
        assert!(walked(&lines, "a/b"));
        assert!(!walked(&lines, "a/b/c"), "`a/b` never evaluated on `a/b`");
        assert!(!walked(&lines, "a/b/c/d"));
        assert!(walked(&lines, "a/b/x"));
        // Evaluated on the parent, it is inherited.
        let lines = ["!a/b/c", "a/b"];
        assert!(walked(&lines, "a/b/c"));
    }

    #[test]
    fn last_matching_line_wins() {
        let lines = ["*.md", "!README*.md", "README-secret.md"];
        assert!(ignored(&lines, "CHANGES.md"));
        assert!(!ignored(&lines, "README.md"));
        assert!(!ignored(&lines, "README-public.md"));
        assert!(ignored(&lines, "README-secret.md"));
        assert!(!ignored(&lines, "main.rs"));
    }

    #[test]
    fn re_includes_a_child_of_an_excluded_directory() {
        let lines = ["build", "!build/keep"];
        assert!(ignored(&lines, "build"));
        assert!(ignored(&lines, "build/other"));
        assert!(!ignored(&lines, "build/keep"));
        assert!(!ignored(&lines, "build/keep/deep"));
        let patterns = Patterns::new(&lines).expect("valid");
        assert!(patterns.may_include_below("build"));
        assert!(!patterns.may_include_below("other"));
        let wild = Patterns::new(&["build", "!**/keep"]).expect("valid");
        assert!(wild.may_include_below("build/x"));
        assert!(
            !Patterns::new(&["build"])
                .expect("valid")
                .may_include_below("build")
        );
    }

    #[test]
    fn reads_an_ignore_file() -> Result<(), BadPattern> {
        let text =
            "\u{feff}# comment\n\n  /leading/slash  \n! spaced\n #not-a-comment\n./dot/./x/\r\n";
        let patterns = Patterns::parse_ignore_file(text)?;
        let cleaned: Vec<(bool, &str)> = patterns
            .patterns
            .iter()
            .map(|p| (p.exclusion, p.cleaned.as_str()))
            .collect();
        assert_eq!(
            cleaned,
            [
                (false, "leading/slash"),
                (true, "spaced"),
                (false, "#not-a-comment"),
                (false, "dot/x"),
            ]
        );
        Ok(())
    }

    #[test]
    fn leading_slash_anchors_at_the_root_like_any_pattern() -> Result<(), BadPattern> {
        let patterns = Patterns::parse_ignore_file("/a.txt\n/dir/*.md\n!/dir/keep.md\n")?;
        assert!(patterns.matches("a.txt"));
        assert!(!patterns.matches("sub/a.txt"));
        assert!(patterns.matches("dir/x.md"));
        assert!(!patterns.matches("dir/keep.md"));
        assert!(!patterns.matches("other/dir/x.md"));
        Ok(())
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in ["[", "a[b", "!", "x\\", "[z-a]"] {
            assert_eq!(
                Patterns::new(&[bad]).map(|_| ()),
                Err(BadPattern(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(Patterns::parse_ignore_file("!\n").is_err());
    }

    #[test]
    fn incremental_matching_agrees_with_whole_path_matching() {
        let patterns = Patterns::new(&["a", "!a/b", "a/b/c*", "!**/keep"]).expect("valid");
        let mut a = Vec::new();
        assert!(patterns.matches_below(&[], "a", Some(&mut a)));
        let mut ab = Vec::new();
        assert!(!patterns.matches_below(&a, "a/b", Some(&mut ab)));
        assert!(patterns.matches_below(&ab, "a/b/cx", None));
        for path in ["a", "a/b", "a/b/cx", "a/b/cx/keep", "a/z", "q"] {
            let mut parent = Vec::new();
            let mut state = Vec::new();
            let mut last = false;
            let mut end = 0;
            for (i, _) in path.match_indices('/').chain([(path.len(), "")]) {
                last = patterns.matches_below(&parent, &path[..i], Some(&mut state));
                std::mem::swap(&mut parent, &mut state);
                end = i;
            }
            assert_eq!(end, path.len());
            assert_eq!(last, patterns.matches(path), "{path}");
        }
    }
}
