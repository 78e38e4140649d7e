//! `mkimage build` outputs and inputs: tags, archives, a local directory, Dockerfiles and
//! contexts from standard input or elsewhere.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::build::{build, fixture, ok, skopeo_json, tool};

/// Runs `mkimage --root ROOT ARGS…` in `cwd` with `stdin` on standard input.
fn with_stdin(root: &Path, cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .current_dir(cwd)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn images(root: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg("--root")
        .arg(root)
        .args(["images", "--no-trunc"])
        .output()
        .unwrap();
    ok(&output)
}

#[test]
fn tags_archives_and_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    tool(
        "cp",
        &[
            "-r",
            fixture("hello").to_str().unwrap(),
            context.to_str().unwrap(),
        ],
    );
    let docker = dir.path().join("docker.tar");
    let local = dir.path().join("rootfs");
    let iid = dir.path().join("iid");
    let id = ok(&build(
        &root,
        &[
            "-t",
            "hello",
            "-t",
            "example.com/team/hello:2",
            "-o",
            &format!("type=docker,dest={}", docker.display()),
            "-o",
            &format!("type=local,dest={}", local.display()),
            "--iidfile",
            iid.to_str().unwrap(),
            context.to_str().unwrap(),
        ],
    ));
    let id = id.trim();
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let listed = images(&root);
    assert!(listed.contains("hello "), "{listed}");
    assert!(listed.contains("example.com/team/hello "), "{listed}");

    // The docker archive names the image with both tags.
    let inspect: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            &format!("docker-archive:{}:hello:latest", docker.display()),
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "hello");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
    let manifest = tool("tar", &["-xOf", docker.to_str().unwrap(), "manifest.json"]);
    assert!(manifest.contains("\"hello:latest\""), "{manifest}");
    assert!(
        manifest.contains("\"example.com/team/hello:2\""),
        "{manifest}"
    );

    // The local directory is the final filesystem.
    assert_eq!(
        std::fs::read_to_string(local.join("app/hello.txt")).unwrap(),
        "Hello from mkimage!\n"
    );
    assert!(local.join("app/docs/README.md").is_file());

    // `type=tar` writes the same filesystem as one tar; `--metadata-file` says what was
    // cached.
    let rootfs_tar = dir.path().join("rootfs.tar");
    let metadata = dir.path().join("metadata.json");
    ok(&build(
        &root,
        &[
            "-q",
            "-o",
            &format!("type=tar,dest={}", rootfs_tar.display()),
            "--metadata-file",
            metadata.to_str().unwrap(),
            context.to_str().unwrap(),
        ],
    ));
    let listed = tool("tar", &["-tf", rootfs_tar.to_str().unwrap()]);
    assert_eq!(
        listed,
        "app/\napp/docs/\napp/docs/README.md\napp/hello.txt\n"
    );
    let metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
    assert_eq!(metadata["containerimage.digest"], id);
    assert_eq!(metadata["cache"]["hits"], 7);
    assert_eq!(metadata["cache"]["misses"], 0);

    // Building a changed context under one of the names leaves the old image untagged.
    std::fs::write(context.join("hello.txt"), "Changed!\n").unwrap();
    let new_id = ok(&build(
        &root,
        &["-q", "-t", "hello", context.to_str().unwrap()],
    ));
    assert_ne!(new_id.trim(), id);
    let listed = images(&root);
    let old_row = listed.lines().find(|line| line.contains(&id[7..])).unwrap();
    assert!(old_row.starts_with("example.com/team/hello"), "{listed}");
    // An image whose only name moves to a new build stays, as `<none>`.
    let new_id = new_id.trim().to_owned();
    std::fs::write(context.join("hello.txt"), "Changed again!\n").unwrap();
    let newest = ok(&build(
        &root,
        &["-q", "-t", "hello", context.to_str().unwrap()],
    ));
    let listed = images(&root);
    let row = |id: &str| {
        listed
            .lines()
            .find(|line| line.contains(&id[7..]))
            .unwrap()
            .to_owned()
    };
    assert!(row(&new_id).starts_with("<none>"), "{listed}");
    assert!(row(newest.trim()).starts_with("hello "), "{listed}");
}

