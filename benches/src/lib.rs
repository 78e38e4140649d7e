//! Shared helpers for mkimage's criterion benchmarks (context generators, fixtures).

#![deny(missing_docs)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mkimage_core::testutil::noise;

/// Fills `dir` with a deterministic context of `files` files of `size` bytes each, of
/// pseudo-random (incompressible) content, 1000 files per sub-directory
/// (`d000/f000000.bin`, …), every mtime set to 1700000000. Files already of the right
/// size are kept, so a second call is cheap.
///
/// # Errors
///
/// When a file cannot be written.
pub fn incompressible_context(dir: &Path, files: usize, size: usize) -> io::Result<()> {
    let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / 1000));
        let path = sub.join(format!("f{i:06}.bin"));
        if fs::metadata(&path).is_ok_and(|m| m.len() == size as u64) {
            continue;
        }
        fs::create_dir_all(&sub)?;
        fs::write(&path, noise(size, i as u64))?;
        fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(epoch)?;
    }
    for k in 0..files.div_ceil(1000) {
        fs::File::open(dir.join(format!("d{k:03}")))?.set_modified(epoch)?;
    }
    Ok(())
}

/// Fills `dir` with a deterministic context of `files` files of `size` bytes each spread
/// evenly over `dirs` sub-directories (`d000/f000000.bin`, …), of pseudo-random
/// (incompressible) content derived from `seed`, every mtime set to 1700000000. Files
/// already of the right size are kept, so a second call is cheap: give each seed its own
/// `dir`.
///
/// # Errors
///
/// When a file cannot be written.
pub fn seeded_context(
    dir: &Path,
    files: usize,
    dirs: usize,
    size: usize,
    seed: u64,
) -> io::Result<()> {
    let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let per_dir = files.div_ceil(dirs.max(1));
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i / per_dir));
        let path = sub.join(format!("f{i:06}.bin"));
        if fs::metadata(&path).is_ok_and(|m| m.len() == size as u64) {
            continue;
        }
        fs::create_dir_all(&sub)?;
        fs::write(&path, noise(size, seed ^ i as u64))?;
        fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(epoch)?;
    }
    for k in 0..files.div_ceil(per_dir) {
        fs::File::open(dir.join(format!("d{k:03}")))?.set_modified(epoch)?;
    }
    Ok(())
}

/// The context of a walk bench: [`seeded_context`] with `MKIMAGE_BENCH_FILES` files
/// (20,000 by default) of `size` bytes in `dirs` directories, in a directory of `tmp`
/// named for `name` and the parameters. Returns it with the number of files.
///
/// # Errors
///
/// When a file cannot be written.
pub fn bench_context(
    tmp: &Path,
    name: &str,
    dirs: usize,
    size: usize,
    seed: u64,
) -> io::Result<(PathBuf, usize)> {
    let files: usize = std::env::var("MKIMAGE_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = tmp.join(format!("{name}-{files}-{dirs}-{seed}"));
    seeded_context(&dir, files, dirs, size, seed)?;
    Ok((dir, files))
}

/// Runs `find DIR -type f -printf '%s %T@\n'` and drops its output: the floor of a walk
/// that `stat`s every file.
///
/// # Panics
///
/// When `find` cannot run (Debian package `findutils`) or fails.
pub fn find_floor(dir: &Path) {
    let out = std::process::Command::new("find")
        .arg(dir)
        .args(["-type", "f", "-printf", "%s %T@\\n"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("`find` is needed (Debian package `findutils`)");
    assert!(out.status.success() && !out.stdout.is_empty());
}

/// Writes a minimal root filesystem into `dir` from the host's static busybox
/// (`/bin/busybox`, Debian package `busybox-static`): the binary in `/bin` with a symlink
/// per applet, and `/etc/passwd` and `/etc/group` with root.
///
/// # Errors
///
/// When busybox cannot list its applets or a file cannot be written.
pub fn busybox_rootfs(dir: &Path) -> io::Result<()> {
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()?;
    if !list.status.success() {
        return Err(io::Error::other(
            "`/bin/busybox --list` failed: install the Debian package `busybox-static`",
        ));
    }
    let bin = dir.join("bin");
    fs::create_dir_all(&bin)?;
    fs::copy("/bin/busybox", bin.join("busybox"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet))?;
        }
    }
    fs::create_dir_all(dir.join("etc"))?;
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(dir.join("etc/group"), "root:x:0:\n")
}

/// The time of `iters` runs of `rebuild`, each after `file` was rewritten untimed (new
/// content of `size` bytes, from the counter `round`) and left to age past the racy
/// window (1.1 s), as an edit made before a build: for `iter_custom` of a
/// one-file-changed bench.
///
/// # Panics
///
/// When `file` cannot be written.
pub fn time_after_one_edit(
    iters: u64,
    file: &Path,
    size: usize,
    round: &mut u64,
    mut rebuild: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        *round += 1;
        let mut content = vec![0u8; size];
        content[..8].copy_from_slice(&round.to_le_bytes());
        fs::write(file, &content).expect("change one file");
        std::thread::sleep(Duration::from_millis(1100));
        let start = Instant::now();
        rebuild();
        total += start.elapsed();
    }
    total
}
