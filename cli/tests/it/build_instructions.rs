//! `mkimage build` of every instruction but `RUN`: the files and config other tools see,
//! multi-stage builds, reproducibility and errors.

use std::path::{Path, PathBuf};

use crate::build::{build, build_and_unpack, fixture, listing, ok, tool, unpack};

/// The config blob of the image in the OCI archive `archive`, as written (skopeo's
/// `--config` drops Docker's fields such as `Shell` and `Healthcheck`): the manifest from
/// skopeo, the blob from tar.
fn config(archive: &Path) -> serde_json::Value {
    let reference = format!("oci-archive:{}", archive.display());
    let manifest: serde_json::Value =
        serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &reference])).unwrap();
    let digest = manifest["config"]["digest"].as_str().unwrap();
    let member = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    serde_json::from_str(&tool("tar", &["-xOf", archive.to_str().unwrap(), &member])).unwrap()
}

/// Builds the fixture `name` as `tag` into an OCI archive in `dir` (store `dir/store`)
/// and unpacks it there; returns the archive and the rootfs.
fn build_fixture(name: &str, tag: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let archive = dir.join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let context = fixture(name);
    ok(&build(
        &dir.join("store"),
        &["-t", tag, "-o", &output, context.to_str().unwrap()],
    ));
    let (_, rootfs) = unpack(&archive, tag, dir);
    (archive, rootfs)
}

