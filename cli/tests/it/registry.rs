//! `mkimage pull` against a real registry filled by skopeo.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mkimage_core::plan::Reference;
use mkimage_core::store::Store;

use crate::registry_server::{
    Auth, Cut, Fault, FlakyProxy, Registry, SilentServer, TokenProxy, skopeo, skopeo_digest,
};
use crate::store::{failure, image, mkimage, stdout};

/// Pushes an image made in a scratch store to `registry` as `name`; returns its digest.
fn push_image(registry: &Registry, name: &str) -> String {
    push_image_as(registry, name, "pulled", None)
}

/// Pushes an image with the file content `content`, made in a scratch store, to
/// `registry` as `name`, with the `user:password` credentials `creds` if given; returns
/// its digest.
fn push_image_as(registry: &Registry, name: &str, content: &str, creds: Option<&str>) -> String {
    let source_dir = tempfile::tempdir().expect("temp dir");
    let source = Store::open(source_dir.path()).expect("open store");
    let pushed = image(&source, content);
    let local: Reference = "it/source:1".parse().expect("a valid name");
    source.tag(&local, &pushed).expect("tag");
    let creds = creds.map(|creds| format!("--dest-creds={creds}"));
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    args.extend(creds.as_deref());
    let from = format!("oci:{}:{local}", source.root().display());
    let to = format!("docker://{}", registry.reference(name));
    args.extend([from.as_str(), to.as_str()]);
    skopeo(&args);
    pushed.digest().to_string()
}

#[test]
fn pull_prints_digest_status_and_name() {
    let registry = Registry::start();
    let digest = push_image(&registry, "it/app:1");
    assert_eq!(skopeo_digest(&registry.reference("it/app:1")), digest);
    let dir = tempfile::tempdir().expect("temp dir");
    let name = registry.reference("it/app:1");

    let out = stdout(&mkimage(dir.path(), &["pull", &name]));
    assert_eq!(
        out,
        format!("Digest: {digest}\nStatus: Downloaded newer image for {name}\n{name}\n")
    );
    let out = stdout(&mkimage(dir.path(), &["pull", &name]));
    assert_eq!(
        out,
        format!("Digest: {digest}\nStatus: Image is up to date for {name}\n{name}\n")
    );
    let out = stdout(&mkimage(dir.path(), &["images", "--no-trunc", "-q"]));
    assert_eq!(out, format!("{digest}\n"));

    let missing = registry.reference("it/app:2");
    let err = failure(&mkimage(dir.path(), &["pull", "-q", &missing]));
    assert_eq!(
        err,
        format!("error: manifest for `{missing}` not found: MANIFEST_UNKNOWN: manifest unknown\n")
    );
}

#[test]
fn push_prints_tag_and_digest_and_skopeo_sees_the_image() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let built = image(&store, "pushed");
    let name: Reference = "it/local:1".parse().expect("a valid name");
    store.tag(&name, &built).expect("tag");
    let digest = built.digest().to_string();

    let destination = registry.reference("it/app:7");
    let out = stdout(&mkimage(dir.path(), &["push", "it/local:1", &destination]));
    assert_eq!(out, format!("7: digest: {digest}\n"));
    assert_eq!(skopeo_digest(&destination), digest);

    let named = registry.reference("it/named:2");
    stdout(&mkimage(dir.path(), &["tag", "it/local:1", &named]));
    let out = stdout(&mkimage(dir.path(), &["push", "-q", &named]));
    assert_eq!(out, format!("{digest}\n"));
    assert_eq!(skopeo_digest(&named), digest);

    let err = failure(&mkimage(dir.path(), &["push", "it/missing:1", &named]));
    assert_eq!(err, "error: no such image `it/missing:1`\n");
}

/// Runs mkimage with `HOME` set to `home` and no other credential source.
fn mkimage_at_home(root: &Path, home: &Path, args: &[&str], stdin: &str) -> Output {
    mkimage_with(root, home, &[], args, stdin)
}

/// [`mkimage_at_home`] with the environment variables `env` set too.
fn mkimage_with(
    root: &Path,
    home: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("HOME", home)
        .envs(env.iter().copied())
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mkimage");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for mkimage")
}

