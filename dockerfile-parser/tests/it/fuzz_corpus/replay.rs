//! Replays a fuzz target's committed corpus through the function the target calls. Shared
//! by the corpus tests of this crate and of `mkimage-core` (which includes this file with
//! `#[path]`, as the CLI's tests include the core's registry server): the two crates have
//! no test-support crate in common, and the leaf crate they share does no I/O.

use std::path::Path;

/// Calls `entry` with every file of `fuzz/corpus/<target>` of the crate under test,
/// naming the file that panics.
pub(super) fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("failed to list `{}`: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "`{}` holds too few inputs",
        dir.display()
    );
    for file in files {
        let data = std::fs::read(&file).expect("a corpus file");
        if std::panic::catch_unwind(|| entry(&data)).is_err() {
            panic!("`{}` fails the `{target}` target", file.display());
        }
    }
}
