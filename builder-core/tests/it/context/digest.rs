//! Content digests of selections and the metadata cache that spares reading files.

use std::fs::{self, File};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mkimage_core::context::{Context, FileHashes, SelectOptions};
use oci_spec::image::Digest;
use rustix::fs::inotify;

use super::{files, link, write};

fn digest_of(root: &Path, sources: &[&str]) -> Digest {
    digest_with(root, sources, &FileHashes::in_memory())
}

fn digest_with(root: &Path, sources: &[&str], hashes: &FileHashes) -> Digest {
    let context = Context::open(root, None).unwrap();
    let mut selection = context.select(sources, &SelectOptions::default()).unwrap();
    selection.digest(hashes).unwrap()
}

fn app() -> tempfile::TempDir {
    let dir = files(&[
        ("app/main.rs", "fn main() {}\n"),
        ("app/lib/util.rs", "pub fn f() {}\n"),
        ("app/README.md", "readme\n"),
        (".dockerignore", "**/*.log\n"),
    ]);
    link(dir.path(), "app/current", "lib");
    dir
}

/// Sets every mtime under `root` (not following symlinks) to `secs`.
fn set_mtimes(root: &Path, secs: u64) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    for item in walkdir::WalkDir::new(root) {
        let item = item.unwrap();
        if !item.file_type().is_symlink() {
            File::open(item.path()).unwrap().set_modified(at).unwrap();
        }
    }
}

#[test]
fn digest_ignores_mtimes() {
    let dir = app();
    let before = digest_of(dir.path(), &["app"]);
    set_mtimes(dir.path(), 1_000_000);
    assert_eq!(digest_of(dir.path(), &["app"]), before);
}

#[test]
fn digest_changes_with_content_mode_owner_and_the_file_set() {
    let dir = app();
    let root = dir.path();
    let mut seen = vec![digest_of(root, &["app"])];
    let changed = |what: &str, seen: &mut Vec<Digest>| {
        let digest = digest_of(root, &["app"]);
        assert!(!seen.contains(&digest), "{what} did not change the digest");
        seen.push(digest);
    };
    write(root, "app/main.rs", "fn main() { }\n");
    changed("content of the same size", &mut seen);
    fs::set_permissions(root.join("app/main.rs"), fs::Permissions::from_mode(0o755)).unwrap();
    changed("mode", &mut seen);
    std::os::unix::fs::lchown(root.join("app/main.rs"), Some(1234), Some(5678)).unwrap();
    changed("owner", &mut seen);
    std::os::unix::fs::lchown(root.join("app/lib"), Some(1234), None).unwrap();
    changed("owner of a directory", &mut seen);
    xattr::set(root.join("app/main.rs"), "user.mkimage.test", b"1").unwrap();
    changed("an xattr", &mut seen);
    write(root, "app/new.rs", "");
    changed("a new empty file", &mut seen);
    fs::remove_file(root.join("app/README.md")).unwrap();
    changed("a deleted file", &mut seen);
    fs::remove_file(root.join("app/current")).unwrap();
    link(root, "app/current", "lib/");
    changed("a symlink target", &mut seen);
    fs::create_dir(root.join("app/empty")).unwrap();
    changed("an empty directory", &mut seen);
    fs::remove_file(root.join("app/new.rs")).unwrap();
    fs::hard_link(root.join("app/main.rs"), root.join("app/new.rs")).unwrap();
    changed("a hard link in place of a file", &mut seen);
    fs::rename(root.join("app/lib/util.rs"), root.join("app/lib/utils.rs")).unwrap();
    changed("a rename", &mut seen);
}

#[test]
fn ignored_files_never_change_the_digest() {
    let dir = app();
    let root = dir.path();
    let before = digest_of(root, &["app"]);
    write(root, "app/debug.log", "noise");
    write(root, "app/lib/trace.log", "noise");
    assert_eq!(digest_of(root, &["app"]), before);
    write(root, "app/debug.log", "other noise");
    assert_eq!(digest_of(root, &["app"]), before);
}