#[test]
fn login_stores_credentials_that_pull_uses_and_logout_removes_them() {
    let registry = Registry::start_with(Auth::Htpasswd {
        user: "alice",
        password: "s3cret",
    });
    push_image_as(&registry, "it/private:1", "private", Some("alice:s3cret"));
    let name = registry.reference("it/private:1");
    let home = tempfile::tempdir().expect("temp dir");
    let root = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str], stdin: &str| mkimage_at_home(root.path(), home.path(), args, stdin);
    let host = registry.host();
    let config = home.path().join(".docker/config.json");

    let denied = format!(
        "error: access to `{}` denied: not found, or authentication required\n",
        registry.reference("it/private")
    );
    assert_eq!(failure(&run(&["pull", "-q", &name], "")), denied);

    let err = failure(&run(
        &["login", "-u", "alice", "--password-stdin", &host],
        "wrong\n",
    ));
    assert!(
        err.starts_with(&format!("error: access to `{host}` denied")),
        "{err}"
    );
    assert!(!config.exists());

    let out = stdout(&run(
        &["login", "-u", "alice", "--password-stdin", &host],
        "s3cret\n",
    ));
    assert_eq!(out, "Login Succeeded\n");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("config.json")).expect("JSON");
    assert_eq!(written["auths"][&host]["auth"], "YWxpY2U6czNjcmV0");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&config).expect("metadata").permissions(),
    );
    assert_eq!(mode & 0o077, 0, "only the owner reads the credentials");

    let out = stdout(&run(&["pull", "-q", &name], ""));
    assert_eq!(out, format!("{name}\n"));

    let out = stdout(&run(&["logout", &format!("http://{host}/v2/")], ""));
    assert_eq!(out, format!("Removing login credentials for {host}\n"));
    let err = failure(&run(&["logout", &host], ""));
    assert_eq!(err, format!("error: not logged in to `{host}`\n"));
    let fresh = tempfile::tempdir().expect("temp dir");
    let out = mkimage_at_home(fresh.path(), home.path(), &["pull", "-q", &name], "");
    assert_eq!(failure(&out), denied);

    // containers' auth file, named by REGISTRY_AUTH_FILE.
    let auth_file = home.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths":{{"{host}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#),
    )
    .expect("write auth.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg("--root")
        .arg(fresh.path())
        .args(["pull", "-q", &name])
        .env("HOME", home.path())
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .output()
        .expect("run mkimage");
    assert_eq!(stdout(&out), format!("{name}\n"));
}

/// `login -u '<token>'` takes the password as an OAuth identity token: it is checked
/// with the token service, stored as `identitytoken`, and traded for access tokens.
#[test]
fn login_with_an_identity_token_stores_it_as_docker_does() {
    let registry = Registry::start();
    push_image(&registry, "it/oauth:1");
    let proxy = TokenProxy::start(registry.host(), "bob", "refresh-me");
    let home = tempfile::tempdir().expect("temp dir");
    let root = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str], stdin: &str| mkimage_at_home(root.path(), home.path(), args, stdin);
    let host = proxy.host();
    let config = home.path().join(".docker/config.json");

    let err = failure(&run(
        &["login", "-u", "<token>", "--password-stdin", &host],
        "stale\n",
    ));
    assert_eq!(
        err,
        format!("error: the token service `http://{host}/token` answered HTTP 401\n")
    );
    assert!(!config.exists());

    let out = stdout(&run(
        &["login", "-u", "<token>", "--password-stdin", &host],
        "refresh-me\n",
    ));
    assert_eq!(out, "Login Succeeded\n");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("config.json")).expect("JSON");
    // `auth` is base64 of `<token>:`.
    assert_eq!(
        written["auths"][&host],
        serde_json::json!({ "auth": "PHRva2VuPjo=", "identitytoken": "refresh-me" })
    );
    let issued = proxy.issued.load(std::sync::atomic::Ordering::SeqCst);
    let name = format!("{host}/it/oauth:1");
    let out = stdout(&run(&["pull", "-q", &name], ""));
    assert_eq!(out, format!("{name}\n"));
    assert!(proxy.issued.load(std::sync::atomic::Ordering::SeqCst) > issued);
}

/// A stand-in for a `docker-credential-*` helper (the external program docker's protocol
/// defines): keeps one credential in a file beside itself and logs every call.
const FAKE_HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
input=$(cat)
printf '%s %s\n' "$1" "$input" >> "$dir/calls"
case "$1" in
  store) printf '%s' "$input" > "$dir/stored" ;;
  get|erase)
    if [ ! -f "$dir/stored" ]; then echo "credentials not found in native keychain"; exit 1; fi
    if [ "$1" = get ]; then cat "$dir/stored"; else rm "$dir/stored"; fi ;;
esac
"#;

