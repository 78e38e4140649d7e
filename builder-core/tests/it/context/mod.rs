//! The build context on real trees: `.dockerignore`, source selection, digests.

mod digest;
mod ignore;
mod select;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use mkimage_core::context::{Context, SelectOptions, Selection};
use mkimage_core::layer::EntryKind;

/// Writes `content` to `root/rel`, creating parent directories.
pub(crate) fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A new temp dir holding `files`, each `(rel, content)` written with [`write`].
pub(crate) fn files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, content) in files {
        write(dir.path(), rel, content);
    }
    dir
}

/// Makes `root/rel` a symlink to `target`, creating parent directories.
pub(crate) fn link(root: &Path, rel: &str, target: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

/// One line per entry: `dir/`, `file`, `link -> target`, `name => hard link target`.
pub(crate) fn listing(selection: &Selection) -> Vec<String> {
    selection
        .entries()
        .map(|entry| entry.unwrap())
        .map(|entry| match &entry.kind {
            EntryKind::Dir => format!("{}/", entry.path),
            EntryKind::Symlink(target) => format!("{} -> {}", entry.path, target.display()),
            EntryKind::HardLink(first) => format!("{} => {first}", entry.path),
            EntryKind::File(file) if file.source == entry.path => entry.path.to_string(),
            EntryKind::File(file) => format!("{} (from {})", entry.path, file.source),
            other => format!("{} {other:?}", entry.path),
        })
        .collect()
}

/// The listing of `sources` selected from the context at `root` with default options.
pub(crate) fn select(root: &Path, sources: &[&str]) -> Vec<String> {
    let context = Context::open(root, None).unwrap();
    listing(&context.select(sources, &SelectOptions::default()).unwrap())
}
