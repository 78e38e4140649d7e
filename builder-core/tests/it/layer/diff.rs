//! Diffs for `RUN`: an overlay upper directory on a real mount, and snapshot diffs.

use std::path::Path;
use std::process::Command;

use mkimage_core::layer::{
    Compression, Entry, EntryKind, LayerOptions, OverlayXattrs, Snapshot, dir_entries, unpack,
    write_layer, write_upper,
};

use super::{Overlay, describe_tree, tar_listing};

fn sh(dir: &Path, script: &str) {
    let status = Command::new("sh")
        .current_dir(dir)
        .args(["-ec", script])
        .status()
        .expect("run sh");
    assert!(status.success(), "`{script}` failed");
}

/// The tree a base image would have.
const BASE: &str = "
    echo keep > keep; echo del > del; echo old > mod
    mkdir -p d e/sub; echo a > d/a; echo b > d/b; echo x > e/sub/x
    ln -s keep link
    find . -depth -exec touch -h -d @1600000000 {} +";

/// What a `RUN` step does: delete a file and a tree, rewrite a file, replace a directory.
const RUN: &str = "
    rm del; echo new > mod; rm -rf d; mkdir d; echo n > d/new
    rm -rf e; mkdir newdir; echo f > newdir/f";

fn plain() -> LayerOptions {
    LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    }
}

fn plain_tar(entries: Vec<Entry>) -> Vec<u8> {
    write_layer(Vec::new(), entries, &plain())
        .expect("write the layer")
        .0
}

#[test]
fn overlay_upper_becomes_a_layer_with_whiteouts_and_opaque_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|name| tmp.path().join(name));
    for dir in [&lower, &upper, &work, &merged] {
        std::fs::create_dir(dir).unwrap();
    }
    sh(&lower, BASE);
    let base = plain_tar(dir_entries(&lower).unwrap());
    let expected = {
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let mount = Overlay::mount(&options, &merged);
        sh(&mount.merged, RUN);
        describe_tree(&mount.merged)
    };

    let written = write_upper(&upper, OverlayXattrs::Trusted, |_| {}, Vec::new(), &plain())
        .unwrap()
        .expect("the step changed files");
    assert!(written.whole);
    let layer = written.sink;
    let listing = tar_listing(&layer);
    let names: Vec<&str> = listing
        .lines()
        .map(|line| line.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            ".wh.del",
            ".wh.e",
            "d/",
            "d/.wh..wh..opq",
            "d/new",
            "mod",
            "newdir/",
            "newdir/f"
        ]
    );
    assert!(
        !layer.windows(8).any(|w| w == b"overlay."),
        "overlay-private xattrs leak into the layer"
    );

    let root = tempfile::tempdir().unwrap();
    unpack(&base[..], root.path()).unwrap();
    unpack(&layer[..], root.path()).unwrap();
    assert_eq!(describe_tree(root.path()), expected);
}

#[test]
fn snapshot_diff_in_place_matches_the_after_tree() {
    let dir = tempfile::tempdir().unwrap();
    sh(dir.path(), BASE);
    let base = plain_tar(dir_entries(dir.path()).unwrap());
    let snapshot = Snapshot::capture(dir.path()).unwrap();
    sh(dir.path(), RUN);
    sh(dir.path(), "chmod 600 keep; chmod 644 keep"); // ctime only: counted as changed

    let entries = snapshot.diff(dir.path()).unwrap();
    let kinds: Vec<(String, String)> = {
        let mut k: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                let kind = match &e.kind {
                    EntryKind::File(_) => "file",
                    EntryKind::Dir => "dir",
                    EntryKind::Whiteout => "whiteout",
                    EntryKind::Opaque => "opaque",
                    _ => "other",
                };
                (e.path.to_string(), kind.to_owned())
            })
            .collect();
        k.sort();
        k
    };
    let expect = [
        ("d", "dir"),
        ("d", "opaque"),
        ("d/new", "file"),
        ("del", "whiteout"),
        ("e", "whiteout"),
        ("keep", "file"),
        ("mod", "file"),
        ("newdir", "dir"),
        ("newdir/f", "file"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(kinds, expect);

    let root = tempfile::tempdir().unwrap();
    unpack(&base[..], root.path()).unwrap();
    unpack(&plain_tar(entries)[..], root.path()).unwrap();
    assert_eq!(describe_tree(root.path()), describe_tree(dir.path()));
}

#[test]
fn snapshot_diff_against_a_copy_compares_racy_content() {
    let tmp = tempfile::tempdir().unwrap();
    let before = tmp.path().join("before");
    let after = tmp.path().join("after");
    std::fs::create_dir(&before).unwrap();
    // `fresh` has an mtime of now: metadata alone cannot tell a same-size rewrite whose
    // mtime was put back. `old` has an old mtime and is left alone.
    sh(
        &before,
        "echo aaaa > fresh; echo same > untouched; echo old > old
         touch -d @1600000000 old",
    );
    let snapshot = Snapshot::capture(&before).unwrap();
    sh(
        tmp.path(),
        "cp -a before after
         cd after; touch -r fresh stamp; echo bbbb > fresh; touch -r stamp fresh; rm stamp",
    );
    let entries = snapshot.diff(&after).unwrap();
    let paths: Vec<String> = entries.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(paths, ["fresh"]);
    assert!(matches!(entries[0].kind, EntryKind::File(_)));
}