#[test]
fn login_and_logout_go_through_the_credential_helper_docker_names() {
    use std::os::unix::fs::PermissionsExt as _;
    let registry = Registry::start_with(Auth::Htpasswd {
        user: "alice",
        password: "s3cret",
    });
    let host = registry.host();
    let name = registry.reference("it/helper:1");
    push_image_as(&registry, "it/helper:1", "helper", Some("alice:s3cret"));
    let bin = tempfile::tempdir().expect("temp dir");
    let helper = bin.path().join("docker-credential-mkfake");
    std::fs::write(&helper, FAKE_HELPER).expect("write helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().expect("temp dir");
    let config = home.path().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().expect("a parent")).expect("mkdir");
    let run = |root: &Path, args: &[&str], stdin: &str| {
        mkimage_with(root, home.path(), &[("PATH", &path)], args, stdin)
    };
    let root = tempfile::tempdir().expect("temp dir");

    for settings in [
        r#"{"credsStore":"mkfake"}"#.to_owned(),
        format!(r#"{{"credsStore":"absent","credHelpers":{{"{host}":"mkfake"}}}}"#),
    ] {
        std::fs::write(&config, &settings).expect("write config.json");
        let out = stdout(&run(
            root.path(),
            &["login", "-u", "alice", "--password-stdin", &host],
            "s3cret\n",
        ));
        assert_eq!(out, "Login Succeeded\n");
        let stored: serde_json::Value = serde_json::from_slice(
            &std::fs::read(bin.path().join("stored")).expect("the helper stored it"),
        )
        .expect("JSON");
        assert_eq!(
            stored,
            serde_json::json!({"ServerURL": host, "Username": "alice", "Secret": "s3cret"})
        );
        let kept = std::fs::read_to_string(&config).expect("config.json");
        assert_eq!(kept, settings, "the file holds no credential");

        let fresh = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            stdout(&run(fresh.path(), &["pull", "-q", &name], "")),
            format!("{name}\n")
        );

        let out = stdout(&run(root.path(), &["logout", &host], ""));
        assert_eq!(out, format!("Removing login credentials for {host}\n"));
        assert!(!bin.path().join("stored").exists(), "erased by the helper");
        let err = failure(&run(root.path(), &["logout", &host], ""));
        assert_eq!(err, format!("error: not logged in to `{host}`\n"));
    }
    let calls = std::fs::read_to_string(bin.path().join("calls")).expect("calls");
    let actions: Vec<&str> = calls.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        actions,
        [
            "store", "get", "erase", "erase", "store", "get", "erase", "erase"
        ]
    );
    assert!(
        calls.contains(&format!("erase {host}\n")),
        "erase gets the server: {calls}"
    );
}

#[test]
fn build_from_a_registry_image_and_push_the_result() {
    let registry = Registry::start();
    let base_digest = push_image(&registry, "it/base:1");
    let context = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}\nCOPY hello.txt /hello.txt\n",
            registry.reference("it/base:1")
        ),
    )
    .expect("write Dockerfile");
    std::fs::write(context.path().join("hello.txt"), "hello\n").expect("write hello.txt");
    let dir = tempfile::tempdir().expect("temp dir");
    let built = registry.reference("it/built:1");
    let out = registry.reference("it/out:1");
    let ctx = context.path().to_str().expect("UTF-8 path");
    let output = format!("type=registry,name={out}");
    let id = stdout(&mkimage(
        dir.path(),
        &["build", "-q", "-t", &built, "--push", "-o", &output, ctx],
    ));
    let id = id.trim_end();
    assert_eq!(skopeo_digest(&built), id);
    assert_eq!(skopeo_digest(&out), id);
    // The base was pulled into the store under its name.
    let store = Store::open(dir.path()).expect("open store");
    let base: Reference = registry
        .reference("it/base:1")
        .parse()
        .expect("a valid name");
    let found = store
        .resolve(&base)
        .expect("read index")
        .expect("the base is tagged");
    assert_eq!(found.digest().to_string(), base_digest);

    let empty = tempfile::tempdir().expect("temp dir");
    stdout(&mkimage(empty.path(), &["pull", "-q", &built]));
    let pulled = stdout(&mkimage(empty.path(), &["images", "-q", "--no-trunc"]));
    assert_eq!(pulled, format!("{id}\n"));

    let err = failure(&mkimage(dir.path(), &["build", "--push", ctx]));
    assert_eq!(err, "error: `--push` needs a name: give one with `--tag`\n");
}

// See: issue 13
#[test]
fn pull_from_a_registry_that_never_answers_fails_within_the_timeout() {
    let silent = SilentServer::start();
    let name = format!("{}/it/hung:1", silent.host());
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let args = ["pull", "--network-timeout", "2s", "--retry", "1", &name];
    let err = failure(&mkimage(dir.path(), &args));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(10),
        "two tries of 2s each took {elapsed:?}"
    );
    assert!(
        err.ends_with(&format!(
            "error: manifest `{name}` failed after 2 attempts\n\
             caused by: no answer within the first-byte timeout of 2s\n"
        )),
        "{err}"
    );
    // Plain progress (stderr is not a terminal) shows the wait and the retry.
    assert!(
        err.contains(&format!("waiting 1s for manifest `{name}`\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "retrying manifest `{name}` (2/2) in 500ms: no answer within the first-byte timeout of 2s\n"
        )),
        "{err}"
    );
}

