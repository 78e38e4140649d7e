//! `mkimage build` inside a default, unprivileged `podman run --rm` (no `--privileged`,
//! podman's default capabilities and seccomp profile), as CI runners on Kubernetes run
//! it: as root and as another user, `FROM` the test's own registry, with `COPY`, `RUN`
//! steps under `MKIMAGE_ISOLATION=chroot`, a push, and a registry cache exported and
//! imported. The image holds the built `mkimage` binary, the shared libraries `ldd` lists
//! and busybox; podman gets its own storage and configuration in a temporary directory.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::plan::Reference;
use mkimage_core::store::Store;
use mkimage_core::testutil::{busybox_image, busybox_rootfs, run_checked};

use crate::build::{skopeo_json, tool};
use crate::registry_server::{Registry, skopeo};

/// The name of the image the test makes and runs.
const IMAGE: &str = "localhost/mkimage-it:chroot";

/// podman with a private storage and configuration.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// Writes podman's configuration: the `runc` runtime (crun cannot run on this
    /// host's hybrid cgroups) and default limits the caller can grant (podman's defaults
    /// exceed the hard limits of an unprivileged sandbox), storage in the directory.
    fn new() -> Podman {
        let dir = tempfile::tempdir().unwrap();
        let nofile = tool("sh", &["-c", "ulimit -Hn"]);
        let nofile = nofile.trim();
        fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \
                 \"nproc=32768:32768\"]\n[engine]\nruntime = \"runc\"\n"
            ),
        )
        .unwrap();
        fs::write(
            dir.path().join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        Podman { dir }
    }

    /// `podman ARGS…` with this configuration.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .args(args);
        command
    }

    /// Imports the directory `rootfs` as [`IMAGE`].
    fn import(&self, rootfs: &Path) {
        let tar = self.dir.path().join("rootfs.tar");
        tool(
            "tar",
            &[
                "-C",
                rootfs.to_str().unwrap(),
                "-cf",
                tar.to_str().unwrap(),
                ".",
            ],
        );
        run_checked(
            &mut self.command(&["import", tar.to_str().unwrap(), IMAGE]),
            "podman",
        )
        .unwrap();
    }

    /// Runs `script` with `sh -c` in a default container of [`IMAGE`] as `user`, on the
    /// host's network, with the context `ctx` mounted read-only at `/ctx`, and with the
    /// podman options `extra`.
    fn run(&self, user: &str, ctx: &Path, script: &str, extra: &[&str]) -> Output {
        let volume = format!("{}:/ctx:ro", ctx.display());
        let mut command = self.command(&["run"]);
        command.args(extra).args([
            "--rm",
            "--network",
            "host",
            "--user",
            user,
            "--env",
            "HOME=/tmp",
            "--env",
            "MKIMAGE_ISOLATION=chroot",
            "--volume",
            &volume,
            IMAGE,
            "/bin/sh",
            "-c",
            script,
        ]);
        command
            .output()
            .expect("run podman: install the Debian package `podman`")
    }

    /// podman's default seccomp profile without `unshare`, as Docker's default profile
    /// refuses it to a container without `CAP_SYS_ADMIN`: no namespace can be made.
    fn profile_without_unshare(&self) -> PathBuf {
        let default = "/usr/share/containers/seccomp.json";
        let text = fs::read_to_string(default).unwrap_or_else(|e| {
            panic!("`{default}`: {e}: install the Debian package `containers-common`")
        });
        let mut profile: serde_json::Value = serde_json::from_str(&text).unwrap();
        for rule in profile["syscalls"].as_array_mut().unwrap() {
            if let Some(names) = rule["names"].as_array_mut() {
                names.retain(|name| name != "unshare");
            }
        }
        let path = self.dir.path().join("no-unshare.json");
        fs::write(&path, profile.to_string()).unwrap();
        path
    }
}

/// A root filesystem with busybox, the `mkimage` binary (its debug information
/// stripped) and the libraries it links, in `dir`.
fn mkimage_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    busybox_rootfs(&rootfs).unwrap();
    let binary = rootfs.join("bin/mkimage");
    fs::copy(env!("CARGO_BIN_EXE_mkimage"), &binary).unwrap();
    run_checked(
        Command::new("strip").args(["--strip-debug", binary.to_str().unwrap()]),
        "binutils",
    )
    .unwrap();
    let libraries = tool("ldd", &[binary.to_str().unwrap()]);
    for library in libraries
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
    {
        let inside = rootfs.join(library.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::copy(library, &inside).unwrap();
    }
    rootfs
}

