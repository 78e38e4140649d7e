//! `--cache-to`/`--cache-from` (issue 15): three empty stores play three CI runners
//! sharing the build cache through a real registry with Basic auth, or a directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::digest::sha256;
use mkimage_core::plan::Reference;
use mkimage_core::store::Store;
use mkimage_core::testutil::busybox_image;

use crate::registry_server::{Auth, Registry, skopeo};
use crate::run::ok;

/// `alice:s3cret` in base64, as auth files hold it.
const ALICE: &str = "YWxpY2U6czNjcmV0";

/// A build with a base from the registry, a stage only `mode=max` exports, a `RUN`
/// before the `COPY` of the context and one after it.
fn dockerfile(base: &str) -> String {
    format!(
        "FROM {base} AS tool\n\
         RUN echo tool > /tool.txt\n\
         FROM {base}\n\
         ENV GREETING=hi\n\
         RUN echo one > /one.txt\n\
         COPY app /app\n\
         COPY --from=tool /tool.txt /tool.txt\n\
         RUN cat /app/a.txt /one.txt /tool.txt > /all.txt\n"
    )
}

/// A registry with Basic auth holding busybox, an auth file for it, and a context.
struct Fleet {
    registry: Registry,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new() -> Fleet {
        let registry = Registry::start_with(Auth::Htpasswd {
            user: "alice",
            password: "s3cret",
        });
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("seed")).unwrap();
        busybox_image(&store, "it/busybox:1").unwrap();
        let local: Reference = "it/busybox:1".parse().unwrap();
        let from = format!("oci:{}:{local}", store.root().display());
        let to = format!("docker://{}", registry.reference("it/busybox:1"));
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds=alice:s3cret",
            &from,
            &to,
        ]);
        let auth = format!(
            r#"{{"auths":{{"{}":{{"auth":"{ALICE}"}}}}}}"#,
            registry.host()
        );
        fs::write(dir.path().join("auth.json"), auth).unwrap();
        fs::create_dir_all(dir.path().join("ctx/app")).unwrap();
        fs::write(dir.path().join("ctx/app/a.txt"), "a\n").unwrap();
        fs::write(dir.path().join("ctx/app/b.txt"), "b\n").unwrap();
        let base = registry.reference("it/busybox:1");
        fs::write(dir.path().join("ctx/Dockerfile"), dockerfile(&base)).unwrap();
        Fleet { registry, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `mkimage --root <runner> build ARGS… ctx`, as a CI runner named `runner`, with
    /// the auth file and quick retries, and without the default provenance a push
    /// attaches (it would make the pushed image an index, and its id the index's).
    fn build(&self, runner: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .arg("--root")
            .arg(self.path(runner))
            .args(["build", "--retry", "0", "--progress", "plain"])
            .arg("--metadata-file")
            .arg(self.path(&format!("{runner}.json")))
            .args(args)
            .arg(self.path("ctx"))
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"))
            .env_remove("DOCKER_CONFIG")
            .output()
            .expect("run mkimage")
    }

    /// Whether each step of the runner's last build was cached, from its metadata file.
    fn cached(&self, runner: &str) -> Vec<(String, bool)> {
        let text = fs::read(self.path(&format!("{runner}.json"))).unwrap();
        let metadata: serde_json::Value = serde_json::from_slice(&text).unwrap();
        metadata["cache"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| {
                let text = step["step"].as_str().unwrap();
                let instruction = text.split_once("] ").unwrap().1.to_owned();
                (instruction, step["cached"].as_bool().unwrap())
            })
            .collect()
    }
}

/// The steps of [`dockerfile`] after the `FROM`s, each with `cached`.
fn steps(cached: [bool; 6]) -> Vec<(String, bool)> {
    [
        "RUN echo tool > /tool.txt",
        "ENV GREETING=hi",
        "RUN echo one > /one.txt",
        "COPY app /app",
        "COPY --from=tool /tool.txt /tool.txt",
        "RUN cat /app/a.txt /one.txt /tool.txt > /all.txt",
    ]
    .into_iter()
    .zip(cached)
    .map(|(step, cached)| (step.to_owned(), cached))
    .collect()
}