#[test]
fn dockerfiles_and_contexts_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("kept.txt"), "kept\n").unwrap();
    std::fs::write(context.join("secret.txt"), "secret\n").unwrap();
    std::fs::write(context.join(".dockerignore"), "kept.txt\n").unwrap();
    let dockerfile = "FROM scratch\nCOPY *.txt /\n";

    // `-f` outside the context, with `<Dockerfile>.dockerignore` beside it replacing the
    // context's `.dockerignore`.
    let elsewhere = dir.path().join("docker");
    std::fs::create_dir(&elsewhere).unwrap();
    let outside = elsewhere.join("app.Dockerfile");
    std::fs::write(&outside, dockerfile).unwrap();
    std::fs::write(
        elsewhere.join("app.Dockerfile.dockerignore"),
        "secret.txt\n",
    )
    .unwrap();
    let local = dir.path().join("outside-rootfs");
    ok(&build(
        &root,
        &[
            "-q",
            "-f",
            outside.to_str().unwrap(),
            "-o",
            &format!("type=local,dest={}", local.display()),
            context.to_str().unwrap(),
        ],
    ));
    assert!(local.join("kept.txt").is_file());
    assert!(!local.join("secret.txt").exists());

    // `-f -`: the Dockerfile on standard input; the context's `.dockerignore` applies.
    let local = dir.path().join("stdin-dockerfile");
    let output = with_stdin(
        &root,
        &context,
        &[
            "build",
            "-q",
            "-f",
            "-",
            "-o",
            &format!("type=local,dest={}", local.display()),
            ".",
        ],
        dockerfile.as_bytes(),
    );
    ok(&output);
    assert!(local.join("secret.txt").is_file());
    assert!(!local.join("kept.txt").exists());

    // Context `-`: a tar stream holding the Dockerfile, compressed any way docker reads.
    std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
    for compress in ["--gzip", "--bzip2", "--xz", "--zstd", "--no-auto-compress"] {
        let tar = Command::new("tar")
            .args([compress, "-cf", "-", "-C", context.to_str().unwrap(), "."])
            .output()
            .unwrap();
        assert!(tar.status.success(), "tar {compress}");
        let local = dir.path().join(format!("stdin-context{compress}"));
        let output = with_stdin(
            &root,
            dir.path(),
            &[
                "build",
                "-q",
                "-o",
                &format!("type=local,dest={}", local.display()),
                "-",
            ],
            &tar.stdout,
        );
        ok(&output);
        assert!(local.join("secret.txt").is_file(), "{compress}");
        assert!(!local.join("kept.txt").exists());
    }

    // Context `-` that is a lone Dockerfile: an empty context.
    let output = with_stdin(
        &root,
        dir.path(),
        &["build", "-q", "-"],
        b"FROM scratch\nENV ONLY=config\n",
    );
    ok(&output);
    let output = with_stdin(
        &root,
        dir.path(),
        &["build", "-q", "-"],
        b"FROM scratch\nCOPY secret.txt /\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("matches no file in the build context"),
        "{stderr}"
    );
}