#[test]
fn equal_contexts_in_different_directories_have_equal_digests() {
    let one = app();
    let two = app();
    set_mtimes(two.path(), 12345);
    assert_eq!(
        digest_of(one.path(), &["app", "app/main.rs"]),
        digest_of(two.path(), &["app", "app/main.rs"])
    );
    // The same files under other destination paths are another selection.
    assert_ne!(
        digest_of(one.path(), &["app"]),
        digest_of(one.path(), &["."])
    );
    let digest = digest_of(one.path(), &["app"]).to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
}

/// Watches the directories under `root` for files being opened.
fn watch(root: &Path) -> OwnedFd {
    let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
    for item in walkdir::WalkDir::new(root) {
        let item = item.unwrap();
        if item.file_type().is_dir() {
            inotify::add_watch(&fd, item.path(), inotify::WatchFlags::OPEN).unwrap();
        }
    }
    fd
}

/// The names of the regular files opened since the last call, but for `.dockerignore`,
/// which opening a context reads.
fn opened(fd: &OwnedFd) -> Vec<String> {
    let mut buf = [MaybeUninit::uninit(); 4096];
    let mut reader = inotify::Reader::new(fd, &mut buf);
    let mut names = Vec::new();
    loop {
        match reader.next() {
            Ok(event) => {
                if !event.events().contains(inotify::ReadFlags::ISDIR) {
                    if let Some(name) = event.file_name() {
                        names.push(name.to_string_lossy().into_owned());
                    }
                    names.retain(|name| name != ".dockerignore");
                }
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("read inotify events: {e}"),
        }
    }
    names.sort();
    names
}

/// Waits until files just written are older than the racy window of the file hashes.
fn settle() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn file_hashes_spare_reading_unchanged_files() {
    let dir = app();
    let root = dir.path();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("hashes");
    // Recorded with the digest: a warm digest without them would differ.
    xattr::set(root.join("app/main.rs"), "user.mkimage.test", b"kept").unwrap();
    settle();
    let events = watch(root);

    let cold = FileHashes::load(&file);
    let digest = digest_with(root, &["app"], &cold);
    assert_eq!(opened(&events), ["README.md", "main.rs", "util.rs"]);
    cold.save().unwrap();

    let warm = FileHashes::load(&file);
    assert_eq!(warm.len(), 3);
    assert_eq!(digest_with(root, &["app"], &warm), digest);
    assert_eq!(
        opened(&events),
        Vec::<String>::new(),
        "nothing is read again"
    );
    warm.save().unwrap();
    assert_eq!(opened(&events), Vec::<String>::new(), "nothing new to save");

    // A changed file is read again, and only it.
    write(root, "app/main.rs", "fn main() { }\n");
    opened(&events);
    let changed = digest_with(root, &["app"], &FileHashes::load(&file));
    assert_ne!(changed, digest);
    assert_eq!(opened(&events), ["main.rs"]);
    assert_eq!(changed, digest_of(root, &["app"]));
}

#[test]
fn corrupt_file_hashes_are_a_cold_start() {
    let dir = app();
    let root = dir.path();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("hashes");
    settle();
    let hashes = FileHashes::load(&file);
    let digest = digest_with(root, &["app"], &hashes);
    hashes.save().unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 0xff;
    fs::write(&file, &bytes).unwrap();

    let events = watch(root);
    let reloaded = FileHashes::load(&file);
    assert!(reloaded.is_empty());
    assert_eq!(digest_with(root, &["app"], &reloaded), digest);
    assert_eq!(opened(&events), ["README.md", "main.rs", "util.rs"]);
    reloaded.save().unwrap();
    assert_eq!(FileHashes::load(&file).len(), 3, "rewritten whole");
}

#[test]
fn racy_files_are_hashed_but_not_recorded() {
    let dir = app();
    let root = dir.path();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("hashes");
    settle();
    write(root, "app/fresh.rs", "just written\n");
    let hashes = FileHashes::load(&file);
    let digest = digest_with(root, &["app"], &hashes);
    hashes.save().unwrap();
    let hashes = FileHashes::load(&file);
    assert_eq!(hashes.len(), 3, "the fresh file is not recorded");
    let events = watch(root);
    assert_eq!(digest_with(root, &["app"], &hashes), digest);
    assert_eq!(opened(&events), ["fresh.rs"]);
}
