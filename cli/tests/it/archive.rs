//! `mkimage save` and `mkimage load`.

use std::path::{Path, PathBuf};

use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::store::Store;

use crate::store::{Damage, config_and_layer, failure, image, mkimage, stdout};

/// A store at `dir/store` with one image tagged `app:1`; returns its root, the store and
/// the image.
fn store_with_app(dir: &Path) -> (PathBuf, Store, Descriptor) {
    let root = dir.join("store");
    let store = Store::open(&root).unwrap();
    let one = image(&store, "one");
    store.tag(&"app:1".parse().unwrap(), &one).unwrap();
    (root, store, one)
}

#[test]
fn save_then_load_into_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let (root, store, one) = store_with_app(dir.path());
    store.tag(&"other:2".parse().unwrap(), &one).unwrap();
    for format in ["oci", "docker"] {
        let tar = dir.path().join(format!("{format}.tar"));
        let tar_arg = tar.to_str().unwrap();
        assert_eq!(
            stdout(&mkimage(
                &root,
                &["save", "-o", tar_arg, "--format", format, "app:1"]
            )),
            ""
        );
        let empty = dir.path().join(format!("{format}-store"));
        assert_eq!(
            stdout(&mkimage(&empty, &["load", "-i", tar_arg])),
            "Loaded image: app:1\n"
        );
        let loaded = Store::open(&empty).unwrap();
        let resolved = loaded.resolve(&"app:1".parse().unwrap()).unwrap().unwrap();
        assert_eq!(resolved.digest(), one.digest(), "{format}");
        // Saved by id, the image has no name in the archive.
        let by_id = dir.path().join(format!("{format}-id.tar"));
        let by_id_arg = by_id.to_str().unwrap();
        stdout(&mkimage(
            &root,
            &[
                "save",
                "-o",
                by_id_arg,
                "--format",
                format,
                &one.digest().digest()[..12],
            ],
        ));
        let empty = dir.path().join(format!("{format}-id-store"));
        assert_eq!(
            stdout(&mkimage(&empty, &["load", "-i", by_id_arg])),
            format!("Loaded image ID: {}\n", one.digest())
        );
    }
    // Both names of one image go into one archive entry each.
    let both = dir.path().join("both.tar");
    stdout(&mkimage(
        &root,
        &["save", "-o", both.to_str().unwrap(), "app:1", "other:2"],
    ));
    let empty = dir.path().join("both-store");
    assert_eq!(
        stdout(&mkimage(&empty, &["load", "-i", both.to_str().unwrap()])),
        "Loaded image: app:1\nLoaded image: other:2\n"
    );
}

/// `load -i` takes the archive compressed, as `docker load` does, whichever compressor
/// the user ran on it.
#[test]
fn load_reads_compressed_archives() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _store, one) = store_with_app(dir.path());
    let tar = dir.path().join("app.tar");
    stdout(&mkimage(
        &root,
        &[
            "save",
            "-o",
            tar.to_str().unwrap(),
            "--format",
            "docker",
            "app:1",
        ],
    ));
    for (tool, suffix) in [
        ("gzip", "gz"),
        ("bzip2", "bz2"),
        ("xz", "xz"),
        ("zstd", "zst"),
    ] {
        let packed = dir.path().join(format!("app.tar.{suffix}"));
        let out = std::process::Command::new(tool)
            .arg("-c")
            .arg(&tar)
            .output()
            .unwrap_or_else(|e| panic!("`{tool}` is needed ({e}); run .ci/install-deps"));
        assert!(out.status.success(), "{tool} failed");
        std::fs::write(&packed, out.stdout).unwrap();
        let empty = dir.path().join(format!("{suffix}-store"));
        assert_eq!(
            stdout(&mkimage(&empty, &["load", "-i", packed.to_str().unwrap()])),
            "Loaded image: app:1\n",
            "{tool}"
        );
        let loaded = Store::open(&empty).unwrap();
        let resolved = loaded.resolve(&"app:1".parse().unwrap()).unwrap().unwrap();
        assert_eq!(resolved.digest(), one.digest(), "{tool}");
    }
}

#[test]
fn load_refuses_what_is_not_an_image_archive() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("plain.tar");
    let status = std::process::Command::new("tar")
        .args([
            "-cf",
            tar.to_str().unwrap(),
            "-C",
            dir.path().to_str().unwrap(),
            ".",
        ])
        .status()
        .expect("`tar` is needed (Debian package `tar`)");
    assert!(status.success());
    let root = dir.path().join("store");
    assert_eq!(
        failure(&mkimage(&root, &["load", "-i", tar.to_str().unwrap()])),
        format!(
            "error: `{}` is neither an OCI image layout nor a docker archive\n",
            tar.display()
        )
    );
    let missing = dir.path().join("missing.tar");
    assert_eq!(
        failure(&mkimage(&root, &["load", "-i", missing.to_str().unwrap()])),
        format!(
            "error: failed to read `{}`\ncaused by: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn save_leaves_no_partial_archive_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (root, store, one) = store_with_app(dir.path());
    // Lose a layer: the save must fail and write nothing.
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(one.digest()).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    std::fs::remove_file(store.blob_path(&layer)).unwrap();
    let tar = dir.path().join("out.tar");
    assert_eq!(
        failure(&mkimage(
            &root,
            &["save", "-o", tar.to_str().unwrap(), "app:1"]
        )),
        format!("error: blob `{layer}` is not in the store\n")
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the store is left");
}

// See: issue 13
#[test]
fn save_fails_on_a_corrupt_blob_and_leaves_no_archive() {
    for (damage, format, which) in [
        (Damage::Flip, "oci", "layer"),
        (Damage::Cut, "oci", "layer"),
        (Damage::Flip, "docker", "layer"),
        (Damage::Cut, "docker", "config"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (root, store, one) = store_with_app(dir.path());
        let (config, layer) = config_and_layer(&store, &one);
        let blob = if which == "layer" { layer } else { config };
        let actual = damage.apply(&store.blob_path(&blob.parse().unwrap()));
        let tar = dir.path().join("out.tar");
        assert_eq!(
            failure(&mkimage(
                &root,
                &[
                    "save",
                    "-o",
                    tar.to_str().unwrap(),
                    "--format",
                    format,
                    "app:1"
                ]
            )),
            format!(
                "error: cannot write `app:1` to the archive: a blob of it is corrupt in the \
                 store\ncaused by: blob `{blob}` is corrupt: its content has digest `{actual}`\n"
            ),
            "{damage:?} {format} {which}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the store is left");
    }
}
