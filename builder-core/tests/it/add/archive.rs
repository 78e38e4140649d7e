//! Local archives: recognized by content, extracted below the destination as Docker does.

use std::error::Error as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use mkimage_core::add::{ArchiveError, Below, ExtractOptions, NothingBelow, extract, is_archive};
use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer,
};

use super::{python_tar, run_in};
use crate::layer::describe_tree;

fn extract_to(archive: &Path, dest: &str, owner: Option<(u32, u32)>) -> Vec<Entry> {
    extract_onto(archive, dest, owner, &NothingBelow)
}

/// [`extract_to`] onto the image `below`.
fn extract_onto(
    archive: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
    below: &dyn Below,
) -> Vec<Entry> {
    let staging = tempfile::tempdir().unwrap();
    let options = ExtractOptions {
        owner,
        implied_mtime: 1_000,
    };
    let dest = LayerPath::new(dest).ok(); // `/` is the root, `None`
    let entries = extract(archive, dest.as_ref(), below, staging.path(), &options).unwrap();
    // Keep the staged contents readable after this function: read them into memory.
    entries
        .into_iter()
        .map(|mut entry| {
            if let EntryKind::File(Content::Host(path)) = &entry.kind {
                entry.kind = EntryKind::File(Content::Bytes(fs::read(path).unwrap()));
            }
            entry
        })
        .collect()
}

/// Writes the archive `body` describes with [`python_tar`] and extracts it with
/// [`extract_onto`].
fn python_extract(
    body: &str,
    dest: &str,
    owner: Option<(u32, u32)>,
    below: &dyn Below,
) -> Vec<Entry> {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.tar");
    python_tar(&archive, body);
    extract_onto(&archive, dest, owner, below)
}

/// `path mode uid:gid mtime kind` of each entry.
fn summary(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                EntryKind::File(Content::Bytes(b)) => {
                    format!("file {:?}", String::from_utf8_lossy(b))
                }
                EntryKind::File(Content::Host(_)) => "file on host".to_owned(),
                EntryKind::Dir => "dir".to_owned(),
                EntryKind::Symlink(t) => format!("-> {}", t.display()),
                EntryKind::HardLink(t) => format!("link to {t}"),
                other => format!("{other:?}"),
            };
            format!(
                "{} {:o} {}:{} {} {kind}",
                e.path, e.mode, e.uid, e.gid, e.mtime
            )
        })
        .collect()
}

/// Writes `entries` as an uncompressed layer and unpacks it with GNU tar into `root`.
fn gnu_untar(entries: Vec<Entry>, root: &Path) {
    let options = LayerOptions {
        compression: Compression::Uncompressed,
        ..LayerOptions::default()
    };
    let (tar, _) = write_layer(Vec::new(), entries, &options).unwrap();
    let layer = root.join("layer.tar");
    fs::write(&layer, tar).unwrap();
    let out = root.join("out");
    fs::create_dir(&out).unwrap();
    run_in(
        &out,
        "tar",
        "tar",
        &["-xpf", "../layer.tar", "--numeric-owner", "--same-owner"],
    );
}

#[test]
fn extracts_every_compression_keeping_mode_owner_mtime_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for (rel, content, mode) in [
        ("etc/app.conf", "port=80\n", 0o640),
        ("bin/tool", "#!/bin/sh\necho tool\n", 0o755),
        ("var/empty/.keep", "", 0o600),
    ] {
        let path = src.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::set_permissions(src.join("var/empty"), fs::Permissions::from_mode(0o700)).unwrap();
    symlink("tool", src.join("bin/link")).unwrap();
    fs::hard_link(src.join("bin/tool"), src.join("bin/tool2")).unwrap();
    run_in(
        dir.path(),
        "tar",
        "tar",
        &[
            "--sort=name",
            "--numeric-owner",
            "--owner=1000",
            "--group=1001",
            "--mtime=@1600000000",
            "-C",
            "src",
            "-cf",
            "a.tar",
            "bin",
            "etc",
            "var",
        ],
    );
    // What Docker's ADD makes: the archive unpacked into the destination.
    let expected = dir.path().join("expected/opt/x");
    fs::create_dir_all(&expected).unwrap();
    run_in(
        &expected,
        "tar",
        "tar",
        &["-xpf", "../../../a.tar", "--numeric-owner", "--same-owner"],
    );
    let expected = describe_tree(&expected);
    assert!(expected.len() >= 8, "{expected:?}");

    for (tool, package, ext) in [
        ("gzip", "gzip", "gz"),
        ("bzip2", "bzip2", "bz2"),
        ("xz", "xz-utils", "xz"),
        ("zstd", "zstd", "zst"),
    ] {
        run_in(dir.path(), tool, package, &["-k", "-q", "a.tar"]);
        // Recognized by content: the name says nothing.
        let archive = dir.path().join(format!("payload-{ext}.bin"));
        fs::rename(dir.path().join(format!("a.tar.{ext}")), &archive).unwrap();
        assert!(is_archive(&archive).unwrap(), "{ext}");

        let entries = extract_to(&archive, "/opt/x", None);
        let root = tempfile::tempdir().unwrap();
        gnu_untar(entries, root.path());
        assert_eq!(
            describe_tree(&root.path().join("out/opt/x")),
            expected,
            "{ext}"
        );
    }
    assert!(is_archive(&dir.path().join("a.tar")).unwrap());
}

