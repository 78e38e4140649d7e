//! SBOM and provenance attestations (issue 18): built over a base pulled from the
//! test's own registry, pushed to it and written as an OCI archive, then read back with
//! skopeo, a JSON reader, `dpkg-query` and the SPDX validator `pyspdxtools`.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use mkimage_core::store::Store;
use mkimage_core::testutil::{HttpServer, busybox_image, run_checked};
use serde_json::Value;

use crate::build::tool;
use crate::registry_server::{Registry, skopeo};
use crate::store::{mkimage, stdout};

const SPDX: &str = "https://spdx.dev/Document";
const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// A secret's value and a secret-looking build argument's: neither may appear in any
/// attestation.
const SECRET_VALUE: &str = "s3cr3t-5f1c9a";
const TOKEN_VALUE: &str = "hunter2-77ab";

/// Pushes a busybox image made in code to `registry` as `name`; returns its digest.
fn push_busybox(registry: &Registry, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = busybox_image(&store, "busybox:test").unwrap();
    let from = format!(
        "oci:{}:docker.io/library/busybox:test",
        store.root().display()
    );
    let to = format!("docker://{}", registry.reference(name));
    skopeo(&["copy", "--dest-tls-verify=false", &from, &to]);
    image.digest().to_string()
}

/// Runs `mkimage --root ROOT ARGS…` with buildx's default attestations, which the other
/// tests turn off.
fn mkimage_with_defaults(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .env_remove("BUILDX_NO_DEFAULT_ATTESTATIONS")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// `skopeo inspect --raw docker://REFERENCE`, parsed.
fn raw(reference: &str) -> Value {
    let output = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The blob `digest` of the OCI layout unpacked at `layout`, parsed.
fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.trim_start_matches("sha256:");
    serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The packages of `dpkg-query -W` over the database of the filesystem at `root`, as
/// `name version` lines without the `:arch` of multi-arch names.
fn dpkg_query(root: &Path) -> BTreeSet<String> {
    let admindir = format!("--admindir={}", root.join("var/lib/dpkg").display());
    let output = run_checked(
        Command::new("dpkg-query").args([
            admindir.as_str(),
            "-W",
            "-f=${binary:Package} ${Version}\n",
        ]),
        "dpkg",
    )
    .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, version) = line.split_once(' ').unwrap();
            let name = name.split(':').next().unwrap();
            format!("{name} {version}")
        })
        .collect()
}

/// The packages of an SPDX document (the image itself left out), as `name version`.
fn spdx_packages(document: &Value) -> BTreeSet<String> {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["versionInfo"].as_str().unwrap()
            )
        })
        .collect()
}

/// The SPDX package named `name` of `document`.
fn spdx_package<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package `{name}` in the SBOM"))
}

/// Asserts that `pyspdxtools -i` finds the SPDX document `document` valid.
fn assert_valid_spdx(document: &Value, work: &Path) {
    let file = work.join("sbom.spdx.json");
    fs::write(&file, serde_json::to_vec(document).unwrap()).unwrap();
    let output = Command::new("pyspdxtools")
        .arg("-i")
        .arg(&file)
        .output()
        .expect("pyspdxtools runs: .ci/install-deps installs the Python package spdx-tools");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "pyspdxtools rejects the SBOM: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A context over the base `base` that brings the host's own dpkg database (a real
/// one) and Debian's `os-release`, then adds one package with a `RUN` step.
fn debian_like_context(dir: &Path, base: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::copy("/var/lib/dpkg/status", dir.join("status"))
        .expect("the host's dpkg database: the tests run on Debian");
    fs::write(dir.join("os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
    fs::write(dir.join("secret.txt"), SECRET_VALUE).unwrap();
    fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\n\
             COPY status /var/lib/dpkg/status\n\
             COPY os-release /etc/os-release\n\
             RUN --mount=type=secret,id=tok test -s /run/secrets/tok && \
             printf '\\nPackage: mkimage-probe\\nStatus: install ok installed\\n\
             Architecture: amd64\\nVersion: 1:2.0+b1\\n' >> /var/lib/dpkg/status\n"
        ),
    )
    .unwrap();
}

/// The attestation manifest and image manifest entries of an index, checking the
/// layout: the image first, then one attestation manifest about it.
fn attestation_entry(index: &Value) -> (String, String) {
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{index}");
    let image = &manifests[0];
    let attestation = &manifests[1];
    assert_eq!(image["platform"]["os"], "linux");
    assert_eq!(attestation["platform"]["os"], "unknown");
    assert_eq!(attestation["platform"]["architecture"], "unknown");
    let annotations = &attestation["annotations"];
    assert_eq!(
        annotations["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(annotations["vnd.docker.reference.digest"], image["digest"]);
    (
        image["digest"].as_str().unwrap().to_owned(),
        attestation["digest"].as_str().unwrap().to_owned(),
    )
}

/// The in-toto layers of an attestation manifest, by predicate type, checking their
/// media type, their annotation and their statement's subject.
fn statements(manifest: &Value, image: &str, read: impl Fn(&str) -> Value) -> Vec<(String, Value)> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            assert_eq!(layer["mediaType"], "application/vnd.in-toto+json");
            let kind = layer["annotations"]["in-toto.io/predicate-type"]
                .as_str()
                .unwrap()
                .to_owned();
            let statement = read(layer["digest"].as_str().unwrap());
            assert_eq!(statement["_type"], "https://in-toto.io/Statement/v0.1");
            assert_eq!(statement["predicateType"], kind.as_str());
            assert_eq!(
                statement["subject"][0]["digest"]["sha256"],
                image.trim_start_matches("sha256:")
            );
            (kind, statement["predicate"].clone())
        })
        .collect()
}

