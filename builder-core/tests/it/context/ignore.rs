//! `.dockerignore` on real trees, and `<Dockerfile>.dockerignore` precedence.

use std::fs;

use mkimage_core::context::{Context, ContextError, IGNORE_FILE_LIMIT};

use super::{select, write};

#[test]
fn dockerignore_excludes_with_docker_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for file in [
        "main.go",
        "pkg/util.go",
        "pkg/util_test.txt",
        "build/out.bin",
        "build/keep/me.txt",
        "build/keep/deep/too.txt",
        "logs/a.log",
        "README.md",
        "README-dev.md",
        "CHANGES.md",
        "sub/temp1",
        "sub/other",
        "temp9",
        "a[1].txt",
    ] {
        write(root, file, file);
    }
    write(
        root,
        ".dockerignore",
        "# build output, but keep build/keep\n\
         /build\n\
         !build/keep\n\
         \n\
         \tlogs/  \n\
         *.md\n\
         !README*.md\n\
         */temp*\n\
         temp?\n\
         a\\[1\\].txt\n\
         .dockerignore\n",
    );
    assert_eq!(
        select(root, &["."]),
        [
            "README-dev.md",
            "README.md",
            "build/",
            "build/keep/",
            "build/keep/deep/",
            "build/keep/deep/too.txt",
            "build/keep/me.txt",
            "main.go",
            "pkg/",
            "pkg/util.go",
            "pkg/util_test.txt",
            "sub/",
            "sub/other",
        ]
    );
}

#[test]
fn double_star_re_includes_below_an_excluded_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "vendor/a/keep", "");
    write(root, "vendor/a/drop", "");
    write(root, "vendor/b/drop", "");
    write(root, ".dockerignore", "vendor\n!**/keep\n");
    assert_eq!(
        select(root, &["vendor"]),
        ["a/", "a/keep (from vendor/a/keep)"],
        "only the directories leading to a re-included file are kept"
    );
}

#[test]
fn dockerfile_ignore_file_replaces_the_root_one() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    write(&ctx, "a.txt", "a");
    write(&ctx, "b.txt", "b");
    write(&ctx, ".dockerignore", "a.txt\n");
    // The Dockerfile lives outside the context, with its own ignore file beside it.
    let dockerfile = dir.path().join("files/app.Dockerfile");
    write(dir.path(), "files/app.Dockerfile", "FROM scratch\n");
    let context = Context::open(&ctx, Some(&dockerfile)).unwrap();
    assert_eq!(
        context.ignore_file(),
        Some(ctx.join(".dockerignore").as_path())
    );
    assert!(context.ignore().matches("a.txt"));

    write(dir.path(), "files/app.Dockerfile.dockerignore", "b.txt\n");
    let context = Context::open(&ctx, Some(&dockerfile)).unwrap();
    assert_eq!(
        context.ignore_file(),
        Some(
            dir.path()
                .join("files/app.Dockerfile.dockerignore")
                .as_path()
        )
    );
    assert!(!context.ignore().matches("a.txt"));
    assert!(context.ignore().matches("b.txt"));
    let selected = context
        .select(&["."], &Default::default())
        .unwrap()
        .entries()
        .map(|e| e.unwrap().path.to_string())
        .collect::<Vec<_>>();
    assert_eq!(selected, [".dockerignore", "a.txt"]);
}

