//! Image archives written from the store, checked with skopeo, umoci and podman, and read
//! back.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer,
};
use mkimage_core::oci::{
    ArchiveFormat, ArchiveImage, History, Image, ImageConfig, ImageSource, RootFs, RunConfig,
    import, load, write_archive, write_image,
};
use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::plan::Platform;
use mkimage_core::store::Store;
use serde_json::Value;

use crate::layer::run;

const NAME: &str = "localhost:5000/it/app:1";

fn p(s: &str) -> LayerPath {
    LayerPath::new(s).unwrap()
}

fn file(path: &str, content: &str, mode: u32) -> Entry {
    Entry::new(
        p(path),
        EntryKind::File(Content::Bytes(content.as_bytes().to_vec())),
    )
    .with_mode(mode)
    .with_mtime(1_700_000_000)
}

/// Writes one layer into the store.
fn layer(store: &Store, entries: Vec<Entry>, compression: Compression) -> (Descriptor, String) {
    let options = LayerOptions {
        compression,
        ..LayerOptions::default()
    };
    let (blob, written) = write_layer(store.begin_blob().unwrap(), entries, &options).unwrap();
    blob.commit_verified(&written.digest).unwrap();
    (
        Descriptor::new(written.media_type, written.size, written.digest),
        written.diff_id.to_string(),
    )
}

/// An image of two layers (gzip, then uncompressed) and a config, tagged [`NAME`].
fn fixture(store: &Store) -> Descriptor {
    let (base, base_diff) = layer(
        store,
        vec![
            Entry::new(p("app"), EntryKind::Dir).with_mode(0o755),
            file("app/hello.txt", "hello\n", 0o644),
            file("app/run.sh", "#!/bin/sh\necho hi\n", 0o755),
            Entry::new(p("app/link"), EntryKind::Symlink("hello.txt".into())),
            Entry::new(p("home"), EntryKind::Dir).with_mode(0o755),
            file("home/data", "owned\n", 0o600).with_owner(1000, 1000),
        ],
        Compression::Gzip { level: 6 },
    );
    let (top, top_diff) = layer(
        store,
        vec![
            Entry::new(p("etc"), EntryKind::Dir).with_mode(0o755),
            file("etc/motd", "welcome\n", 0o644),
        ],
        Compression::Uncompressed,
    );
    let config = ImageConfig {
        created: Some("2024-01-01T00:00:00Z".into()),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: RunConfig {
            env: Some(vec!["PATH=/usr/bin:/bin".into()]),
            cmd: Some(vec!["/app/run.sh".into()]),
            working_dir: Some("/app".into()),
            labels: [("org.example".to_owned(), "yes".to_owned())].into(),
            ..RunConfig::default()
        },
        rootfs: RootFs {
            diff_ids: vec![base_diff.parse().unwrap(), top_diff.parse().unwrap()],
            ..RootFs::default()
        },
        history: vec![
            History {
                created_by: Some("COPY app /app".into()),
                ..History::default()
            },
            History {
                created_by: Some("COPY motd /etc/motd".into()),
                ..History::default()
            },
        ],
        ..ImageConfig::default()
    };
    let manifest = write_image(store, &config, &[base, top]).unwrap();
    store.tag(&NAME.parse().unwrap(), &manifest).unwrap();
    manifest
}

fn save(store: &Store, image: &Descriptor, format: ArchiveFormat, path: &Path) {
    let images = [ArchiveImage {
        descriptor: image.clone(),
        names: vec![NAME.parse().unwrap()],
    }];
    let out = fs::File::create(path).unwrap();
    write_archive(store, &images, format, &Platform::host(), out).unwrap();
}

/// A store at `dir/store` holding the [`fixture`] image, saved as `format` to
/// `dir/file`; returns the store, the image and the archive.
fn saved(dir: &Path, format: ArchiveFormat, file: &str) -> (Store, Descriptor, PathBuf) {
    let store = Store::open(dir.join("store")).unwrap();
    let manifest = fixture(&store);
    let tar = dir.join(file);
    save(&store, &manifest, format, &tar);
    (store, manifest, tar)
}

/// Extracts the archive `tar` into the new directory `layout`, with GNU tar.
fn unpack_layout(tar: &Path, layout: &Path) -> PathBuf {
    fs::create_dir(layout).unwrap();
    run(
        "tar",
        "tar",
        &["-xf", tar.to_str().unwrap(), "-C", layout.to_str().unwrap()],
        b"",
    );
    layout.to_owned()
}