// See: issue 13
#[test]
fn build_from_a_registry_that_never_answers_fails_at_its_from() {
    let silent = SilentServer::start();
    let name = format!("{}/it/hung:1", silent.host());
    let context = tempfile::tempdir().expect("temp dir");
    let dockerfile = format!("FROM {name}\nRUN true\n");
    std::fs::write(context.path().join("Dockerfile"), &dockerfile).expect("write Dockerfile");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp dir");
    let ctx = context.path().to_str().expect("UTF-8 path");
    let env = [("MKIMAGE_NETWORK_TIMEOUT", "2s"), ("MKIMAGE_RETRY", "0")];
    let started = Instant::now();
    let output = mkimage_with(
        dir.path(),
        home.path(),
        &env,
        &["build", "--progress=plain", ctx],
        "",
    );
    let elapsed = started.elapsed();
    let err = failure(&output);
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "one try of 2s took {elapsed:?}"
    );
    assert!(
        err.ends_with(&format!(
            "error: Dockerfile:1:1: failed to resolve the base image `{name}`: \
             manifest `{name}` failed after 1 attempt: \
             no answer within the first-byte timeout of 2s\n  |\n1 | FROM {name}\n  | ^\n"
        )),
        "{err}"
    );
    assert_eq!(silent.connections.load(Ordering::SeqCst), 1, "asked once");
}

// See: issue 13
#[test]
fn pull_retries_reset_connections_and_shows_the_retries() {
    let registry = Registry::start();
    let digest = push_image(&registry, "it/app:1");
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Reset, 2, |_| true, Cut::None);
    let name = format!("{}/it/app:1", proxy.host());
    let dir = tempfile::tempdir().expect("temp dir");

    let output = mkimage(dir.path(), &["pull", &name]);
    let out = stdout(&output);
    assert_eq!(
        out,
        format!("Digest: {digest}\nStatus: Downloaded newer image for {name}\n{name}\n")
    );
    let err = String::from_utf8(output.stderr).expect("UTF-8 output");
    let reset = "the connection failed: Connection reset by peer (os error 104)";
    assert_eq!(
        err,
        format!(
            "retrying manifest `{name}` (2/4) in 500ms: {reset}\n\
             retrying manifest `{name}` (3/4) in 1s: {reset}\n"
        )
    );
}

// See: issue 13
#[test]
fn a_terminal_shows_the_retries_above_the_bars() {
    let registry = Registry::start();
    push_image(&registry, "it/app:1");
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Unavailable, 1, |_| true, Cut::None);
    let name = format!("{}/it/app:1", proxy.host());
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_str().expect("UTF-8 path");
    // `script` runs mkimage on a new terminal and copies what it shows.
    let command = format!(
        "{} --root {root} pull {name}",
        env!("CARGO_BIN_EXE_mkimage")
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script: install the Debian package `bsdutils`");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains(&format!(
            "retrying manifest `{name}` (2/4) in 500ms: the server answered HTTP 503"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("Status: Downloaded newer image for {name}")),
        "{shown}"
    );
}

// See: issue 17
#[test]
fn image_outputs_name_the_build_in_the_store_and_push_it() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let context = dir.path().join("ctx");
    std::fs::create_dir(&context).expect("context");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nENV ONLY=config\n",
    )
    .expect("Dockerfile");
    let root = dir.path().join("store");
    let pushed = registry.reference("it/image-output:1");
    let image_output = format!("type=image,name={pushed},push=true");
    let id = stdout(&mkimage(
        &root,
        &[
            "build",
            "-q",
            "-o",
            "type=image,name=it/local:1",
            "-o",
            &image_output,
            context.to_str().expect("UTF-8 path"),
        ],
    ));
    let store = Store::open(&root).expect("open store");
    for name in ["it/local:1", pushed.as_str()] {
        let reference: Reference = name.parse().expect("a valid name");
        let named = store
            .resolve(&reference)
            .expect("the tags are readable")
            .expect("named in the store");
        assert_eq!(format!("{}\n", named.digest()), id, "{name}");
    }
    assert_eq!(format!("{}\n", skopeo_digest(&pushed)), id);
    let err = failure(&mkimage(
        &root,
        &[
            "build",
            "-o",
            "type=registry,name=it/x:1,oci-mediatypes=true",
            context.to_str().expect("UTF-8 path"),
        ],
    ));
    assert_eq!(
        err,
        "error: invalid output `type=registry,name=it/x:1,oci-mediatypes=true`: unknown \
         attribute `oci-mediatypes` for `type=registry` (it takes `name`)\n"
    );
}
