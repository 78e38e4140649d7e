//! Pulls from a real registry (`docker-registry`), filled by skopeo from a store the test
//! writes, checked against skopeo's view of the same images.

use std::fs;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mkimage_core::events::{Events, RequestRef, Retry, TaskRef};
use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer,
};
use mkimage_core::net::NetOptions;
use mkimage_core::oci::{Image, ImageConfig, RootFs, write_image};
use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::plan::{Platform, Reference};
use mkimage_core::registry::{Client, ClientOptions, Credential, IDENTITY_TOKEN_USER, pull, push};
use mkimage_core::store::{Store, StoreError};
use mkimage_core::testutil::noise;
use mkimage_core::{Error, NoEvents};

use crate::error_chain;
use crate::registry_server::{
    Auth, Cut, Fault, FlakyProxy, Registry, ScriptedServer, SilentServer, TokenProxy, skopeo,
    skopeo_digest,
};

/// Writes a layer with one file and returns its descriptor and diff_id.
fn layer(
    store: &Store,
    path: &str,
    content: Vec<u8>,
    compression: Compression,
) -> (Descriptor, String) {
    let entry = Entry::new(
        LayerPath::new(path).unwrap(),
        EntryKind::File(Content::Bytes(content)),
    )
    .with_mode(0o644)
    .with_mtime(1_700_000_000);
    let options = LayerOptions {
        compression,
        ..LayerOptions::default()
    };
    let (blob, written) = write_layer(store.begin_blob().unwrap(), vec![entry], &options).unwrap();
    blob.commit_verified(&written.digest).unwrap();
    (
        Descriptor::new(written.media_type, written.size, written.digest),
        written.diff_id.to_string(),
    )
}

/// An image for `architecture` with a small gzip layer and an uncompressed layer of
/// `noise_len` random bytes, in `store`.
fn image(store: &Store, architecture: &str, noise_len: usize) -> Descriptor {
    let (small, small_diff) = layer(
        store,
        "hello.txt",
        format!("hello from {architecture}\n").into_bytes(),
        Compression::Gzip { level: 6 },
    );
    let (big, big_diff) = layer(
        store,
        "noise.bin",
        noise(noise_len, 7),
        Compression::Uncompressed,
    );
    let config = ImageConfig {
        architecture: architecture.into(),
        os: "linux".into(),
        rootfs: RootFs {
            diff_ids: vec![small_diff.parse().unwrap(), big_diff.parse().unwrap()],
            ..RootFs::default()
        },
        ..ImageConfig::default()
    };
    write_image(store, &config, &[small, big]).unwrap()
}

/// A source store (an OCI layout) holding `image` under `name`, and skopeo copying it
/// to `registry` as `destination`.
fn push_with_skopeo(source: &Store, name: &str, registry: &Registry, destination: &str, all: bool) {
    push_as(source, name, registry, destination, all, None);
}

/// [`push_with_skopeo`] with `user:password` credentials.
fn push_as(
    source: &Store,
    name: &str,
    registry: &Registry,
    destination: &str,
    all: bool,
    creds: Option<&str>,
) {
    let from = format!("oci:{}:{name}", source.root().display());
    let to = format!("docker://{}", registry.reference(destination));
    let mut args = vec!["copy", "--dest-tls-verify=false", "--preserve-digests"];
    if all {
        args.push("--all");
    }
    let creds = creds.map(|c| format!("--dest-creds={c}"));
    if let Some(creds) = &creds {
        args.push(creds);
    }
    args.extend([from.as_str(), to.as_str()]);
    skopeo(&args);
}