/// The lines of `stderr` that say a step came from the cache `source`.
fn imported_lines(stderr: &str, source: &str) -> usize {
    let suffix = format!(" CACHED (from {source})");
    stderr
        .lines()
        .filter(|line| line.ends_with(&suffix))
        .count()
}

// See: issue 15
#[test]
fn three_runners_share_every_step_through_a_registry() {
    let fleet = Fleet::new();
    let cache = fleet.registry.reference("it/cache:main");
    let to = format!("type=registry,ref={cache},mode=max");
    let from = format!("type=registry,ref={cache}");

    let (id_a, _) = ok(&fleet.build("a", &["--cache-to", &to]));
    assert_eq!(fleet.cached("a"), steps([false; 6]));

    // The artifact, read by an independent tool.
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:s3cret",
        "--raw",
        &format!("docker://{cache}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.mkimage.cache.config.v1+json"
    );
    // Six records, five with a layer (`RUN echo tool` and `COPY --from=tool` may
    // write the same one), each layer among the manifest's.
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap())
        .collect();
    let config_hex = &manifest["config"]["digest"].as_str().unwrap()[7..];
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(fleet.registry.blob_file(config_hex)).unwrap()).unwrap();
    let records = config["records"].as_object().unwrap();
    assert_eq!(records.len(), 6);
    let named: Vec<&str> = records
        .values()
        .filter_map(|record| record["layer"]["digest"].as_str())
        .collect();
    assert_eq!(named.len(), 5);
    assert!(
        named.iter().all(|digest| layers.contains(digest)),
        "{config}"
    );

    let (id_b, stderr) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert_eq!(id_b, id_a);
    assert_eq!(fleet.cached("b"), steps([true; 6]));
    assert_eq!(imported_lines(&stderr, &cache), 6, "{stderr}");

    fs::write(fleet.path("ctx/app/a.txt"), "changed\n").unwrap();
    let (id_c, stderr) = ok(&fleet.build("c", &["--cache-from", &from]));
    assert_ne!(id_c, id_a);
    assert_eq!(
        fleet.cached("c"),
        steps([true, true, true, false, false, false])
    );
    assert_eq!(imported_lines(&stderr, &cache), 3, "{stderr}");
    assert_eq!(
        top_file(&fleet.path("c"), &id_c, "all.txt"),
        "changed\none\ntool\n"
    );
}