// See: issue 18
#[test]
fn sbom_and_provenance_ride_the_pushed_index_and_the_oci_archive() {
    let registry = Registry::start();
    let base_digest = push_busybox(&registry, "it/base:1");
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    debian_like_context(&context, &registry.reference("it/base:1"));
    let name = registry.reference("it/app:1");
    let archive = dir.path().join("app.tar");
    let rootfs = dir.path().join("rootfs");
    let build = |root: &Path, archive: &Path, rootfs: &Path| {
        let oci = format!("type=oci,dest={}", archive.display());
        let local = format!("type=local,dest={}", rootfs.display());
        let secret = format!("id=tok,src={}", context.join("secret.txt").display());
        let token = format!("API_TOKEN={TOKEN_VALUE}");
        stdout(&mkimage(
            root,
            &[
                "build",
                "-q",
                "-t",
                &name,
                "--push",
                "--sbom=true",
                "--provenance=mode=max",
                "--secret",
                &secret,
                "--build-arg",
                &token,
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "-o",
                &oci,
                "-o",
                &local,
                context.to_str().unwrap(),
            ],
        ))
    };
    let root = dir.path().join("store");
    let id = build(&root, &archive, &rootfs);

    // The registry holds the index BuildKit's layout describes.
    let index = raw(&name);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let (image, attestation) = attestation_entry(&index);
    let at = |digest: &str| format!("{}@{digest}", registry.reference("it/app"));
    let from_registry = statements(&raw(&at(&attestation)), &image, |digest| {
        let output = Command::new("curl")
            .args([
                "-sf",
                &format!("http://{}/v2/it/app/blobs/{digest}", registry.host()),
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    });
    let kinds: Vec<&str> = from_registry
        .iter()
        .map(|(kind, _)| kind.as_str())
        .collect();
    assert_eq!(kinds, [SPDX, SLSA_V02]);

    // The archive holds the same index, read with a plain JSON reader.
    let layout = dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    let top: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"][0]["digest"], id.trim());
    let archived = blob(&layout, id.trim());
    assert_eq!(archived, index);
    let from_archive = statements(&blob(&layout, &attestation), &image, |d| blob(&layout, d));
    assert_eq!(from_archive, from_registry);

    // The SBOM lists exactly what dpkg-query lists in the image, and validates.
    let sbom = &from_archive[0].1;
    assert_eq!(spdx_packages(sbom), dpkg_query(&rootfs));
    assert!(spdx_packages(sbom).contains("mkimage-probe 1:2.0+b1"));
    assert_valid_spdx(sbom, dir.path());
    let probe = spdx_package(sbom, "mkimage-probe");
    assert_eq!(
        probe["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/mkimage-probe@1%3A2.0+b1?arch=amd64&distro=debian-12"
    );
    // The RUN step's layer added the probe, the COPY's layer the rest.
    let manifest = blob(&layout, &image);
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let added_by = |package: &Value| package["sourceInfo"].as_str().unwrap().to_owned();
    assert!(
        added_by(probe).ends_with(layers[layers.len() - 1]),
        "{probe}"
    );
    let first = sbom["packages"][1].clone();
    assert!(
        added_by(&first).ends_with(layers[layers.len() - 3]),
        "{first}"
    );

    // The provenance names the base by digest and the secret by id, never a value.
    let provenance = &from_archive[1].1;
    let material = &provenance["materials"][0];
    assert_eq!(
        material["uri"],
        format!(
            "pkg:docker/{}@1?platform=linux%2Famd64",
            registry.reference("it/base")
        )
    );
    assert_eq!(
        format!("sha256:{}", material["digest"]["sha256"].as_str().unwrap()),
        base_digest
    );
    let parameters = &provenance["invocation"]["parameters"];
    assert_eq!(parameters["frontend"], "dockerfile.v0");
    assert_eq!(parameters["locals"][0]["name"], "context");
    assert!(
        parameters["locals"][0]["digest"]["sha256"].is_string(),
        "{parameters}"
    );
    assert_eq!(parameters["secrets"][0]["id"], "tok");
    assert!(parameters["args"].get("build-arg:API_TOKEN").is_none());
    assert_eq!(
        provenance["metadata"]["buildStartedOn"],
        "2023-11-14T22:13:20Z"
    );
    let steps = provenance["buildConfig"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(
        steps
            .iter()
            .all(|s| s["cached"] == false && s["cacheKey"].is_string())
    );
    for (_, predicate) in &from_archive {
        let text = predicate.to_string();
        assert!(
            !text.contains(SECRET_VALUE) && !text.contains(TOKEN_VALUE),
            "{text}"
        );
    }

    // The store lists the index and the base, not the attestation manifest.
    let images = stdout(&mkimage(&root, &["images", "-q", "--no-trunc"]));
    let listed: BTreeSet<&str> = images.lines().collect();
    assert_eq!(listed, BTreeSet::from([id.trim(), base_digest.as_str()]));
    let inspected: Value =
        serde_json::from_str(&stdout(&mkimage(&root, &["inspect", "--sbom", &name]))).unwrap();
    assert_eq!(&inspected, sbom);

    // Saved, loaded elsewhere and pushed again, the attestations travel with the image.
    let saved = dir.path().join("saved.tar");
    let saved_arg = saved.to_str().unwrap();
    stdout(&mkimage(
        &root,
        &["save", "--format", "oci", "-o", saved_arg, &name],
    ));
    let saved_layout = dir.path().join("saved");
    fs::create_dir(&saved_layout).unwrap();
    tool(
        "tar",
        &["-xf", saved_arg, "-C", saved_layout.to_str().unwrap()],
    );
    assert_eq!(blob(&saved_layout, id.trim()), index);
    assert_eq!(
        blob(&saved_layout, &attestation),
        blob(&layout, &attestation)
    );
    let other = dir.path().join("other");
    stdout(&mkimage(&other, &["load", "-i", saved_arg]));
    let provenance_again: Value = serde_json::from_str(&stdout(&mkimage(
        &other,
        &["inspect", "--provenance", &name],
    )))
    .unwrap();
    assert_eq!(&provenance_again, provenance);
    let copy = registry.reference("it/copy:1");
    stdout(&mkimage(&other, &["tag", &name, &copy]));
    stdout(&mkimage(&other, &["push", &copy]));
    assert_eq!(raw(&copy), index);

    // With SOURCE_DATE_EPOCH, a build in a new store gives the same attestations.
    let again = build(
        &dir.path().join("store2"),
        &dir.path().join("app2.tar"),
        &dir.path().join("rootfs2"),
    );
    let (_, attestation_again) = attestation_entry(&raw(&name));
    assert_eq!(attestation_again, attestation);
    assert_eq!(again, id);
}

#[test]
fn provenance_is_min_by_default_for_oci_archives_and_off_for_docker_ones() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    fs::create_dir(&context).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY Dockerfile /\n",
    )
    .unwrap();
    let root = dir.path().join("store");
    let oci = dir.path().join("oci.tar");
    let docker = dir.path().join("docker.tar");
    let ctx = context.to_str().unwrap();
    let out = |kind: &str, path: &Path| format!("type={kind},dest={}", path.display());
    stdout(&mkimage_with_defaults(
        &root,
        &["build", "-q", "-o", &out("oci", &oci), ctx],
    ));
    stdout(&mkimage_with_defaults(
        &root,
        &["build", "-q", "-o", &out("docker", &docker), ctx],
    ));

    let layout = dir.path().join("oci");
    fs::create_dir(&layout).unwrap();
    tool(
        "tar",
        &["-xf", oci.to_str().unwrap(), "-C", layout.to_str().unwrap()],
    );
    let top: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let index = blob(&layout, top["manifests"][0]["digest"].as_str().unwrap());
    let (image, attestation) = attestation_entry(&index);
    let found = statements(&blob(&layout, &attestation), &image, |d| blob(&layout, d));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, SLSA_V02);
    assert!(
        found[0].1.get("buildConfig").is_none(),
        "mode=min has no steps"
    );

    let layout = dir.path().join("docker");
    fs::create_dir(&layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            docker.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    let top: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        top["manifests"][0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let error = mkimage(&root, &["build", "-q", "--provenance=mode=full", ctx]);
    assert_eq!(
        String::from_utf8_lossy(&error.stderr),
        "error: invalid attestation option `mode=full`: unknown mode `full` (min, max)\n"
    );
}

#[test]
fn sbom_reads_apk_distroless_python_and_node_records_and_whiteouts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    busybox_image(&Store::open(&root).unwrap(), "busybox:test").unwrap();
    let context = dir.path().join("ctx");
    let files = [
        (
            "installed",
            "C:Q1x\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n",
        ),
        ("os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
        (
            "base",
            "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
        ),
        (
            "METADATA",
            "Metadata-Version: 2.1\nName: Requests_Toolbelt\nVersion: 1.0.0\nLicense: Apache-2.0\n\nbody\n",
        ),
        (
            "package.json",
            r#"{"name":"@types/node","version":"20.1.0","license":"MIT"}"#,
        ),
        ("gone.json", r#"{"name":"left-pad","version":"1.3.0"}"#),
        (
            "Cargo.lock",
            "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\n",
        ),
        (
            "rake.gemspec",
            "Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n",
        ),
    ];
    fs::create_dir(&context).unwrap();
    for (name, text) in files {
        fs::write(context.join(name), text).unwrap();
    }
    fs::write(
        context.join("Dockerfile"),
        "FROM busybox:test\n\
         COPY installed /lib/apk/db/installed\n\
         COPY os-release /etc/os-release\n\
         COPY base /var/lib/dpkg/status.d/base\n\
         COPY METADATA /usr/lib/python3.12/site-packages/requests_toolbelt-1.0.0.dist-info/\n\
         COPY package.json /app/node_modules/@types/node/\n\
         COPY gone.json /app/node_modules/left-pad/package.json\n\
         COPY Cargo.lock /src/\n\
         COPY rake.gemspec /usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec\n\
         RUN rm -r /app/node_modules/left-pad\n",
    )
    .unwrap();
    stdout(&mkimage(
        &root,
        &[
            "build",
            "-q",
            "-t",
            "it/mixed",
            "--sbom=true",
            "--provenance=false",
            context.to_str().unwrap(),
        ],
    ));
    // Pruning the store keeps the blobs the attestations are made of.
    stdout(&mkimage(&root, &["prune", "--keep-storage", "0"]));
    let sbom: Value =
        serde_json::from_str(&stdout(&mkimage(&root, &["inspect", "--sbom", "it/mixed"]))).unwrap();
    let purls: BTreeSet<String> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> = [
        "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3",
        "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3",
        "pkg:deb/alpine/base-files@12.4+deb12u5?arch=amd64&distro=alpine-3.20.3",
        "pkg:pypi/requests-toolbelt@1.0.0",
        "pkg:npm/%40types/node@20.1.0",
        "pkg:cargo/serde@1.0.200",
        "pkg:gem/rake@13.0.6",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(purls, expected);
    assert_eq!(spdx_package(&sbom, "musl")["licenseDeclared"], "MIT");
    // Built again, the layers read before come from the store's records: same packages.
    let records = root.join("records/sbom-layers-v1");
    assert!(
        fs::read_dir(&records).unwrap().count() >= 7,
        "a record per layer"
    );
    stdout(&mkimage(
        &root,
        &[
            "build",
            "-q",
            "--no-cache",
            "-t",
            "it/again",
            "--sbom=true",
            context.to_str().unwrap(),
        ],
    ));
    let again: Value =
        serde_json::from_str(&stdout(&mkimage(&root, &["inspect", "--sbom", "it/again"]))).unwrap();
    assert_eq!(spdx_packages(&again), spdx_packages(&sbom));
    assert_valid_spdx(&sbom, dir.path());
    let provenance = mkimage(&root, &["inspect", "--provenance", "it/mixed"]);
    assert_eq!(
        String::from_utf8_lossy(&provenance.stderr),
        "error: image `it/mixed` has no provenance attestation\n"
    );
}

// See: issue 18
#[test]
fn sbom_never_follows_an_image_link_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    busybox_image(&Store::open(&root).unwrap(), "busybox:test").unwrap();
    let host = dir.path().join("host");
    fs::create_dir_all(host.join("empty")).unwrap();
    let canary = "Package: host-canary\nVersion: 6.6.6\nArchitecture: amd64\n";
    fs::write(host.join("canary"), canary).unwrap();
    let context = dir.path().join("ctx");
    fs::create_dir(&context).unwrap();
    let host_path = host.display();
    fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM busybox:test\n\
             RUN mkdir -p /var/lib/dpkg/status.d /lib {host_path} && \
             ln -s {host_path}/canary /var/lib/dpkg/status && \
             ln -s {host_path}/canary /var/lib/dpkg/status.d/evil && \
             ln -s ../../../../../../../../..{host_path} /var/lib/dpkg/status.d/up && \
             ln -s {host_path}/empty /lib/apk\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out.tar");
    stdout(&mkimage(
        &root,
        &[
            "build",
            "-q",
            "-t",
            "it/evil",
            "--sbom=true",
            "-o",
            &format!("type=oci,dest={}", out.display()),
            context.to_str().unwrap(),
        ],
    ));
    let sbom: Value =
        serde_json::from_str(&stdout(&mkimage(&root, &["inspect", "--sbom", "it/evil"]))).unwrap();
    assert!(spdx_packages(&sbom).is_empty(), "{sbom}");
    assert_eq!(fs::read_to_string(host.join("canary")).unwrap(), canary);
    assert_eq!(fs::read_dir(host.join("empty")).unwrap().count(), 0);
}

#[test]
fn provenance_names_add_urls_by_the_digest_of_their_body() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    fs::create_dir(&served).unwrap();
    fs::write(served.join("tool.txt"), "a tool\n").unwrap();
    let server = HttpServer::start(&served).unwrap();
    let url = server.url("tool.txt");
    let context = dir.path().join("ctx");
    fs::create_dir(&context).unwrap();
    fs::write(
        context.join("Dockerfile"),
        format!("FROM scratch\nADD {url} /tool.txt\n"),
    )
    .unwrap();
    let root = dir.path().join("store");
    stdout(&mkimage(
        &root,
        &[
            "build",
            "-q",
            "-t",
            "it/add",
            "--provenance=true",
            context.to_str().unwrap(),
        ],
    ));
    let provenance: Value = serde_json::from_str(&stdout(&mkimage(
        &root,
        &["inspect", "--provenance", "it/add"],
    )))
    .unwrap();
    let digest = tool("sha256sum", &[served.join("tool.txt").to_str().unwrap()]);
    assert_eq!(
        provenance["materials"],
        serde_json::json!([{"uri": url, "digest": {"sha256": &digest[..64]}}])
    );
}

#[test]
fn each_platform_gets_its_own_attestation_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    fs::create_dir(&context).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY Dockerfile /\n",
    )
    .unwrap();
    let archive = dir.path().join("multi.tar");
    stdout(&mkimage(
        &dir.path().join("store"),
        &[
            "build",
            "-q",
            "--platform",
            "linux/amd64,linux/arm64",
            "--attest",
            "type=sbom",
            "--attest",
            "type=provenance,mode=max",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            context.to_str().unwrap(),
        ],
    ));
    let layout = dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    let top: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let index = blob(&layout, top["manifests"][0]["digest"].as_str().unwrap());
    let entries = index["manifests"].as_array().unwrap();
    let platforms: Vec<String> = entries
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/arm64",
            "unknown/unknown",
            "unknown/unknown"
        ]
    );
    for (image, attestation) in entries[..2].iter().zip(&entries[2..]) {
        assert_eq!(
            attestation["annotations"]["vnd.docker.reference.digest"],
            image["digest"]
        );
        let image = image["digest"].as_str().unwrap();
        let manifest = blob(&layout, attestation["digest"].as_str().unwrap());
        let found = statements(&manifest, image, |d| blob(&layout, d));
        let kinds: Vec<&str> = found.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, [SPDX, SLSA_V02]);
    }
}