#[test]
fn every_instruction_but_run_gives_what_docker_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, rootfs) = build_fixture("build/instructions", "inst", dir.path());
    assert_eq!(
        listing(&rootfs),
        [
            "code d 755 0:0",
            "code/lib d 755 0:0",
            "code/lib/x.rs f 644 0:0 14",
            "code/lib/y.rs f 644 0:0 14",
            // WORKDIR creates the directory for the USER.
            "srv d 755 1000:1000",
            "srv/app d 755 1000:1000",
            // `COPY --from` keeps the owners and modes of the stage.
            "srv/app/conf d 755 1000:1000",
            "srv/app/conf/a.conf f 644 1000:1000 4",
            "srv/app/conf/sub d 755 1000:1000",
            "srv/app/conf/sub/b.conf f 644 1000:1000 4",
            "srv/app/note.txt f 644 0:0 18",
            "srv/app/tool f 755 0:0 20",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/app/note.txt")).unwrap(),
        "made by a heredoc\n"
    );

    let config = config(&archive);
    let run = &config["config"];
    assert_eq!(config["author"], "someone@example.com");
    assert_eq!(run["User"], "1000:1000");
    assert_eq!(run["WorkingDir"], "/srv/app");
    assert_eq!(run["Shell"], serde_json::json!(["/bin/bash", "-c"]));
    assert_eq!(
        run["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1",
            "B=two words"
        ])
    );
    assert_eq!(run["Labels"], serde_json::json!({"version": "1.0"}));
    assert_eq!(run["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(
        run["ExposedPorts"],
        serde_json::json!({"53/udp": {}, "80/tcp": {}})
    );
    assert_eq!(
        run["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"],
                           "Interval": 30_000_000_000_u64, "Retries": 3})
    );
    assert_eq!(run["StopSignal"], "SIGINT");
    assert_eq!(run["OnBuild"], serde_json::json!(["RUN echo hi"]));
    assert_eq!(run["Entrypoint"], serde_json::json!(["/srv/app/tool"]));
    // The shell form runs through the SHELL in effect.
    assert_eq!(
        run["Cmd"],
        serde_json::json!(["/bin/bash", "-c", "run --verbose"])
    );
    // As BuildKit marks an image with a `CMD`.
    assert_eq!(run["ArgsEscaped"], true);
    let history = config["history"].as_array().unwrap();
    let layers: Vec<&str> = history
        .iter()
        .filter(|entry| entry.get("empty_layer").is_none())
        .map(|entry| entry["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        [
            "WORKDIR /srv/app",
            "COPY /out/ ./ # buildkit",
            "COPY --parents src/./lib /code/ # buildkit"
        ]
    );
    // See: issue 17
    // Every instruction's entry in BuildKit's words; `ONBUILD` has none.
    let created_by: Vec<&str> = history
        .iter()
        .map(|entry| entry["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        created_by,
        [
            "MAINTAINER someone@example.com",
            "USER 1000:1000",
            "WORKDIR /srv/app",
            "COPY /out/ ./ # buildkit",
            "COPY --parents src/./lib /code/ # buildkit",
            "SHELL [/bin/bash -c]",
            "ENV A=1 B=two words",
            "LABEL version=1.0",
            "VOLUME [/data]",
            "EXPOSE map[53/udp:{} 80/tcp:{}]",
            r#"HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/"] "30s" "0s" "0s" "0s" '\x03'}"#,
            "STOPSIGNAL SIGINT",
            r#"ENTRYPOINT ["/srv/app/tool"]"#,
            r#"CMD ["/bin/bash" "-c" "run --verbose"]"#,
        ]
    );
    assert!(
        history
            .iter()
            .all(|entry| entry["comment"] == "buildkit.dockerfile.v0")
    );
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let archive = dir.path().join("files.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let context = fixture("build/instructions");
    let built = build(
        &root,
        &[
            "--target",
            "files",
            "-t",
            "files",
            "-o",
            &output,
            context.to_str().unwrap(),
        ],
    );
    ok(&built);
    let progress = String::from_utf8_lossy(&built.stderr);
    assert!(!progress.contains("stage-1"), "{progress}");
    let (_, rootfs) = unpack(&archive, "files", dir.path());
    assert_eq!(
        listing(&rootfs),
        [
            "out d 755 0:0",
            "out/conf d 755 1000:1000",
            "out/conf/a.conf f 644 1000:1000 4",
            "out/conf/sub d 755 1000:1000",
            "out/conf/sub/b.conf f 644 1000:1000 4",
            "out/note.txt f 644 0:0 18",
            "out/tool f 755 0:0 20",
        ]
    );
}

/// Copies the `hello` fixture to `dest` and sets every mtime to `stamp` (`touch -d`).
fn hello_copy(dest: &Path, stamp: &str) {
    tool(
        "cp",
        &[
            "-r",
            fixture("hello").to_str().unwrap(),
            dest.to_str().unwrap(),
        ],
    );
    tool(
        "find",
        &[
            dest.to_str().unwrap(),
            "-exec",
            "touch",
            "-d",
            stamp,
            "{}",
            "+",
        ],
    );
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    hello_copy(&one, "2024-01-02 03:04:05");
    hello_copy(&two, "2025-06-07 08:09:10");
    let id = |context: &Path, store: &str| {
        ok(&build(
            &dir.path().join(store),
            &[
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                context.to_str().unwrap(),
            ],
        ))
    };
    let first = id(&one, "store-one");
    assert_eq!(id(&two, "store-two"), first);
    // Without it, the times differ and so do the images.
    let plain = ok(&build(
        &dir.path().join("store-three"),
        &[one.to_str().unwrap()],
    ));
    assert_ne!(plain, first);

    let archive = dir.path().join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    ok(&build(
        &dir.path().join("store-one"),
        &[
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "-t",
            "hello",
            "-o",
            &output,
            two.to_str().unwrap(),
        ],
    ));
    let config = config(&archive);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    for entry in config["history"].as_array().unwrap() {
        assert_eq!(entry["created"], "2023-11-14T22:13:20Z");
    }
}

#[test]
fn a_base_image_from_an_archive_keeps_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let base = dir.path().join("base.tar");
    ok(&build(
        &root,
        &[
            "-o",
            &format!("type=oci,dest={}", base.display()),
            fixture("hello").to_str().unwrap(),
        ],
    ));
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("extra.txt"), "extra\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM oci-archive:{}\nCOPY extra.txt .\n", base.display()),
    )
    .unwrap();
    let archive = dir.path().join("child.tar");
    // Another store: the base comes from the archive alone.
    let built = build(
        &dir.path().join("other-store"),
        &[
            "-t",
            "child",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            context.to_str().unwrap(),
        ],
    );
    ok(&built);
    let progress = String::from_utf8_lossy(&built.stderr);
    assert!(
        progress.contains("[stage-0 1/2] FROM oci-archive:"),
        "{progress}"
    );
    let inspect = |path: &Path| -> serde_json::Value {
        let reference = format!("oci-archive:{}", path.display());
        serde_json::from_str(&tool("skopeo", &["inspect", &reference])).unwrap()
    };
    let base_layers = inspect(&base)["Layers"].as_array().unwrap().clone();
    let child_layers = inspect(&archive)["Layers"].as_array().unwrap().clone();
    assert_eq!(child_layers.len(), base_layers.len() + 1);
    assert_eq!(child_layers[..base_layers.len()], base_layers[..]);
    let (_, rootfs) = unpack(&archive, "child", dir.path());
    // The COPY goes to the base's WORKDIR.
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/extra.txt")).unwrap(),
        "extra\n"
    );
    assert_eq!(
        config(&archive)["config"]["Cmd"],
        serde_json::json!(["/app/hello.txt"])
    );
}