/// A source store, kept with its temp dir.
struct Source {
    store: Store,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Source {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// An amd64 [`image`] with `noise_len` random bytes in a new source store, tagged `name`
/// there and pushed by skopeo to `registry` under the same name.
fn pushed_image(registry: &Registry, name: &str, noise_len: usize) -> (Source, Descriptor) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pushed = image(&store, "amd64", noise_len);
    let local: Reference = name.parse().unwrap();
    store.tag(&local, &pushed).unwrap();
    push_with_skopeo(&store, &local.to_string(), registry, name, false);
    (Source { store, _dir: dir }, pushed)
}

/// Network options that retry `retries` times after short pauses.
fn fast_net(retries: u32) -> NetOptions {
    NetOptions {
        retries,
        backoff: Duration::from_millis(10),
        ..NetOptions::default()
    }
}

fn fast_client() -> Client {
    Client::new(ClientOptions {
        net: fast_net(1),
        ..ClientOptions::default()
    })
}

/// Files left in the store's `tmp/` (partial blobs).
fn temps(store: &Store) -> usize {
    fs::read_dir(store.root().join("tmp")).unwrap().count()
}

#[test]
fn pull_gets_what_skopeo_pushed() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/app:1", 1 << 20);
    let remote = skopeo_digest(&registry.reference("it/app:1"));
    assert_eq!(remote, pushed.digest().to_string());

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference: Reference = registry.reference("it/app:1").parse().unwrap();
    let client = Client::default();
    let pulled = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest().to_string(), remote);
    assert_eq!(pulled.digest.to_string(), remote);
    assert_eq!(pulled.downloaded, 3, "config and two layers");
    assert_eq!(
        store.resolve(&reference).unwrap().unwrap().digest(),
        pushed.digest()
    );
    let image = Image::load(&store, &pulled.descriptor, &Platform::host()).unwrap();
    let original = Image::load(&source, &pushed, &Platform::host()).unwrap();
    assert_eq!(image.layers(), original.layers());
    for layer in image.layers() {
        assert_eq!(
            fs::read(store.blob_path(layer.digest())).unwrap(),
            fs::read(source.blob_path(layer.digest())).unwrap()
        );
    }
    assert_eq!(temps(&store), 0);

    // Pulled again: the registry is asked, nothing is downloaded.
    let again = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(again.downloaded, 0);
    assert_eq!(again.descriptor, pulled.descriptor);

    // By digest: kept untagged.
    let by_digest = reference.with_digest(pushed.digest().clone());
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(fresh_dir.path()).unwrap();
    let pulled = pull(&client, &fresh, &by_digest, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    let tags = fresh.tags().unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].name, None);
}

#[test]
fn pull_picks_the_platform_of_an_index() {
    let registry = Registry::start();
    let source_dir = tempfile::tempdir().unwrap();
    let source = Store::open(source_dir.path()).unwrap();
    let amd64 = image(&source, "amd64", 1024);
    let arm64 = image(&source, "arm64", 2048);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64, arm64],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let digest = source.put_blob(&bytes).unwrap();
    let index = Descriptor::new(
        mkimage_core::oci_spec::image::MediaType::ImageIndex,
        bytes.len() as u64,
        digest.clone(),
    );
    let name: Reference = "it/multi:1".parse().unwrap();
    source.tag(&name, &index).unwrap();
    push_with_skopeo(&source, &name.to_string(), &registry, "it/multi:1", true);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference: Reference = registry.reference("it/multi:1").parse().unwrap();
    let client = Client::default();
    let arm: Platform = "linux/arm64".parse().unwrap();
    let pulled = pull(&client, &store, &reference, &arm, &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest(), arm64.digest());
    assert_eq!(pulled.digest, digest, "the index's digest");
    let image = Image::load(&store, &pulled.descriptor, &arm).unwrap();
    assert_eq!(image.config().architecture, "arm64");

    let err = pull(
        &client,
        &store,
        &reference,
        &"linux/s390x".parse().unwrap(),
        &NoEvents,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "image `{digest}` has no manifest for `linux/s390x`; it has: linux/amd64, linux/arm64"
        )
    );
}

#[test]
fn pull_refuses_a_tampered_blob() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/tampered:1", 4096);
    let original = Image::load(&source, &pushed, &Platform::host()).unwrap();
    let big = &original.layers()[1];
    let file = registry.blob_file(big.digest().digest());
    let mut bytes = fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&file, bytes).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference: Reference = registry.reference("it/tampered:1").parse().unwrap();
    let err = pull(
        &fast_client(),
        &store,
        &reference,
        &Platform::host(),
        &NoEvents,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Store(StoreError::DigestMismatch { expected, .. }) if expected == big.digest()),
        "{err:?}"
    );
    assert!(!store.has_blob(big.digest()));
    assert_eq!(store.resolve(&reference).unwrap(), None);
    assert_eq!(temps(&store), 0);
}

/// Stops the registry as soon as the big layer's download has started.
struct StopMidway<'a> {
    registry: &'a Mutex<Registry>,
    big: String,
}