fn skopeo_inspect(target: &str) -> Value {
    let out = run("skopeo", "skopeo", &["inspect", target], b"");
    serde_json::from_slice(&out).unwrap()
}

fn layer_digests(image: &Image) -> Vec<String> {
    image
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect()
}

/// `path type mode uid:gid content-or-target` for each path under `root`.
fn tree(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for item in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let item = item.unwrap();
        let meta = item.path().symlink_metadata().unwrap();
        let rel = item
            .path()
            .strip_prefix(root)
            .unwrap()
            .display()
            .to_string();
        let what = if meta.file_type().is_symlink() {
            format!("-> {}", fs::read_link(item.path()).unwrap().display())
        } else if meta.is_file() {
            format!("{:?}", fs::read_to_string(item.path()).unwrap())
        } else {
            "dir".to_owned()
        };
        let mode = if meta.file_type().is_symlink() {
            0
        } else {
            meta.mode() & 0o7777
        };
        lines.push(format!(
            "{rel} {mode:o} {}:{} {what}",
            meta.uid(),
            meta.gid()
        ));
    }
    lines
}

#[test]
fn oci_archive_is_read_by_skopeo_and_umoci() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, tar) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let image = Image::load(&store, &manifest, &Platform::host()).unwrap();

    // As BuildKit writes it: the tag in `ref.name`, the full name for containerd.
    let index = String::from_utf8(run(
        "tar",
        "tar",
        &["-xOf", tar.to_str().unwrap(), "index.json"],
        b"",
    ))
    .unwrap();
    let index: Value = serde_json::from_str(&index).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"],
        serde_json::json!({
            "io.containerd.image.name": NAME,
            "org.opencontainers.image.ref.name": "1",
        })
    );
    let inspected = skopeo_inspect(&format!("oci-archive:{}:1", tar.display()));
    assert_eq!(inspected["Digest"], manifest.digest().to_string());
    assert_eq!(
        inspected["Layers"],
        serde_json::json!(layer_digests(&image))
    );
    let copied = dir.path().join("copied");
    run(
        "skopeo",
        "skopeo",
        &[
            "copy",
            "--preserve-digests",
            &format!("oci-archive:{}:1", tar.display()),
            &format!("oci:{}:copy", copied.display()),
        ],
        b"",
    );
    let inspected = skopeo_inspect(&format!("oci:{}:copy", copied.display()));
    assert_eq!(inspected["Digest"], manifest.digest().to_string());
    assert_eq!(inspected["Env"], serde_json::json!(["PATH=/usr/bin:/bin"]));
    assert_eq!(inspected["Labels"]["org.example"], "yes");

    let layout = unpack_layout(&tar, &dir.path().join("layout"));
    let bundle = dir.path().join("bundle");
    let image_arg = format!("{}:1", layout.display());
    run(
        "umoci",
        "umoci",
        &["unpack", "--image", &image_arg, bundle.to_str().unwrap()],
        b"",
    );
    assert_eq!(
        tree(&bundle.join("rootfs")),
        [
            "app 755 0:0 dir",
            "app/hello.txt 644 0:0 \"hello\\n\"",
            "app/link 0 0:0 -> hello.txt",
            "app/run.sh 755 0:0 \"#!/bin/sh\\necho hi\\n\"",
            "etc 755 0:0 dir",
            "etc/motd 644 0:0 \"welcome\\n\"",
            "home 755 0:0 dir",
            "home/data 600 1000:1000 \"owned\\n\"",
        ]
    );
}

#[test]
fn docker_archive_is_read_by_skopeo_and_podman() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, tar) = saved(dir.path(), ArchiveFormat::Docker, "docker.tar");
    let image = Image::load(&store, &manifest, &Platform::host()).unwrap();

    let inspected = skopeo_inspect(&format!("docker-archive:{}", tar.display()));
    // A docker archive's layers are known by their diff_ids.
    let diff_ids: Vec<String> = image.diff_ids().iter().map(|d| d.to_string()).collect();
    assert_eq!(inspected["Layers"], serde_json::json!(diff_ids));
    assert_eq!(inspected["RepoTags"], serde_json::json!([]));
    // The same file is an OCI layout as well.
    let inspected = skopeo_inspect(&format!("oci-archive:{}", tar.display()));
    assert_eq!(inspected["Digest"], manifest.digest().to_string());

    let podman = |args: &[&str]| podman(&dir.path().join("podman"), args);
    podman(&["load", "-i", tar.to_str().unwrap()]);
    let listed = podman(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let config_hex = &image.config_descriptor().digest().digest()[..12];
    assert_eq!(listed.trim(), format!("{} {config_hex}", NAME));
    let layers = podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        NAME,
    ]);
    let layers: Value = serde_json::from_str(&layers).unwrap();
    assert_eq!(layers, serde_json::json!(diff_ids));
    let cmd = podman(&["image", "inspect", "--format", "{{json .Config.Cmd}}", NAME]);
    assert_eq!(cmd.trim(), r#"["/app/run.sh"]"#);
}

