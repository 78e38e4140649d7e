//! Unpacked base layers kept in the store, stacked by the sandbox as overlay lowers.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;

use mkimage_core::exec::{Rootfs, Sandbox, SandboxSpec, overlay_xattr_prefix};
use mkimage_core::layer::{
    Compression, Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer,
};
use mkimage_core::oci::Image;
use mkimage_core::oci_spec::image::Descriptor;
use mkimage_core::plan::Platform;
use mkimage_core::rootfs::{LayerDirs, LayerSweeper};
use mkimage_core::store::Store;
use mkimage_core::testutil::busybox_image;
use mkimage_core::{NoEvents, Stream};

fn p(path: &str) -> LayerPath {
    LayerPath::new(path).unwrap()
}

/// The busybox image plus a layer that deletes `/etc/group`, makes `/tmp` opaque with a
/// new file in it, and hard links `/bin/busybox` (a file of the layer below) as `/bin/bb`.
fn two_layers(store: &Store) -> (Vec<Descriptor>, Image) {
    let base = busybox_image(store, "busybox:test").unwrap();
    let base = Image::load(store, &base, &Platform::host()).unwrap();
    let entries = vec![
        Entry::new(p("etc"), EntryKind::Dir),
        Entry::new(p("etc/group"), EntryKind::Whiteout),
        Entry::new(p("tmp"), EntryKind::Dir).with_mode(0o1777),
        Entry::new(p("tmp"), EntryKind::Opaque),
        Entry::new(
            p("tmp/new"),
            EntryKind::File(Content::Bytes(b"new\n".to_vec())),
        ),
        Entry::new(p("bin/bb"), EntryKind::HardLink(p("bin/busybox"))),
    ];
    let options = LayerOptions {
        compression: Compression::Zstd { level: 3 },
        ..LayerOptions::default()
    };
    let (blob, layer) = write_layer(store.begin_blob().unwrap(), entries, &options).unwrap();
    blob.commit().unwrap();
    let mut layers = base.layers().to_vec();
    layers.push(Descriptor::new(layer.media_type, layer.size, layer.digest));
    let mut diff_ids = base.diff_ids().to_vec();
    diff_ids.push(layer.diff_id);
    let mut config = base.config().clone();
    config.rootfs.diff_ids = diff_ids;
    let image = mkimage_core::oci::write_image(store, &config, &layers).unwrap();
    store.tag(&"two:layers".parse().unwrap(), &image).unwrap();
    (
        layers,
        Image::load(store, &image, &Platform::host()).unwrap(),
    )
}

