//! `RUN` in `mkimage build`: real sandboxes over a busybox image made in code, results
//! checked with skopeo, tar and podman.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::store::Store;
use mkimage_core::testutil::{SubidUser, busybox_image, run_checked};

use crate::build::{skopeo_json, tool};

/// A store holding `busybox:test`, and a build context with `dockerfile`.
pub(crate) struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) fn new(dockerfile: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        busybox_image(&store, "busybox:test").unwrap();
        fs::create_dir(dir.path().join("ctx")).unwrap();
        fs::write(dir.path().join("ctx/Dockerfile"), dockerfile).unwrap();
        Setup { dir }
    }

    pub(crate) fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `mkimage --root STORE build ARGS… CTX`, to run.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mkimage"));
        command
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .arg("--root")
            .arg(self.path("store"))
            .arg("build")
            .args(args)
            .arg(self.path("ctx"));
        command
    }

    /// Runs `mkimage --root STORE build ARGS… CTX`.
    pub(crate) fn build(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run mkimage")
    }
}

pub(crate) fn ok(output: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "mkimage build failed: {stderr}");
    (String::from_utf8(output.stdout.clone()).unwrap(), stderr)
}

const DOCKERFILE: &str = r#"FROM busybox:test
ARG GREETING=hello
ENV WHO=world
WORKDIR /app
RUN echo "$GREETING $WHO" > greeting && rm /etc/group && id -u > uid
USER app
RUN id -u > /tmp/app-uid && echo "output $((6*7))"
RUN true
CMD ["cat", "/app/greeting"]
"#;

#[test]
fn run_steps_make_layers_and_are_cached() {
    let setup = Setup::new(DOCKERFILE);
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    let (id, progress) = ok(&setup.build(&["-t", "app", "-o", &local]));
    assert!(progress.contains("output 42"), "{progress}");
    assert_eq!(
        fs::read_to_string(rootfs.join("app/greeting")).unwrap(),
        "hello world\n"
    );
    assert_eq!(fs::read_to_string(rootfs.join("app/uid")).unwrap(), "0\n");
    assert_eq!(
        fs::read_to_string(rootfs.join("tmp/app-uid")).unwrap(),
        "1000\n"
    );
    assert!(!rootfs.join("etc/group").exists());
    assert!(!rootfs.join("etc/resolv.conf").exists());
    assert!(!rootfs.join("etc/hosts").exists());

    // Base, WORKDIR, two RUN layers; `RUN true` changes nothing.
    let archive = setup.path("app.tar");
    let oci = format!("type=oci,dest={}", archive.display());
    let (again, progress) = ok(&setup.build(&["-t", "app", "-o", &oci]));
    assert_eq!(again, id, "the same build again gives the same image");
    assert!(
        !progress.contains("output 42"),
        "every step is cached: {progress}"
    );
    let inspect: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", archive.display())],
    ))
    .unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 4, "{inspect}");

    // A build argument used by a RUN changes its key, and so the steps after it.
    let (changed, _) = ok(&setup.build(&["--build-arg", "GREETING=hi", "-o", &local]));
    assert_ne!(changed, id);
    assert_eq!(
        fs::read_to_string(rootfs.join("app/greeting")).unwrap(),
        "hi world\n"
    );
}

#[test]
fn env_and_args_reach_run_in_the_order_they_were_set() {
    // An `ENV` hides an earlier `ARG` of the same name; a later `ARG` with a value
    // replaces the variable for the `RUN`s after it, but not in the image config.
    let setup = Setup::new(
        "FROM busybox:test\nARG A=first\nENV A=env\nRUN echo $A > /1\nARG A=second\n\
         RUN echo $A > /2\nARG A\nRUN echo $A > /3\nENV B=$A\n",
    );
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    ok(&setup.build(&["-t", "env", "-o", &local]));
    let read = |name: &str| fs::read_to_string(rootfs.join(name)).unwrap();
    assert_eq!(
        [read("1"), read("2"), read("3")],
        ["env\n", "second\n", "second\n"]
    );
    let archive = setup.path("env.tar");
    ok(&setup.build(&["-o", &format!("type=oci,dest={}", archive.display())]));
    let config = skopeo_json(&[
        "inspect",
        "--config",
        &format!("oci-archive:{}", archive.display()),
    ]);
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| var.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"A=env") && env.contains(&"B=second"),
        "{env:?}"
    );
}