#[test]
fn podman_loads_the_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker.tar");
    let id = ok(&build(
        &dir.path().join("store"),
        &[
            "-q",
            "-t",
            "hello:1",
            "-o",
            &format!("type=docker,dest={}", archive.display()),
            fixture("hello").to_str().unwrap(),
        ],
    ));
    // A private podman store (vfs: no mounts needed).
    let (proot, prun) = (
        dir.path().join("podman-root"),
        dir.path().join("podman-run"),
    );
    let podman = |args: &[&str]| {
        let mut all = vec![
            "--root",
            proot.to_str().unwrap(),
            "--runroot",
            prun.to_str().unwrap(),
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        tool("podman", &all)
    };
    let loaded = podman(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        loaded.contains("Loaded image: docker.io/library/hello:1"),
        "{loaded}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&podman(&["image", "inspect", "hello:1"])).unwrap();
    assert_eq!(inspect[0]["Config"]["WorkingDir"], "/app");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    assert!(!id.is_empty());
}

#[test]
fn several_platforms_make_one_image_index() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nARG BUILDARCH\nCOPY Dockerfile /for-$TARGETARCH-on-$BUILDARCH\n",
    )
    .unwrap();
    let root = dir.path().join("store");
    let archive = dir.path().join("multi.tar");
    let local = dir.path().join("local");
    let id = ok(&build(
        &root,
        &[
            "-q",
            "--platform",
            "linux/amd64,linux/arm64,linux/arm/v7",
            "-t",
            "multi:1",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            "-o",
            &format!("type=local,dest={}", local.display()),
            context.to_str().unwrap(),
        ],
    ));
    // skopeo reads an index of one manifest per platform, each with its own file.
    let index = skopeo_json(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", archive.display()),
    ]);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"].as_str().map(|v| format!("/{v}"));
            format!(
                "{}/{}{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap(),
                variant.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    let host = mkimage_core::plan::Platform::host()
        .architecture()
        .to_owned();
    for (dir_name, arch) in [
        ("linux_amd64", "amd64"),
        ("linux_arm64", "arm64"),
        ("linux_arm_v7", "arm"),
    ] {
        let file = local.join(dir_name).join(format!("for-{arch}-on-{host}"));
        assert!(file.is_file(), "{}", file.display());
    }
    let arm = tool(
        "skopeo",
        &[
            "inspect",
            "--override-arch",
            "arm64",
            "--config",
            &format!("oci-archive:{}", archive.display()),
        ],
    );
    assert!(arm.contains("\"architecture\": \"arm64\""), "{arm}");
    // The store lists the index under its name, not its manifests on their own.
    let images = ok(&crate::store::mkimage(&root, &["images", "-q"]));
    assert_eq!(images.lines().count(), 1, "{images}");
    assert!(
        id.trim().starts_with(&format!("sha256:{}", images.trim())),
        "{id} {images}"
    );
}

// See: issue 13
#[test]
fn archive_outputs_fail_on_a_corrupt_blob_and_leave_no_archive() {
    use crate::store::{Damage, config_and_layer, failure};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let hello = fixture("hello");
    let hello = hello.to_str().unwrap();
    ok(&build(&root, &["-q", "-t", "hello", hello]));
    let store = mkimage_core::store::Store::open(&root).unwrap();
    let image = store.find_image("hello").unwrap();
    let (_, layer) = config_and_layer(&store, &image);
    let actual = Damage::Flip.apply(&store.blob_path(&layer.parse().unwrap()));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for kind in ["oci", "docker"] {
        let dest = out.join(format!("{kind}.tar"));
        let output = format!("type={kind},dest={}", dest.display());
        let stderr = failure(&build(&root, &["-q", "-t", "hello", "-o", &output, hello]));
        assert!(
            stderr.ends_with(&format!(
                "error: cannot write `hello:latest` to the archive: a blob of it is corrupt in the \
                 store\ncaused by: blob `{layer}` is corrupt: its content has digest `{actual}`\n"
            )),
            "{kind}: {stderr}"
        );
    }
    assert_eq!(tool("ls", &["-A", out.to_str().unwrap()]), "", "no archive");
}

