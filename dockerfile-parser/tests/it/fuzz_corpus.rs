//! The committed corpora of the fuzz targets in `dockerfile-parser/fuzz/`, replayed through
//! the functions the targets call: an input that once crashed a target, or any other
//! corpus input, fails here if the bug comes back.

use std::path::Path;

use mkimage_dockerfile::fuzzing;

/// Calls `entry` with every file of `corpus/<target>`, naming the file that panics.
fn replay(target: &str, entry: fn(&[u8])) {
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

#[test]
fn parse_corpus_passes() {
    replay("parse", fuzzing::parse);
}