impl Events for StopMidway<'_> {
    fn task_progress(&self, task: &TaskRef, done: u64) {
        if task.label.ends_with(&self.big) && done > 0 {
            self.registry.lock().unwrap().stop();
        }
    }
}

#[test]
fn pull_from_a_registry_that_stops_leaves_nothing_partial() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/stopped:1", 64 << 20);
    let original = Image::load(&source, &pushed, &Platform::host()).unwrap();
    let big = original.layers()[1].digest().clone();
    let reference: Reference = registry.reference("it/stopped:1").parse().unwrap();

    let registry = Mutex::new(registry);
    let events = StopMidway {
        registry: &registry,
        big: big.digest()[..12].to_owned(),
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = pull(
        &fast_client(),
        &store,
        &reference,
        &Platform::host(),
        &events,
    )
    .unwrap_err();
    // The big layer's download, or another one still running when the registry stopped.
    let text = err.to_string();
    let tail = format!(
        "` of `{}/it/stopped` failed after 2 attempts",
        reference.domain()
    );
    assert!(
        text.starts_with("blob `sha256:") && text.ends_with(&tail),
        "{text}"
    );
    assert!(!store.has_blob(&big));
    assert_eq!(store.resolve(&reference).unwrap(), None);
    assert_eq!(temps(&store), 0);
}

#[test]
fn pull_with_basic_auth() {
    let registry = Registry::start_with(Auth::Htpasswd {
        user: "alice",
        password: "s3cret",
    });
    let source_dir = tempfile::tempdir().unwrap();
    let source = Store::open(source_dir.path()).unwrap();
    let pushed = image(&source, "amd64", 1024);
    let name: Reference = "it/private:1".parse().unwrap();
    source.tag(&name, &pushed).unwrap();
    push_as(
        &source,
        &name.to_string(),
        &registry,
        "it/private:1",
        false,
        Some("alice:s3cret"),
    );

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference: Reference = registry.reference("it/private:1").parse().unwrap();
    let client = fast_client();
    let err = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "access to `{}` denied: not found, or authentication required",
            registry.reference("it/private")
        )
    );

    let client = fast_client();
    client.set_credential(
        &registry.host(),
        Credential {
            username: "alice".into(),
            password: "wrong".into(),
        },
    );
    let err = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap_err();
    assert!(err.to_string().starts_with("access to"), "{err}");

    let client = fast_client();
    client.set_credential(
        &registry.host(),
        Credential {
            username: "alice".into(),
            password: "s3cret".into(),
        },
    );
    let pulled = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
}

/// The raw manifest (or index) of `docker://REFERENCE` as skopeo reads it.
fn skopeo_raw(reference: &str) -> serde_json::Value {
    let output = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]);
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn push_then_pull_into_an_empty_store_keeps_the_digest() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let built = image(&store, "amd64", 300 * 1024);
    let destination: Reference = registry.reference("it/pushed:1").parse().unwrap();
    // Small chunks, so that the big layer goes in several PATCH requests.
    let client = Client::new(ClientOptions {
        chunk_size: 64 * 1024,
        ..ClientOptions::default()
    });
    let pushed = push(&client, &store, &built, &destination, &NoEvents).unwrap();
    assert_eq!(&pushed.digest, built.digest());
    assert_eq!(
        (pushed.uploaded, pushed.mounted, pushed.existing),
        (3, 0, 0)
    );
    assert_eq!(
        skopeo_digest(&destination.to_string()),
        built.digest().to_string()
    );
    let raw = skopeo_raw(&destination.to_string());
    let local = Image::load(&store, &built, &Platform::host()).unwrap();
    assert_eq!(
        raw["layers"][1]["digest"],
        local.layers()[1].digest().to_string()
    );

    // Again: nothing to upload.
    let again = push(&client, &store, &built, &destination, &NoEvents).unwrap();
    assert_eq!((again.uploaded, again.mounted, again.existing), (0, 0, 3));

    // Into another repository of the same registry: mounted, not uploaded.
    store.tag(&destination, &built).unwrap();
    let other: Reference = registry.reference("it/other:2").parse().unwrap();
    let mounted = push(&client, &store, &built, &other, &NoEvents).unwrap();
    assert_eq!(
        (mounted.uploaded, mounted.mounted, mounted.existing),
        (0, 3, 0)
    );
    assert_eq!(
        skopeo_digest(&other.to_string()),
        built.digest().to_string()
    );

    let empty_dir = tempfile::tempdir().unwrap();
    let empty = Store::open(empty_dir.path()).unwrap();
    let pulled = pull(&client, &empty, &other, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest(), built.digest());
    for layer in local.layers() {
        assert_eq!(
            fs::read(empty.blob_path(layer.digest())).unwrap(),
            fs::read(store.blob_path(layer.digest())).unwrap()
        );
    }
}

