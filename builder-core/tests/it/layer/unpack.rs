//! Listing and unpacking layers: round trips, whiteouts, hostile tars.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerError, LayerOptions, LayerPath, LayerWriter,
    OverlayFormat, OverlayXattrs, decompress, dir_entries, list, unpack, unpack_overlay,
    write_layer,
};

use super::{Overlay, describe_tree, write_file};

fn p(s: &str) -> LayerPath {
    LayerPath::new(s).expect("a valid test path")
}

fn sh(script: &str) {
    let status = Command::new("sh")
        .args(["-ec", script])
        .status()
        .expect("run sh");
    assert!(status.success(), "`{script}` failed");
}

fn bytes(path: &str, content: &str) -> Entry {
    Entry::new(
        p(path),
        EntryKind::File(Content::Bytes(content.as_bytes().to_vec())),
    )
}

fn dir(path: &str) -> Entry {
    Entry::new(p(path), EntryKind::Dir)
}

fn tar_of(entries: Vec<Entry>) -> Vec<u8> {
    let options = LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    };
    write_layer(Vec::new(), entries, &options)
        .expect("write the layer")
        .0
}

/// The paths under `root`, `/`-terminated for directories, with file contents.
fn paths(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|item| {
            let item = item.expect("walk");
            let rel = item
                .path()
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            if item.file_type().is_dir() {
                format!("{rel}/")
            } else {
                let content = std::fs::read_to_string(item.path()).unwrap_or_default();
                format!("{rel}={content}")
            }
        })
        .collect()
}

#[test]
fn round_trip_preserves_the_tree() {
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    write_file(h, "app/file", b"content\n");
    write_file(h, "app/suid", b"#!/bin/sh\n");
    let long = format!("app/{}", "long-name-".repeat(20));
    write_file(h, &long, b"long\n");
    sh(&format!(
        "cd {root}
         chmod 0640 app/file; chmod 4755 app/suid; chmod 0750 app
         chown 1000:1001 app/file; chown 1000:1000 app
         ln app/file app/hard
         ln -s file app/link
         ln -s ../../../../etc/passwd app/dangling
         mkfifo app/fifo
         mknod app/null c 1 3
         mkdir -p empty/nested
         setfattr -n user.note -v hello app/file
         find . -depth -exec touch -h -d @1600000000 {{}} +",
        root = h.display()
    ));
    let entries = dir_entries(h).unwrap();
    let options = LayerOptions {
        compression: Compression::Gzip { level: 6 },
        ..LayerOptions::default()
    };
    let (blob, written) = write_layer(Vec::new(), entries.clone(), &options).unwrap();

    let listed = list(decompress(&blob[..], Some(written.media_type.as_ref())).unwrap()).unwrap();
    let listed_paths: Vec<&LayerPath> = listed.iter().map(|e| &e.path).collect();
    let mut expected: Vec<&LayerPath> = entries.iter().map(|e| &e.path).collect();
    expected.sort();
    assert_eq!(listed_paths, expected);
    let file = listed.iter().find(|e| e.path == p("app/file")).unwrap();
    assert_eq!(file.kind, EntryKind::File(8));
    assert_eq!((file.mode, file.uid, file.gid), (0o640, 1000, 1001));
    assert_eq!(file.xattrs.get("user.note"), Some(&b"hello".to_vec()));

    let root = tempfile::tempdir().unwrap();
    let unpacked = unpack(decompress(&blob[..], None).unwrap(), root.path()).unwrap();
    assert_eq!(unpacked.diff_id, written.diff_id);
    assert_eq!(
        unpacked.skipped,
        vec![],
        "running as root, nothing is skipped"
    );
    assert_eq!(describe_tree(root.path()), describe_tree(h));
    let hard = std::fs::metadata(root.path().join("app/hard")).unwrap();
    let file = std::fs::metadata(root.path().join("app/file")).unwrap();
    assert_eq!(hard.ino(), file.ino());
}

