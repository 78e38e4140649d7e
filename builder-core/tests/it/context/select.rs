//! Selecting `COPY`/`ADD` sources: wildcards, directories, `--exclude`, `--parents`,
//! escapes, symlinks, hard links, destinations, tar contexts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use mkimage_core::context::{
    self, Context, ContextError, Destination, FileHashes, HostFile, SelectOptions,
};
use mkimage_core::layer::{Content, Entry, EntryKind, LayerOptions, decompress, write_layer};

use super::{files, link, listing, select, write};

fn tree() -> tempfile::TempDir {
    files(&[
        ("a.txt", "a"),
        ("b.txt", "b"),
        ("c.md", "c"),
        ("src/main.rs", "main"),
        ("src/lib/mod.rs", "lib"),
        ("src/lib/util.rs", "util"),
        ("src/bin/mod.rs", "bin"),
        ("src/bin/notes.md", "notes"),
        ("docs/guide/intro.md", "intro"),
    ])
}

#[test]
fn wildcards_select_matching_paths() {
    let dir = tree();
    assert_eq!(select(dir.path(), &["*.txt"]), ["a.txt", "b.txt"]);
    assert_eq!(
        select(dir.path(), &["[ab].txt", "?.md"]),
        ["a.txt", "b.txt", "c.md"]
    );
    // Each component may be a wildcard; a file match keeps only its name.
    assert_eq!(
        select(dir.path(), &["src/*/mod.rs"]),
        ["mod.rs (from src/lib/mod.rs)"],
        "two matches with one name: the later one wins"
    );
    assert_eq!(select(dir.path(), &["[^a-b].*"]), ["c.md"]);
}

#[test]
fn directory_source_means_its_contents() {
    let dir = tree();
    assert_eq!(
        select(dir.path(), &["src"]),
        [
            "bin/",
            "bin/mod.rs (from src/bin/mod.rs)",
            "bin/notes.md (from src/bin/notes.md)",
            "lib/",
            "lib/mod.rs (from src/lib/mod.rs)",
            "lib/util.rs (from src/lib/util.rs)",
            "main.rs (from src/main.rs)",
        ]
    );
    // A leading `/` is the context root; `.` and `./x/..` too.
    assert_eq!(
        select(dir.path(), &["/src/lib"]),
        select(dir.path(), &["./src/x/../lib/"])
    );
    assert_eq!(select(dir.path(), &["/"]), select(dir.path(), &["."]));
    assert_eq!(select(dir.path(), &["."]).len(), 14);
}

#[test]
fn exclude_applies_to_names_and_below_directories() {
    let dir = tree();
    let context = Context::open(dir.path(), None).unwrap();
    let options = SelectOptions {
        exclude: vec!["*.md".into(), "lib".into(), "**/notes.md".into()],
        parents: false,
    };
    let selection = context.select(&["*", "src"], &options).unwrap();
    assert_eq!(
        listing(&selection),
        [
            "a.txt",
            "b.txt",
            "bin/",
            "bin/mod.rs (from src/bin/mod.rs)",
            "guide/",
            "guide/intro.md (from docs/guide/intro.md)",
            "main.rs (from src/main.rs)",
        ],
        "patterns are anchored at each match: `*.md` drops `c.md`, not `docs/guide/intro.md`"
    );
}

#[test]
fn parents_keeps_the_matched_paths() {
    let dir = tree();
    let context = Context::open(dir.path(), None).unwrap();
    let options = SelectOptions {
        exclude: Vec::new(),
        parents: true,
    };
    let selection = context
        .select(&["src/*/mod.rs", "docs/./guide"], &options)
        .unwrap();
    assert_eq!(
        listing(&selection),
        [
            "guide/",
            "guide/intro.md (from docs/guide/intro.md)",
            "src/",
            "src/bin/",
            "src/bin/mod.rs",
            "src/lib/",
            "src/lib/mod.rs",
        ]
    );
}