/// The file `name` of the top layer of the image `id` in the store at `root`, read by
/// GNU tar.
fn top_file(root: &Path, id: &str, name: &str) -> String {
    let store = Store::open(root).unwrap();
    let image = store.find_image(id.trim()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(image.digest()).unwrap()).unwrap();
    let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let out = Command::new("tar")
        .arg("-xzOf")
        .arg(store.blob_path(&top))
        .arg(name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// See: issue 15
#[test]
fn a_cache_directory_gives_an_empty_store_the_same_image() {
    let fleet = Fleet::new();
    let dir = fleet.path("cache-dir");
    let to = format!("type=local,dest={}", dir.display());
    let (id_a, _) = ok(&fleet.build("a", &["--cache-to", &to]));
    // `mode=min`: the `tool` stage is not in the image, so its step is not exported.
    let from = format!("type=local,src={}", dir.display());
    let (id_b, _) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert_eq!(id_b, id_a);
    assert_eq!(
        fleet.cached("b"),
        steps([false, true, true, true, true, true])
    );
    // A second export writes no blob again and names the new manifest only.
    ok(&fleet.build("b", &["--cache-to", &to]));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
}

/// A copy of the cache directory `from` at `to`, through `cp -a` (an independent tool).
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Rewrites the cache directory `dir` so that its manifest's config is `config`.
fn replace_config(dir: &Path, config: &[u8]) {
    let blob = |digest: &str| dir.join("blobs/sha256").join(&digest[7..]);
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let config_digest = sha256(config).to_string();
    fs::write(blob(&config_digest), config).unwrap();
    manifest["config"]["digest"] = config_digest.into();
    manifest["config"]["size"] = config.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&bytes).to_string();
    fs::write(blob(&digest), &bytes).unwrap();
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = bytes.len().into();
    fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

// See: issue 15
#[test]
fn a_corrupt_cache_is_a_warning_and_a_miss_and_touches_nothing_outside_the_store() {
    let fleet = Fleet::new();
    let good = fleet.path("good");
    ok(&fleet.build(
        "a",
        &["--cache-to", &format!("type=local,dest={}", good.display())],
    ));
    let canary = fleet.path("canary.txt");
    fs::write(&canary, "canary\n").unwrap();
    let empty = fleet.path("empty");
    fs::create_dir(&empty).unwrap();

    // Bad JSON with the right digest: the whole artifact is left out.
    let bad_json = fleet.path("bad-json");
    copy_dir(&good, &bad_json);
    replace_config(&bad_json, b"{\"schema\":1,");
    let from = format!("type=local,src={}", bad_json.display());
    let (_, stderr) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert!(
        stderr.contains(&format!(
            "cache `{}` not used: `{}` is not a cache this mkimage reads: the cache config is not valid: ",
            bad_json.display(),
            bad_json.display()
        )),
        "{stderr}"
    );
    assert_eq!(fleet.cached("b"), steps([false; 6]));

    // A cache of keys another mkimage derives: left out, saying so.
    let other_keys = fleet.path("other-keys");
    copy_dir(&good, &other_keys);
    let config = serde_json::json!({"schema": 1, "keyVersion": "mkimage-cache-v9", "records": {}});
    replace_config(&other_keys, config.to_string().as_bytes());
    let from = format!("type=local,src={}", other_keys.display());
    let (_, stderr) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert!(
        stderr.contains(
            "the cache was written with schema 1 and keys `mkimage-cache-v9`; this mkimage reads schema 1 and keys `mkimage-cache-v2`"
        ),
        "{stderr}"
    );

    // A layer whose bytes are not its digest's, and one that is a symlink to the
    // canary: those steps miss, the others hit.
    let bad_layer = fleet.path("bad-layer");
    copy_dir(&good, &bad_layer);
    let manifest_of = |dir: &Path| -> serde_json::Value {
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
        serde_json::from_slice(&fs::read(dir.join("blobs/sha256").join(&digest[7..])).unwrap())
            .unwrap()
    };
    let layers = manifest_of(&bad_layer)["layers"]
        .as_array()
        .unwrap()
        .clone();
    let hex = |i: usize| layers[i]["digest"].as_str().unwrap()[7..].to_owned();
    let blobs = bad_layer.join("blobs/sha256");
    let holding = |name: &str| {
        (0..layers.len())
            .find(|&i| {
                let out = Command::new("tar")
                    .arg("-tzf")
                    .arg(blobs.join(hex(i)))
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l == name)
            })
            .expect("a layer holding the file")
    };
    let one = holding("one.txt");
    fs::write(blobs.join(hex(one)), b"not the layer").unwrap();
    // `COPY app` writes the same layer again when it runs, which the export then
    // puts in place of the symlink.
    let other = holding("app/a.txt");
    fs::remove_file(blobs.join(hex(other))).unwrap();
    std::os::unix::fs::symlink("../../../empty", blobs.join(hex(other))).unwrap();
    // And the export must not write through a symlink it finds in the directory.
    fs::remove_file(bad_layer.join("oci-layout")).unwrap();
    std::os::unix::fs::symlink(&canary, bad_layer.join("oci-layout")).unwrap();
    let from = format!("type=local,src={}", bad_layer.display());
    let to = format!("type=local,dest={}", bad_layer.display());
    let (_, stderr) = ok(&fleet.build("c", &["--cache-from", &from, "--cache-to", &to]));
    let warnings = stderr.lines().filter(|l| l.contains("not used:")).count();
    assert_eq!(warnings, 2, "{stderr}");
    // `mode=min` left the `tool` stage out; the two broken layers' steps run.
    assert_eq!(
        fleet.cached("c"),
        steps([false, true, false, false, true, true])
    );

    assert_eq!(fs::read_to_string(&canary).unwrap(), "canary\n");
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
    // The export replaced the symlink with its file.
    let layout = bad_layer.join("oci-layout");
    assert!(!fs::symlink_metadata(&layout).unwrap().is_symlink());
    assert_eq!(
        fs::read_to_string(layout).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
}

// See: issue 15
#[test]
fn an_unreachable_cache_registry_is_a_warning_unless_exporting_must_succeed() {
    let fleet = Fleet::new();
    let mut down = Registry::start();
    let cache = down.reference("it/cache:main");
    down.stop();

    let from = format!("type=registry,ref={cache}");
    let (id, stderr) = ok(&fleet.build("a", &["--cache-from", &from]));
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(&format!("cache `{cache}` not used: ")))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");

    let to = format!("type=registry,ref={cache},ignore-error=true");
    let (again, stderr) = ok(&fleet.build("a", &["--cache-to", &to]));
    assert_eq!(again, id);
    assert!(
        stderr.contains(&format!("cache not exported to `{cache}`: ")),
        "{stderr}"
    );

    let to = format!("type=registry,ref={cache}");
    let failed = fleet.build("a", &["--cache-to", &to]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!(
            "error: the image `{}` was built, but its cache could not be exported",
            id.trim()
        )),
        "{stderr}"
    );
    // The image is in the store all the same.
    let store = Store::open(fleet.path("a")).unwrap();
    store.find_image(id.trim()).unwrap();
}