#[test]
fn network_and_add_host_reach_run_steps() {
    let setup = Setup::new(
        "FROM busybox:test\nRUN grep -w db /etc/hosts > /hosts; tail -n +3 /proc/net/dev | wc -l > /links\n\
         RUN --network=host tail -n +3 /proc/net/dev | wc -l > /host-links\n",
    );
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    let build = |host: &str| {
        ok(&setup.build(&[
            "--network",
            "none",
            "--allow",
            "network.host",
            "--add-host",
            host,
            "-o",
            &local,
        ]));
        let read = |name: &str| fs::read_to_string(rootfs.join(name)).unwrap();
        (
            read("hosts"),
            read("links").trim().to_owned(),
            read("host-links"),
        )
    };
    let (hosts, links, host_links) = build("db:10.1.2.3");
    assert_eq!(hosts, "10.1.2.3\tdb\n");
    assert_eq!(links, "1", "only loopback without a network");
    let host_links: usize = host_links.trim().parse().unwrap();
    assert!(host_links > 1, "a step's own --network wins: {host_links}");
    // Another address is another key.
    assert_eq!(build("db=10.9.9.9").0, "10.9.9.9\tdb\n");
}

#[test]
fn insecure_steps_need_the_entitlement() {
    let setup = Setup::new(
        "FROM busybox:test\nRUN grep CapEff /proc/self/status > /normal\n\
         RUN --security=insecure grep CapEff /proc/self/status > /insecure\n",
    );
    // Refused before any step runs, as BuildKit refuses it.
    let output = setup.build(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: Dockerfile:3:1: `RUN --security=insecure grep CapEff /proc/self/status > \
             /insecure` asks for all capabilities, which needs the `security.insecure` \
             entitlement (`--allow security.insecure`)\n"
        ),
        "{stderr}"
    );
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    ok(&setup.build(&["--allow", "security.insecure", "-o", &local]));
    let caps = |name: &str| {
        let text = fs::read_to_string(rootfs.join(name)).unwrap();
        u64::from_str_radix(text.trim().trim_start_matches("CapEff:").trim(), 16).unwrap()
    };
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(caps("normal") & CAP_SYS_ADMIN, 0);
    assert_eq!(caps("insecure") & caps("normal"), caps("normal"));
    assert_ne!(caps("insecure") & CAP_SYS_ADMIN, 0);
}

#[test]
fn the_runc_runtime_builds_the_same_image() {
    let setup = Setup::new(DOCKERFILE);
    let (native, _) = ok(&setup.build(&["--build-arg", "SOURCE_DATE_EPOCH=0"]));
    let (runc, _) = ok(&setup.build(&[
        "--build-arg",
        "SOURCE_DATE_EPOCH=0",
        "--no-cache",
        "--runtime",
        "runc",
    ]));
    assert_eq!(runc, native);
}

#[test]
fn a_failing_run_names_the_line_code_and_output() {
    let setup = Setup::new("FROM busybox:test\n\nRUN echo first; echo oops >&2; exit 3\n");
    let output = setup.build(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exited with code 3; its last output:\n  first\n  oops"),
        "{stderr}"
    );
    assert!(stderr.contains(":3:1"), "the line of the step: {stderr}");
}

// See: issue 4 (a RUN step's key covers what its bind mounts read).
#[test]
fn a_bind_mounted_context_file_is_part_of_the_key() {
    let setup = Setup::new(
        "FROM busybox:test\nRUN --mount=type=bind,source=data.txt,target=/data.txt cp /data.txt /copy\n",
    );
    let data = setup.path("ctx/data.txt");
    let rootfs = setup.path("rootfs");
    let local = format!("type=local,dest={}", rootfs.display());
    fs::write(&data, "one\n").unwrap();
    let (first, _) = ok(&setup.build(&["-o", &local]));
    assert_eq!(fs::read_to_string(rootfs.join("copy")).unwrap(), "one\n");
    let (same, progress) = ok(&setup.build(&[]));
    assert_eq!(same, first);
    assert!(progress.contains("#2 CACHED"), "{progress}");
    fs::write(&data, "two\n").unwrap();
    let (changed, _) = ok(&setup.build(&["-o", &local]));
    assert_ne!(changed, first);
    assert_eq!(fs::read_to_string(rootfs.join("copy")).unwrap(), "two\n");
}

