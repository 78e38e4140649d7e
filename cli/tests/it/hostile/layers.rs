//! Hostile base images: layers whose whiteouts, files and hard links lead through
//! symlinks to the host's paths, hard links that climb out of the root, and set-id
//! programs and device nodes. Each base is `busybox:test` with the hostile layers put
//! on top in code, built on by a `RUN` step (the layers unpacked as an overlay's lower
//! directories), `COPY --from` (unpacked as one tree) and `-o type=local`/`type=tar`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use mkimage_core::layer::{Content, Entry, EntryKind, LayerOptions, LayerPath, write_layer};
use mkimage_core::oci::{History, Image, write_image};
use mkimage_core::oci_spec::image::{Descriptor, MediaType};
use mkimage_core::plan::Platform;
use mkimage_core::store::Store;

use super::{Hostile, INSIDE, assert_no_canary_below};

/// A layer put on a base: entries as mkimage writes them, or a tar made byte by byte
/// (names no well-formed entry has).
enum Layer {
    Entries(Vec<Entry>),
    Tar(Vec<u8>),
}

/// A path of a layer.
fn at(path: &str) -> LayerPath {
    LayerPath::new(path).unwrap()
}

/// A regular file of a layer holding `content`.
fn file(path: &str, content: &str) -> Entry {
    Entry::new(
        at(path),
        EntryKind::File(Content::Bytes(content.as_bytes().to_vec())),
    )
}

impl Hostile {
    /// Tags `name`: `busybox:test` with `layers` on top, bottom first.
    fn base(&self, name: &str, layers: Vec<Layer>) {
        let store = Store::open(self.path("store")).unwrap();
        let busybox = store.find_image("busybox:test").unwrap();
        let image = Image::load(&store, &busybox, &Platform::host()).unwrap();
        let mut config = image.config().clone();
        let mut descriptors = image.layers().to_vec();
        for layer in layers {
            let descriptor = match layer {
                Layer::Entries(entries) => {
                    let (blob, written) = write_layer(
                        store.begin_blob().unwrap(),
                        entries,
                        &LayerOptions::default(),
                    )
                    .unwrap();
                    blob.commit().unwrap();
                    config.rootfs.diff_ids.push(written.diff_id);
                    Descriptor::new(written.media_type, written.size, written.digest)
                }
                Layer::Tar(bytes) => {
                    let mut blob = store.begin_blob().unwrap();
                    blob.write_all(&bytes).unwrap();
                    let (digest, size) = blob.commit().unwrap();
                    config.rootfs.diff_ids.push(digest.clone());
                    Descriptor::new(MediaType::ImageLayer, size, digest)
                }
            };
            descriptors.push(descriptor);
            config.history.push(History {
                created_by: Some("a hostile layer".to_owned()),
                ..History::default()
            });
        }
        let made = write_image(&store, &config, &descriptors).unwrap();
        store.tag(&name.parse().unwrap(), &made).unwrap();
    }

    /// The host's path `path` as a path of a layer (`/` left off).
    fn in_layer(&self, path: &str) -> String {
        format!("{}/{path}", self.host().trim_start_matches('/'))
    }

    /// The entries that put, at the host directory's path inside an image, the image's
    /// own canary ([`INSIDE`]) and `empty/`, with the links `abs` (absolute) and `rel`
    /// (`../` climbing out) to it.
    fn inside_entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut parent = String::new();
        for name in self.host().trim_start_matches('/').split('/') {
            parent = if parent.is_empty() {
                name.to_owned()
            } else {
                format!("{parent}/{name}")
            };
            entries.push(Entry::new(at(&parent), EntryKind::Dir));
        }
        entries.push(file(&self.in_layer("canary"), INSIDE));
        entries.push(Entry::new(at(&self.in_layer("empty")), EntryKind::Dir));
        entries.push(Entry::new(
            at("abs"),
            EntryKind::Symlink(PathBuf::from(self.host())),
        ));
        entries.push(Entry::new(
            at("rel"),
            EntryKind::Symlink(PathBuf::from(self.climb())),
        ));
        entries
    }

    /// The staging directories of `-o type=local` left beside its destinations.
    fn staging_left(&self) -> Vec<PathBuf> {
        fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains(".mkimage-export-"))
            .collect()
    }

    /// The number of names the host's canary has: a hard link made to it adds one.
    fn canary_links(&self) -> u64 {
        fs::metadata(self.path("host/canary")).unwrap().nlink()
    }
}

/// A tar holding one hard link `name` to `target`, both written as they are.
fn hard_link_tar(name: &str, target: &str) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    // Set by hand: the `tar` crate refuses to write a `..` that a hostile tar may hold.
    let old = header.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&header, std::io::empty()).unwrap();
    tar.into_inner().unwrap()
}

