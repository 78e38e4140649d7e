//! The store commands (`images`, `tag`, `rmi`, `inspect`, `history`, `prune`) run as a
//! user runs them, on a store filled through the library.

use std::path::Path;
use std::process::Output;

use mkimage_core::layer::{Compression, Content, Entry, EntryKind, LayerOptions, LayerPath};
use mkimage_core::oci::{History, ImageConfig, RootFs, RunConfig, write_image};
use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::store::Store;

/// Runs `mkimage --root ROOT ARGS…`, with no attestation but those asked for (the
/// tests of attestations in `attest.rs` ask for the defaults).
pub(crate) fn mkimage(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run mkimage")
}

/// Stdout of a run that must succeed.
pub(crate) fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "mkimage failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// An image with one file `/greeting` holding `text`, created three hours ago.
pub(crate) fn image(store: &Store, text: &str) -> Descriptor {
    image_with(store, text, Compression::Gzip { level: 6 })
}

/// [`image`] with its layer compressed as `compression`.
pub(crate) fn image_with(store: &Store, text: &str, compression: Compression) -> Descriptor {
    let entry = Entry::new(
        LayerPath::new("greeting").expect("a valid path"),
        EntryKind::File(Content::Bytes(text.as_bytes().to_vec())),
    )
    .with_mode(0o644);
    let options = LayerOptions {
        compression,
        ..LayerOptions::default()
    };
    let (blob, layer) =
        mkimage_core::layer::write_layer(store.begin_blob().expect("blob"), vec![entry], &options)
            .expect("write layer");
    blob.commit_verified(&layer.digest).expect("commit layer");
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let created =
        (now - chrono::Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: RunConfig {
            cmd: Some(vec!["/bin/sh".into()]),
            ..RunConfig::default()
        },
        rootfs: RootFs {
            diff_ids: vec![layer.diff_id.clone()],
            ..RootFs::default()
        },
        history: vec![
            History {
                created: Some(created.clone()),
                created_by: Some(format!("COPY greeting / # {text}")),
                ..History::default()
            },
            History {
                created: Some(created),
                created_by: Some(
                    "/bin/sh -c #(nop)  CMD [\"/bin/sh\"] and a long tail that gets cut".into(),
                ),
                empty_layer: true,
                ..History::default()
            },
        ],
        ..ImageConfig::default()
    };
    write_image(
        store,
        &config,
        &[Descriptor::new(layer.media_type, layer.size, layer.digest)],
    )
    .expect("write image")
}

fn short(descriptor: &Descriptor) -> String {
    descriptor.digest().digest()[..12].to_owned()
}

/// The lines of `text`, each split into its words.
fn words(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// How a test damages a blob file of the store.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Damage {
    /// One byte in the middle changed, the length kept.
    Flip,
    /// The second half cut off.
    Cut,
}

impl Damage {
    /// Damages the file `path`; returns the digest of what it then holds.
    pub(crate) fn apply(self, path: &Path) -> String {
        let mut bytes = std::fs::read(path).unwrap();
        let middle = bytes.len() / 2;
        match self {
            Damage::Flip => bytes[middle] ^= 0x20,
            Damage::Cut => bytes.truncate(middle),
        }
        std::fs::write(path, &bytes).unwrap();
        mkimage_core::digest::sha256(&bytes).to_string()
    }
}

/// The digests of the config and the first layer of the image manifest `manifest`.
pub(crate) fn config_and_layer(store: &Store, manifest: &Descriptor) -> (String, String) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(manifest.digest()).unwrap()).unwrap();
    let digest = |value: &serde_json::Value| value["digest"].as_str().unwrap().to_owned();
    (digest(&manifest["config"]), digest(&manifest["layers"][0]))
}

/// Stderr of a run that must fail.
pub(crate) fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "mkimage succeeded");
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