/// The layer digests of the manifest `reference` names, read by skopeo.
fn manifest_layers(reference: &str) -> Vec<String> {
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:s3cret",
        "--raw",
        &format!("docker://{reference}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap().to_owned())
        .collect()
}

// See: issue 15
#[test]
fn a_cached_build_pushed_beside_its_cache_downloads_no_cache_layer() {
    let fleet = Fleet::new();
    let cache = fleet.registry.reference("it/cache:main");
    let to = format!("type=registry,ref={cache},mode=max");
    let (id_a, _) = ok(&fleet.build("a", &["--cache-to", &to]));
    let cache_layers = manifest_layers(&cache);
    let base_layers = manifest_layers(&fleet.registry.reference("it/busybox:1"));

    let from = format!("type=registry,ref={cache}");
    let app = fleet.registry.reference("it/app:1");
    let before = fleet.registry.blob_gets().len();
    let (id_b, _) = ok(&fleet.build("b", &["--cache-from", &from, "-t", &app, "--push"]));
    assert_eq!(id_b, id_a);
    assert_eq!(fleet.cached("b"), steps([true; 6]));
    // The base's layers are pulled with it; no layer of the cache is downloaded.
    let gets = fleet.registry.blob_gets()[before..].to_vec();
    assert!(
        gets.iter().all(|digest| !cache_layers.contains(digest)),
        "{gets:?} of {cache_layers:?}"
    );
    let store = Store::open(fleet.path("b")).unwrap();
    let pushed = manifest_layers(&app);
    let lazy: Vec<&String> = pushed
        .iter()
        .filter(|digest| !base_layers.contains(digest))
        .collect();
    assert_eq!(lazy.len(), 4, "{pushed:?}");
    for digest in &lazy {
        assert!(cache_layers.contains(digest));
        assert!(!store.has_blob(&digest.parse().unwrap()));
    }

    // An output that needs the bytes fetches them, verified; umoci checks the archive.
    let work = fleet.path("work");
    fs::create_dir(&work).unwrap();
    let archive = work.join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    // umoci opens the archive's image by its tag, `latest`.
    let latest = fleet.registry.reference("it/app");
    let (id_again, _) = ok(&fleet.build("b", &["-t", &latest, "-o", &output]));
    assert_eq!(id_again, id_a);
    let gets = fleet.registry.blob_gets()[before..].to_vec();
    for digest in &lazy {
        assert_eq!(
            gets.iter().filter(|get| get == digest).count(),
            1,
            "{gets:?}"
        );
        assert!(store.has_blob(&digest.parse().unwrap()));
    }
    let (_, rootfs) = crate::build::unpack(&archive, &latest, &work);
    assert_eq!(
        fs::read_to_string(rootfs.join("all.txt")).unwrap(),
        "a\none\ntool\n"
    );
}

/// The digest of the layer among `layers` (blob files, by digest) whose tar holds `name`,
/// listed by GNU tar.
fn layer_holding(layers: &[(String, PathBuf)], name: &str) -> String {
    layers
        .iter()
        .find(|(_, file)| {
            let out = Command::new("tar").arg("-tzf").arg(file).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line == name)
        })
        .map(|(digest, _)| digest.clone())
        .expect("a layer holding the file")
}