#[test]
fn what_is_not_an_archive_is_not_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 5] = [
        ("empty.tar", b""),
        (
            "notes.tar.gz",
            b"just text, though the name says otherwise\n",
        ),
        ("zeros.tar", &[0; 1024]),
        (
            "bad.gz",
            &[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff],
        ),
        ("short.tar", b"etc/passwd\0"),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        assert!(!is_archive(&path).unwrap(), "{name}");
    }
    symlink("empty.tar", dir.path().join("link")).unwrap();
    assert!(!is_archive(&dir.path().join("link")).unwrap());
    fs::create_dir(dir.path().join("sub")).unwrap();
    assert!(!is_archive(&dir.path().join("sub")).unwrap());
}

#[test]
fn later_entries_replace_and_directories_merge() {
    let entries = python_extract(
        r#"
add("a/x", REGTYPE, b"x1", mtime=5)
add("a", DIRTYPE, mode=0o700, mtime=6)
add("a/y", REGTYPE, b"y", mtime=7)
add("a", DIRTYPE, mode=0o750, uid=3, gid=4, mtime=8)
add("b", DIRTYPE, mtime=9)
add("b/gone", REGTYPE, b"gone")
add("b", REGTYPE, b"now a file", mode=0o600, mtime=10)
add("c", REGTYPE, b"first", mode=0o640, mtime=11)
add("d", LNKTYPE, link="c")
add("c", REGTYPE, b"second", mtime=12)
add("e", LNKTYPE, link="d")
"#,
        "srv",
        None,
        &NothingBelow,
    );
    assert_eq!(
        summary(&entries),
        [
            "srv/a 750 3:4 8 dir",
            "srv/a/x 644 0:0 5 file \"x1\"",
            "srv/a/y 644 0:0 7 file \"y\"",
            "srv/b 600 0:0 10 file \"now a file\"",
            "srv/c 644 0:0 12 file \"second\"",
            // The link keeps the first `c`, which it shares an inode with.
            "srv/d 640 0:0 11 file \"first\"",
            "srv/e 640 0:0 11 link to srv/d",
        ]
    );
}

/// An image below holding one file, `srv/data.txt`.
struct OneFileBelow;

impl Below for OneFileBelow {
    fn copy_file(&self, path: &LayerPath, into: &Path) -> mkimage_core::Result<Option<Entry>> {
        if path.to_string() != "srv/data.txt" {
            return Ok(None);
        }
        fs::write(into, "below").unwrap();
        let content = EntryKind::File(Content::Host(into.to_owned()));
        Ok(Some(
            Entry::new(path.clone(), content)
                .with_mode(0o640)
                .with_owner(5, 6)
                .with_mtime(42),
        ))
    }
}

#[test]
fn hard_links_to_a_file_below_link_to_its_copy() {
    // The first links share the image's file (copied, with its metadata); the archive's
    // `data.txt` then replaces that path, and the last link shares the new file.
    let entries = python_extract(
        r#"
add("z", LNKTYPE, link="data.txt")
add("sub/y", LNKTYPE, link="./data.txt")
add("data.txt", REGTYPE, b"new", mtime=7)
add("b", LNKTYPE, link="data.txt")
"#,
        "srv",
        None,
        &OneFileBelow,
    );
    assert_eq!(
        summary(&entries),
        [
            "srv/b 644 0:0 7 file \"new\"",
            "srv/data.txt 644 0:0 7 link to srv/b",
            "srv/sub 755 0:0 1000 dir",
            "srv/sub/y 640 5:6 42 file \"below\"",
            "srv/z 640 5:6 42 link to srv/sub/y",
        ]
    );
    // `--chown` changes the shared file.
    let entries = python_extract(
        r#"add("z", LNKTYPE, link="data.txt")"#,
        "srv",
        Some((7, 8)),
        &OneFileBelow,
    );
    assert_eq!(
        summary(&entries),
        [
            "srv/data.txt 640 7:8 42 file \"below\"",
            "srv/z 640 7:8 42 link to srv/data.txt",
        ]
    );
}

