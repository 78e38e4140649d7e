//! A tiny root filesystem made from the host's static busybox.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

/// The static busybox the tests copy (Debian package `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// Writes a root filesystem into `dir`: `/bin/busybox` with a symlink per applet in
/// `/bin`, `/etc/passwd` and `/etc/group` with `root` and `app` (1000:1000, also in
/// `wheel`), and `/tmp`. There is deliberately no `/proc`, `/dev` or `/etc/resolv.conf`:
/// the sandbox must cope with images that lack them.
pub fn rootfs(dir: &Path) {
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "`{BUSYBOX} --list` failed ({error}): install the Debian package `busybox-static`"
            )
        });
    assert!(list.status.success(), "`{BUSYBOX} --list` failed");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    let etc = dir.join("etc");
    fs::create_dir_all(&etc).unwrap();
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        etc.join("group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
    )
    .unwrap();
    fs::create_dir_all(dir.join("tmp")).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
}