/// Makes the records of `config` whose layer is `digest` claim another `diffId`; returns
/// the `diffId` claimed before.
fn poison(config: &mut serde_json::Value, digest: &str) -> String {
    let mut claimed = None;
    for record in config["records"].as_object_mut().unwrap().values_mut() {
        if record["layer"]["digest"] == digest {
            claimed = Some(record["layer"]["diffId"].as_str().unwrap().to_owned());
            record["layer"]["diffId"] = sha256(b"another layer").to_string().into();
        }
    }
    claimed.expect("a record of the layer")
}

impl Fleet {
    /// Sends `bytes` to the registry as alice with curl (an independent client): `PUT`
    /// to `path` after `POST`ing an upload when `upload`; returns the status.
    fn curl_put(&self, path: &str, content_type: &str, bytes: &[u8]) -> String {
        let file = self.path("upload.bin");
        fs::write(&file, bytes).unwrap();
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-u",
                "alice:s3cret",
            ])
            .args(["-X", "PUT", "-H", &format!("Content-Type: {content_type}")])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(path)
            .output()
            .expect("run curl: install the Debian package `curl`");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Puts `config` as the config of a copy of the artifact `manifest` at `repo:tag`.
    fn put_artifact(&self, repo: &str, tag: &str, manifest: &serde_json::Value, config: &[u8]) {
        let host = self.registry.host();
        let out = Command::new("curl")
            .args([
                "-s",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-u",
                "alice:s3cret",
                "-X",
                "POST",
            ])
            .arg(format!("http://{host}/v2/{repo}/blobs/uploads/"))
            .output()
            .unwrap();
        let headers = String::from_utf8(out.stdout).unwrap();
        let location = headers
            .lines()
            .find_map(|line| line.strip_prefix("Location: "))
            .expect("an upload location")
            .trim()
            .to_owned();
        let digest = sha256(config).to_string();
        let put = format!("{location}&digest={digest}");
        assert_eq!(
            self.curl_put(&put, "application/octet-stream", config),
            "201"
        );
        let mut manifest = manifest.clone();
        manifest["config"]["digest"] = digest.into();
        manifest["config"]["size"] = config.len().into();
        let url = format!("http://{host}/v2/{repo}/manifests/{tag}");
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(self.curl_put(&url, media_type, &bytes), "201");
    }
}

