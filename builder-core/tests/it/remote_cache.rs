//! Build caches shared through a registry, through the library (issue 15): what an
//! importing build reports, and what a push of its image sends.

use std::path::Path;

use mkimage_core::Frontend;
use mkimage_core::NoEvents;
use mkimage_core::build::StepResult;
use mkimage_core::cache::step_key;
use mkimage_core::frontend::{ContextSource, Outcome, Request};
use mkimage_core::plan::{KeyValue, Op, Reference};
use mkimage_core::registry::{Client, push};
use mkimage_core::remote_cache::{CacheFrom, CacheTo, export};
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
    let before = registry.blob_gets().len();
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
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        (pushed.uploaded, pushed.mounted, pushed.existing),
        (1, layers.len(), 0)
    );
    // Without reading them: the build took them lazily, and nothing downloaded them.
    let gets = registry.blob_gets()[before..].to_vec();
    for layer in &layers[1..] {
        let digest = layer["digest"].as_str().unwrap();
        assert!(!gets.iter().any(|get| get == digest), "{gets:?}");
        assert!(!store.has_blob(&digest.parse().unwrap()));
    }
}

/// A request to build `dockerfile` (in a context of its own at `dir`) with the build
/// argument `A`, importing `from`.
fn request(dir: &Path, dockerfile: &str, arg: &str, from: &[CacheFrom]) -> Request {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let mut request = Request::new(ContextSource::Dir(dir.to_owned()));
    request.build_args.insert("A".to_owned(), arg.to_owned());
    request.cache.from = from.to_vec();
    request
}

/// The number of step records in the store at `root`.
fn step_records(root: &Path) -> usize {
    std::fs::read_dir(root.join("records/build-steps"))
        .unwrap()
        .count()
}

// See: issue 15
#[test]
fn an_imported_record_the_step_fails_with_is_not_kept() {
    let root = tempfile::tempdir().unwrap();
    let context = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let frontend = Frontend::new(Store::open(root.path()).unwrap());
    let value = "x".repeat(100_000);
    let label = |key: &str, times: usize| format!("LABEL {key}={}\n", "${A}".repeat(times));
    // A base whose config holds 12 MB, then a small step.
    let base = format!("FROM scratch\nARG A\n{}", label("base", 60));
    let mut big = request(context.path(), &base, &value, &[]);
    big.tags = vec!["it/big:1".parse().unwrap()];
    frontend.build(big, &NoEvents).unwrap();
    let small = "FROM it/big:1\nARG A\nLABEL small=1\n";
    let built = frontend
        .build(request(context.path(), small, &value, &[]), &NoEvents)
        .unwrap();

    // A cache whose record says that 6 MB more, which makes the config too large, is
    // the step after it: as a hostile cache may say of any key.
    let parent = built.steps.last().unwrap().clone();
    let more = Op::Label(vec![KeyValue::new("more", value.repeat(30))]);
    let forged = StepResult {
        key: step_key(&parent.key, &more, &[]),
        ..parent
    };
    let to: CacheTo = format!("type=local,dest={}", cache_dir.path().display())
        .parse()
        .unwrap();
    export(
        &to,
        &[forged],
        &[],
        frontend.store(),
        &Client::default(),
        &NoEvents,
    )
    .unwrap();

    let before = step_records(root.path());
    let from: CacheFrom = format!("type=local,src={}", cache_dir.path().display())
        .parse()
        .unwrap();
    let failing = format!("{small}{}", label("more", 30));
    for _ in 0..2 {
        let error = frontend
            .build(
                request(
                    context.path(),
                    &failing,
                    &value,
                    std::slice::from_ref(&from),
                ),
                &NoEvents,
            )
            .unwrap_err();
        assert!(
            crate::error_chain(&error).ends_with(
                "the image config would be larger than the 16 MiB an image config may hold"
            ),
            "{}",
            crate::error_chain(&error)
        );
        assert_eq!(step_records(root.path()), before);
    }
}

// See: issue 15
#[test]
fn inline_records_stay_in_their_image_and_are_not_inherited() {
    let root = tempfile::tempdir().unwrap();
    let context = tempfile::tempdir().unwrap();
    let frontend = Frontend::new(Store::open(root.path()).unwrap());
    let config = |outcome: &Outcome| -> serde_json::Value {
        let digest = outcome.config.as_ref().unwrap().digest();
        serde_json::from_slice(&frontend.store().read_blob(digest).unwrap()).unwrap()
    };
    let mut base = request(context.path(), "FROM scratch\nENV A=1\n", "", &[]);
    base.cache.to = vec!["type=inline".parse().unwrap()];
    base.tags = vec!["it/base:1".parse().unwrap()];
    let built = frontend.build(base, &NoEvents).unwrap();
    let records = &config(&built)["mkimage.cache.v1"]["records"];
    assert_eq!(records.as_object().map(serde_json::Map::len), Some(1));

    let child = request(context.path(), "FROM it/base:1\nENV B=2\n", "", &[]);
    let built = frontend.build(child, &NoEvents).unwrap();
    let config = config(&built);
    assert_eq!(config["config"]["Env"][1], "A=1");
    assert!(config.get("mkimage.cache.v1").is_none(), "{config}");
}
