//! `mkimage build` of Dockerfiles with `ADD`: local archives and URLs, the images unpacked
//! by umoci and listed with find.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mkimage_core::testutil::HttpServer;

use crate::build::{build, build_and_unpack, fixture, found, ok, tool};

/// Copies the fixture `name` into `dir` and returns the copy.
fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
    let copy = dir.join(Path::new(name).file_name().unwrap());
    tool(
        "cp",
        &[
            "-a",
            fixture(name).to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
    copy
}

/// Every path under `rootfs`, sorted, as `PATH TYPE MODE UID:GID SIZE MTIME [-> TARGET]`
/// (no size or mtime for directories, whose size depends on the file system and whose
/// mtime umoci does not always keep).
fn listing(rootfs: &Path) -> String {
    let lines = found(rootfs, "%P %y %m %U:%G %s %T@ %l\n", |line| {
        let fields: Vec<&str> = line.splitn(7, ' ').collect();
        let (path, kind, mode, owner) = (fields[0], fields[1], fields[2], fields[3]);
        let mtime = fields[5].split('.').next().unwrap();
        match kind {
            "d" => format!("{path} d {mode} {owner}"),
            "l" => format!("{path} l {mode} {owner} -> {}", fields[6]),
            _ => format!("{path} {kind} {mode} {owner} {} {mtime}", fields[4]),
        }
    });
    lines.join("\n") + "\n"
}

/// Copies the fixture `name` into `dir`, makes its archives with its
/// `make-archives.sh`, builds it (`SOURCE_DATE_EPOCH=1700000000`) and unpacks the image;
/// returns the context and the rootfs.
fn build_archive_fixture(name: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let context = copy_fixture(name, dir);
    tool(
        "sh",
        &[
            context.join("make-archives.sh").to_str().unwrap(),
            context.to_str().unwrap(),
        ],
    );
    let rootfs = build_and_unpack(
        &dir.join("store"),
        &context,
        &["--build-arg", "SOURCE_DATE_EPOCH=1700000000"],
        dir,
    );
    (context, rootfs)
}

#[test]
fn local_archives_are_extracted_into_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (context, rootfs) = build_archive_fixture("build/add-local", dir.path());
    let expected = std::fs::read_to_string(context.join("expect.txt")).unwrap();
    assert_eq!(listing(&rootfs), expected);
    // The archive left packed is the very file of the context.
    assert_eq!(
        std::fs::read(rootfs.join("raw/payload.tar.bz2")).unwrap(),
        std::fs::read(context.join("payload.tar.bz2")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/etc/keep.conf")).unwrap(),
        "keep=1\n"
    );
}

/// A hard link of an archive to a file the image below has, not the archive, links to
/// that file as on disk under Docker: the file comes into the layer and the links point
/// at it (a layer's links can only name paths of the same layer for most unpackers).
#[test]
fn hard_links_to_a_file_of_the_image_below_link_to_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rootfs) = build_archive_fixture("build/add-hardlink-below", dir.path());
    assert_eq!(
        listing(&rootfs),
        "srv d 755 0:0\n\
         srv/a-first.txt f 644 0:0 15 1700000000\n\
         srv/data.txt f 644 0:0 15 1700000000\n\
         srv/sub d 755 0:0\n\
         srv/sub/alias.txt f 644 0:0 15 1700000000\n\
         srv/twin-alias.txt f 644 0:0 15 1700000000\n\
         srv/twin.txt f 644 0:0 15 1700000000\n"
    );
    let inode = |path: &str| {
        let meta = std::fs::metadata(rootfs.join(path)).unwrap();
        (meta.ino(), meta.nlink())
    };
    let data = inode("srv/data.txt");
    assert_eq!(data.1, 3);
    assert_eq!(inode("srv/a-first.txt"), data);
    assert_eq!(inode("srv/sub/alias.txt"), data);
    // `twin.txt`, a hard link in the image's layer, is copied on its own: the layer
    // cannot link to `data.txt` of the layer below, so the two no longer share a file.
    let twin = inode("srv/twin.txt");
    assert_eq!(twin.1, 2);
    assert_eq!(inode("srv/twin-alias.txt"), twin);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/sub/alias.txt")).unwrap(),
        "from the image\n"
    );
}

