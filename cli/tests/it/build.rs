//! `mkimage build`, run as a user runs it, with the results checked by skopeo, umoci and
//! tar.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::testutil::run_checked;

use crate::store::mkimage;

/// The repository's `fixtures/` directory.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

/// Stdout of a build that must succeed.
pub(crate) use crate::store::stdout as ok;

/// Runs `mkimage --root ROOT build ARGS…`.
pub(crate) fn build(root: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    mkimage(root, &all)
}

/// Runs a tool that must succeed and returns its stdout.
pub(crate) fn tool(program: &str, args: &[&str]) -> String {
    // The Debian package of each tool, where it is not named for it.
    let package = match program {
        "find" => "findutils",
        "sh" => "dash",
        "chown" | "cp" | "touch" => "coreutils",
        other => other,
    };
    let output =
        run_checked(Command::new(program).args(args), package).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn hello_builds_and_other_tools_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let archive = dir.path().join("hello.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let context = fixture("hello");
    let first = build(
        &root,
        &["-t", "hello", "-o", &output, context.to_str().unwrap()],
    );
    let id = ok(&first);
    assert!(id.starts_with("sha256:") && id.ends_with('\n'), "{id}");
    let progress = String::from_utf8_lossy(&first.stderr);
    assert!(
        progress.contains("#4 [stage-0 4/7] COPY hello.txt ./\n#4 DONE"),
        "{progress}"
    );

    // skopeo reads the archive and sees the config.
    let archive_ref = format!("oci-archive:{}", archive.display());
    let inspect: serde_json::Value =
        serde_json::from_str(&tool("skopeo", &["inspect", &archive_ref])).unwrap();
    assert_eq!(inspect["Digest"], id.trim());
    assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "hello");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
    let env = inspect["Env"].as_array().unwrap();
    assert!(
        env.contains(&"GREETING=Hello from mkimage".into()),
        "{env:?}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&tool("skopeo", &["inspect", "--config", &archive_ref])).unwrap();
    assert_eq!(config["config"]["WorkingDir"], "/app");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/app/hello.txt"])
    );
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(
        history[1]["created_by"],
        "ENV GREETING=Hello from mkimage LANG=C.UTF-8"
    );
    assert_eq!(history[1]["empty_layer"], true);
    assert_eq!(history[3]["created_by"], "COPY hello.txt ./ # buildkit");
    assert_eq!(history[3]["comment"], "buildkit.dockerfile.v0");
    assert!(history[3].get("empty_layer").is_none());

    // umoci unpacks it to the files the Dockerfile means.
    let (layout, rootfs) = unpack(&archive, "hello", dir.path());
    assert_eq!(
        listing(&rootfs),
        [
            "app d 755 0:0",
            "app/docs d 755 0:0",
            "app/docs/README.md f 644 0:0 73",
            "app/hello.txt f 644 0:0 20",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        std::fs::read_to_string(context.join("hello.txt")).unwrap()
    );

    // The COPY layer holds the file and its directory, owned by root.
    let names: Vec<(String, String)> = layer_listing(&layout, 1)
        .into_iter()
        .map(|fields| (fields[1].clone(), fields[5].clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("0/0".into(), "app/".into()),
            ("0/0".into(), "app/hello.txt".into())
        ]
    );

    // A second build finds every step in the cache and makes the same image.
    let second = build(&root, &["-t", "hello", context.to_str().unwrap()]);
    assert_eq!(ok(&second), id);
    let progress = String::from_utf8_lossy(&second.stderr);
    assert_eq!(progress.matches("CACHED").count(), 7, "{progress}");
    assert!(!progress.contains("DONE"), "{progress}");
}

/// Extracts the OCI archive `archive` into `work/layout`, checks that its one image is
/// named `name` (tag `latest`, normalized as docker does) and unpacks it with umoci into `work/bundle`; returns the
/// layout and the rootfs.
pub(crate) fn unpack(archive: &Path, name: &str, work: &Path) -> (PathBuf, PathBuf) {
    let layout = work.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let full: mkimage_core::plan::Reference = name.parse().unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"],
        serde_json::json!({
            "io.containerd.image.name": full.to_string(),
            "org.opencontainers.image.ref.name": "latest",
        })
    );
    let bundle = work.join("bundle");
    // umoci finds an image by its `ref.name`, the tag.
    let image = format!("{}:latest", layout.display());
    tool(
        "umoci",
        &["unpack", "--image", &image, bundle.to_str().unwrap()],
    );
    (layout, bundle.join("rootfs"))
}

/// Builds `context` (with `args`) into an OCI archive, unpacks it with umoci and returns
/// the rootfs.
pub(crate) fn build_and_unpack(root: &Path, context: &Path, args: &[&str], work: &Path) -> PathBuf {
    std::fs::create_dir_all(work).unwrap();
    let archive = work.join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let mut all = vec!["-q", "-t", "it/image", "-o", &output];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    ok(&build(root, &all));
    unpack(&archive, "it/image", work).1
}