#[test]
fn invalid_ignore_pattern_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".dockerignore", "ok\n[unclosed\n");
    let err = Context::open(dir.path(), None).unwrap_err();
    assert!(matches!(err, ContextError::IgnorePattern { .. }));
    let root = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` has an invalid pattern `[unclosed`",
            root.join(".dockerignore").display()
        )
    );
}

// See: issue 13
#[test]
fn an_ignore_file_too_large_to_read_whole_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // One comment line, padded with NUL bytes.
    let path = dir.path().join(".dockerignore");
    fs::write(&path, "# padded").unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(IGNORE_FILE_LIMIT + 1).unwrap();
    let err = Context::open(dir.path(), None).unwrap_err();
    let root = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "the ignore file `{}` is larger than 16777216 bytes",
            root.join(".dockerignore").display()
        )
    );
    // At the limit, it is read.
    file.set_len(IGNORE_FILE_LIMIT).unwrap();
    Context::open(dir.path(), None).unwrap();
}

#[test]
fn ignored_file_cannot_be_a_source() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.env", "x");
    write(dir.path(), "app.env", "y");
    write(dir.path(), ".dockerignore", "secret*\n");
    let context = Context::open(dir.path(), None).unwrap();
    let err = context
        .select(&["secret.env"], &Default::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "source `secret.env` matches no file in the build context: `.dockerignore` \
         excludes it (CopyIgnoredFile)"
    );
    assert_eq!(select(dir.path(), &["*.env"]), ["app.env"]);
}

/// The error of selecting `source` from the context at `root`.
fn select_error(root: &std::path::Path, source: &str) -> String {
    let context = Context::open(root, None).unwrap();
    match context.select(&[source], &Default::default()) {
        Ok(selection) => panic!("`{source}` selected {:?}", super::listing(&selection)),
        Err(error) => error.to_string(),
    }
}

// See: issue 17
#[test]
fn what_the_context_lacks_cannot_be_reached_as_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "public.txt", "public");
    write(root, "secret.txt", "secret");
    write(root, "vendor/a/drop", "");
    write(root, "build/keep/me", "kept");
    write(root, "build/other", "");
    super::link(root, "excluded-link", "public.txt");
    super::link(root, "to-secret", "secret.txt");
    super::link(root, "to-build", "build");
    write(
        root,
        ".dockerignore",
        "secret.txt
excluded-link
vendor
!**/keep
build
!build/keep
",
    );
    let ignored = |source: &str| {
        format!(
            "source `{source}` matches no file in the build context: `.dockerignore` \
             excludes it (CopyIgnoredFile)"
        )
    };
    // An excluded symlink is not sent, so it is not followed.
    assert_eq!(
        select_error(root, "excluded-link"),
        ignored("excluded-link")
    );
    // A symlink sent, to a file that is not.
    assert_eq!(select_error(root, "to-secret"), ignored("to-secret"));
    // An excluded directory a `!` pattern could reach below, but nothing is there.
    assert_eq!(select_error(root, "vendor"), ignored("vendor"));
    assert_eq!(select_error(root, "vendor/a"), ignored("vendor/a"));
    assert_eq!(select_error(root, "build/other"), ignored("build/other"));
    // An excluded directory is there as the parent of what is brought back.
    assert_eq!(
        select(root, &["build"]),
        ["keep/", "keep/me (from build/keep/me)"]
    );
    assert_eq!(
        select(root, &["to-build/keep"]),
        ["me (from build/keep/me)"]
    );
    // Missing is missing.
    assert_eq!(
        select_error(root, "nothing"),
        "source `nothing` matches no file in the build context"
    );
}

/// A walk case: the ignore file, the tree (a name ending in `/` is an empty directory)
/// and what the context then holds.
struct WalkCase {
    name: &'static str,
    ignore: &'static str,
    tree: &'static [&'static str],
    want: &'static [&'static str],
}

// The cases of fsutil's walker tests and buildah's `tests/conformance` dockerignore
// directories, with what BuildKit sends of the context for each.
const WALK_CASES: &[WalkCase] = &[
    WalkCase {
        name: "exception below a wildcard-excluded directory",
        ignore: "foo*\n!foo/bar2\n",
        tree: &["bar", "foo2", "foo/bar2"],
        want: &["bar", "foo/", "foo/bar2"],
    },
    WalkCase {
        name: "nested exception",
        ignore: "foo\n!foo/bar\n",
        tree: &["foo/bar"],
        want: &["foo/", "foo/bar"],
    },
    WalkCase {
        name: "alternating exceptions, three levels",
        ignore: "foo\n!foo/bar\nfoo/bar/baz\n!foo/bar/baz/x\n",
        tree: &["foo/bar/baz/x", "foo/bar/baz/y"],
        want: &["foo/", "foo/bar/", "foo/bar/baz/", "foo/bar/baz/x"],
    },
    WalkCase {
        name: "an excluded directory walked for an exception that matches nothing",
        ignore: "**/bar\n!foo/bar/baz\n",
        tree: &["foo/bar/"],
        want: &["foo/"],
    },
    WalkCase {
        name: "buildah exceptions-weirdness-1",
        ignore: "subdir\n!*/sub1*\n",
        tree: &[
            "other.txt",
            "subdir/sub1.txt",
            "subdir/sub2.txt",
            "subdir/sub3.txt",
            "subdir/subsubdir/subsub1.txt",
        ],
        want: &["other.txt", "subdir/", "subdir/sub1.txt"],
    },
    WalkCase {
        name: "buildah exceptions-weirdness-2",
        ignore: "subdir\n!*/sub1*\n!subdir/sub3*\n",
        tree: &[
            "other.txt",
            "subdir/sub1.txt",
            "subdir/sub2.txt",
            "subdir/sub3.txt",
            "subdir/subsubdir/subsub1.txt",
        ],
        want: &["other.txt", "subdir/", "subdir/sub1.txt", "subdir/sub3.txt"],
    },
    WalkCase {
        name: "buildah exceptions-skip",
        ignore: "volume/\n!**/oneline.txt\n",
        tree: &[
            "volume/data/oneline.txt",
            "volume/data/other.txt",
            "volume/other",
        ],
        want: &["volume/", "volume/data/", "volume/data/oneline.txt"],
    },
    WalkCase {
        name: "buildah allowlist subdir-file",
        ignore: "**\n!folder1/file1\n",
        tree: &["folder1/file1", "folder1/file2", "top"],
        want: &["folder1/", "folder1/file1"],
    },
    WalkCase {
        name: "buildah allowlist subdir-nofile",
        ignore: "**\n!folder1/file\n",
        tree: &["folder1/file1"],
        want: &[],
    },
    WalkCase {
        name: "buildah allowlist subsubdir-file",
        ignore: "**\n!folder/subfolder/file\n",
        tree: &["folder/subfolder/file", "folder/other"],
        want: &["folder/", "folder/subfolder/", "folder/subfolder/file"],
    },
    WalkCase {
        name: "buildah allowlist alternating",
        ignore: "**\n!subdir\nsubdir/subdir1\n!subdir/subdir1/subdir2\n\
                 subdir/subdir1/subdir2/subdir3\n!subdir/subdir1/subdir2/subdir3/subdir4\n\
                 subdir/subdir1/subdir2/subdir3/subdir4/subdir5\n\
                 !subdir/subdir1/subdir2/subdir3/subdir4/subdir5/file\n",
        tree: &["subdir/subdir1/subdir2/subdir3/subdir4/subdir5/file"],
        want: &[
            "subdir/",
            "subdir/subdir1/",
            "subdir/subdir1/subdir2/",
            "subdir/subdir1/subdir2/subdir3/",
            "subdir/subdir1/subdir2/subdir3/subdir4/",
            "subdir/subdir1/subdir2/subdir3/subdir4/subdir5/",
            "subdir/subdir1/subdir2/subdir3/subdir4/subdir5/file",
        ],
    },
    WalkCase {
        name: "buildah allowlist alternating-nothing",
        ignore: "**\n!subdir\nsubdir/subdir1\n!subdir/subdir1/subdir2\n\
                 subdir/subdir1/subdir2/subdir3\n!subdir/subdir1/subdir2/subdir3/subdir4\n\
                 subdir/subdir1/subdir2/subdir3/subdir4/subdir5\n",
        tree: &["subdir/subdir1/subdir2/subdir3/subdir4/subdir5/file"],
        want: &[
            "subdir/",
            "subdir/subdir1/",
            "subdir/subdir1/subdir2/",
            "subdir/subdir1/subdir2/subdir3/",
            "subdir/subdir1/subdir2/subdir3/subdir4/",
        ],
    },
    WalkCase {
        name: "a pattern not evaluated on a parent is not inherited",
        ignore: "a\n!a/b/c\na/b\n",
        tree: &["a/b/c/d", "a/b/x", "a/y"],
        want: &["a/", "a/b/", "a/b/c/", "a/b/c/d"],
    },
    WalkCase {
        name: "patterns ending in `.` or `/`, and `..` cleaned",
        ignore: "dir/.\nbuild/\n./x\nsub/../y\n.\n../z\nw/..\n",
        tree: &["dir/a", "build/b", "x", "y", "z", "keep"],
        want: &["keep", "z"],
    },
    WalkCase {
        name: "`**` at the start, in the middle and at the end",
        ignore: "a/**/b\n**/*.log\nc**\n",
        tree: &[
            "a/b", "a/x/b", "a/x/y/b", "a/c", "top.log", "d/e.log", "cat/x", "c",
        ],
        want: &["a/", "a/c", "a/x/", "a/x/y/", "d/"],
    },
    WalkCase {
        name: "only the parents of re-included files appear",
        ignore: "**\n!**/*.md\n",
        tree: &["docs/guide/a.md", "docs/b.txt", "src/x.rs", "src/empty/"],
        want: &["docs/", "docs/guide/", "docs/guide/a.md"],
    },
];

#[test]
fn walks_the_context_as_buildkit_sends_it() {
    for case in WALK_CASES {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in case.tree {
            match path.strip_suffix('/') {
                Some(empty) => fs::create_dir_all(root.join(empty)).unwrap(),
                None => write(root, path, path),
            }
        }
        let ignore = format!("{}.dockerignore\n", case.ignore);
        write(root, ".dockerignore", &ignore);
        assert_eq!(select(root, &["."]), case.want, "{}", case.name);
    }
}