#[test]
fn images_tag_and_rmi_follow_docker() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::open(root).unwrap();
    let (one, two) = (image(&store, "one"), image(&store, "two"));
    store.add_image(&one).unwrap();
    store.add_image(&two).unwrap();
    let size = mkimage_core::store::Store::images(&store).unwrap()[0].size;
    assert!(size < 1000, "a small image: {size}");
    let size = format!("{size}B");
    let (id1, id2) = (short(&one), short(&two));
    let (first, second) = if one.digest().as_ref() < two.digest().as_ref() {
        (&id1, &id2)
    } else {
        (&id2, &id1)
    };

    let listed = stdout(&mkimage(root, &["images"]));
    assert_eq!(
        listed.lines().next().unwrap(),
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE"
    );
    assert_eq!(
        words(&listed)[1..],
        [
            ["<none>", "<none>", first, "3", "hours", "ago", &size],
            ["<none>", "<none>", second, "3", "hours", "ago", &size],
        ]
    );

    // By digest, id and name; a second name; moving a name leaves `<none>`.
    assert_eq!(
        stdout(&mkimage(root, &["tag", one.digest().as_ref(), "app:1"])),
        ""
    );
    assert_eq!(
        stdout(&mkimage(root, &["tag", "app:1", "localhost:5000/team/app"])),
        ""
    );
    assert_eq!(stdout(&mkimage(root, &["tag", &id2, "app:1"])), "");
    let listed = stdout(&mkimage(root, &["images"]));
    assert_eq!(
        words(&listed)[1..],
        [
            ["app", "1", &id2, "3", "hours", "ago", &size],
            [
                "localhost:5000/team/app",
                "latest",
                &id1,
                "3",
                "hours",
                "ago",
                &size
            ],
        ]
    );
    let quiet = stdout(&mkimage(root, &["images", "-q"]));
    assert_eq!(quiet, format!("{id2}\n{id1}\n"));

    assert_eq!(
        failure(&mkimage(root, &["tag", "app:1", "Bad/Name"])),
        "error: invalid reference `Bad/Name`: repository name `Name` must be lowercase\n"
    );
    assert_eq!(
        failure(&mkimage(root, &["tag", "app:2", "x"])),
        "error: no such image `app:2`\n"
    );

    // rmi: a missing name fails without stopping the others.
    let out = mkimage(
        root,
        &["rmi", "nothing", "localhost:5000/team/app", "app:1"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no such image `nothing`\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Untagged: localhost:5000/team/app:latest\nDeleted: {}\nUntagged: app:1\nDeleted: {}\n",
            one.digest(),
            two.digest()
        )
    );
    assert!(!out.status.success());
    assert_eq!(
        stdout(&mkimage(root, &["images"])),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
}

#[test]
fn inspect_and_history_show_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::open(root).unwrap();
    let one = image(&store, "one");
    store.tag(&"app:1".parse().unwrap(), &one).unwrap();
    let image = mkimage_core::oci::Image::load(&store, &one, &mkimage_core::plan::Platform::host())
        .unwrap();

    let inspected: serde_json::Value =
        serde_json::from_str(&stdout(&mkimage(root, &["inspect", "app:1"]))).unwrap();
    let inspected = &inspected[0];
    assert_eq!(inspected["Id"], one.digest().to_string());
    assert_eq!(inspected["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(
        inspected["ConfigDigest"],
        image.config_descriptor().digest().to_string()
    );
    assert_eq!(
        inspected["Config"]["config"]["Cmd"],
        serde_json::json!(["/bin/sh"])
    );
    assert_eq!(
        inspected["Layers"][0]["DiffId"],
        image.diff_ids()[0].to_string()
    );
    assert_eq!(
        inspected["Layers"][0]["Digest"],
        image.layers()[0].digest().to_string()
    );
    assert_eq!(
        inspected["Manifest"]["config"]["digest"],
        image.config_descriptor().digest().to_string()
    );
    assert_eq!(
        failure(&mkimage(root, &["inspect", "app:1", "app:2"])),
        "error: no such image `app:2`\n"
    );

    let history = stdout(&mkimage(root, &["history", "app:1"]));
    let layer = image.layers()[0].size();
    assert_eq!(
        history,
        format!(
            "IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT\n\
             {}   3 hours ago   /bin/sh -c #(nop)  CMD [\"/bin/sh\"] and a lon…   0B\n\
             <missing>      3 hours ago   COPY greeting / # one                           {layer}B\n",
            short(&one)
        )
    );
}

