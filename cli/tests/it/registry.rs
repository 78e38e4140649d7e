//! `mkimage pull` against a real registry filled by skopeo.

use mkimage_core::registry::Reference;
use mkimage_core::store::Store;

use crate::registry_server::{Registry, skopeo, skopeo_digest};
use crate::store::{failure, image, mkimage, stdout};

/// Pushes an image made in a scratch store to `registry` as `name`; returns its digest.
fn push_image(registry: &Registry, name: &str) -> String {
    let source_dir = tempfile::tempdir().expect("temp dir");
    let source = Store::open(source_dir.path()).expect("open store");
    let pushed = image(&source, "pulled");
    let local: Reference = "it/source:1".parse().expect("a valid name");
    source.tag(&local, &pushed).expect("tag");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:{local}", source.root().display()),
        &format!("docker://{}", registry.reference(name)),
    ]);
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