#[test]
fn whiteouts_and_opaque_dirs_apply_over_lower_layers() {
    let lower = tar_of(vec![
        dir("etc"),
        bytes("etc/keep", "k"),
        bytes("etc/gone", "g"),
        dir("var"),
        dir("var/cache"),
        bytes("var/cache/old", "o"),
        dir("var/cache/sub"),
        bytes("var/cache/sub/old2", "o2"),
        bytes("swap", "was a file"),
        dir("tree"),
        bytes("tree/x", "x"),
    ]);
    let upper = tar_of(vec![
        Entry::new(p("etc/gone"), EntryKind::Whiteout),
        // Its directory is made, empty, as overlayfs shows a layer's directory that holds
        // only a whiteout.
        Entry::new(p("nothing/here"), EntryKind::Whiteout),
        dir("var/cache"),
        Entry::new(p("var/cache"), EntryKind::Opaque),
        // Sorts before the opaque marker: it must survive it.
        bytes("var/cache/-new", "n"),
        bytes("var/cache/new", "n2"),
        dir("swap"),
        bytes("swap/inner", "now a dir"),
        bytes("tree", "now a file"),
    ]);
    let root = tempfile::tempdir().unwrap();
    unpack(&lower[..], root.path()).unwrap();
    unpack(&upper[..], root.path()).unwrap();
    assert_eq!(
        paths(root.path()),
        [
            "etc/",
            "etc/keep=k",
            "nothing/",
            "swap/",
            "swap/inner=now a dir",
            "tree=now a file",
            "var/",
            "var/cache/",
            "var/cache/-new=n",
            "var/cache/new=n2",
        ]
    );
}

/// One record of [`raw_tar`]: name, type flag, link target, data.
type Record<'a> = (&'a str, u8, &'a str, &'a str);

/// A minimal USTAR tar of `(name, typeflag, link, data)` records, written by hand so that
/// it can hold what our writer refuses.
fn raw_tar(records: &[Record<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, typeflag, link, data) in records {
        let mut block = [0u8; 512];
        block[..name.len()].copy_from_slice(name.as_bytes());
        block[100..108].copy_from_slice(b"0000644\0");
        block[108..116].copy_from_slice(b"0000000\0");
        block[116..124].copy_from_slice(b"0000000\0");
        block[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        block[136..148].copy_from_slice(b"00000000000\0");
        block[156] = *typeflag;
        block[157..157 + link.len()].copy_from_slice(link.as_bytes());
        block[257..265].copy_from_slice(b"ustar\x0000");
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&block);
        out.extend_from_slice(data.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .expect("read a test dir")
        .next()
        .is_none()
}

#[test]
fn symlinks_cannot_lead_writes_out_of_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().display().to_string();
    let depth = "../".repeat(20);
    let mut writer = LayerWriter::new(
        Vec::new(),
        &LayerOptions {
            compression: Compression::Uncompressed,
            ..LayerOptions::default()
        },
    );
    for entry in [
        Entry::new(p("abs"), EntryKind::Symlink(target.clone().into())),
        bytes("abs/pwned", "x"),
        Entry::new(
            p("rel"),
            EntryKind::Symlink(format!("{depth}{target}").into()),
        ),
        bytes("rel/pwned", "x"),
    ] {
        writer.append(&entry).unwrap();
    }
    let (tar, _) = writer.finish().unwrap();
    let root = tempfile::tempdir().unwrap();
    // Either refused or contained; in both cases nothing lands outside.
    let result = unpack(&tar[..], root.path());
    assert!(is_empty(outside.path()), "{result:?}");
    if result.is_ok() {
        let inside = root
            .path()
            .join(target.trim_start_matches('/'))
            .join("pwned");
        assert_eq!(std::fs::read_to_string(inside).unwrap(), "x");
    }

    // A file replaced by a symlink to the outside is not written through either.
    let tar = raw_tar(&[("f", b'2', &target, ""), ("f", b'0', "", "data")]);
    unpack(&tar[..], root.path()).unwrap();
    assert!(is_empty(outside.path()));
    assert_eq!(
        std::fs::read_to_string(root.path().join("f")).unwrap(),
        "data"
    );
}

#[test]
fn parent_paths_and_absolute_hard_links_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let cases: [(&[Record<'_>], &str); 4] = [
        (
            &[("../escape", b'0', "", "x")],
            "layer entry `../escape` leaves the root",
        ),
        (
            &[("a/../../escape", b'0', "", "x")],
            "layer entry `a/../../escape` leaves the root",
        ),
        (
            &[("h", b'1', "/etc/passwd", "")],
            "layer entry `/etc/passwd` leaves the root",
        ),
        (
            &[("h", b'1', "../../etc/passwd", "")],
            "layer entry `../../etc/passwd` leaves the root",
        ),
    ];
    for (records, message) in cases {
        let err = unpack(&raw_tar(records)[..], &root).unwrap_err();
        assert!(matches!(err, LayerError::UnsafeTarPath { .. }));
        assert_eq!(err.to_string(), message);
    }
    assert!(!base.path().join("escape").exists());
    assert!(is_empty(&root));
    assert!(is_empty(outside.path()));

    // A hard link through a symlink resolves inside the root, never to the host's file.
    let tar = raw_tar(&[("s", b'2', "/etc", ""), ("h", b'1', "s/passwd", "")]);
    let _ = unpack(&tar[..], &root);
    if let Ok(meta) = std::fs::metadata(root.join("h")) {
        assert_ne!(meta.ino(), std::fs::metadata("/etc/passwd").unwrap().ino());
    }
}

/// A host directory with a canary file that must keep its content and its single link.
struct Canary {
    dir: tempfile::TempDir,
}

impl Canary {
    const CONTENT: &str = "host canary\n";

    fn new() -> Canary {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("canary"), Canary::CONTENT).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        Canary { dir }
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn assert_untouched(&self) {
        let canary = self.dir.path().join("canary");
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), Canary::CONTENT);
        assert_eq!(std::fs::metadata(&canary).unwrap().nlink(), 1);
        assert!(is_empty(&self.dir.path().join("empty")));
    }
}