/// `skopeo ARGS…` (an `inspect`), its JSON output parsed.
pub(crate) fn skopeo_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&tool("skopeo", args)).unwrap()
}

/// The `tar -tvz` listing of layer `index` of the image `latest` in the OCI layout
/// `layout`, each line split into its fields.
pub(crate) fn layer_listing(layout: &Path, index: usize) -> Vec<Vec<String>> {
    let manifest = skopeo_json(&[
        "inspect",
        "--raw",
        &format!("oci:{}:latest", layout.display()),
    ]);
    let layer = manifest["layers"][index]["digest"].as_str().unwrap();
    let blob = layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    tool("tar", &["-tvzf", blob.to_str().unwrap()])
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Every path under `rootfs`, sorted, as `PATH TYPE MODE UID:GID SIZE` (no size for
/// directories, whose size depends on the file system).
pub(crate) fn listing(rootfs: &Path) -> Vec<String> {
    found(rootfs, "%P %y %m %U:%G %s\n", |line| {
        if line.contains(" d ") {
            line.rsplit_once(' ').unwrap().0.to_owned()
        } else {
            line.to_owned()
        }
    })
}

/// Every path under `rootfs`, as `find -printf format` prints it and `shape` reshapes it,
/// sorted.
pub(crate) fn found(rootfs: &Path, format: &str, shape: impl Fn(&str) -> String) -> Vec<String> {
    let found = tool(
        "find",
        &[
            rootfs.to_str().unwrap(),
            "-mindepth",
            "1",
            "-printf",
            format,
        ],
    );
    let mut lines: Vec<String> = found.lines().map(shape).collect();
    lines.sort_unstable();
    lines
}

#[test]
fn a_changed_build_arg_misses_from_its_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nARG V=1\nCOPY a.txt /\nLABEL v=$V\nCMD [\"/a\"]\n",
    )
    .unwrap();
    let states = |args: &[&str]| -> Vec<bool> {
        let mut all = args.to_vec();
        all.push(context.to_str().unwrap());
        let output = build(&root, &all);
        ok(&output);
        let progress = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<&str> = progress.lines().collect();
        lines
            .iter()
            .filter(|line| line.contains(" DONE ") || line.ends_with(" CACHED"))
            .map(|line| line.ends_with(" CACHED"))
            .collect()
    };
    assert_eq!(states(&[]), [false, false, false]);
    assert_eq!(states(&[]), [true, true, true]);
    // The ARG is declared before the COPY but first used by the LABEL.
    assert_eq!(states(&["--build-arg", "V=2"]), [true, false, false]);
    assert_eq!(states(&["--build-arg", "V=2"]), [true, true, true]);
    assert_eq!(states(&["--no-cache"]), [false, false, false]);
}

/// `--progress plain` (and `auto` on a pipe) prints one line per event; `--progress tty` on
/// a terminal (a pseudo-terminal made by `script`) redraws a line per step and ends it with
/// the step's status on the same line.
#[test]
fn progress_is_plain_on_a_pipe_and_redrawn_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = fixture("hello");
    let context = context.to_str().unwrap();

    let plain = build(&root, &["--progress", "plain", context]);
    ok(&plain);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("#1 [stage-0 1/"), "{stderr}");
    assert!(stderr.contains("#1 DONE "), "{stderr}");
    let auto = build(&root, &[context]);
    ok(&auto);
    assert!(String::from_utf8_lossy(&auto.stderr).contains("#1 CACHED"));

    let command = format!(
        "{} --root {} build --progress tty --no-cache {context}",
        env!("CARGO_BIN_EXE_mkimage"),
        root.display()
    );
    // `script` (util-linux) runs the command on a pseudo-terminal and copies what it
    // printed there to its stdout.
    let tty = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("`script` (util-linux) runs the build on a terminal");
    assert!(tty.status.success(), "{tty:?}");
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(screen.contains("COPY hello.txt ./ DONE "), "{screen}");
    assert!(screen.contains('\u{1b}'), "no redraw: {screen}");
    assert!(
        !screen.contains("#1 DONE"),
        "plain lines on a terminal: {screen}"
    );
}

