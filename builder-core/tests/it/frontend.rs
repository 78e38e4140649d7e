//! Dockerfile builds through the library's entry point, [`Frontend`]: the example run as
//! a program, bases resolved once per build, warnings and errors as data.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mkimage_core::frontend::{
    ContextSource, DockerfileSource, FrontendError, Outcome, Request, Warning,
};
use mkimage_core::oci::{ImageConfig, RunConfig, write_image};
use mkimage_core::oci_spec::image::{Descriptor, Digest};
use mkimage_core::plan::{Platform, Reference};
use mkimage_core::registry::{Client, RegistryResolver};
use mkimage_core::resolver::BaseResolver;
use mkimage_core::store::Store;
use mkimage_core::testutil::{busybox_image, run_checked};
use mkimage_core::{Events, Frontend, NoEvents};

use crate::registry_server::{Registry, skopeo, skopeo_digest};

/// Copies the image `name` of `store` to `registry` as `destination`, with skopeo.
fn push(store: &Store, name: &str, registry: &Registry, destination: &str) {
    let local: Reference = name.parse().unwrap();
    let from = format!("oci:{}:{local}", store.root().display());
    let to = format!("docker://{}", registry.reference(destination));
    skopeo(&["copy", "--dest-tls-verify=false", &from, &to]);
}

/// A busybox image pushed to `registry` as `it/busybox:1`; returns its reference there.
fn pushed_busybox(registry: &Registry) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    busybox_image(&store, "it/busybox:1").unwrap();
    push(&store, "it/busybox:1", registry, "it/busybox:1");
    registry.reference("it/busybox:1")
}

/// The content of the file `name` in the top layer of the image `image`, read from the
/// store's files by GNU tar.
fn top_layer_file(store: &Store, image: &Digest, name: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.blob_path(image)).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let top: Digest = layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let blob = store.blob_path(&top);
    let output = run_checked(
        Command::new("tar")
            .args(["-xzOf", blob.to_str().unwrap(), "--wildcards"])
            .arg(format!("*{name}")),
        "tar",
    )
    .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// The `Env` of the image `image`'s config, read from the store's files.
fn config_env(store: &Store, image: &Digest) -> Vec<String> {
    let read = |digest: &Digest| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(store.blob_path(digest)).unwrap()).unwrap()
    };
    let config: Digest = read(image)["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    serde_json::from_value(read(&config)["config"]["Env"].clone()).unwrap()
}

/// A context directory whose `Dockerfile` is `dockerfile`.
fn context_with(dir: &Path, dockerfile: &str) -> ContextSource {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    ContextSource::Dir(dir.to_owned())
}

#[test]
fn the_example_builds_a_run_dockerfile_from_a_registry_base() {
    let registry = Registry::start();
    let base = pushed_busybox(&registry);
    let context = tempfile::tempdir().unwrap();
    let dockerfile = format!("FROM {base}\nRUN echo built by the example > /hello.txt\n");
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let root = tempfile::tempdir().unwrap();
    // The example as a program, with the default store pointed at `root`.
    let output = run_checked(
        Command::new(env!("CARGO"))
            .args([
                "run",
                "-q",
                "-p",
                "mkimage-core",
                "--example",
                "build_dockerfile",
                "--",
            ])
            .arg(context.path())
            .env("MKIMAGE_ROOT", root.path()),
        "cargo",
    )
    .unwrap();
    let id: Digest = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let store = Store::open(root.path()).unwrap();
    let listed = store.tags().unwrap();
    assert!(
        listed.iter().any(|entry| entry.descriptor.digest() == &id),
        "{id} is not among the store's images"
    );
    assert_eq!(
        top_layer_file(&store, &id, "hello.txt"),
        "built by the example\n"
    );
}

/// A registry resolver that, after its first answer, lets the test move the tag.
struct MovingTag {
    inner: RegistryResolver,
    calls: Arc<AtomicUsize>,
    after_first: Box<dyn Fn() + Send + Sync>,
}

impl BaseResolver for MovingTag {
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
        events: &dyn Events,
    ) -> mkimage_core::Result<Descriptor> {
        let found = self.inner.resolve(store, reference, platform, events)?;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            (self.after_first)();
        }
        Ok(found)
    }
}

/// A layerless image for the host whose config sets `X=value`, tagged `name`.
fn env_image(store: &Store, name: &str, value: &str) -> Descriptor {
    let platform = Platform::host();
    let config = ImageConfig {
        architecture: platform.architecture().to_owned(),
        os: platform.os().to_owned(),
        config: RunConfig {
            env: Some(vec![format!("X={value}")]),
            ..RunConfig::default()
        },
        ..ImageConfig::default()
    };
    let image = write_image(store, &config, &[]).unwrap();
    store.tag(&name.parse().unwrap(), &image).unwrap();
    image
}