// See: issue 13
#[test]
fn whiteouts_through_symlinks_stay_in_the_root() {
    let host = Canary::new();
    let target = host.path();
    let climb = format!("{}{target}", "../".repeat(20));
    // The image's own copy of the host's directory, at its path.
    let inside = target.trim_start_matches('/');
    let lower = raw_tar(&[
        ("abs", b'2', &target, ""),
        ("rel", b'2', &climb, ""),
        (&format!("{inside}/canary"), b'0', "", "inside"),
        (&format!("{inside}/kept"), b'0', "", "kept"),
        (&format!("{inside}/empty/x"), b'0', "", "x"),
    ]);
    let upper = raw_tar(&[
        ("abs/.wh.canary", b'0', "", ""),
        ("rel/.wh.canary", b'0', "", ""),
        ("abs/empty/.wh..wh..opq", b'0', "", ""),
        ("rel/.wh.empty", b'0', "", ""),
    ]);
    let root = tempfile::tempdir().unwrap();
    unpack(&lower[..], root.path()).unwrap();
    unpack(&upper[..], root.path()).unwrap();
    host.assert_untouched();
    // The links of the lower layer are not followed: the upper layer's whiteouts are in
    // directories of its own at `abs` and `rel`, which hide nothing of the image's copy.
    let copy = root.path().join(inside);
    assert_eq!(
        std::fs::read_to_string(copy.join("canary")).unwrap(),
        "inside"
    );
    assert_eq!(std::fs::read_to_string(copy.join("empty/x")).unwrap(), "x");
    assert!(is_empty(&root.path().join("abs/empty")) && is_empty(&root.path().join("rel")));

    // The overlay format turns whiteouts into device nodes, in the root too.
    let layer = tempfile::tempdir().unwrap();
    let format = OverlayFormat {
        xattrs: OverlayXattrs::User,
        lower: Vec::new(),
    };
    let both = [&lower[..lower.len() - 1024], &upper[..]].concat();
    let _ = unpack_overlay(&both[..], layer.path(), &format);
    host.assert_untouched();
}

// See: issue 13
#[test]
fn hard_links_never_reach_a_host_file() {
    let host = Canary::new();
    let target = host.path();
    let climb = format!(
        "{}{}/canary",
        "../".repeat(20),
        target.trim_start_matches('/')
    );
    let root = tempfile::tempdir().unwrap();
    for records in [
        &[("h", b'1', climb.as_str(), "")][..],
        &[("h", b'1', &format!("{target}/canary"), "")],
        &[("s", b'2', &target, ""), ("h", b'1', "s/canary", "")],
        &[("s", b'2', &climb, ""), ("h", b'1', "s", "")],
    ] {
        let _ = unpack(&raw_tar(records)[..], root.path());
        host.assert_untouched();
    }
}