/// Pushes the busybox image to `registry` as `it/base:1`.
fn push_base(registry: &Registry) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    busybox_image(&store, "busybox:test").unwrap();
    let name: Reference = "busybox:test".parse().unwrap();
    let from = format!("oci:{}:{name}", store.root().display());
    let to = format!("docker://{}", registry.reference("it/base:1"));
    skopeo(&["copy", "--dest-tls-verify=false", &from, &to]);
}

/// A context readable by any user: a Dockerfile `FROM` the registry's base and a file.
fn context(dir: &Path, registry: &Registry) -> PathBuf {
    let ctx = dir.join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY hello.txt /hello.txt\nENV WHO=ci\nWORKDIR /app\n\
             RUN echo \"hello $WHO\" > greeting && cat /hello.txt >> greeting && id -u > uid \
             && ls /dev > devs && mkdir -p /var/x && echo y > /var/x/f\n\
             RUN rm /hello.txt\n",
            registry.reference("it/base:1")
        ),
    )
    .unwrap();
    fs::write(
        ctx.join("Dockerfile.user"),
        format!(
            "FROM {}\nUSER app\nRUN id -u > /tmp/app-uid && touch /tmp/by-app\n",
            registry.reference("it/base:1")
        ),
    )
    .unwrap();
    fs::write(
        ctx.join("Dockerfile.mounts"),
        format!(
            "FROM {}\nRUN mkdir -p /var/cache/c && echo image > /var/cache/c/own\n\
             RUN --mount=type=tmpfs,target=/t --mount=type=bind,source=hello.txt,target=/h \
             --mount=type=cache,id=c,target=/var/cache/c --mount=type=secret,id=s,target=/s \
             touch /t/x && cat /h /s | tr '\\n' ' ' > /got && ls /var/cache/c > /listed \
             && echo n >> /var/cache/c/count\n\
             RUN --mount=type=cache,id=c,target=/var/cache/c wc -l < /var/cache/c/count > /count\n",
            registry.reference("it/base:1")
        ),
    )
    .unwrap();
    fs::write(ctx.join("hello.txt"), "from the context\n").unwrap();
    for path in [&ctx, &dir.to_path_buf()] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    ctx
}

/// The script a container runs as `name`: build, push and export the cache; build again
/// in an empty store from the imported cache; then ask for the namespace sandbox.
fn script(registry: &Registry, name: &str) -> String {
    let host = registry.host();
    let image = registry.reference(&format!("it/ci:{name}"));
    let cache = registry.reference(&format!("it/cache:{name}"));
    format!(
        "set -e\nexec 2>&1\n\
         I='--insecure-registry {host}'\n\
         /bin/mkimage --root /tmp/a build $I --progress plain -t {image} --push \
           --cache-to type=registry,ref={cache},mode=max /ctx\n\
         echo '=== imported'\n\
         /bin/mkimage --root /tmp/b build $I --progress plain --cache-from type=registry,ref={cache} /ctx\n\
         echo '=== oci'\n\
         /bin/mkimage --root /tmp/a build $I --isolation oci --network none --no-cache --progress plain /ctx || echo '=== refused'\n"
    )
}

/// Asserts that `output` succeeded; returns its stdout and stderr together.
fn succeeded(output: &Output, who: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the container as {who} failed:\n{text}"
    );
    text
}

/// Checks what the container as `who` pushed: config, and files through umoci.
fn check_pushed(registry: &Registry, name: &str, dir: &Path, output: &str) {
    let image = registry.reference(&format!("it/ci:{name}"));
    let docker = format!("docker://{image}");
    let config = skopeo_json(&["inspect", "--tls-verify=false", "--config", &docker]);
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| var.as_str().unwrap())
        .collect();
    assert!(env.contains(&"WHO=ci"), "{env:?}");
    assert_eq!(config["config"]["WorkingDir"], "/app");
    let layout = dir.join(format!("layout-{name}"));
    let oci = format!("oci:{}:it", layout.display());
    skopeo(&["copy", "--src-tls-verify=false", &docker, &oci]);
    let bundle = dir.join(format!("bundle-{name}"));
    run_checked(
        Command::new("umoci").args([
            "unpack",
            "--image",
            &format!("{}:it", layout.display()),
            bundle.to_str().unwrap(),
        ]),
        "umoci",
    )
    .unwrap();
    let rootfs = bundle.join("rootfs");
    let read = |path: &str| fs::read_to_string(rootfs.join(path)).unwrap();
    assert_eq!(
        read("app/greeting"),
        "hello ci\nfrom the context\n",
        "{output}"
    );
    assert_eq!(read("app/uid"), "0\n");
    assert_eq!(read("var/x/f"), "y\n");
    assert!(read("app/devs").lines().any(|line| line == "null"));
    assert!(!rootfs.join("hello.txt").exists(), "the RUN's deletion");
    assert!(!rootfs.join("etc/resolv.conf").exists());
    assert!(!rootfs.join("dev/null").exists());

    // The second build, in an empty store, took both RUN steps from the pushed cache.
    let (_, imported) = output.split_once("=== imported").unwrap();
    let (imported, refused) = imported.split_once("=== oci").unwrap();
    let cached = imported
        .lines()
        .filter(|line| line.contains(" CACHED (from "));
    assert_eq!(cached.count(), 5, "{imported}");
    // The namespace sandbox is refused there, and says what to use instead.
    assert!(refused.contains("=== refused"), "{refused}");
    assert!(refused.contains("`--isolation=chroot`"), "{refused}");
}