// See: issue 15
#[test]
fn a_lazy_layer_that_is_not_what_its_record_claims_fails_once_then_misses() {
    let fleet = Fleet::new();
    let cache = fleet.registry.reference("it/cache:main");
    ok(&fleet.build(
        "a",
        &["--cache-to", &format!("type=registry,ref={cache},mode=max")],
    ));
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:s3cret",
        "--raw",
        &format!("docker://{cache}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let blob = |digest: &str| fleet.registry.blob_file(&digest[7..]);
    let layers: Vec<(String, PathBuf)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().unwrap().to_owned();
            let file = blob(&digest);
            (digest, file)
        })
        .collect();
    let one = layer_holding(&layers, "one.txt");
    let mut config: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let real = poison(&mut config, &one);
    fleet.put_artifact(
        "it/cache",
        "poisoned",
        &manifest,
        config.to_string().as_bytes(),
    );

    // `RUN cat` runs over the layer of `RUN echo one`, taken lazily: fetching it finds
    // that it is not what the record claims, and fails the build, saying so.
    fs::write(fleet.path("ctx/app/a.txt"), "changed\n").unwrap();
    let poisoned = fleet.registry.reference("it/cache:poisoned");
    let from = format!("type=registry,ref={poisoned}");
    let failed = fleet.build("b", &["--cache-from", &from]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let expected = format!(
        "the layer `{one}` of the cache `{poisoned}` uncompresses to `{real}`, not to the `{}` its record claims",
        sha256(b"another layer")
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        !Store::open(fleet.path("b"))
            .unwrap()
            .has_blob(&one.parse().unwrap()),
        "the refused layer is removed"
    );

    // Built again, the step misses, with a warning, and runs.
    let (id, stderr) = ok(&fleet.build("b", &["--cache-from", &from]));
    let refused = format!(
        "cache `{poisoned}`: layer `{one}` not used: the layer `{one}` was refused before: "
    );
    assert!(stderr.contains(&refused), "{stderr}");
    assert_eq!(
        fleet.cached("b"),
        steps([true, true, false, false, false, false])
    );
    assert_eq!(
        top_file(&fleet.path("b"), &id, "all.txt"),
        "changed\none\ntool\n"
    );
}

// See: issue 15
#[test]
fn a_layer_of_a_cache_directory_that_is_not_what_its_record_claims_is_a_miss() {
    let fleet = Fleet::new();
    let dir = fleet.path("cache-dir");
    ok(&fleet.build(
        "a",
        &["--cache-to", &format!("type=local,dest={}", dir.display())],
    ));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let blob = |digest: &str| dir.join("blobs/sha256").join(&digest[7..]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let layers: Vec<(String, PathBuf)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().unwrap().to_owned();
            let file = blob(&digest);
            (digest, file)
        })
        .collect();
    let one = layer_holding(&layers, "one.txt");
    let mut config: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let real = poison(&mut config, &one);
    replace_config(&dir, config.to_string().as_bytes());

    let from = format!("type=local,src={}", dir.display());
    let (_, stderr) = ok(&fleet.build("b", &["--cache-from", &from]));
    let warning = format!(
        "cache `{}`: layer `{one}` not used: the layer `{one}` of the cache `{}` uncompresses to `{real}`, not to the `{}` its record claims",
        dir.display(),
        dir.display(),
        sha256(b"another layer")
    );
    assert!(stderr.contains(&warning), "{stderr}");
    // `mode=min` left the `tool` stage out; `RUN echo one` runs, and the steps after it
    // hit (their keys follow the steps', not the layers').
    assert_eq!(
        fleet.cached("b"),
        steps([false, true, false, true, true, true])
    );
}