#[test]
fn urls_are_downloaded_verified_and_cached_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let context = copy_fixture("build/add-url", dir.path());
    let served = context.join("served");
    tool(
        "tar",
        &[
            "--sort=name",
            "--numeric-owner",
            "--owner=1000",
            "--group=1000",
            "--mtime=@1600000000",
            "-C",
            served.to_str().unwrap(),
            "-cf",
            served.join("bundle.tar").to_str().unwrap(),
            "bundle",
        ],
    );
    for file in ["release.bin", "bundle.tar"] {
        tool(
            "touch",
            &["-d", "@1650000000", served.join(file).to_str().unwrap()],
        );
    }
    let server = HttpServer::start(&served).unwrap();
    let base_arg = format!("BASE={}", server.base());
    let root = dir.path().join("store");
    let args = ["--build-arg", base_arg.as_str()];
    let rootfs = build_and_unpack(&root, &context, &args, &dir.path().join("first"));
    let bundle_size = std::fs::metadata(served.join("bundle.tar")).unwrap().len();
    let expected = format!(
        "dl d 755 0:0
dl/release.bin f 600 0:0 20 1650000000
dl/renamed.bin f 644 5:6 20 1650000000
packed d 755 0:0
packed/bundle.tar f 600 0:0 {bundle_size} 1650000000
unpacked d 755 0:0
unpacked/bundle d 755 1000:1000
unpacked/bundle/docs d 755 1000:1000
unpacked/bundle/docs/README f 644 1000:1000 8 1600000000
"
    );
    assert_eq!(listing(&rootfs), expected);

    // Fetched again, the same bodies hit the cache.
    let context_arg = context.to_str().unwrap();
    let again = build(&root, &["--build-arg", &base_arg, context_arg]);
    ok(&again);
    let progress = String::from_utf8_lossy(&again.stderr);
    assert_eq!(progress.matches("CACHED").count(), 4, "{progress}");

    // A changed body misses from its first use on.
    std::fs::write(served.join("bundle.tar"), b"no longer a tar").unwrap();
    let changed = build(&root, &["--build-arg", &base_arg, context_arg]);
    ok(&changed);
    let progress = String::from_utf8_lossy(&changed.stderr);
    assert_eq!(progress.matches("CACHED").count(), 2, "{progress}");

    // A wrong checksum fails, naming the line.
    let bad = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg("--root")
        .arg(&root)
        .args([
            "build",
            "-q",
            "-f",
            "Dockerfile.bad-checksum",
            "--build-arg",
            &base_arg,
            ".",
        ])
        .current_dir(&context)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let url = format!("{}/release.bin", server.base());
    let zeros = "0".repeat(64);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: Dockerfile.bad-checksum:3:1: `ADD --checksum=sha256:{zeros} {url} /dl/` failed: `{url}` has digest `sha256:77a2c7811a9990309db9d20f882f7487857e85fc00d510b66d9b8cb4db2c6c4c`, but `--checksum` expects `sha256:{zeros}`\n"
        )),
        "{stderr}"
    );
}

#[test]
fn git_repositories_are_checked_out_at_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let context = copy_fixture("build/add-git", dir.path());
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    tool(
        "sh",
        &[
            context.join("make-repo.sh").to_str().unwrap(),
            served.to_str().unwrap(),
        ],
    );
    let server = HttpServer::start(&served).unwrap();
    let repo_arg = format!("REPO={}/repo.git", server.base());
    let root = dir.path().join("store");
    let args = ["--build-arg", repo_arg.as_str()];
    let rootfs = build_and_unpack(&root, &context, &args, &dir.path().join("first"));
    let listed = listing(&rootfs);
    let (full_git, rest): (Vec<&str>, Vec<&str>) = listed
        .lines()
        .partition(|line| line.starts_with("full/.git/"));
    assert!(
        full_git
            .iter()
            .any(|line| line.starts_with("full/.git/HEAD f ")),
        "{listed}"
    );
    assert_eq!(
        rest.join("\n") + "\n",
        "full d 755 0:0
full/.git d 755 0:0
full/link l 777 0:0 -> sub/a.txt
full/sub d 755 0:0
full/sub/a.txt f 644 0:0 18 1700000000
full/top.sh f 755 0:0 19 1700000000
src d 755 0:0
src/link l 777 0:0 -> sub/a.txt
src/sub d 755 0:0
src/sub/a.txt f 644 0:0 18 1700000000
src/top.sh f 755 0:0 19 1700000000
sub d 755 3:4
sub/a.txt f 644 3:4 18 1700000000
"
    );

    // The commits are resolved again; unchanged, every step hits the cache.
    let again = build(
        &root,
        &["--build-arg", &repo_arg, context.to_str().unwrap()],
    );
    ok(&again);
    let progress = String::from_utf8_lossy(&again.stderr);
    assert_eq!(progress.matches("CACHED").count(), 3, "{progress}");
}

#[test]
fn a_missing_git_ref_fails_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    tool(
        "sh",
        &[
            fixture("build/add-git/make-repo.sh").to_str().unwrap(),
            served.to_str().unwrap(),
        ],
    );
    let server = HttpServer::start(&served).unwrap();
    let remote = format!("{}/repo.git", server.base());
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM scratch\nADD {remote}#nope /src\n"),
    )
    .unwrap();
    let output = build(
        &dir.path().join("store"),
        &["-q", dir.path().to_str().unwrap()],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "Dockerfile:2:1: `ADD {remote}#nope /src` failed: `{remote}` has no branch, tag or ref `nope`\n"
        )),
        "{stderr}"
    );
}