#[test]
fn sources_that_leave_the_context_are_errors() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret", "s");
    let dir = tree();
    let root = dir.path();
    link(root, "out-abs", outside.path().to_str().unwrap());
    link(root, "out-rel", "../..");
    link(root, "src/up", "../../x");
    let context = Context::open(root, None).unwrap();
    let err = |source: &str| {
        context
            .select(&[source], &SelectOptions::default())
            .unwrap_err()
    };
    assert_eq!(
        err("../a.txt").to_string(),
        "source `../a.txt` leaves the build context"
    );
    assert!(matches!(
        err("src/../../a.txt"),
        ContextError::SourceEscapes { .. }
    ));
    assert_eq!(
        err("out-abs/secret").to_string(),
        "source `out-abs/secret` leaves the build context through the symlink `out-abs`"
    );
    assert!(matches!(
        err("out-rel"),
        ContextError::SymlinkEscapes { .. }
    ));
    assert_eq!(
        err("src/up").to_string(),
        "source `src/up` leaves the build context through the symlink `src/up`"
    );
    assert_eq!(
        err("nope/a.txt").to_string(),
        "source `nope/a.txt` matches no file in the build context"
    );
    // Wildcards may match nothing, as in BuildKit.
    for empty in ["nope/*.txt", "src/*.none", "[xyz]"] {
        let selection = context.select(&[empty], &SelectOptions::default()).unwrap();
        assert!(
            selection.matches.is_empty() && selection.is_empty(),
            "{empty}"
        );
    }
    assert_eq!(
        err("src/[").to_string(),
        "source `src/[` has an invalid wildcard pattern"
    );
    link(root, "loop", "loop");
    assert!(matches!(err("loop"), ContextError::SymlinkLoop { .. }));
}

#[test]
fn symlinks_to_sources_are_followed_inside_the_context() {
    let dir = tree();
    let root = dir.path();
    link(root, "lib", "src/lib");
    link(root, "first", "a.txt");
    let absolute = fs::canonicalize(root).unwrap().join("b.txt");
    link(root, "second", absolute.to_str().unwrap());
    assert_eq!(
        select(root, &["lib/mod.rs", "first", "second"]),
        [
            "first (from a.txt)",
            "mod.rs (from src/lib/mod.rs)",
            "second (from b.txt)"
        ]
    );
    assert_eq!(
        select(root, &["lib"]),
        [
            "mod.rs (from src/lib/mod.rs)",
            "util.rs (from src/lib/util.rs)"
        ]
    );
}

#[test]
fn symlinks_and_hard_links_inside_a_tree_are_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app/data", "shared");
    fs::hard_link(root.join("app/data"), root.join("app/same")).unwrap();
    // Not followed, even when pointing out of the context: a link is copied as a link.
    link(root, "app/etc", "/etc");
    link(root, "app/rel", "data");
    let context = Context::open(root, None).unwrap();
    let selection = context.select(&["app"], &SelectOptions::default()).unwrap();
    assert_eq!(
        listing(&selection),
        [
            "data (from app/data)",
            "etc -> /etc",
            "rel -> data",
            "same => data"
        ]
    );
    let entries: Vec<_> = selection.entries().map(Result::unwrap).collect();
    let EntryKind::File(file) = &entries[0].kind else {
        panic!("`data` is a file");
    };
    let meta = fs::metadata(root.join("app/data")).unwrap();
    assert_eq!(
        (file.dev, file.ino, file.nlink),
        (meta.dev(), meta.ino(), 2)
    );
    assert_eq!(file.size, 6);
    assert_eq!(entries[0].mode, meta.mode() & 0o7777);
    assert_eq!(
        file.mtime_ns,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
    );
}

#[test]
fn xattrs_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "bin/tool", "#!/bin/sh\n");
    xattr::set(root.join("bin/tool"), "user.origin", b"ctx").unwrap();
    xattr::set(root.join("bin"), "user.dir", b"d").unwrap();
    let context = Context::open(root, None).unwrap();
    let origin = |entry: &Entry<HostFile>| entry.xattrs.get("user.origin").cloned();
    for sources in [&["bin/tool"][..], &["."][..]] {
        // A walk leaves the xattrs of regular files to the digest or the placement.
        let mut selection = context.select(sources, &SelectOptions::default()).unwrap();
        assert_eq!(origin(&selection.entries().last().unwrap().unwrap()), None);
        // Placed before a digest read them, a file's xattrs are read with its content.
        let placed = selection
            .place(&Destination::new("/", "/").unwrap(), true)
            .unwrap();
        let tool = placed.last().unwrap();
        assert_eq!(
            tree_file(&tool.kind),
            (fs::canonicalize(root).unwrap().join("bin/tool"), true),
            "{sources:?}"
        );
        let (tar, _) = write_layer(Vec::new(), placed, &LayerOptions::default()).unwrap();
        let tar = decompress(&tar[..], None).unwrap();
        let tar: Vec<u8> = std::io::Read::bytes(tar).map(Result::unwrap).collect();
        let record = b"SCHILY.xattr.user.origin=ctx\n";
        assert!(
            tar.windows(record.len()).any(|w| w == record),
            "{sources:?}: the layer keeps the file's xattr"
        );
        selection.digest(&FileHashes::in_memory()).unwrap();
        assert_eq!(
            origin(&selection.entries().last().unwrap().unwrap()).unwrap(),
            b"ctx"
        );
    }
    let selection = context.select(&["."], &SelectOptions::default()).unwrap();
    let first = selection.entries().next().unwrap().unwrap();
    assert_eq!(first.xattrs.get("user.dir").unwrap(), b"d");
}

