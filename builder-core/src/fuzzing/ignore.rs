//! The `dockerignore` target: the text of a `.dockerignore`, and paths matched against
//! it as the context walker matches them.

use crate::context::Patterns;
use crate::context::glob::Glob;
use crate::plan::slash_path::clean;

/// Reads the text before the first NUL of `data` as an ignore file (lossily, as
/// [`Context::open`](crate::context::Context::open) does) and matches paths against it:
/// the lines after the NUL, and each pattern read as a path (and a child of it).
///
/// # Panics
///
/// When a path is excluded with a directory above it that is excluded too but that
/// [`Patterns::may_include_below`] says a walk may skip; when matching component by
/// component disagrees with matching the whole path; when a single pattern without `**`
/// disagrees with Go's `filepath.Match` ([`Glob`]) on a path or its parents; or when the
/// code under test panics.
pub fn dockerignore(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, listed) = text.split_once('\0').unwrap_or((&text, ""));
    let Ok(patterns) = Patterns::parse_ignore_file(file) else {
        return;
    };
    let mut paths: Vec<String> = listed.lines().map(str::to_owned).collect();
    for line in file.lines() {
        let pattern = clean(line.trim().trim_start_matches('!').trim());
        let pattern = pattern.trim_start_matches('/');
        paths.push(format!("{pattern}/x"));
        paths.push(pattern.to_owned());
    }
    paths.retain(|p| is_clean(p));
    for path in &paths {
        check_path(&patterns, path);
    }
    for line in file.lines() {
        check_single(line, &paths);
    }
}

/// Whether `path` is what the walker matches: relative, `/`-separated, clean.
fn is_clean(path: &str) -> bool {
    path.split('/').all(|c| !matches!(c, "" | "." | ".."))
}

/// The parent directories of `path`, top first, then `path`.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    let ends = path.match_indices('/').map(|(i, _)| i).chain([path.len()]);
    ends.map(|end| &path[..end])
}

fn check_path(patterns: &Patterns, path: &str) {
    let excluded = patterns.matches(path);
    let mut parent = Vec::new();
    let mut state = Vec::new();
    let mut walked = false;
    for prefix in prefixes(path) {
        walked = patterns.matches_below(&parent, prefix, Some(&mut state));
        std::mem::swap(&mut parent, &mut state);
        if prefix.len() < path.len() && walked && !excluded {
            assert!(
                patterns.may_include_below(prefix),
                "`{path}` is included below the excluded `{prefix}`, which a walk may skip"
            );
        }
    }
    assert_eq!(walked, excluded, "`{path}` matched whole and by components");
}

/// Checks the pattern of the ignore file line `line` alone, when it has no `**` (where
/// Docker's matching is its own) and is not a `!` pattern once cleaned (as Docker
/// cleans before it looks for the `!`: `./!x` is one), against [`Glob`].
fn check_single(line: &str, paths: &[String]) {
    let line = line.trim();
    if line.starts_with('#') || line.is_empty() {
        return;
    }
    let cleaned = clean(line);
    if cleaned.contains("**") || cleaned.starts_with('!') {
        return;
    }
    let (Ok(single), Ok(glob)) = (Patterns::new(&[line]), Glob::new(&cleaned)) else {
        return;
    };
    for path in paths {
        let by_glob = prefixes(path).any(|prefix| glob.matches(prefix));
        assert_eq!(
            single.matches(path),
            by_glob,
            "`{cleaned}` ~ `{path}` disagrees with filepath.Match"
        );
    }
}