// See: issue 15
#[test]
fn a_lazy_layer_whose_registry_is_gone_fails_the_output_that_needs_it() {
    let mut fleet = Fleet::new();
    let cache = fleet.registry.reference("it/cache:main");
    let to = format!("type=registry,ref={cache},mode=max");
    let (id, _) = ok(&fleet.build("a", &["--cache-to", &to]));
    let from = format!("type=registry,ref={cache}");
    assert_eq!(ok(&fleet.build("b", &["--cache-from", &from])).0, id);
    fleet.registry.stop();
    let archive = fleet.path("image.tar");
    let output = format!("type=tar,dest={}", archive.display());
    let failed = fleet.build("b", &["-o", &output]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("failed to fetch blob `sha256:")
            && stderr.contains(&format!("` from `{cache}`")),
        "{stderr}"
    );
}

// See: issue 15
#[test]
fn inline_records_are_read_from_an_image_pushed_with_provenance() {
    let fleet = Fleet::new();
    let app = fleet.registry.reference("it/app:1");
    let push = [
        "--cache-to",
        "type=inline",
        "--provenance=mode=min",
        "-t",
        &app,
        "--push",
    ];
    ok(&fleet.build("a", &push));
    // The pushed image is an index: its manifest beside an attestation manifest.
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:s3cret",
        "--raw",
        &format!("docker://{app}"),
    ]);
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");

    let (_, stderr) = ok(&fleet.build("b", &["--cache-from", &app]));
    assert_eq!(
        fleet.cached("b"),
        steps([false, true, true, true, true, true])
    );
    assert_eq!(imported_lines(&stderr, &app), 5, "{stderr}");
}

// See: issue 15
#[test]
fn three_runners_share_the_image_steps_through_inline_records() {
    let fleet = Fleet::new();
    let app = fleet.registry.reference("it/app:1");
    let inline = ["--cache-to", "type=inline", "-t", &app, "--push"];
    let (id_a, _) = ok(&fleet.build("a", &inline));
    assert_eq!(fleet.cached("a"), steps([false; 6]));
    // The records are in the pushed image's config, as skopeo reads it; the `tool`
    // stage's step is not among them.
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:s3cret",
        "--raw",
        "--config",
        &format!("docker://{app}"),
    ]);
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = config["mkimage.cache.v1"]["records"].as_object().unwrap();
    assert_eq!(records.len(), 5, "{config}");
    let layers = manifest_layers(&app);
    for record in records.values() {
        if let Some(digest) = record["layer"]["digest"].as_str() {
            assert!(layers.iter().any(|layer| layer == digest));
        }
    }

    // B reads them back through the image's bare reference, and writes the same.
    let mut args = vec!["--cache-from", &app];
    args.extend(inline);
    let (id_b, stderr) = ok(&fleet.build("b", &args));
    assert_eq!(id_b, id_a);
    assert_eq!(
        fleet.cached("b"),
        steps([false, true, true, true, true, true])
    );
    assert_eq!(imported_lines(&stderr, &app), 5, "{stderr}");

    fs::write(fleet.path("ctx/app/a.txt"), "changed\n").unwrap();
    let from = format!("type=registry,ref={app}");
    let (id_c, _) = ok(&fleet.build("c", &["--cache-from", &from]));
    assert_eq!(
        fleet.cached("c"),
        steps([false, true, true, false, false, false])
    );
    assert_eq!(
        top_file(&fleet.path("c"), &id_c, "all.txt"),
        "changed\none\ntool\n"
    );
}