#[test]
fn push_sends_an_index_and_its_manifests() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let amd64 = image(&store, "amd64", 1024);
    let arm64 = image(&store, "arm64", 2048);
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64, arm64],
    }))
    .unwrap();
    let digest = store.put_blob(&bytes).unwrap();
    let index = Descriptor::new(
        mkimage_core::oci_spec::image::MediaType::ImageIndex,
        bytes.len() as u64,
        digest.clone(),
    );
    let destination: Reference = registry.reference("it/multi:2").parse().unwrap();
    let pushed = push(&Client::default(), &store, &index, &destination, &NoEvents).unwrap();
    assert_eq!(pushed.digest, digest);
    assert_eq!(skopeo_digest(&destination.to_string()), digest.to_string());
    let arm = format!("{}@{}", registry.reference("it/multi"), arm64.digest());
    assert_eq!(
        skopeo_raw(&arm)["config"],
        serde_json::to_value(
            Image::load(&store, &arm64, &Platform::host())
                .unwrap()
                .config_descriptor()
        )
        .unwrap()
    );

    let empty_dir = tempfile::tempdir().unwrap();
    let empty = Store::open(empty_dir.path()).unwrap();
    let arm_platform: Platform = "linux/arm64".parse().unwrap();
    let pulled = pull(
        &Client::default(),
        &empty,
        &destination,
        &arm_platform,
        &NoEvents,
    )
    .unwrap();
    assert_eq!(pulled.descriptor.digest(), arm64.digest());
}

/// A client that retries fast, with `credential` for the registry `host`.
fn client_with(host: &str, credential: Credential) -> Client {
    let client = fast_client();
    client.set_credential(host, credential);
    client
}

/// Pulls `reference` into `store` with `client` for the host platform.
fn pull_host(
    client: &Client,
    store: &Store,
    reference: &Reference,
) -> Result<mkimage_core::registry::Pulled, Error> {
    pull(client, store, reference, &Platform::host(), &NoEvents)
}

/// What a pull says when the token service at `host` refuses the credential.
fn token_refused(host: &str) -> String {
    format!("the token service `http://{host}/token` answered HTTP 401")
}

#[test]
fn pull_with_a_bearer_token() {
    let registry = Registry::start();
    let (_source, pushed) = pushed_image(&registry, "it/bearer:1", 100 * 1024);
    let proxy = TokenProxy::start(registry.host(), "bob", "hunter2");
    let reference: Reference = format!("{}/it/bearer:1", proxy.host()).parse().unwrap();
    let bob = |password: &str| Credential {
        username: "bob".into(),
        password: password.into(),
    };

    // A wrong password: the token service refuses.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let client = client_with(&proxy.host(), bob("wrong"));
    let err = pull_host(&client, &store, &reference).unwrap_err();
    assert_eq!(err.to_string(), token_refused(&proxy.host()));

    let client = client_with(&proxy.host(), bob("hunter2"));
    let pulled = pull_host(&client, &store, &reference).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    // One token for the scope, shared by the manifest and blob requests of every thread
    // (a thread may race the first one to it).
    let issued = proxy.issued.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=3).contains(&issued), "{issued} tokens");
    client.check_login(&proxy.host(), bob("hunter2")).unwrap();
}