// See: issue 13
#[test]
fn a_corrupt_layer_is_not_unpacked_silently() {
    use mkimage_core::layer::Compression;

    use crate::store::{config_and_layer, failure, image_with};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = mkimage_core::store::Store::open(&root).unwrap();
    // An uncompressed layer: a changed byte of a file unpacks without any error of its own.
    let app = image_with(&store, "original", Compression::Uncompressed);
    store.tag(&"app:1".parse().unwrap(), &app).unwrap();
    let (_, layer) = config_and_layer(&store, &app);
    let path = store.blob_path(&layer.parse().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(8).position(|w| w == b"original").unwrap();
    bytes[at] = b'O';
    std::fs::write(&path, &bytes).unwrap();
    let actual = mkimage_core::digest::sha256(&bytes);
    let cause = format!("blob `{layer}` is corrupt: its content has digest `{actual}`");

    let context = |dockerfile: &str| {
        let ctx = tempfile::tempdir_in(dir.path()).unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(ctx.path().join("file"), "x").unwrap();
        ctx
    };
    let out = dir.path().join("out");
    let local = format!("type=local,dest={}", out.display());
    for (dockerfile, args) in [
        ("FROM scratch\nCOPY --from=app:1 /greeting /g\n", vec![]),
        ("FROM app:1\nCOPY file /file\n", vec![]),
        ("FROM app:1\n", vec!["-o", local.as_str()]),
    ] {
        let ctx = context(dockerfile);
        let mut all = args.clone();
        all.push(ctx.path().to_str().unwrap());
        let stderr = failure(&build(&root, &all));
        assert!(stderr.contains(&cause), "{dockerfile}: {stderr}");
    }
}

// See: issue 17
#[test]
fn dest_dash_streams_to_standard_output_and_never_to_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("f"), "streamed\n").unwrap();
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    let ctx = context.to_str().unwrap();
    let to_file = |args: &[&str], name: &str| {
        let output = build(&root, &[args, &[ctx]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let path = dir.path().join(name);
        std::fs::write(&path, &output.stdout).unwrap();
        path
    };
    // A tar of the filesystem, for `-o -`, `type=tar` and `type=local`; nothing else.
    for (args, name) in [
        (&["-o", "-"][..], "dash.tar"),
        (&["-o", "type=tar,dest=-"][..], "tar.tar"),
        (&["-o", "type=local,dest=-"][..], "local.tar"),
    ] {
        let tar = to_file(args, name);
        let listed = tool("tar", &["-tf", tar.to_str().unwrap()]);
        assert_eq!(listed, "f\n", "{args:?}");
        let content = tool("tar", &["-xOf", tar.to_str().unwrap(), "f"]);
        assert_eq!(content, "streamed\n");
    }
    // The archive, for `oci` and `docker`.
    for kind in ["oci", "docker"] {
        let output = format!("type={kind},dest=-");
        let archive = to_file(&["-t", "streamed:1", "-o", &output], &format!("{kind}.tar"));
        let transport = if kind == "oci" {
            "oci-archive"
        } else {
            "docker-archive"
        };
        let inspect = skopeo_json(&[
            "inspect",
            "--config",
            &format!("{transport}:{}", archive.display()),
        ]);
        assert_eq!(inspect["history"][0]["created_by"], "COPY f /f # buildkit");
    }
    assert!(!Path::new(ctx).join("-").exists());
    assert!(!dir.path().join("-").exists());

    // A terminal on standard output is refused before anything is built (`script` gives
    // the command one).
    let command = format!(
        "{} --root {} build -o type=oci,dest=- {ctx}",
        env!("CARGO_BIN_EXE_mkimage"),
        root.display()
    );
    let script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` runs (Debian package bsdutils)");
    assert!(!script.status.success());
    let shown = String::from_utf8_lossy(&script.stdout);
    assert!(
        shown.contains(
            "error: dest file is required for the `oci` output: refusing to write to a terminal"
        ),
        "{shown}"
    );
    // Two outputs cannot share it.
    let output = build(&root, &["-o", "-", "-o", "type=oci,dest=-", ctx]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: only one output can go to standard output (`dest=-`)\n"
    );
}