#[test]
fn secrets_reach_the_step_but_not_the_image() {
    let setup = Setup::new(
        "FROM busybox:test\n\
         RUN --mount=type=secret,id=token cat /run/secrets/token > /copied && \
         ls /run/secrets > /listing\n",
    );
    fs::write(setup.path("token.txt"), "s3cr3t").unwrap();
    let rootfs = setup.path("rootfs");
    let secret = format!("id=token,src={}", setup.path("token.txt").display());
    let local = format!("type=local,dest={}", rootfs.display());
    ok(&setup.build(&["--secret", &secret, "-o", &local]));
    assert_eq!(fs::read_to_string(rootfs.join("copied")).unwrap(), "s3cr3t");
    assert!(!rootfs.join("run").exists(), "no mount point in the image");
    let store = setup.path("store");
    let found = Command::new("grep")
        .args(["-r", "-l", "s3cr3t"])
        .arg(store.join("records"))
        .output()
        .expect("grep (Debian package `grep`)");
    assert!(found.stdout.is_empty(), "the secret is in no cache record");
    // 1: grep read the records and found nothing (2 would be an error, such as no records).
    assert_eq!(found.status.code(), Some(1), "{found:?}");
}

#[test]
fn podman_runs_the_built_image() {
    let setup = Setup::new(DOCKERFILE);
    let archive = setup.path("app.tar");
    let oci = format!("type=oci,dest={}", archive.display());
    ok(&setup.build(&["-t", "localhost/run-test:1", "-o", &oci]));
    let podman = Podman::new(setup.dir.path());
    podman.run(&["load", "-i", archive.to_str().unwrap()]);
    let out = podman.run(&["run", "--rm", "--network", "none", "localhost/run-test:1"]);
    assert_eq!(out, "hello world\n");
}

/// `podman` with its own storage and a `containers.conf` for this host: runc, and
/// ulimits the sandbox may set.
struct Podman {
    root: std::path::PathBuf,
}

impl Podman {
    fn new(dir: &Path) -> Podman {
        let root = dir.join("podman");
        fs::create_dir_all(&root).unwrap();
        let nofile = tool("sh", &["-c", "ulimit -Hn"]).trim().to_owned();
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc=32768:32768\"]\n\
             netns = \"host\"\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n"
        );
        fs::write(root.join("containers.conf"), conf).unwrap();
        Podman { root }
    }

    fn run(&self, args: &[&str]) -> String {
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", self.root.join("containers.conf"))
            .arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        let output = run_checked(&mut command, "podman").unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(output.stdout).unwrap()
    }
}

/// The uid and gid the rootless test runs as (`nobody`).
const NOBODY: u32 = 65534;

/// Lays out a rootless build in `dir`: a busybox base context `base/`, `ctx/Dockerfile`
/// holding `dockerfile`, and a copy of the binary, all handed to `owner` (`uid:gid`) so
/// the unprivileged user can run it; returns the base context and the binary.
fn rootless_workspace(dir: &Path, dockerfile: &str, owner: &str) -> (PathBuf, PathBuf) {
    let base = dir.join("base");
    mkimage_core::testutil::busybox_rootfs(&base.join("rootfs")).unwrap();
    fs::write(base.join("Dockerfile"), "FROM scratch\nCOPY rootfs/ /\n").unwrap();
    fs::create_dir(dir.join("ctx")).unwrap();
    fs::write(dir.join("ctx/Dockerfile"), dockerfile).unwrap();
    let binary = dir.join("mkimage");
    fs::copy(env!("CARGO_BIN_EXE_mkimage"), &binary).unwrap();
    tool("chown", &["-R", owner, dir.to_str().unwrap()]);
    (base, binary)
}

#[test]
fn run_works_rootless() {
    // Needs root to hand the files to `nobody`, and unprivileged user namespaces.
    let dir = tempfile::tempdir().unwrap();
    let (base, binary) = rootless_workspace(
        dir.path(),
        "FROM base\nRUN echo hi > /hello && rm /etc/group && id -u\n",
        "65534:65534",
    );
    let mkimage = |args: &[&str]| {
        let output = Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(&binary)
            .arg("--root")
            .arg(dir.path().join("store"))
            .args(args)
            .env("HOME", dir.path())
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .output()
            .expect("setpriv (Debian package `util-linux`)");
        ok(&output)
    };
    mkimage(&["build", "-q", "-t", "base", base.to_str().unwrap()]);
    let out = dir.path().join("out");
    let local = format!("type=local,dest={}", out.display());
    let archive = dir.path().join("app.tar");
    let oci = format!("type=oci,dest={}", archive.display());
    // Not a test of the network: rootless, the default one needs /dev/net/tun to be open to
    // the user (`exec::helper_rootless` covers it).
    let (_, progress) = mkimage(&[
        "build",
        "--network",
        "none",
        "-o",
        &local,
        "-o",
        &oci,
        dir.path().join("ctx").to_str().unwrap(),
    ]);
    // See: issue 5. The caller's files are root's in the layer, as in the sandbox.
    let mut owners = last_layer_owners(&archive, &dir.path().join("oci"));
    owners.sort();
    assert_eq!(owners, ["0/0 etc/", "0/0 etc/.wh.group", "0/0 hello"]);
    assert!(
        progress.contains("#2 0\n"),
        "root in the user namespace: {progress}"
    );
    assert_eq!(fs::read_to_string(out.join("hello")).unwrap(), "hi\n");
    assert!(!out.join("etc/group").exists());
    assert!(out.join("etc/passwd").exists());
    let temps = fs::read_dir(dir.path().join("store/tmp")).unwrap().count();
    assert_eq!(temps, 0, "no scratch directory is left");
}