// See: issue 13
#[test]
fn whiteouts_files_and_hard_links_through_symlinks_stay_in_the_image() {
    let hostile = Hostile::new();
    let empty = hostile.in_layer("empty");
    hostile.base(
        "hostile:links",
        vec![
            Layer::Entries(hostile.inside_entries()),
            // Through `rel` and `abs`, which lead to the host's directory if followed
            // there: a file into its empty directory, a hard link to its canary.
            Layer::Entries(vec![
                Entry::new(at("hl"), EntryKind::HardLink(at("rel/canary"))),
                file("rel/empty/new", "new inside"),
            ]),
            // A whiteout of the canary and an opaque marker over the empty directory,
            // which keeps only this layer's `kept`.
            Layer::Entries(vec![
                Entry::new(at("abs/canary"), EntryKind::Whiteout),
                Entry::new(at("abs/empty"), EntryKind::Opaque),
                file("abs/empty/kept", "kept inside"),
            ]),
        ],
    );
    let host = hostile.host();
    let dockerfile = format!(
        "FROM hostile:links\n\
         RUN cat /hl > /hl-run && ls -a {host}/empty > /listed-run \
         && cat /abs/empty/kept /rel/empty/new > /links-run\n\
         COPY --from=hostile:links /hl /hl-copied\n\
         COPY --from=hostile:links /abs/empty/ /copied-empty/\n"
    );
    let output = hostile.build_ok(&dockerfile, &[]);
    hostile.assert_untouched(&output);
    assert_eq!(
        hostile.canary_links(),
        1,
        "a hard link reached the host's canary"
    );
    // As with docker's overlayfs, the directories that the later layers put their paths
    // in hide the links `abs` and `rel` of the first, which are not followed: in a `RUN`
    // step, through `COPY --from` and in the exported filesystem alike.
    hostile.assert_inside(&["hl-run", "hl-copied"]);
    assert_eq!(hostile.built("listed-run"), ".\n..\n");
    assert_eq!(hostile.built("links-run"), "kept insidenew inside");
    assert_eq!(hostile.built("copied-empty/kept"), "kept inside");
    assert!(!hostile.path("out/copied-empty/new").exists());
    assert_eq!(hostile.built("abs/empty/kept"), "kept inside");
    assert_eq!(hostile.built("rel/empty/new"), "new inside");
    assert!(
        fs::read_dir(hostile.path(&format!("out/{empty}")))
            .unwrap()
            .next()
            .is_none()
    );
    hostile.assert_inside(&[&hostile.in_layer("canary")]);
}

// See: issue 13
#[test]
fn hard_links_leaving_the_root_are_refused() {
    let hostile = Hostile::new();
    // Targets naming the host's canary: absolute, and climbing out with `..`.
    let absolute = format!("{}/canary", hostile.host());
    // A link name has at most 100 bytes in a plain tar header: climb less far.
    let climbing = format!(
        "{}{}/canary",
        "../".repeat(16),
        hostile.host().trim_start_matches('/')
    );
    for (tag, target) in [("absolute", &absolute), ("climbing", &climbing)] {
        hostile.base(
            &format!("hostile:{tag}"),
            vec![
                Layer::Entries(hostile.inside_entries()),
                Layer::Tar(hard_link_tar("hl", target)),
            ],
        );
        // Unpacked as an overlay's lower directory, as one tree, and as the export.
        for dockerfile in [
            format!("FROM hostile:{tag}\nRUN cat /hl\n"),
            format!("FROM busybox:test\nCOPY --from=hostile:{tag} /hl /hl\n"),
            format!("FROM hostile:{tag}\n"),
        ] {
            let out = format!("type=local,dest={}", hostile.path("linked").display());
            let output = hostile.build(&dockerfile, &["-o", &out]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{dockerfile}: {stderr}");
            assert!(
                stderr.contains(&format!("layer entry `{target}` leaves the root")),
                "{dockerfile}: {stderr}"
            );
            hostile.assert_untouched(&stderr);
            assert_eq!(hostile.canary_links(), 1, "{dockerfile}");
            assert!(!hostile.path("linked").exists(), "{dockerfile}");
            assert_eq!(
                hostile.staging_left(),
                Vec::<PathBuf>::new(),
                "{dockerfile}"
            );
        }
    }
}

/// Whether the user `nobody` (65534) can `stat` `path`.
fn nobody_reaches(path: &Path) -> bool {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "stat"])
        .arg(path)
        .output()
        .expect("setpriv (Debian package `util-linux`)")
        .status
        .success()
}

/// The device nodes and the set-id or world-writable regular files below `dir`
/// (symlinks not followed).
fn privileged_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            let kind = entry.file_type();
            kind.is_char_device()
                || kind.is_block_device()
                || (kind.is_file() && entry.metadata().unwrap().mode() & 0o6002 != 0)
        })
        .map(walkdir::DirEntry::into_path)
        .collect()
}

