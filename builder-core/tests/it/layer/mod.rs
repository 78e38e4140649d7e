//! Layers checked with real tools: GNU tar, gzip, zstd, sha256sum, overlayfs.

mod diff;
mod unpack;
mod write;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mkimage_core::testutil::run_checked;

/// Runs `program` with `args`, feeding `stdin`, and returns its stdout; fails naming the
/// Debian package when the program is missing.
pub(crate) fn run(program: &str, package: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`{program}` is needed (Debian package `{package}`): {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().expect("wait for the child");
    feeder.join().expect("feeder thread").expect("write stdin");
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sha256:<hex>` of `bytes`, computed by `sha256sum`.
pub(crate) fn sha256sum(bytes: &[u8]) -> String {
    let out = run("sha256sum", "coreutils", &["-"], bytes);
    let hex = String::from_utf8(out).expect("sha256sum prints ASCII");
    format!(
        "sha256:{}",
        hex.split_whitespace().next().expect("a digest")
    )
}

/// The listing of `tar -tv --numeric-owner --full-time` of a plain tar.
pub(crate) fn tar_listing(tar: &[u8]) -> String {
    let out = run(
        "tar",
        "tar",
        &["-tv", "--numeric-owner", "--full-time", "-f", "-"],
        tar,
    );
    String::from_utf8(out).expect("tar lists UTF-8 names here")
}

/// Writes `content` to `root/rel`, creating parents.
pub(crate) fn write_file(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create parents");
    std::fs::write(path, content).expect("write a test file");
}

/// One line per path under `root`: path, type, mode, owner, size, mtime (seconds), link
/// count, link target, content digest and xattrs; what a layer must preserve.
pub(crate) fn describe_tree(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut lines = Vec::new();
    for item in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let item = item.expect("walk the tree");
        let meta = item.metadata().expect("lstat");
        let rel = item.path().strip_prefix(root).expect("under root");
        let ft = meta.file_type();
        let extra = if ft.is_symlink() {
            format!(
                "-> {}",
                std::fs::read_link(item.path()).expect("readlink").display()
            )
        } else if ft.is_file() {
            sha256sum(&std::fs::read(item.path()).expect("read"))
        } else {
            String::new()
        };
        let mut xattrs: Vec<String> = xattr::list(item.path())
            .map(|names| {
                names
                    .filter(|n| !n.to_string_lossy().starts_with("security.selinux"))
                    .map(|n| {
                        let v = xattr::get(item.path(), &n)
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                        format!("{}={}", n.to_string_lossy(), String::from_utf8_lossy(&v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let size = if ft.is_dir() { 0 } else { meta.size() };
        lines.push(format!(
            "{} {:o} {}:{} size={} mtime={} nlink={} rdev={} {} {}",
            rel.display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            size,
            meta.mtime(),
            if ft.is_dir() { 0 } else { meta.nlink() },
            meta.rdev(),
            extra,
            xattrs.join(",")
        ));
    }
    lines
}

/// An overlay mount, unmounted on drop.
pub(crate) struct Overlay {
    pub merged: PathBuf,
}

impl Overlay {
    /// Mounts overlayfs with `options` on `merged`.
    pub(crate) fn mount(options: &str, merged: &Path) -> Overlay {
        let mut mount = Command::new("mount");
        mount
            .args(["-t", "overlay", "overlay", "-o", options])
            .arg(merged);
        run_checked(&mut mount, "mount").unwrap_or_else(|e| {
            panic!("mounting overlayfs needs root and the overlay module: {e}")
        });
        Overlay {
            merged: merged.to_owned(),
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
    }
}