#[test]
fn errors_name_the_dockerfile_line() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("secret.txt"), "secret").unwrap();
    std::fs::write(context.join(".dockerignore"), "secret.txt\n").unwrap();
    let cases = [
        (
            "FROM scratch\nCOPY missing.txt /\n",
            "error: Dockerfile:2:1: `COPY missing.txt /` failed: source `missing.txt` matches no file in the build context\n  |\n2 | COPY missing.txt /\n  | ^\n",
        ),
        // See: issue 17
        (
            "FROM scratch\nCOPY secret.txt /\n",
            "error: Dockerfile:2:1: `COPY secret.txt /` failed: source `secret.txt` matches no file in the build context: \
             `.dockerignore` excludes it (CopyIgnoredFile)\n",
        ),
        (
            "FROM scratch\nENV A=1\nCOPY ../outside /\n",
            "error: Dockerfile:3:1: `COPY ../outside /` failed: source `../outside` leaves the build context\n",
        ),
        (
            "FROM scratch\nRUN true\n",
            "error: Dockerfile:2:1: `RUN true` failed: failed to execute `/bin/sh`: No such file or directory (os error 2)\n",
        ),
        // Not in the store, so asked of its registry, where nothing listens.
        (
            "FROM 127.0.0.1:1/nothing-here:1\n",
            "error: Dockerfile:1:1: failed to resolve the base image `127.0.0.1:1/nothing-here:1`: \
             manifest `127.0.0.1:1/nothing-here:1` failed after 4 attempts: the connection failed",
        ),
    ];
    for (dockerfile, expected) in cases {
        std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .current_dir(&context)
            .arg("--root")
            .arg(dir.path().join("store"))
            .args(["build", "-q", "."])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(expected), "{stderr}");
    }
}

#[test]
fn chown_and_workdir_owners_follow_buildkit() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rootfs) = build_fixture("build/owners", "owners", dir.path());
    assert_eq!(
        listing(&rootfs),
        [
            "by-name f 644 1500:1600 6",
            "by-name-and-group f 644 1500:1700 6",
            "by-name-empty-group f 644 1500:0 6",
            // A UID without a GID uses the same number as the GID.
            "by-uid f 644 1500:1500 6",
            "by-uid-and-gid f 644 1500:1700 6",
            "etc d 755 0:0",
            "etc/group f 644 0:0 42",
            "etc/passwd f 644 0:0 68",
            "work d 755 4321:4321",
        ]
    );
}

#[test]
fn a_wildcard_may_match_nothing_as_in_buildkit() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY requirements*.txt /opt/\nCOPY none/*.cfg a.txt /etc/\n",
    )
    .unwrap();
    let rootfs = build_and_unpack(&dir.path().join("store"), &context, &[], dir.path());
    // Nothing for the first COPY, not even its destination; the second copies a.txt.
    assert_eq!(listing(&rootfs), ["etc d 755 0:0", "etc/a.txt f 644 0:0 2"]);
}

// See: issue 17
#[test]
fn workdir_keeps_its_trailing_slash_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("f"), "file\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch AS slash\nWORKDIR /tmp/\nCOPY f ./\n\
         FROM slash AS relative\nWORKDIR sub/\nCOPY f ./\n",
    )
    .unwrap();
    for (target, workdir, files) in [
        (
            "slash",
            "/tmp/",
            &["tmp d 755 0:0", "tmp/f f 644 0:0 5"][..],
        ),
        (
            "relative",
            "/tmp/sub",
            &[
                "tmp d 755 0:0",
                "tmp/f f 644 0:0 5",
                "tmp/sub d 755 0:0",
                "tmp/sub/f f 644 0:0 5",
            ][..],
        ),
    ] {
        let archive = dir.path().join(format!("{target}.tar"));
        let output = format!("type=oci,dest={}", archive.display());
        ok(&build(
            &dir.path().join("store"),
            &[
                "--target",
                target,
                "-t",
                target,
                "-o",
                &output,
                context.to_str().unwrap(),
            ],
        ));
        assert_eq!(config(&archive)["config"]["WorkingDir"], workdir);
        let work = dir.path().join(target);
        let (_, rootfs) = unpack(&archive, target, &work);
        assert_eq!(listing(&rootfs), files, "{target}");
    }
}