#[test]
fn prune_removes_untagged_images_and_their_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::open(root).unwrap();
    let (one, two) = (image(&store, "one"), image(&store, "two"));
    store.tag(&"app:1".parse().unwrap(), &one).unwrap();
    store.add_image(&two).unwrap();
    let pruned = stdout(&mkimage(root, &["prune"]));
    let lines: Vec<&str> = pruned.lines().collect();
    assert_eq!(
        lines[..3],
        ["Deleted Images:", &format!("deleted: {}", two.digest()), ""]
    );
    assert!(lines[3].starts_with("Total reclaimed space: "), "{pruned}");
    assert!(store.has_blob(one.digest()));
    assert!(!store.has_blob(two.digest()));
    assert_eq!(
        stdout(&mkimage(root, &["prune"])),
        "Total reclaimed space: 0B\n"
    );
    // See: issue 13. What a killed build left counts too.
    let left = root.join("tmp/scratch-left/rootfs");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("file"), vec![0; 2500]).unwrap();
    assert_eq!(
        stdout(&mkimage(root, &["prune"])),
        "Total reclaimed space: 2.5kB\n"
    );
}

#[test]
fn four_processes_tag_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::open(root).unwrap();
    let one = image(&store, "one");
    store.tag(&"base".parse().unwrap(), &one).unwrap();
    let script = r#"for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do "$0" --root "$1" tag base "p$2-$i" || exit 1; done"#;
    let children: Vec<_> = (0..4)
        .map(|p| {
            std::process::Command::new("sh")
                .args(["-c", script, env!("CARGO_BIN_EXE_mkimage")])
                .arg(root)
                .arg(p.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let names = store.tags().unwrap();
    assert_eq!(names.len(), 4 * 15 + 1);
    assert!(names.iter().all(|t| t.descriptor.digest() == one.digest()));
}

/// `prune --keep-storage SIZE` removes the least recently used cache records until what
/// the rest keep fits in SIZE; their layers go with them, so those steps miss again.
#[test]
fn prune_keep_storage_trims_the_oldest_cache_first() {
    use crate::build::{build, ok};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let context = |name: &str, seed: u8| {
        let ctx = dir.path().join(name);
        std::fs::create_dir(&ctx).unwrap();
        // 100 KiB that gzip cannot shrink much.
        let mut state = u32::from(seed) + 1;
        let data: Vec<u8> = (0..100 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        std::fs::write(ctx.join("data"), data).unwrap();
        std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY data /data\n").unwrap();
        ctx
    };
    let (old, new) = (context("old", 1), context("new", 2));
    let cached = |ctx: &Path| {
        let stderr = build(&root, &["--progress", "plain", ctx.to_str().unwrap()]);
        ok(&stderr);
        String::from_utf8_lossy(&stderr.stderr).contains("CACHED")
    };
    assert!(!cached(&old));
    assert!(!cached(&new));
    // A hit marks the record used: `old` is now the most recently used.
    assert!(cached(&old));
    // Untagged builds: only the cache records keep their layers now.
    stdout(&mkimage(&root, &["prune", "--keep-storage", "150KB"]));
    assert!(cached(&old), "the most recently used record was kept");
    assert!(!cached(&new), "the least recently used record was trimmed");

    let out = stdout(&mkimage(&root, &["prune", "--keep-storage", "0"]));
    assert!(out.contains("Build cache: 2 entries removed"), "{out}");
    assert!(!cached(&new));
    let bad = mkimage(&root, &["prune", "--keep-storage", "lots"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid size `lots`"));
}

/// The uid and gid of `nobody`, the other local user of the store tests.
const NOBODY: u32 = 65534;

/// What `nobody` manages to do to `paths` (each `d:PATH` for a directory, `f:PATH` for
/// anything else that can be opened): one line per directory listed or created in and
/// per file read or appended to.
fn nobody_reaches(paths: &[String]) -> String {
    let script = r#"for p; do
        path=${p#?:}
        case $p in
        d:*) ls -a "$path" >/dev/null 2>&1 && echo "listed $path"
             (: > "$path/.intruder") 2>/dev/null && echo "created in $path" ;;
        f:*) cat "$path" >/dev/null 2>&1 && echo "read $path"
             (printf poisoned >> "$path") 2>/dev/null && echo "wrote $path" ;;
        esac
    done
    exit 0"#;
    let output = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .args(paths)
        .output()
        .expect("setpriv (Debian package `util-linux`)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Every directory, regular file and device under `root`, as [`nobody_reaches`] takes
/// them (symbolic links, pipes and sockets are left out), listed by `find`.
fn store_paths(root: &Path) -> Vec<String> {
    crate::build::tool("find", &[root.to_str().unwrap(), "-printf", "%y:%p\n"])
        .lines()
        .filter_map(|line| match line.split_once(':') {
            Some(("d", path)) => Some(format!("d:{path}")),
            Some(("f" | "c" | "b", path)) => Some(format!("f:{path}")),
            _ => None,
        })
        .collect()
}

// See: issue 13
#[test]
fn another_user_can_neither_read_nor_change_the_store() {
    use std::os::unix::fs::PermissionsExt as _;

    use crate::build::build;

    let dir = tempfile::tempdir().unwrap();
    // Only the store's own modes may keep `nobody` out, not those of the temp dir.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    mkimage_core::testutil::busybox_image(&store, "busybox:test").unwrap();
    let context = |name: &str, dockerfile: &str| {
        let ctx = dir.path().join(name);
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        ctx.to_str().unwrap().to_owned()
    };
    // A file of `nobody`'s, a world-writable file and directory in the image.
    let victim = context(
        "victim",
        "FROM busybox:test\n\
         RUN echo original > /owned && chown 65534:65534 /owned \
             && echo original > /open && chmod 666 /open && mkdir /shared && chmod 1777 /shared\n",
    );
    stdout(&build(&root, &["-q", "-t", "victim", &victim]));
    let user = context(
        "user",
        "FROM victim\n\
         RUN --mount=type=cache,target=/cache,mode=0777 cat /owned /open && echo x > /cache/x\n",
    );
    stdout(&build(&root, &["-q", &user]));

    let paths = store_paths(&root);
    for part in [
        "d:/blobs/sha256",
        "f:/index.json",
        "/data/rootfs/",
        "/data/cache-mounts/",
        "/diff/owned",
    ] {
        let part = part.replacen(':', &format!(":{}", root.display()), 1);
        assert!(
            paths.iter().any(|path| path.contains(part.as_str())),
            "{part} is among the store's paths"
        );
    }
    assert_eq!(nobody_reaches(&paths), "", "nobody reaches into the store");
    // The check itself sees what `nobody` may reach.
    let open = dir.path().join("open");
    std::fs::write(&open, "x").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let open = format!("f:{}", open.display());
    assert_eq!(
        nobody_reaches(std::slice::from_ref(&open)),
        format!("read {0}\nwrote {0}\n", &open[2..])
    );

    let rebuilt = build(&root, &["--no-cache", "--progress", "plain", &user]);
    let progress = String::from_utf8_lossy(&rebuilt.stderr).into_owned();
    assert!(rebuilt.status.success(), "{progress}");
    assert!(progress.contains("original\n#"), "{progress}");
    assert!(!progress.contains("poisoned"), "{progress}");

    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(
        failure(&mkimage(&root, &["images"])),
        format!(
            "error: store `{}` is writable by group or others (mode 0777): anyone could have \
             changed its content; remove it, or `chmod 700` it if you trust what it holds\n",
            root.display()
        )
    );
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    crate::build::tool("chown", &[&NOBODY.to_string(), root.to_str().unwrap()]);
    assert!(failure(&mkimage(&root, &["images"])).starts_with(&format!(
        "error: store `{}` is owned by uid 65534, not by this user (uid 0): ",
        root.display()
    )));
}