#[test]
fn pull_with_an_identity_token_trades_it_for_an_access_token() {
    let registry = Registry::start();
    let (_source, pushed) = pushed_image(&registry, "it/oauth:1", 10 * 1024);
    // The proxy takes its password as the refresh token.
    let proxy = TokenProxy::start(registry.host(), "bob", "refresh-me");
    let reference: Reference = format!("{}/it/oauth:1", proxy.host()).parse().unwrap();
    let token = |secret: &str| Credential {
        username: IDENTITY_TOKEN_USER.into(),
        password: secret.into(),
    };

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let client = client_with(&proxy.host(), token("stale"));
    let err = pull_host(&client, &store, &reference).unwrap_err();
    assert_eq!(err.to_string(), token_refused(&proxy.host()));

    let client = client_with(&proxy.host(), token("refresh-me"));
    let pulled = pull_host(&client, &store, &reference).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    assert!(proxy.issued.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn resolver_takes_the_store_first_unless_asked_to_pull() {
    use mkimage_core::registry::RegistryResolver;
    use mkimage_core::resolver::BaseResolver as _;

    let registry = Registry::start();
    let source_dir = tempfile::tempdir().unwrap();
    let source = Store::open(source_dir.path()).unwrap();
    let host = Platform::host();
    let first = image(&source, host.architecture(), 1000);
    let second = image(&source, host.architecture(), 2000);
    let name: Reference = "it/base:1".parse().unwrap();
    source.tag(&name, &first).unwrap();
    push_with_skopeo(&source, &name.to_string(), &registry, "it/base:1", false);
    let reference = registry.reference("it/base:1");

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cached = RegistryResolver::new(fast_client(), false);
    let found = cached
        .resolve(&store, &reference, &host, &NoEvents)
        .unwrap();
    assert_eq!(
        found.digest(),
        first.digest(),
        "pulled: the store lacked it"
    );

    source.tag(&name, &second).unwrap();
    push_with_skopeo(&source, &name.to_string(), &registry, "it/base:1", false);
    let found = cached
        .resolve(&store, &reference, &host, &NoEvents)
        .unwrap();
    assert_eq!(found.digest(), first.digest(), "the store's image");
    let always = RegistryResolver::new(fast_client(), true);
    let found = always
        .resolve(&store, &reference, &host, &NoEvents)
        .unwrap();
    assert_eq!(found.digest(), second.digest(), "the registry's image");
    let missing = registry.reference("it/none:1");
    let err = cached
        .resolve(&store, &missing, &host, &NoEvents)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("manifest for `{missing}` not found: MANIFEST_UNKNOWN: manifest unknown")
    );
}

#[test]
fn a_broken_download_resumes_with_range() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/flaky:1", 1 << 20);
    let proxy = FlakyProxy::start(registry.host());
    let reference: Reference = format!("{}/it/flaky:1", proxy.host()).parse().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pulled = pull(
        &fast_client(),
        &store,
        &reference,
        &Platform::host(),
        &NoEvents,
    )
    .unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    let big = Image::load(&source, &pushed, &Platform::host())
        .unwrap()
        .layers()[1]
        .clone();
    assert_eq!(
        fs::read(store.blob_path(big.digest())).unwrap(),
        fs::read(source.blob_path(big.digest())).unwrap()
    );
    assert_eq!(
        proxy.ranges.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the big layer was cut, and it was resumed"
    );
    assert_eq!(temps(&store), 0);
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    let registry = Registry::start();
    let (_source, pushed) = pushed_image(&registry, "it/retry:1", 1024);
    let client = Client::new(ClientOptions {
        net: fast_net(2),
        ..ClientOptions::default()
    });

    // Two 503s, then the registry: the pull goes through.
    let proxy = FlakyProxy::failing(registry.host(), 2);
    let reference: Reference = format!("{}/it/retry:1", proxy.host()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pulled = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());

    // Three 503s for the HEAD (an optimization: its failure is passed over), three for
    // the GET, one more than the retries: the error names the status.
    let proxy = FlakyProxy::failing(registry.host(), 6);
    let reference: Reference = format!("{}/it/retry:1", proxy.host()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap_err();
    assert_eq!(
        error_chain(&err),
        format!(
            "manifest `{}/it/retry:1` failed after 3 attempts\n\
             the server answered HTTP 503",
            proxy.host()
        )
    );

    // A 404 is asked once: one HEAD and one GET.
    let proxy = FlakyProxy::start(registry.host());
    let missing: Reference = format!("{}/it/retry:2", proxy.host()).parse().unwrap();
    let err = pull(&client, &store, &missing, &Platform::host(), &NoEvents).unwrap_err();
    assert!(err.to_string().starts_with("manifest for"), "{err}");
    assert_eq!(proxy.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Records the waits and retries reported, a line each.
#[derive(Default)]
struct Noted(Mutex<Vec<String>>);

impl Noted {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Events for Noted {
    fn request_waiting(&self, request: &RequestRef, waited: Duration) {
        let line = format!("waiting {}ms for {request}", waited.as_millis());
        self.0.lock().unwrap().push(line);
    }

    fn request_retrying(&self, request: &RequestRef, retry: &Retry) {
        let line = format!(
            "retry {}/{} of {request}: {}",
            retry.attempt, retry.attempts, retry.reason
        );
        self.0.lock().unwrap().push(line);
    }
}

/// A client whose timeouts are `timeout`, retrying `retries` times after short pauses.
fn impatient_client(timeout: Duration, retries: u32) -> Client {
    Client::new(ClientOptions {
        net: NetOptions {
            retries,
            backoff: Duration::from_millis(10),
            ..NetOptions::default().with_timeout(timeout)
        },
        ..ClientOptions::default()
    })
}

// See: issue 13
#[test]
fn a_registry_that_never_answers_fails_after_the_first_byte_timeout() {
    let silent = SilentServer::start();
    let reference: Reference = format!("{}/it/hung:1", silent.host()).parse().unwrap();
    let client = impatient_client(Duration::from_secs(1), 1);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let noted = Noted::default();

    let started = Instant::now();
    let err = pull(&client, &store, &reference, &Platform::host(), &noted).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "two tries of 1s each took {elapsed:?}"
    );
    assert_eq!(
        error_chain(&err),
        format!(
            "manifest `{reference}` failed after 2 attempts\n\
             no answer within the first-byte timeout of 1s"
        )
    );
    assert_eq!(silent.connections.load(Ordering::SeqCst), 2);
    let lines = noted.lines();
    let waiting = format!("waiting 500ms for manifest `{reference}`");
    let retry = format!(
        "retry 2/2 of manifest `{reference}`: no answer within the first-byte timeout of 1s"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == waiting).count(),
        2,
        "{lines:?}"
    );
    assert!(lines.contains(&retry), "{lines:?}");
    assert_eq!(store.resolve(&reference).unwrap(), None);
}

// See: issue 13
#[test]
fn a_blob_that_stalls_midway_resumes_after_the_idle_timeout() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/stall:1", 1 << 20);
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Silent, 0, |_| false, Cut::Stall);
    let reference: Reference = format!("{}/it/stall:1", proxy.host()).parse().unwrap();
    let client = impatient_client(Duration::from_secs(1), 2);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let noted = Noted::default();

    let pulled = pull(&client, &store, &reference, &Platform::host(), &noted).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    let big = Image::load(&source, &pushed, &Platform::host())
        .unwrap()
        .layers()[1]
        .clone();
    assert_eq!(
        fs::read(store.blob_path(big.digest())).unwrap(),
        fs::read(source.blob_path(big.digest())).unwrap()
    );
    assert_eq!(proxy.ranges.load(Ordering::SeqCst), 1, "resumed once");
    let blob = format!("blob `{}` of `{}/it/stall`", big.digest(), proxy.host());
    let lines = noted.lines();
    assert!(
        lines.contains(&format!(
            "retry 2/3 of {blob}: nothing sent or received for the idle timeout of 1s"
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("waiting 500ms for {blob}")),
        "{lines:?}"
    );
    assert_eq!(temps(&store), 0);
}

// See: issue 13
#[test]
fn a_blob_that_stalls_past_the_deadline_fails_without_retries() {
    let registry = Registry::start();
    let (source, pushed) = pushed_image(&registry, "it/late:1", 1 << 20);
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Silent, 0, |_| false, Cut::Stall);
    let reference: Reference = format!("{}/it/late:1", proxy.host()).parse().unwrap();
    let client = Client::new(ClientOptions {
        net: NetOptions {
            deadline: Duration::from_millis(1500),
            ..fast_net(3)
        },
        ..ClientOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();

    let started = Instant::now();
    let err = pull(&client, &store, &reference, &Platform::host(), &NoEvents).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let big = Image::load(&source, &pushed, &Platform::host())
        .unwrap()
        .layers()[1]
        .digest()
        .clone();
    assert_eq!(
        error_chain(&err),
        format!(
            "blob `{big}` of `{}/it/late` failed after 1 attempt\n\
             not done within the deadline of 1s 500ms",
            proxy.host()
        )
    );
    assert!(!store.has_blob(&big));
    assert_eq!(temps(&store), 0);
}

// See: issue 13
#[test]
fn reset_connections_are_retried_until_the_pull_succeeds() {
    let registry = Registry::start();
    let (_source, pushed) = pushed_image(&registry, "it/reset:1", 4096);
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Reset, 2, |_| true, Cut::None);
    let reference: Reference = format!("{}/it/reset:1", proxy.host()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let noted = Noted::default();

    let pulled = pull(
        &fast_client(),
        &store,
        &reference,
        &Platform::host(),
        &noted,
    );
    let err = pulled.unwrap_err();
    assert_eq!(
        error_chain(&err).lines().take(2).collect::<Vec<_>>(),
        [
            format!("manifest `{reference}` failed after 2 attempts").as_str(),
            "the connection failed"
        ],
        "one retry is not enough for two resets"
    );

    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Reset, 2, |_| true, Cut::None);
    let reference: Reference = format!("{}/it/reset:1", proxy.host()).parse().unwrap();
    let client = impatient_client(Duration::from_secs(30), 2);
    let pulled = pull(&client, &store, &reference, &Platform::host(), &noted).unwrap();
    assert_eq!(pulled.descriptor.digest(), pushed.digest());
    let retries: Vec<String> = noted
        .lines()
        .into_iter()
        .filter(|l| l.starts_with(&format!("retry 3/3 of manifest `{reference}`")))
        .collect();
    assert_eq!(
        retries,
        [format!(
            "retry 3/3 of manifest `{reference}`: the connection failed: Connection reset by peer (os error 104)"
        )]
    );
}

// See: issue 13
#[test]
fn an_upload_that_breaks_starts_again_in_a_new_session() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let built = image(&store, "amd64", 300 * 1024);
    let big = Image::load(&store, &built, &Platform::host())
        .unwrap()
        .layers()[1]
        .digest()
        .clone();
    // Small chunks, so that the big layer goes in several PATCH requests.
    let client = Client::new(ClientOptions {
        chunk_size: 64 * 1024,
        net: fast_net(2),
        ..ClientOptions::default()
    });

    // The second chunk of the big layer is reset, then a whole blob's PUT is refused.
    let proxy = FlakyProxy::spoiling(registry.host(), Fault::Reset, 1, is_second_patch, Cut::None);
    let destination: Reference = format!("{}/it/upload:1", proxy.host()).parse().unwrap();
    let noted = Noted::default();
    let pushed = push(&client, &store, &built, &destination, &noted).unwrap();
    assert_eq!(&pushed.digest, built.digest());
    assert_eq!(
        skopeo_digest(&registry.reference("it/upload:1")),
        built.digest().to_string()
    );
    let lines = noted.lines();
    let retry = format!(
        "retry 2/3 of upload of blob `{big}` to `{}/it/upload`: the connection failed",
        proxy.host()
    );
    assert!(lines.iter().any(|l| l.starts_with(&retry)), "{lines:?}");

    let proxy = FlakyProxy::spoiling(
        registry.host(),
        Fault::Unavailable,
        1,
        |line| line.starts_with("PUT ") && line.contains("/blobs/uploads/"),
        Cut::None,
    );
    let destination: Reference = format!("{}/it/upload:2", proxy.host()).parse().unwrap();
    let fresh = image(&store, "arm64", 1024);
    let pushed = push(&client, &store, &fresh, &destination, &NoEvents).unwrap();
    assert_eq!(&pushed.digest, fresh.digest());
    assert_eq!(
        skopeo_digest(&registry.reference("it/upload:2")),
        fresh.digest().to_string()
    );
}