#[test]
fn place_follows_docker_destination_rules() {
    let dir = tree();
    let context = Context::open(dir.path(), None).unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let placed = |sources: &[&str], dest: &str, exists_as_dir: bool| {
        let selection = context.select(sources, &SelectOptions::default())?;
        let entries = selection.place(&Destination::new(dest, "/work")?, exists_as_dir)?;
        Ok::<_, ContextError>(
            entries
                .iter()
                .map(|e| e.path.to_string())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(placed(&["a.txt"], "/x", false).unwrap(), ["x"]);
    assert_eq!(placed(&["a.txt"], "/x/", false).unwrap(), ["x/a.txt"]);
    assert_eq!(placed(&["a.txt"], "/x", true).unwrap(), ["x/a.txt"]);
    assert_eq!(placed(&["a.txt"], "rel", false).unwrap(), ["work/rel"]);
    assert_eq!(placed(&["a.txt"], ".", false).unwrap(), ["work/a.txt"]);
    assert_eq!(
        placed(&["src/lib"], "/lib", false).unwrap(),
        ["lib/mod.rs", "lib/util.rs"]
    );
    assert_eq!(
        placed(&["*.txt"], "/x", false).unwrap_err().to_string(),
        "copying more than one source needs a destination directory ending in `/`, not `/x`"
    );
    assert_eq!(
        placed(&["a.txt", "b.txt"], "/x/", false).unwrap(),
        ["x/a.txt", "x/b.txt"]
    );
    let selection = context
        .select(&["a.txt"], &SelectOptions::default())
        .unwrap();
    let entries = selection
        .place(&Destination::new("/", "/").unwrap(), false)
        .unwrap();
    assert_eq!(tree_file(&entries[0].kind), (root.join("a.txt"), true));
}

/// Where a placed regular file is read from, and whether its xattrs are read with it.
fn tree_file(kind: &EntryKind) -> (std::path::PathBuf, bool) {
    match kind {
        EntryKind::File(Content::Tree(file)) => (file.shown(), file.reads_xattrs()),
        other => panic!("not a file of the context: {other:?}"),
    }
}

#[test]
fn context_from_a_tar_stream() {
    let dir = tree();
    let root = dir.path();
    write(root, ".dockerignore", "*.md\n");
    link(root, "src/link", "main.rs");
    // GNU tar writes the stream, gzip-compressed, as `docker build -` would receive it.
    let out = Command::new("tar")
        .args(["-czf", "-", "-C"])
        .arg(root)
        .arg(".")
        .output()
        .expect("`tar` is needed (Debian package `tar`)");
    assert!(out.status.success());
    let extracted = tempfile::tempdir().unwrap();
    context::extract(out.stdout.as_slice(), extracted.path()).unwrap();
    let from_tar = Context::open(extracted.path(), None).unwrap();
    let from_dir = Context::open(root, None).unwrap();
    let sel = |c: &Context| listing(&c.select(&["."], &SelectOptions::default()).unwrap());
    assert_eq!(sel(&from_tar), sel(&from_dir));
    assert!(sel(&from_tar).contains(&"src/link -> main.rs".to_owned()));
}

#[test]
fn tar_entries_that_escape_are_refused() {
    // Python's tarfile writes a name GNU tar would refuse to create.
    let script = "import io, sys, tarfile\n\
        t = tarfile.open(fileobj=sys.stdout.buffer, mode='w|')\n\
        i = tarfile.TarInfo('../evil'); i.size = 4\n\
        t.addfile(i, io.BytesIO(b'evil')); t.close()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("`python3` is needed (Debian package `python3`)");
    child.stdin.take().unwrap().write_all(b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("ctx");
    fs::create_dir(&target).unwrap();
    let err = context::extract(out.stdout.as_slice(), &target).unwrap_err();
    assert!(matches!(err, ContextError::ExtractContext { .. }), "{err}");
    assert!(!parent.path().join("evil").exists());
}

#[test]
fn context_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "file", "x");
    for path in [dir.path().join("file"), dir.path().join("missing")] {
        let err = Context::open(&path, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to open the build context `{}`", path.display())
        );
    }
}