/// The tree at `root` as names, modes, link targets and contents, symlinks not followed.
fn shape(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|item| {
            let item = item.expect("walk");
            let rel = item
                .path()
                .strip_prefix(root)
                .expect("under root")
                .display();
            let mode = item.metadata().expect("lstat").mode() & 0o7777;
            let kind = item.file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(item.path()).expect("readlink");
                format!("{rel} {mode:o} -> {}", target.display())
            } else if kind.is_file() {
                let content = std::fs::read_to_string(item.path()).expect("read");
                format!("{rel} {mode:o} = {content}")
            } else {
                format!("{rel} {mode:o}")
            }
        })
        .collect()
}

// See: issue 13
#[test]
fn a_later_layer_under_a_lower_symlink_unpacks_as_overlayfs_shows_it() {
    let host = Canary::new();
    let lower = raw_tar(&[
        ("x/", b'5', "", ""),
        ("x/old", b'0', "", "old"),
        ("a", b'2', "/x", ""),
        ("d/", b'5', "", ""),
        ("d/e/", b'5', "", ""),
        ("d/e/r", b'2', "../../elsewhere", ""),
        ("elsewhere/", b'5', "", ""),
        ("elsewhere/kept", b'0', "", "kept"),
        ("f", b'0', "", "a file"),
        ("h", b'2', &host.path(), ""),
    ]);
    // No entries for the directories on the way: they are made as the layer is applied.
    let upper = raw_tar(&[
        ("a/b/file", b'0', "", "under a"),
        ("d/e/r/c/file", b'0', "", "under r"),
        ("f/g", b'0', "", "under a file"),
        ("h/canary", b'0', "", "not the host's"),
        ("h/empty/.wh..wh..opq", b'0', "", ""),
        // A link of the layer itself is followed, inside the root.
        ("own", b'2', "/x", ""),
        ("own/mine", b'0', "", "mine"),
    ]);
    let expected = [
        // Directories in place of the links, with the modes of the directories they led to.
        "a 644",
        "a/b 755",
        "a/b/file 644 = under a",
        "d 644",
        "d/e 644",
        "d/e/r 644",
        "d/e/r/c 755",
        "d/e/r/c/file 644 = under r",
        "elsewhere 644",
        "elsewhere/kept 644 = kept",
        "f 755",
        "f/g 644 = under a file",
        "h 755",
        "h/canary 644 = not the host's",
        "h/empty 755",
        "own 777 -> /x",
        "x 644",
        "x/mine 644 = mine",
        "x/old 644 = old",
    ];

    // One layer over the other, as `COPY --from` and exports see an image.
    let tree = tempfile::tempdir().unwrap();
    unpack(&lower[..], tree.path()).unwrap();
    unpack(&upper[..], tree.path()).unwrap();
    host.assert_untouched();
    assert_eq!(shape(tree.path()), expected);

    // Each layer in its own directory, stacked by the kernel, as a `RUN` step sees them.
    let dirs = tempfile::tempdir().unwrap();
    let (bottom, top, merged) = (
        dirs.path().join("bottom"),
        dirs.path().join("top"),
        dirs.path().join("merged"),
    );
    for dir in [&bottom, &top, &merged] {
        std::fs::create_dir(dir).unwrap();
    }
    let format = |lower: Vec<std::path::PathBuf>| OverlayFormat {
        xattrs: OverlayXattrs::Trusted,
        lower,
    };
    unpack_overlay(&lower[..], &bottom, &format(Vec::new())).unwrap();
    unpack_overlay(&upper[..], &top, &format(vec![bottom.clone()])).unwrap();
    host.assert_untouched();
    let options = format!("lowerdir={}:{}", top.display(), bottom.display());
    let mount = Overlay::mount(&options, &merged);
    assert_eq!(shape(&mount.merged), expected);
}