/// Runs podman with its storage under `root`, returning what it prints.
fn podman(root: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "--root".to_owned(),
        root.join("root").display().to_string(),
        "--runroot".to_owned(),
        root.join("run").display().to_string(),
        "--storage-driver".to_owned(),
        "vfs".to_owned(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    String::from_utf8(run("podman", "podman", &all, b"")).unwrap()
}

#[test]
fn oci_archive_is_loaded_by_podman_under_its_full_name() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, tar) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let image = Image::load(&store, &manifest, &Platform::host()).unwrap();
    let podman = |args: &[&str]| podman(&dir.path().join("podman"), args);
    podman(&["load", "-i", tar.to_str().unwrap()]);
    let listed = podman(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let config_hex = &image.config_descriptor().digest().digest()[..12];
    assert_eq!(listed.trim(), format!("{NAME} {config_hex}"));
}

#[test]
fn archives_with_the_full_name_in_ref_name_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, manifest, tar) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let layout = unpack_layout(&tar, &dir.path().join("layout"));
    // The index as mkimage wrote it before: the full name in `ref.name` alone.
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]["annotations"] =
        serde_json::json!({ "org.opencontainers.image.ref.name": NAME });
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let old = dir.path().join("old.tar");
    run(
        "tar",
        "tar",
        &[
            "-cf",
            old.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
            ".",
        ],
        b"",
    );
    let empty = Store::open(dir.path().join("empty")).unwrap();
    let imported = load(&empty, &old).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].descriptor, manifest);
    assert_eq!(imported[0].names, [NAME.parse().unwrap()]);
    let resolved = empty.resolve(&NAME.parse().unwrap()).unwrap().unwrap();
    assert_eq!(resolved.digest(), manifest.digest());
    let source: ImageSource = format!("oci:{}:{NAME}", layout.display()).parse().unwrap();
    assert_eq!(import(&empty, &source).unwrap()[0].descriptor, manifest);
}

#[test]
fn archives_load_back_with_equal_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let manifest = fixture(&store);
    let original = Image::load(&store, &manifest, &Platform::host()).unwrap();
    for (format, file) in [
        (ArchiveFormat::Oci, "oci.tar"),
        (ArchiveFormat::Docker, "docker.tar"),
    ] {
        let tar = dir.path().join(file);
        save(&store, &manifest, format, &tar);
        let empty = Store::open(dir.path().join(format!("{file}.store"))).unwrap();
        let imported = load(&empty, &tar).unwrap();
        assert_eq!(imported.len(), 1);
        assert_eq!(imported[0].descriptor, manifest, "{file}");
        assert_eq!(imported[0].names, [NAME.parse().unwrap()], "{file}");
        let resolved = empty.resolve(&NAME.parse().unwrap()).unwrap().unwrap();
        assert_eq!(resolved.digest(), manifest.digest());
        let loaded = Image::load(&empty, &resolved, &Platform::host()).unwrap();
        assert_eq!(loaded, original, "{file}");
    }
}

#[test]
fn archives_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut archives = Vec::new();
    for i in 0..2 {
        let store = Store::open(dir.path().join(format!("store{i}"))).unwrap();
        let manifest = fixture(&store);
        for format in [ArchiveFormat::Oci, ArchiveFormat::Docker] {
            let mut out = Vec::new();
            let images = [ArchiveImage {
                descriptor: manifest.clone(),
                names: vec![NAME.parse().unwrap()],
            }];
            out = write_archive(&store, &images, format, &Platform::host(), out).unwrap();
            archives.push(out);
        }
    }
    assert_eq!(archives[0], archives[2]);
    assert_eq!(archives[1], archives[3]);
    let listing = crate::layer::tar_listing(&archives[1]);
    let names: Vec<&str> = listing
        .lines()
        .map(|line| line.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"blobs/"));
    assert_eq!(
        &names[names.len() - 3..],
        ["index.json", "manifest.json", "oci-layout"]
    );
    assert!(
        listing
            .lines()
            .all(|line| line.contains(" 0/0 ") && line.contains(" 1970-01-01 00:00:00 "))
    );
}