#[test]
fn builds_in_an_unprivileged_podman_container_as_root_and_as_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    push_base(&registry);
    let ctx = context(dir.path(), &registry);
    let podman = Podman::new();
    podman.import(&mkimage_rootfs(dir.path()));

    let root_script = format!(
        "{}\n/bin/mkimage --root /tmp/a build --insecure-registry {} --progress plain \
         -f /ctx/Dockerfile.user -o type=tar,dest=/tmp/user.tar /ctx\n\
         echo \"=== app $(tar -xOf /tmp/user.tar tmp/app-uid) $(tar -tvf /tmp/user.tar tmp/by-app)\"\n",
        script(&registry, "root"),
        registry.host()
    );
    let output = succeeded(&podman.run("0:0", &ctx, &root_script, &[]), "root");
    check_pushed(&registry, "root", dir.path(), &output);
    // A step of another user, whose files it owns, as root of the container.
    let app = output
        .lines()
        .find(|line| line.starts_with("=== app "))
        .unwrap();
    assert!(app.starts_with("=== app 1000 "), "{app}");
    assert!(
        app.contains(" 1000/1000 ") || app.contains(" app/app "),
        "{app}"
    );

    let output = succeeded(
        &podman.run("1000:1000", &ctx, &script(&registry, "user"), &[]),
        "1000",
    );
    check_pushed(&registry, "user", dir.path(), &output);

    // Where no namespace can be made, root still builds, without any mount: device nodes
    // are made in the tree and `RUN --mount`s copied in, all removed after the step.
    let profile = podman.profile_without_unshare();
    let seccomp = format!("seccomp={}", profile.display());
    let plain = format!(
        "set -e\nexec 2>&1\nI='--insecure-registry {}'\necho s3 > /tmp/s\n\
         /bin/mkimage --root /tmp/a build $I --progress plain -o type=local,dest=/tmp/out /ctx\n\
         cat /tmp/out/app/greeting /tmp/out/app/devs\n\
         /bin/mkimage --root /tmp/a build $I --progress plain --secret id=s,src=/tmp/s \
           -f /ctx/Dockerfile.mounts -o type=local,dest=/tmp/m /ctx\n\
         cd /tmp/m && echo \"=== got $(cat got) listed [$(cat listed)] count $(cat count) \
           own $(cat var/cache/c/own)\"\n\
         ls -a / /tmp/m /tmp/m/var/cache/c | tr '\\n' ' '\n",
        registry.host(),
    );
    let output = succeeded(
        &podman.run("0:0", &ctx, &plain, &["--security-opt", &seccomp]),
        "root without namespaces",
    );
    assert!(output.contains("hello ci\nfrom the context\n"), "{output}");
    assert!(output.contains("\nnull\n"), "{output}");
    // The mounts' content reached the steps: the bind, the secret, a cache hiding the
    // image's directory and kept across steps.
    assert!(
        output.contains("=== got from the context s3  listed [] count 1 own image\n"),
        "{output}"
    );
    // None of it, nor the tmpfs, reached the image.
    let listing = output.lines().last().unwrap();
    let (_, built) = listing.split_once("/tmp/m:").unwrap();
    let (root, cache) = built.split_once("/tmp/m/var/cache/c:").unwrap();
    for name in ["t", "h", "s"] {
        assert!(!root.split(' ').any(|entry| entry == name), "{listing}");
    }
    assert_eq!(
        cache.split_whitespace().collect::<Vec<_>>(),
        [".", "..", "own"]
    );
}