/// Whether a request line is the second `PATCH` seen: the second chunk of the big layer,
/// the only blob sent in chunks.
fn is_second_patch(line: &str) -> bool {
    static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    line.starts_with("PATCH ") && SEEN.fetch_add(1, Ordering::SeqCst) == 1
}

// See: issue 13
#[test]
fn a_config_larger_than_the_store_reads_is_refused_before_its_download() {
    let registry = Registry::start();
    let source_dir = tempfile::tempdir().unwrap();
    let source = Store::open(source_dir.path()).unwrap();
    let real = image(&source, "amd64", 1024);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&source.read_blob(real.digest()).unwrap()).unwrap();
    let claimed = mkimage_core::store::JSON_LIMIT + 1;
    manifest["config"]["size"] = claimed.into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = source.put_blob(&bytes).unwrap();
    let huge = Descriptor::new(
        mkimage_core::oci_spec::image::MediaType::ImageManifest,
        bytes.len() as u64,
        digest.clone(),
    );
    let destination: Reference = registry.reference("it/huge:1").parse().unwrap();
    push(&fast_client(), &source, &huge, &destination, &NoEvents).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = pull(
        &fast_client(),
        &store,
        &destination,
        &Platform::host(),
        &NoEvents,
    )
    .unwrap_err();
    let config = manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "the config `{config}` of `{}/it/huge@{digest}` has {claimed} bytes, more than the {} allowed",
            registry.host(),
            claimed - 1
        )
    );
    assert!(!store.has_blob(&config.parse().unwrap()));
}