#[test]
fn chown_overrides_the_archive_owner() {
    let entries = python_extract(
        r#"
add("deep/er/file", REGTYPE, b"f", uid=1000, gid=1000, mtime=50)
add("deep/link", SYMTYPE, link="er/file", uid=5, gid=6, mtime=51)
"#,
        "/",
        Some((7, 8)),
        &NothingBelow,
    );
    assert_eq!(
        summary(&entries),
        [
            // Implied parents: root's, 0755, the given mtime.
            "deep 755 0:0 1000 dir",
            "deep/er 755 0:0 1000 dir",
            "deep/er/file 644 7:8 50 file \"f\"",
            "deep/link 644 7:8 51 -> er/file",
        ]
    );
}

#[test]
fn no_name_or_symlink_leads_outside_the_destination() {
    let entries = python_extract(
        r#"
add("/abs/file", REGTYPE, b"absolute")
add("etc", SYMTYPE, link="/real/etc")
add("etc/passwd", REGTYPE, b"root")
add("up", SYMTYPE, link="../../..")
add("up/top", REGTYPE, b"top")
add("sub/../dots", REGTYPE, b"dots")
"#,
        "/dest",
        None,
        &NothingBelow,
    );
    assert_eq!(
        summary(&entries),
        [
            "dest/abs 755 0:0 1000 dir",
            "dest/abs/file 644 0:0 0 file \"absolute\"",
            "dest/dots 644 0:0 0 file \"dots\"",
            // The symlink stays as written; what went through it stays inside.
            "dest/etc 644 0:0 0 -> /real/etc",
            "dest/real 755 0:0 1000 dir",
            "dest/real/etc 755 0:0 1000 dir",
            "dest/real/etc/passwd 644 0:0 0 file \"root\"",
            "dest/top 644 0:0 0 file \"top\"",
            "dest/up 644 0:0 0 -> ../../..",
        ]
    );
}

/// The error of extracting `archive` to the root, which must fail.
fn extract_fails(archive: &Path) -> ArchiveError {
    let staging = tempfile::tempdir().unwrap();
    extract(
        archive,
        None,
        &NothingBelow,
        staging.path(),
        &ExtractOptions::default(),
    )
    .unwrap_err()
}

fn extract_err(body: &str) -> (String, ArchiveError) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bad.tar");
    python_tar(&archive, body);
    let err = extract_fails(&archive);
    let shown = err
        .to_string()
        .replace(&*dir.path().to_string_lossy(), "[TMP]");
    let cause = err.source().map(ToString::to_string).unwrap_or_default();
    (format!("{shown} / {cause}"), err)
}

#[test]
fn hostile_or_unplaceable_entries_fail() {
    let cases = [
        (
            r#"add("../evil", REGTYPE, b"x")"#,
            "archive `[TMP]/bad.tar` has an entry that cannot be extracted / layer entry `../evil` leaves the root",
        ),
        (
            r#"add("a/b/../../../evil", REGTYPE, b"x")"#,
            "archive `[TMP]/bad.tar` has an entry that cannot be extracted / layer entry `a/b/../../../evil` leaves the root",
        ),
        (
            r#"add("x", LNKTYPE, link="../etc/shadow")"#,
            "archive `[TMP]/bad.tar` has an entry that cannot be extracted / layer entry `../etc/shadow` leaves the root",
        ),
        (
            r#"add("x", LNKTYPE, link="missing")"#,
            "archive `[TMP]/bad.tar` links `x` to `missing`, which is neither an earlier file of the archive nor a file of the image / ",
        ),
        (
            "add(\"d\", DIRTYPE)\nadd(\"x\", LNKTYPE, link=\"d\")",
            "archive `[TMP]/bad.tar` links `x` to `d`, which is neither an earlier file of the archive nor a file of the image / ",
        ),
        (
            "add(\"f\", REGTYPE, b\"f\")\nadd(\"f/g\", REGTYPE)",
            "archive `[TMP]/bad.tar` puts `f/g` below `f`, which is not a directory / ",
        ),
        (
            "add(\"l1\", SYMTYPE, link=\"l2\")\nadd(\"l2\", SYMTYPE, link=\"l1\")\nadd(\"l1/x\", REGTYPE)",
            "archive `[TMP]/bad.tar`: too many levels of symbolic links below `l1/x` / ",
        ),
        (
            r#"add("dir/.wh.file", REGTYPE)"#,
            "archive `[TMP]/bad.tar` holds `dir/.wh.file`, a name that layers reserve for whiteouts (`.wh.`) / ",
        ),
    ];
    for (body, expected) in cases {
        let (shown, _) = extract_err(body);
        assert_eq!(shown, expected, "{body}");
    }
}

#[test]
fn a_truncated_archive_fails() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.tar");
    python_tar(&archive, r#"add("big", REGTYPE, b"x" * 5000)"#);
    let bytes = fs::read(&archive).unwrap();
    fs::write(&archive, &bytes[..2048]).unwrap();
    let err = extract_fails(&archive);
    assert!(matches!(err, ArchiveError::ReadArchive { .. }), "{err:?}");
}