/// `--no-cache-filter STAGE` runs that stage's steps again and leaves the others cached.
#[test]
fn no_cache_filter_rebuilds_only_the_stages_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("a"), "a\n").unwrap();
    std::fs::write(context.join("b"), "b\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch AS one\nCOPY a /a\n\nFROM scratch\nCOPY b /b\nCOPY --from=one /a /a2\n",
    )
    .unwrap();
    let metadata = dir.path().join("metadata.json");
    let steps = |extra: &[&str]| -> Vec<(String, bool)> {
        let mut args = vec!["--metadata-file", metadata.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(context.to_str().unwrap());
        ok(&build(&root, &args));
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
        let mut steps: Vec<(String, bool)> = doc["cache"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let text = s["step"].as_str().unwrap().to_string();
                (text, s["cached"].as_bool().unwrap())
            })
            .collect();
        steps.sort();
        steps
    };
    assert!(steps(&[]).iter().all(|(_, cached)| !cached));
    let rebuilt = steps(&["--no-cache-filter", "ONE"]);
    let stage_one: Vec<bool> = rebuilt
        .iter()
        .filter(|(text, _)| text.starts_with("[one "))
        .map(|(_, cached)| *cached)
        .collect();
    assert_eq!(stage_one, [false], "{rebuilt:?}");
    let others: Vec<bool> = rebuilt
        .iter()
        .filter(|(text, _)| !text.starts_with("[one "))
        .map(|(_, cached)| *cached)
        .collect();
    assert_eq!(others, [true, true], "{rebuilt:?}");
}

/// A step rebuilt after one file changed says how much of its layer it took, compressed,
/// from its last build.
#[test]
fn progress_tells_what_a_rebuilt_layer_reused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    // 4 MiB of incompressible files: many chunks, only the changed one is compressed again.
    for i in 0..256 {
        std::fs::write(
            context.join(format!("f{i:03}")),
            mkimage_core::testutil::noise(16 * 1024, i),
        )
        .unwrap();
    }
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY . /app\n").unwrap();
    let context = context.to_str().unwrap();
    let first = build(&root, &["--progress", "plain", context]);
    ok(&first);
    assert!(!String::from_utf8_lossy(&first.stderr).contains("reused"));

    std::fs::write(dir.path().join("ctx/f000"), "changed\n").unwrap();
    let second = build(&root, &["--progress", "plain", context]);
    ok(&second);
    let stderr = String::from_utf8_lossy(&second.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains("reused the compressed form of "))
        .unwrap_or_else(|| panic!("no reuse reported: {stderr}"));
    // Most of the 4.2 MB tar comes from the first build.
    assert!(line.ends_with("MB from the last build"), "{line}");
}

#[test]
fn chmod_applies_to_hard_links_too() {
    // A hard link's tar header carries the mode as well; unpackers that read it (or
    // compare headers) must see the same mode as the file it links to.
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(context.join("d")).unwrap();
    std::fs::write(context.join("d/a"), "a\n").unwrap();
    std::fs::hard_link(context.join("d/a"), context.join("d/b")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY --chmod=700 d /d/\n",
    )
    .unwrap();
    let archive = dir.path().join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    ok(&build(
        &dir.path().join("store"),
        &["-t", "links", "-o", &output, context.to_str().unwrap()],
    ));
    let (layout, _) = unpack(&archive, "links", dir.path());
    let modes: Vec<(String, String)> = layer_listing(&layout, 0)
        .into_iter()
        .map(|fields| (fields[0].clone(), fields[5].clone()))
        .collect();
    assert_eq!(
        modes,
        [
            ("drwxr-xr-x".to_owned(), "d/".to_owned()),
            ("-rwx------".into(), "d/a".into()),
            ("hrwx------".into(), "d/b".into())
        ]
    );
}

#[test]
fn build_args_no_arg_declares_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "ARG GLOBAL\nFROM scratch\nARG USED=x\nLABEL used=$USED\n",
    )
    .unwrap();
    let output = build(
        &dir.path().join("store"),
        &[
            "--build-arg",
            "USED=1",
            "--build-arg",
            "GLOBAL=1",
            "--build-arg",
            "TYPO=2",
            "--build-arg",
            "http_proxy=http://proxy",
            dir.path().to_str().unwrap(),
        ],
    );
    warns_of_typo_only(&output);

    // An `ARG` that a base's `ONBUILD` trigger declares consumes its value too.
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nONBUILD ARG TRIGGERED\nONBUILD LABEL t=$TRIGGERED\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    ok(&build(
        &store,
        &["-q", "-t", "base:1", dir.path().to_str().unwrap()],
    ));
    std::fs::write(dir.path().join("Dockerfile"), "FROM base:1\n").unwrap();
    let output = build(
        &store,
        &[
            "--build-arg",
            "TRIGGERED=yes",
            "--build-arg",
            "TYPO=2",
            dir.path().to_str().unwrap(),
        ],
    );
    warns_of_typo_only(&output);
}

/// Asserts that the build succeeded and warned that no ARG declares `TYPO` (only).
fn warns_of_typo_only(output: &Output) {
    ok(output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: build arguments that no ARG of Dockerfile declares: TYPO\n"),
        "{stderr}"
    );
}
