//! Build caches shared through a registry, through the library (issue 15): what an
//! importing build reports, and what a push of its image sends.

use std::path::Path;

use mkimage_core::Frontend;
use mkimage_core::NoEvents;
use mkimage_core::frontend::{ContextSource, Outcome, Request};
use mkimage_core::plan::Reference;
use mkimage_core::registry::{Client, push};
use mkimage_core::remote_cache::{CacheFrom, CacheTo};
use mkimage_core::store::Store;
use mkimage_core::testutil::busybox_image;

use crate::registry_server::{Registry, skopeo};

/// Builds the context `dir` into the store at `root` with `cache`.
fn build(root: &Path, dir: &Path, from: &[CacheFrom], to: &[CacheTo]) -> Outcome {
    let mut request = Request::new(ContextSource::Dir(dir.to_owned()));
    request.cache.from = from.to_vec();
    request.cache.to = to.to_vec();
    Frontend::new(Store::open(root).unwrap())
        .build(request, &NoEvents)
        .unwrap()
}

// See: issue 15
#[test]
fn an_imported_build_pushes_its_layers_by_mounting_them_from_the_cache() {
    let registry = Registry::start();
    let seed = tempfile::tempdir().unwrap();
    let store = Store::open(seed.path()).unwrap();
    busybox_image(&store, "it/busybox:1").unwrap();
    let local: Reference = "it/busybox:1".parse().unwrap();
    let from = format!("oci:{}:{local}", store.root().display());
    let to = format!("docker://{}", registry.reference("it/busybox:1"));
    skopeo(&["copy", "--dest-tls-verify=false", &from, &to]);

    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("a.txt"), "a\n").unwrap();
    let dockerfile = format!(
        "FROM {}\nCOPY a.txt /a.txt\nRUN cat /a.txt /a.txt > /b.txt\n",
        registry.reference("it/busybox:1")
    );
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let cache = registry.reference("it/cache:main");
    let runners = tempfile::tempdir().unwrap();

    let to: CacheTo = format!("type=registry,ref={cache}").parse().unwrap();
    let a = build(&runners.path().join("a"), context.path(), &[], &[to]);
    let from: CacheFrom = format!("type=registry,ref={cache}").parse().unwrap();
    let b_root = runners.path().join("b");
    let b = build(&b_root, context.path(), &[from], &[]);
    assert_eq!(b.image, a.image);
    let sources: Vec<Option<&str>> = b
        .steps
        .iter()
        .map(|step| step.imported_from.as_deref())
        .collect();
    assert_eq!(sources, [Some(cache.as_str()); 2]);

    // The two step layers are mounted from the cache's repository and the base's from
    // its own: only the config is uploaded.
    let store = Store::open(&b_root).unwrap();
    let destination = registry.reference("it/app:1").parse().unwrap();
    let pushed = push(
        &Client::default(),
        &store,
        &b.image,
        &destination,
        &NoEvents,
    )
    .unwrap();
    let layers = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}", registry.reference("it/app:1")),
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&layers.stdout).unwrap();
    let count = manifest["layers"].as_array().unwrap().len();
    assert_eq!(
        (pushed.uploaded, pushed.mounted, pushed.existing),
        (1, count, 0)
    );
}