#[test]
fn docker_save_archives_keep_layers_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, oci) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let original = Image::load(&store, &manifest, &Platform::host()).unwrap();
    // skopeo writes the classic `docker save` format: `<id>.tar` layers, uncompressed.
    let legacy = dir.path().join("legacy.tar");
    run(
        "skopeo",
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{}:1", oci.display()),
            &format!("docker-archive:{}:other/name:2", legacy.display()),
        ],
        b"",
    );
    let empty = Store::open(dir.path().join("empty")).unwrap();
    let source: ImageSource = format!("docker-archive:{}", legacy.display())
        .parse()
        .unwrap();
    let imported = import(&empty, &source).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].names, ["other/name:2".parse().unwrap()]);
    let image = Image::load(&empty, &imported[0].descriptor, &Platform::host()).unwrap();
    assert_eq!(image.diff_ids(), original.diff_ids());
    for (layer, diff_id) in image.layers().iter().zip(image.diff_ids()) {
        assert_eq!(
            layer.media_type().to_string(),
            "application/vnd.oci.image.layer.v1.tar"
        );
        assert_eq!(layer.digest(), diff_id);
    }
    assert_eq!(image.config().config, original.config().config);
    // Nothing was tagged by `import`.
    assert!(empty.tags().unwrap().is_empty());
}

#[test]
fn oci_dir_source_picks_the_named_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let manifest = fixture(&store);
    let tar = dir.path().join("oci.tar");
    let images = [ArchiveImage {
        descriptor: manifest.clone(),
        names: vec![NAME.parse().unwrap(), "it/app".parse().unwrap()],
    }];
    let out = fs::File::create(&tar).unwrap();
    write_archive(&store, &images, ArchiveFormat::Oci, &Platform::host(), out).unwrap();
    let layout = unpack_layout(&tar, &dir.path().join("layout"));
    let empty = Store::open(dir.path().join("empty")).unwrap();
    // The name matches as written, as its tag alone, or once normalized.
    for name in [NAME, "1", "latest", "docker.io/it/app:latest", "it/app"] {
        let source: ImageSource = format!("oci:{}:{name}", layout.display()).parse().unwrap();
        let imported = import(&empty, &source).unwrap();
        assert_eq!(imported[0].descriptor, manifest);
    }
    let source: ImageSource = format!("oci:{}:it/app:2", layout.display())
        .parse()
        .unwrap();
    let err = import(&empty, &source).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` has no image named `it/app:2`; it has: docker.io/it/app:latest, {NAME}",
            layout.display()
        )
    );
}

#[test]
fn tampered_blob_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, tar) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let image = Image::load(&store, &manifest, &Platform::host()).unwrap();
    let layout = unpack_layout(&tar, &dir.path().join("layout"));
    let top = &image.layers()[1];
    let path = layout.join("blobs/sha256").join(top.digest().digest());
    let mut bytes = fs::read(&path).unwrap();
    bytes[600] ^= 1;
    fs::write(&path, bytes).unwrap();

    let empty = Store::open(dir.path().join("empty")).unwrap();
    let source: ImageSource = format!("oci:{}", layout.display()).parse().unwrap();
    let err = import(&empty, &source).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(&format!("expected `{}`", top.digest())),
        "{err}"
    );
    assert!(!empty.has_blob(top.digest()));
    assert!(!empty.has_blob(manifest.digest()));
    assert_eq!(
        fs::read_dir(dir.path().join("empty/tmp")).unwrap().count(),
        0
    );
}

// See: issue 13
#[test]
fn layout_directories_are_read_inside_themselves() {
    // A blob of the layout is a symlink to a host file (here one with the very content
    // the digest names): it is looked up inside the layout, never read from the host.
    let dir = tempfile::tempdir().unwrap();
    let (store, manifest, tar) = saved(dir.path(), ArchiveFormat::Oci, "oci.tar");
    let image = Image::load(&store, &manifest, &Platform::host()).unwrap();
    let layout = unpack_layout(&tar, &dir.path().join("layout"));
    let top = &image.layers()[1];
    let blob = layout.join("blobs/sha256").join(top.digest().digest());
    let host = dir.path().join("host-file");
    fs::rename(&blob, &host).unwrap();
    std::os::unix::fs::symlink(&host, &blob).unwrap();

    let empty = Store::open(dir.path().join("empty")).unwrap();
    let source: ImageSource = format!("oci:{}", layout.display()).parse().unwrap();
    let err = import(&empty, &source).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` has no entry `blobs/sha256/{}`",
            layout.display(),
            top.digest().digest()
        )
    );
    assert!(!empty.has_blob(top.digest()));
}
