//! The golden fixtures the parse and plan tests loop over: a folder per case under the
//! repository's `fixtures/`, each with its `Dockerfile`.

use std::path::{Path, PathBuf};

use snapbox::Assert;

/// The case folders of `fixtures/<folder>`, sorted.
pub(crate) fn cases(folder: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(folder);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|error| panic!("failed to list `{}`: {error}", root.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The `Dockerfile` of `case`.
pub(crate) fn dockerfile(case: &Path) -> String {
    let path = case.join("Dockerfile");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("failed to read `{}`: {error}", path.display()))
}

/// Snapshot assertions that `SNAPSHOTS=overwrite` rewrites.
pub(crate) fn assert() -> Assert {
    Assert::new().action_env(snapbox::assert::DEFAULT_ACTION_ENV)
}