// See: issue 13
#[test]
fn a_token_answer_larger_than_a_token_needs_is_refused() {
    let server = ScriptedServer::start(|line, port| {
        if line.starts_with("GET /token") {
            let body = format!(r#"{{"token":"{}"}}"#, "t".repeat(2 << 20));
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            return [head, body].concat().into_bytes();
        }
        format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\"\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    });
    let reference: Reference = format!("{}/it/private:1", server.host()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = pull(
        &fast_client(),
        &store,
        &reference,
        &Platform::host(),
        &NoEvents,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the token service `http://{}/token` sent an answer larger than 1048576 bytes",
            server.host()
        )
    );
}

// See: issue 13
#[test]
fn push_of_a_corrupt_blob_commits_nothing() {
    use std::error::Error as _;

    let registry = Registry::start();
    // Flipped or cut, sent whole or in chunks (the last chunk carries the check).
    for (n, cut, chunk_size) in [
        (0, false, 1 << 24),
        (1, true, 1 << 24),
        (2, false, 64 * 1024),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let built = image(&store, "amd64", 300 * 1024);
        let local = Image::load(&store, &built, &Platform::host()).unwrap();
        let big = local.layers()[1].digest();
        let mut bytes = fs::read(store.blob_path(big)).unwrap();
        if cut {
            bytes.truncate(bytes.len() / 2);
        } else {
            bytes[1000] ^= 1;
        }
        fs::write(store.blob_path(big), &bytes).unwrap();
        let actual = mkimage_core::digest::sha256(&bytes);

        let destination: Reference = registry
            .reference(&format!("it/corrupt{n}:1"))
            .parse()
            .unwrap();
        let client = Client::new(ClientOptions {
            chunk_size,
            ..ClientOptions::default()
        });
        let error = push(&client, &store, &built, &destination, &NoEvents).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot push `{destination}`: a blob of it is corrupt in the store")
        );
        assert_eq!(
            error.source().unwrap().to_string(),
            format!("blob `{big}` is corrupt: its content has digest `{actual}`")
        );
        for digest in [big, &actual] {
            assert!(!registry.blob_file(digest.digest()).exists(), "{digest}");
        }
        let inspect = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{destination}"))
            .output()
            .expect("skopeo (Debian package `skopeo`)");
        assert!(!inspect.status.success(), "no manifest was pushed");
        assert!(
            String::from_utf8_lossy(&inspect.stderr).contains("manifest unknown"),
            "{inspect:?}"
        );
    }
}

// See: issue 13
#[test]
fn a_corrupt_local_base_is_an_error_not_a_pull() {
    use mkimage_core::registry::RegistryResolver;
    use mkimage_core::resolver::BaseResolver as _;

    let registry = Registry::start();
    let (_source, pushed) = pushed_image(&registry, "it/base:1", 1000);
    let reference = registry.reference("it/base:1");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let resolver = RegistryResolver::new(fast_client(), false);
    let host = Platform::host();
    let found = resolver
        .resolve(&store, &reference, &host, &NoEvents)
        .unwrap();
    assert_eq!(found.digest(), pushed.digest());

    // The config changes on disk: the registry still has the image, but the store's is
    // the one `FROM` names, and it is corrupt.
    let config = Image::load(&store, &found, &host)
        .unwrap()
        .config_descriptor()
        .clone();
    let path = store.blob_path(config.digest());
    let mut permissions = fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
    fs::set_permissions(&path, permissions).unwrap();
    fs::write(&path, b"{}").unwrap();
    let error = resolver
        .resolve(&store, &reference, &host, &NoEvents)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the image `{reference}` (`{}`) in the local store is corrupt",
            found.digest()
        )
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        cause,
        format!(
            "blob `{}` is corrupt: its content has digest `sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`",
            config.digest()
        )
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        b"{}",
        "nothing was pulled over it"
    );
}
