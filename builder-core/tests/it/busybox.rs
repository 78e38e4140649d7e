//! A tiny root filesystem made from the host's static busybox.

use std::path::Path;

/// Writes [`mkimage_core::testutil::busybox_rootfs`] into `dir`.
pub(crate) fn rootfs(dir: &Path) {
    mkimage_core::testutil::busybox_rootfs(dir).unwrap();
}
