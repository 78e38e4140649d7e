//! Helpers for tests of mkimage and of programs built on it (feature `testutil`),
//! shared by this crate's and the CLI's tests, none needing any network: a small base
//! image made from the host's static busybox ([`busybox_image`]), a static file server
//! on 127.0.0.1 ([`HttpServer`]), seeded incompressible bytes ([`noise`]), a throwaway
//! user with subordinate ids ([`SubidUser`]) and a runner for the tools that check
//! results ([`run_checked`]).

mod command;
mod http;
mod noise;
mod subid;

pub use command::run_checked;
pub use http::HttpServer;
pub use noise::noise;
pub use subid::SubidUser;

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::process::Command;

use oci_spec::image::Descriptor;

use crate::layer::{Compression, LayerOptions, dir_entries, write_layer};
use crate::oci::{History, ImageConfig, RunConfig, write_image};
use crate::plan::Platform;
use crate::store::Store;

/// The static busybox the helpers copy (Debian package `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Writes a root filesystem into `dir`: `/bin/busybox` with a symlink per applet in
/// `/bin`, `/etc/passwd` and `/etc/group` with `root` and `app` (1000:1000, also in
/// `wheel`), and `/tmp` (mode 1777). There is deliberately no `/proc`, `/dev` or
/// `/etc/resolv.conf`: the sandbox must cope with images that lack them.
///
/// # Errors
///
/// When `/bin/busybox` cannot be run (the error names the Debian package) or a file
/// cannot be written.
pub fn busybox_rootfs(dir: &Path) -> io::Result<()> {
    let list = Command::new(BUSYBOX).arg("--list").output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("`{BUSYBOX} --list` failed ({e}): install the Debian package `busybox-static`"),
        )
    })?;
    if !list.status.success() {
        return Err(io::Error::other(format!("`{BUSYBOX} --list` failed")));
    }
    let bin = dir.join("bin");
    fs::create_dir_all(&bin)?;
    fs::copy(BUSYBOX, bin.join("busybox"))?;
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", bin.join(applet))?;
        }
    }
    let etc = dir.join("etc");
    fs::create_dir_all(&etc)?;
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )?;
    fs::write(
        etc.join("group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
    )?;
    fs::create_dir_all(dir.join("tmp"))?;
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// Makes a one-layer image of [`busybox_rootfs`] in `store` and tags it `name`
/// (`busybox:test`): gzip layer with every mtime clamped to 0, config with
/// `PATH=/bin` and `Cmd` `["sh"]`, for the host's platform. Returns its manifest's
/// descriptor.
///
/// # Errors
///
/// The errors of [`busybox_rootfs`] (as [`crate::Error::Layer`]), and of writing the
/// layer, the image and the tag.
pub fn busybox_image(store: &Store, name: &str) -> crate::Result<Descriptor> {
    let scratch = store.temp_dir()?;
    let rootfs = scratch.path().join("rootfs");
    busybox_rootfs(&rootfs).map_err(|source| crate::layer::LayerError::ScanHost {
        path: rootfs.clone(),
        source,
    })?;
    let entries = dir_entries(&rootfs)?;
    let options = LayerOptions {
        compression: Compression::Gzip { level: 1 },
        source_date_epoch: Some(0),
        threads: Some(1),
        ..LayerOptions::default()
    };
    let (blob, layer) = write_layer(store.begin_blob()?, entries, &options)?;
    blob.commit()?;
    let platform = Platform::host();
    let config = ImageConfig {
        created: Some("1970-01-01T00:00:00Z".to_owned()),
        architecture: platform.architecture().to_owned(),
        os: platform.os().to_owned(),
        variant: platform.variant().map(str::to_owned),
        config: RunConfig {
            env: Some(vec!["PATH=/bin".to_owned()]),
            cmd: Some(vec!["sh".to_owned()]),
            ..RunConfig::default()
        },
        rootfs: crate::oci::RootFs {
            diff_ids: vec![layer.diff_id.clone()],
            ..crate::oci::RootFs::default()
        },
        history: vec![History {
            created: Some("1970-01-01T00:00:00Z".to_owned()),
            created_by: Some(format!("busybox rootfs from {BUSYBOX}")),
            ..History::default()
        }],
        ..ImageConfig::default()
    };
    let descriptor = Descriptor::new(layer.media_type, layer.size, layer.digest);
    let image = write_image(store, &config, &[descriptor])?;
    store.tag(&name.parse()?, &image)?;
    Ok(image)
}