#[test]
fn layers_are_unpacked_once_in_overlay_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, image) = two_layers(&store);
    let dirs = LayerDirs::open(&store).unwrap();
    let lower = dirs
        .prepare(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap();
    assert_eq!(lower.len(), 2);
    let top = &lower[0];

    let whiteout = fs::symlink_metadata(top.join("etc/group")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    let opaque = xattr::get(top.join("tmp"), format!("{}opaque", overlay_xattr_prefix())).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    let copy = fs::symlink_metadata(top.join("bin/bb")).unwrap();
    assert!(copy.is_file());
    assert_eq!(copy.mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read(top.join("bin/bb")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert!(!top.join("bin/busybox").exists());

    // A second prepare reuses the directories.
    let inode = fs::metadata(top).unwrap().ino();
    let again = dirs
        .prepare(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap();
    assert_eq!(again, lower);
    assert_eq!(fs::metadata(top).unwrap().ino(), inode);

    // Stacked, they give the image's filesystem.
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir(upper.path().join("upper")).unwrap();
    fs::create_dir(upper.path().join("work")).unwrap();
    let rootfs = Rootfs::Overlay {
        lower: lower.clone(),
        upper: upper.path().join("upper"),
        work: upper.path().join("work"),
    };
    let script = "ls /tmp; test -e /etc/group || echo no-group; cat /etc/passwd | wc -l; cmp /bin/bb /bin/busybox && echo bb";
    let spec = SandboxSpec::builder(rootfs, vec!["/bin/sh".into(), "-c".into(), script.into()])
        .env(["PATH=/bin"])
        .build()
        .unwrap();
    let mut out = Vec::new();
    let status = Sandbox::native()
        .run(&spec, |stream, bytes| {
            if stream == Stream::Stdout {
                out.extend_from_slice(bytes)
            }
        })
        .unwrap();
    assert!(status.success());
    assert_eq!(String::from_utf8(out).unwrap(), "new\nno-group\n2\nbb\n");
}

#[test]
fn concurrent_prepares_share_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, image) = two_layers(&store);
    let image = Arc::new(image);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let image = Arc::clone(&image);
            std::thread::spawn(move || {
                LayerDirs::open(&store)
                    .unwrap()
                    .prepare(image.layers(), image.diff_ids(), &NoEvents)
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<Vec<PathBuf>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let ns = results[0][0].parent().unwrap().parent().unwrap().to_owned();
    let mut names: Vec<String> = fs::read_dir(&ns)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let chain: Vec<String> = mkimage_core::rootfs::chain_ids(image.diff_ids())
        .iter()
        .map(|id| id.digest().to_owned())
        .collect();
    let mut expected = chain.clone();
    expected.sort();
    assert_eq!(names, expected, "no temp is left");
}

#[test]
fn prune_removes_unpacked_layers_of_removed_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, image) = two_layers(&store);
    let dirs = LayerDirs::open(&store).unwrap();
    let lower = dirs
        .prepare(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap();
    let merged = dirs
        .merged(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap()
        .unwrap();
    assert!(merged.join("tmp/new").is_file());
    assert!(!merged.join("etc/group").exists());
    assert_eq!(store.prune(&[&LayerSweeper]).unwrap().unpacked, 0);
    assert!(lower.iter().all(|dir| dir.is_dir()));

    store.remove_image("two:layers", false).unwrap();
    let pruned = store.prune(&[&LayerSweeper]).unwrap();
    assert_eq!(
        pruned.unpacked, 2,
        "the busybox image still backs the bottom layer"
    );
    assert!(!lower[0].exists());
    assert!(!merged.exists());

    // Directories unpacked by an older version are removed.
    let old = dir.path().join("data/rootfs/trusted/0123");
    fs::create_dir_all(old.join("diff/a")).unwrap();
    assert_eq!(store.prune(&[&LayerSweeper]).unwrap().unpacked, 1);
    assert!(!old.parent().unwrap().exists());
    assert!(lower[1].is_dir());
    assert!(lower[1].is_dir());
}

/// This boot's id, as an unpacked layer's `boot` record names it.
fn this_boot() -> Vec<u8> {
    let id = fs::read("/proc/sys/kernel/random/boot_id").expect("the kernel's boot id");
    id.trim_ascii().to_vec()
}

// See: issue 16
#[test]
fn an_unpacked_layer_another_boot_left_unsynced_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, image) = two_layers(&store);
    let dirs = LayerDirs::open(&store).unwrap();
    let lower = dirs
        .prepare(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap();
    let top = lower[0].parent().unwrap().to_owned();
    assert_eq!(fs::read(top.join("boot")).unwrap(), this_boot());
    assert!(!top.join("synced").exists());

    // A crash before the kernel wrote it all out may have lost part of it.
    fs::write(top.join("boot"), b"00000000-another-boot").unwrap();
    fs::remove_file(lower[0].join("tmp/new")).unwrap();
    let again = dirs
        .prepare(image.layers(), image.diff_ids(), &NoEvents)
        .unwrap();
    assert_eq!(again, lower);
    assert_eq!(fs::read(lower[0].join("tmp/new")).unwrap(), b"new\n");
    assert_eq!(fs::read(top.join("boot")).unwrap(), this_boot());
    let ns = top.parent().unwrap();
    let temps: Vec<_> = fs::read_dir(ns)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(temps.is_empty(), "temps left: {temps:?}");

    // Prune removes one that is not needed again.
    fs::write(top.join("boot"), b"00000000-another-boot").unwrap();
    assert_eq!(store.prune(&[&LayerSweeper]).unwrap().unpacked, 1);
    assert!(!top.exists());
    assert!(lower[1].is_dir());
}