// See: issue 15
#[test]
fn an_empty_runner_first_run_sees_the_cache_mounts_another_exported() {
    let fleet = Fleet::new();
    let base = fleet.registry.reference("it/busybox:1");
    let mount = "--mount=type=cache,id=deps,target=/deps";
    // Writes into the cache only when it is empty: a build that finds it warm leaves it
    // as it is, and its next export is the same blob.
    let fill = format!(
        "FROM {base}\nRUN {mount} sh -c 'test -f /deps/seen || {{ echo warm > /deps/seen; mkdir /deps/sub; echo deep > /deps/sub/f; }}'\n"
    );
    fs::write(fleet.path("ctx/Dockerfile"), &fill).unwrap();
    let cache = fleet.registry.reference("it/cache:main");
    let to = format!("type=registry,ref={cache},cache-mounts=true");
    ok(&fleet.build("a", &["--cache-to", &to]));
    let artifact = |reference: &str| -> serde_json::Value {
        let raw = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--creds=alice:s3cret",
            "--raw",
            &format!("docker://{reference}"),
        ]);
        let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        let hex = &manifest["config"]["digest"].as_str().unwrap()[7..];
        serde_json::from_slice(&fs::read(fleet.registry.blob_file(hex)).unwrap()).unwrap()
    };
    let deps = artifact(&cache)["cacheMounts"]["deps"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(fleet.registry.blob_file(&deps[7..]))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(listing.stdout).unwrap(),
        "seen\nsub/\nsub/f\n"
    );

    // B, empty, runs another step over the same cache: its first RUN sees A's files.
    let read = format!("FROM {base}\nRUN {mount} sh -c 'cat /deps/seen /deps/sub/f > /seen.txt'\n");
    fs::write(fleet.path("ctx/Dockerfile"), &read).unwrap();
    let from = format!("type=registry,ref={cache}");
    let (id, _) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert_eq!(top_file(&fleet.path("b"), &id, "seen.txt"), "warm\ndeep\n");

    // A again, with the step run anew over an unchanged cache: the same blob, not sent
    // again.
    fs::write(fleet.path("ctx/Dockerfile"), &fill).unwrap();
    let uploads = |log: &str| log.matches(&format!("digest={deps}")).count();
    let before = uploads(&fleet.registry.access_log());
    ok(&fleet.build("a", &["--no-cache", "--cache-to", &to]));
    assert_eq!(
        artifact(&cache)["cacheMounts"]["deps"]["digest"],
        deps.as_str()
    );
    assert_eq!(uploads(&fleet.registry.access_log()), before);

    // Above cache-mounts-max, it is left out, saying so.
    let small = format!("{to},cache-mounts-max=4");
    let (_, stderr) = ok(&fleet.build("a", &["--cache-to", &small]));
    assert!(
        stderr.contains(
            "cache mount `deps` not exported: it holds 10 bytes, more than cache-mounts-max (4)"
        ),
        "{stderr}"
    );
    assert!(artifact(&cache).get("cacheMounts").is_none());
}

// See: issue 15
#[test]
fn cache_mounts_go_through_a_directory_compressed_as_asked() {
    let fleet = Fleet::new();
    let base = fleet.registry.reference("it/busybox:1");
    let mount = "--mount=type=cache,id=deps,target=/deps";
    let fill = format!("FROM {base}\nRUN {mount} sh -c 'echo warm > /deps/seen'\n");
    fs::write(fleet.path("ctx/Dockerfile"), fill).unwrap();
    let dir = fleet.path("cache-dir");
    let to = format!(
        "type=local,dest={},cache-mounts=true,compression=zstd",
        dir.display()
    );
    ok(&fleet.build("a", &["--cache-to", &to]));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let blob = |digest: &str| dir.join("blobs/sha256").join(&digest[7..]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let deps = &config["cacheMounts"]["deps"];
    assert_eq!(
        deps["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    // zstd and tar read it.
    let out = Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$0\" | tar -xO seen")
        .arg(blob(deps["digest"].as_str().unwrap()))
        .output()
        .expect("run zstd: install the Debian package `zstd`");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "warm\n");

    let read = format!("FROM {base}\nRUN {mount} cp /deps/seen /seen.txt\n");
    fs::write(fleet.path("ctx/Dockerfile"), read).unwrap();
    let from = format!("type=local,src={}", dir.display());
    let (id, _) = ok(&fleet.build("b", &["--cache-from", &from]));
    assert_eq!(top_file(&fleet.path("b"), &id, "seen.txt"), "warm\n");
}