// See: issue 14
#[test]
fn a_tag_moved_mid_build_changes_neither_lowering_nor_the_build() {
    let registry = Arc::new(Registry::start());
    let source_dir = tempfile::tempdir().unwrap();
    let source = Store::open(source_dir.path()).unwrap();
    env_image(&source, "it/moving:a", "a");
    let moved_to = env_image(&source, "it/moving:b", "b");
    push(&source, "it/moving:a", &registry, "it/moving:1");
    let name = registry.reference("it/moving:1");
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Arc::clone(&registry);
    let moving = MovingTag {
        // `--pull`: the registry is asked at every resolution.
        inner: RegistryResolver::new(Client::default(), true),
        calls: Arc::clone(&calls),
        after_first: Box::new(move || push(&source, "it/moving:b", &server, "it/moving:1")),
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    std::fs::create_dir(dir.path().join("ctx")).unwrap();
    // `$X` is expanded by lowering, from the base it resolved; `X` in the image's config
    // comes from the base the build used.
    let dockerfile = format!("FROM {name}\nENV SEEN=$X\n");
    let request = Request::new(context_with(&dir.path().join("ctx"), &dockerfile));
    let outcome = Frontend::new(store.clone())
        .with_resolver(moving)
        .build(request, &NoEvents)
        .unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 1, "the base resolved once");
    let env = config_env(&store, outcome.image.digest());
    assert!(env.contains(&"X=a".to_owned()), "{env:?}");
    assert!(env.contains(&"SEEN=a".to_owned()), "{env:?}");
    // The tag did move: a second resolution would have found the other image.
    assert_eq!(skopeo_digest(&name), moved_to.digest().to_string());
}

#[test]
fn defaults_pull_and_run_and_report_warnings_steps_and_located_errors() {
    let registry = Registry::start();
    let base = pushed_busybox(&registry);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    std::fs::create_dir(dir.path().join("ctx")).unwrap();
    let build = |dockerfile: &str| -> Result<Outcome, FrontendError> {
        let mut request = Request::new(ContextSource::Dir(dir.path().join("ctx")));
        request.dockerfile = DockerfileSource::Text {
            name: "app.Dockerfile".to_owned(),
            text: dockerfile.to_owned(),
        };
        request
            .build_args
            .insert("UNUSED".to_owned(), "1".to_owned());
        Frontend::new(store.clone()).build(request, &NoEvents)
    };
    let dockerfile = format!("FROM {base}\nRUN echo hi > /greeting\n");
    let first = build(&dockerfile).unwrap();
    assert_eq!(
        first.warnings,
        [Warning::UnusedBuildArgs {
            file: "app.Dockerfile".to_owned(),
            names: vec!["UNUSED".to_owned()],
        }]
    );
    assert_eq!(
        top_layer_file(&store, first.image.digest(), "greeting"),
        "hi\n"
    );
    let run = |outcome: &Outcome| {
        let found = outcome
            .steps
            .iter()
            .find(|step| step.step.text.starts_with("RUN"));
        found.map(|step| step.cached)
    };
    assert_eq!(run(&first), Some(false));
    let again = build(&dockerfile).unwrap();
    assert_eq!(run(&again), Some(true));
    assert_eq!(again.image, first.image);

    let error = build(&format!("FROM {base}\nENV A=1\nRUN exit 3\n")).unwrap_err();
    let FrontendError::Dockerfile(located) = &error else {
        panic!("not located: {error}");
    };
    let at = located.location();
    assert_eq!(
        (at.file.as_str(), at.line, at.col, at.source_line.as_str()),
        ("app.Dockerfile", 3, 1, "RUN exit 3")
    );
    assert!(
        error
            .to_string()
            .starts_with("app.Dockerfile:3:1: `RUN exit 3` failed"),
        "{error}"
    );
}

#[test]
fn a_streamed_context_cannot_point_its_dockerfile_at_a_host_file() {
    let dir = tempfile::tempdir().unwrap();
    // The canary: a Dockerfile on the host that the context's symlink names.
    let canary = dir.path().join("canary.Dockerfile");
    let canary_text = "FROM scratch\nLABEL leaked=yes\n";
    std::fs::write(&canary, canary_text).unwrap();
    let staged = dir.path().join("staged");
    std::fs::create_dir(&staged).unwrap();
    std::os::unix::fs::symlink(&canary, staged.join("Dockerfile")).unwrap();
    let tar = run_checked(
        Command::new("tar").args(["-cf", "-", "-C", staged.to_str().unwrap(), "."]),
        "tar",
    )
    .unwrap()
    .stdout;
    let store = Store::open(dir.path().join("store")).unwrap();
    let request = Request::new(ContextSource::Stream {
        name: "<stdin>".to_owned(),
        reader: Box::new(std::io::Cursor::new(tar)),
    });
    let error = Frontend::new(store.clone())
        .build(request, &NoEvents)
        .unwrap_err();
    assert!(
        matches!(&error, FrontendError::ReadDockerfile { name, .. } if name == "Dockerfile"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), canary_text);
    assert!(store.tags().unwrap().is_empty(), "nothing was built");
}