// See: issue 13
#[test]
fn set_id_programs_and_device_nodes_of_a_base_give_no_host_privileges() {
    let hostile = Hostile::new();
    // Others may enter the test's directory, so that only the store's own modes keep
    // them out of it.
    fs::set_permissions(hostile.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let program = fs::read(mkimage_core::testutil::BUSYBOX).unwrap();
    let mut suid = file("bin/suid", "");
    suid.kind = EntryKind::File(Content::Bytes(program));
    hostile.base(
        "hostile:privileges",
        vec![Layer::Entries(vec![
            Entry::new(at("bin"), EntryKind::Dir),
            suid.with_mode(0o4755),
            file("bin/sgid", "#!/bin/sh\n").with_mode(0o2755),
            file("shared", "anyone may write this").with_mode(0o666),
            // /dev/zero's numbers: reading it shows whether the node was opened.
            Entry::new(at("zero"), EntryKind::CharDevice { major: 1, minor: 5 }).with_mode(0o666),
            Entry::new(at("loop"), EntryKind::BlockDevice { major: 7, minor: 0 }).with_mode(0o666),
        ])],
    );
    let output = hostile.build_ok(
        "FROM hostile:privileges\n\
         RUN stat -c %a /bin/suid /bin/sgid > /modes \
         && (head -c 4 /zero > /zero-read 2>/dev/null; echo $? > /zero-status)\n",
        &[],
    );
    hostile.assert_untouched(&output);
    // The image keeps its modes, but the sandbox does not open its device nodes.
    assert_eq!(hostile.built("modes"), "4755\n2755\n");
    assert_ne!(
        hostile.built("zero-status"),
        "0\n",
        "the image's device node was opened"
    );
    assert_eq!(hostile.built("zero-read"), "");

    // The exported files act on nothing: no device nodes, no set-id bits.
    let out = hostile.path("out");
    assert!(!out.join("zero").exists() && !out.join("loop").exists());
    let mode = |path: &str| fs::metadata(out.join(path)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("bin/suid"), 0o755);
    assert_eq!(mode("bin/sgid"), 0o755);
    assert_eq!(mode("shared"), 0o666, "a plain file keeps its mode");
    // A tar is no host file: it keeps them (checked with GNU tar).
    let tar = hostile.path("fs.tar");
    let output = hostile.build(
        "FROM hostile:privileges\n",
        &["-o", &format!("type=tar,dest={}", tar.display())],
    );
    assert!(output.status.success());
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&tar)
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("-rwsr-xr-x") && listing.contains("crw-rw-rw-"),
        "{listing}"
    );

    // The store keeps them as the image has them (the sandbox's layers need them), where
    // no other user reaches them.
    let store = hostile.path("store");
    let kept = privileged_files(&store);
    assert!(
        kept.iter().any(|path| path.ends_with("bin/suid")),
        "the store holds no unpacked layer: {kept:?}"
    );
    assert!(
        nobody_reaches(&hostile.path("host/canary")),
        "the check itself works"
    );
    for path in &kept {
        assert!(
            !nobody_reaches(path),
            "another user reaches `{}`",
            path.display()
        );
    }
    assert_no_canary_below(&store);
}

// See: issue 13
#[test]
fn proc_and_sys_through_symlinks_are_mounted_inside_the_root() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let mut entries = hostile.inside_entries();
    entries.push(Entry::new(
        at("proc"),
        EntryKind::Symlink(PathBuf::from(format!("{host}/empty"))),
    ));
    entries.push(Entry::new(
        at("sys"),
        EntryKind::Symlink(PathBuf::from(format!("{}/sysfs", hostile.climb()))),
    ));
    hostile.base("hostile:proc", vec![Layer::Entries(entries)]);
    let output = hostile.build_ok(
        &format!(
            "FROM hostile:proc\n\
             RUN head -n 1 /proc/self/status > /status && ls {host}/sysfs/kernel > /sys-listed\n"
        ),
        &[],
    );
    hostile.assert_untouched(&output);
    // proc and sysfs were mounted inside the image, on its copy of the host's directory
    // and on a directory made there.
    assert_eq!(hostile.built("status"), "Name:\thead\n");
    assert!(!hostile.built("sys-listed").is_empty());
}

// See: issue 16
#[test]
fn proc_and_sys_through_symlinks_are_mounted_inside_the_root_with_chroot() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let mut entries = hostile.inside_entries();
    entries.push(Entry::new(
        at("proc"),
        EntryKind::Symlink(PathBuf::from(format!("{host}/empty"))),
    ));
    entries.push(Entry::new(
        at("sys"),
        EntryKind::Symlink(PathBuf::from(format!("{}/sysfs", hostile.climb()))),
    ));
    hostile.base("hostile:proc", vec![Layer::Entries(entries)]);
    let output = hostile.build_ok(
        &format!(
            "FROM hostile:proc\n\
             RUN head -n 1 /proc/self/status > /status && ls {host}/sysfs/kernel > /sys-listed\n"
        ),
        &["--isolation", "chroot"],
    );
    hostile.assert_untouched(&output);
    // proc and sysfs were mounted inside the image, on its copy of the host's directory
    // and on a directory made there.
    assert_eq!(hostile.built("status"), "Name:\thead\n");
    assert!(!hostile.built("sys-listed").is_empty());
}