/// The entries of the last layer of the OCI archive `archive` as `uid/gid path`.
fn last_layer_owners(archive: &Path, dir: &Path) -> Vec<String> {
    fs::create_dir_all(dir).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
    let blob = |digest: &str| dir.join("blobs/sha256").join(&digest["sha256:".len()..]);
    let json = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    };
    let index = json(dir.join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let layers = manifest["layers"].as_array().unwrap();
    let layer = blob(layers.last().unwrap()["digest"].as_str().unwrap());
    tool(
        "tar",
        &["--numeric-owner", "-tvzf", layer.to_str().unwrap()],
    )
    .lines()
    .map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        format!("{} {}", fields[1], fields[5])
    })
    .collect()
}

/// The entries of `/tmp` owned by `uid`.
fn temps_of(uid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            (entry.metadata().ok()?.uid() == uid)
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

// See: issue 5
#[test]
fn run_works_rootless_with_subordinate_ids() {
    // Needs root to add the user, and unprivileged user namespaces.
    let user = SubidUser::add().unwrap();
    let dir = tempfile::tempdir().unwrap();
    if !user.can_unshare() {
        // Skipped only on request: CI must not pass without the test having run.
        assert!(
            std::env::var_os("MKIMAGE_TEST_SKIP_USERNS").is_some(),
            "unprivileged user namespaces are disabled here (set MKIMAGE_TEST_SKIP_USERNS=1 to skip)"
        );
        return;
    }
    let (base, binary) = rootless_workspace(
        dir.path(),
        "FROM base\n\
         RUN stat -c 'owned %u:%g' /owned /owned/file\n\
         RUN sed -i 's/^app:/bob:/' /etc/passwd /etc/group && mkdir -p /home/bob/x && chown -R bob /home/bob && chmod 700 /home/bob/x \
             && touch /f && chown 1000:1000 /f && mkdir /d && chown 2000:3000 /d \
             && stat -c '%u:%g' /f\n\
         USER bob\n\
         RUN touch /home/bob/ok /home/bob/x/ok && stat -c 'home %u' /home/bob \
             && stat -c 'below %u:%g' /f /d && id -u\n\
         RUN --mount=type=cache,target=/c,uid=1000,gid=1000 touch /c/mine \
             && stat -c 'cache %u:%g' /c /c/mine\n",
        &format!("{}:{}", user.uid, user.gid),
    );
    // A base layer with files of uid 1000.
    fs::create_dir(base.join("owned")).unwrap();
    fs::write(base.join("owned/file"), "x").unwrap();
    fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nCOPY --chown=1000:1000 owned /owned\n",
    )
    .unwrap();
    tool(
        "chown",
        &[
            "-R",
            &format!("{}:{}", user.uid, user.gid),
            base.to_str().unwrap(),
        ],
    );
    let mkimage_output = |args: &[&str]| {
        user.command(&binary)
            .arg("--root")
            .arg(dir.path().join("store"))
            .args(args)
            .env("HOME", dir.path())
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .output()
            .unwrap()
    };
    let mkimage = |args: &[&str]| ok(&mkimage_output(args));
    let temps_before = temps_of(user.uid);
    mkimage(&["build", "-q", "-t", "base", base.to_str().unwrap()]);
    let archive = dir.path().join("app.tar");
    let oci = format!("type=oci,dest={}", archive.display());
    let started = std::time::Instant::now();
    // Not a test of the network, as in `run_works_rootless`.
    let (_, progress) = mkimage(&[
        "build",
        "--network",
        "none",
        "--progress",
        "plain",
        "-t",
        "app",
        "-o",
        &oci,
        dir.path().join("ctx").to_str().unwrap(),
    ]);
    eprintln!("rootless build: {:?}", started.elapsed());
    // See: issue 5. Every file shows the owner its layer records.
    for line in [
        "owned 1000:1000\n",
        "1000:1000\n",
        "home 1000\n",
        "below 1000:1000\n",
        "below 2000:3000\n",
        "cache 1000:1000\n",
    ] {
        assert!(progress.contains(line), "{line:?} in {progress}");
    }
    assert!(
        progress.contains("#5 1000\n"),
        "USER bob runs as 1000: {progress}"
    );
    assert!(
        !progress.contains("show as root's"),
        "owners are kept: {progress}"
    );

    // The cache mount step changes nothing: the last layer is bob's.
    let mut owners = last_layer_owners(&archive, &dir.path().join("oci"));
    owners.sort();
    assert_eq!(
        owners,
        [
            "0/0 home/",
            "1000/0 home/bob/",
            "1000/0 home/bob/x/",
            "1000/1000 home/bob/ok",
            "1000/1000 home/bob/x/ok"
        ]
    );
    let layers_dir = dir.path().join("oci");
    let listing = |back: usize| {
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(layers_dir.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(
            &fs::read(
                layers_dir
                    .join("blobs/sha256")
                    .join(&digest["sha256:".len()..]),
            )
            .unwrap(),
        )
        .unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        let blob = &layers[layers.len() - 1 - back]["digest"].as_str().unwrap()["sha256:".len()..];
        tool(
            "tar",
            &[
                "--numeric-owner",
                "-tvzf",
                layers_dir.join("blobs/sha256").join(blob).to_str().unwrap(),
            ],
        )
    };
    let has = |listing: &str, expected: &str| {
        let (owner, path) = expected.split_once(' ').unwrap();
        assert!(
            listing
                .lines()
                .any(|line| line.split_whitespace().nth(1) == Some(owner)
                    && line.ends_with(&format!(" {path}"))),
            "{expected} in {listing}"
        );
    };
    let first = listing(1);
    for expected in [
        "1000/1000 f",
        "2000/3000 d/",
        "1000/0 home/bob/",
        "1000/0 home/bob/x/",
    ] {
        has(&first, expected);
    }

    // A failing step leaves nothing its users own behind.
    fs::write(
        dir.path().join("ctx/Dockerfile"),
        "FROM app\nUSER root\nRUN mkdir -p /q/r && touch /q/r/f && chown -R 1000:1000 /q \
         && chmod 500 /q/r && false\n",
    )
    .unwrap();
    let failed = mkimage_output(&[
        "build",
        "--network",
        "none",
        dir.path().join("ctx").to_str().unwrap(),
    ]);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("exited with code 1"),
        "{failed:?}"
    );
    let store_temps: Vec<_> = fs::read_dir(dir.path().join("store/tmp"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        store_temps.is_empty(),
        "no scratch directory is left: {store_temps:?}"
    );
    assert_eq!(temps_of(user.uid), temps_before, "nothing is left in /tmp");

    // The user's own prune removes the unpacked layers, files of the sandbox's users.
    let rootfs = dir.path().join("store/data/rootfs/3");
    let unpacked = |rootfs: &Path| -> usize {
        fs::read_dir(rootfs)
            .unwrap()
            .map(|ns| fs::read_dir(ns.unwrap().path()).unwrap().count())
            .sum()
    };
    assert!(unpacked(&rootfs) > 0);
    mkimage(&["rmi", "app", "base"]);
    mkimage(&["prune", "--keep-storage", "0"]);
    assert_eq!(unpacked(&rootfs), 0, "unpacked layers are pruned");
}

// See: issue 17
#[test]
fn run_history_is_in_buildkits_words() {
    let setup = Setup::new(
        "FROM busybox:test\n\
         ARG A=1\n\
         ARG C=three\n\
         RUN --network=none echo \"$A\" > /a\n\
         RUN <<EOF\n\
         echo one > /one\n\
         echo two > /two\n\
         EOF\n\
         RUN <<EOF sh\n\
         echo three > /three\n\
         EOF\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         RUN [\"touch\", \"/exec\"]\n\
         RUN true\n",
    );
    let archive = setup.path("app.tar");
    let oci = format!("type=oci,dest={}", archive.display());
    ok(&setup.build(&["--build-arg", "C=3", "-o", &oci]));
    let config = skopeo_json(&[
        "inspect",
        "--config",
        &format!("oci-archive:{}", archive.display()),
    ]);
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        &history[history.len() - 6..],
        [
            "RUN |2 A=1 C=3 /bin/sh -c echo \"$A\" > /a # buildkit",
            "RUN |2 A=1 C=3 /bin/sh -c echo one > /one\necho two > /two\n # buildkit",
            "RUN |2 A=1 C=3 /bin/sh -c <<EOF sh\necho three > /three\nEOF # buildkit",
            "SHELL [/bin/sh -ec]",
            "RUN |2 A=1 C=3 touch /exec # buildkit",
            "RUN |2 A=1 C=3 /bin/sh -ec true # buildkit",
        ]
    );
}
