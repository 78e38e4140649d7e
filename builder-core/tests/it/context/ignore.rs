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
        "source `secret.env` matches no file in the build context"
    );
    assert_eq!(select(dir.path(), &["*.env"]), ["app.env"]);
}
