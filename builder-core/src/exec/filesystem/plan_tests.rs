//! The filesystem plan as data: each test plans a representative sandbox over real layer
//! directories (no root needed, nothing mounted) and compares the steps, one line each,
//! with a snapshot in `plans/` (`SNAPSHOTS=overwrite` rewrites them).

use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;
use snapbox::{assert_data_eq, file};

use super::{FilesystemPlan, MountContext};
use crate::exec::setup::SetupStep;
use crate::exec::spec::{Rootfs, SandboxMount, SandboxSpec, SandboxSpecBuilder};
use crate::plan::{Network, Security};

/// The descriptor number of the first path the child opens.
const FIRST_PATH_FD: i32 = 100;

/// Root on the host: no user namespace, confined.
const NATIVE: MountContext = MountContext {
    user_namespace: false,
    tty_group_mapped: true,
    no_devices: true,
};

/// Rootless: a user namespace that does not map group 5.
const ROOTLESS: MountContext = MountContext {
    user_namespace: true,
    tty_group_mapped: false,
    no_devices: true,
};

/// What an OCI runtime's plan runs with (see `runc.rs`).
const RUNTIME: MountContext = MountContext {
    user_namespace: false,
    tty_group_mapped: true,
    no_devices: false,
};

/// A temporary directory holding an image's layers, the step's upper and work
/// directories, mount sources and the scratch directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A base layer with `/etc`, `/proc`, `/dev` and `/tmp` (no `/sys`, `/root`, `/run`),
    /// and a top layer that links `/var/run` to `/run`.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture { dir };
        for path in ["base/etc", "base/proc", "base/dev", "base/tmp", "top/var"] {
            fs::create_dir_all(fixture.path(path)).unwrap();
        }
        fs::write(fixture.path("base/etc/hosts"), "").unwrap();
        symlink("/run", fixture.path("top/var/run")).unwrap();
        for path in [
            "upper",
            "work",
            "scratch",
            "cache",
            "stage/src",
            "plain/etc",
        ] {
            fs::create_dir_all(fixture.path(path)).unwrap();
        }
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn overlay(&self) -> Rootfs {
        Rootfs::Overlay {
            lower: vec![self.path("top"), self.path("base")],
            upper: self.path("upper"),
            work: self.path("work"),
        }
    }

    fn spec(&self, rootfs: Rootfs) -> SandboxSpecBuilder {
        SandboxSpec::builder(rootfs, vec!["sh".into()])
    }

    /// Plans `spec` with the fixture's scratch directory.
    fn filesystem<'a>(
        &self,
        spec: &'a SandboxSpec,
        context: MountContext,
        runtime: bool,
    ) -> FilesystemPlan<'a> {
        let scratch = self.path("scratch");
        FilesystemPlan::new(spec, &scratch, context, FIRST_PATH_FD, runtime).unwrap()
    }

    /// The steps that plan `spec`, one line each, the fixture's path shown as `[TMP]`.
    fn plan(&self, spec: SandboxSpecBuilder, context: MountContext, runtime: bool) -> String {
        let spec = spec.build().unwrap();
        let plan = self.filesystem(&spec, context, runtime);
        let tmp = self.dir.path().display().to_string();
        let mut lines = String::new();
        for step in &plan.steps {
            lines.push_str(&describe(step).replace(&tmp, "[TMP]"));
            lines.push('\n');
        }
        lines
    }

    /// The mounts of RUN `--mount` options: a cache, a stage's directory, a secret, an
    /// SSH agent's socket and a tmpfs.
    fn mounts(&self, spec: SandboxSpecBuilder) -> SandboxSpecBuilder {
        spec.mount(SandboxMount::Bind {
            root: self.path("cache"),
            source: "/".into(),
            target: "/root/.cache".into(),
            readonly: false,
        })
        .mount(SandboxMount::Bind {
            root: self.path("stage"),
            source: "/src".into(),
            target: "/src".into(),
            readonly: true,
        })
        .mount(SandboxMount::File {
            target: "/run/secrets/token".into(),
            content: b"s3cret".to_vec(),
            mode: 0o400,
            uid: 0,
            gid: 0,
        })
        .mount(SandboxMount::Socket {
            source: self.path("agent.sock"),
            target: "/run/buildkit/ssh_agent.0".into(),
            mode: 0o600,
            uid: 1000,
            gid: 1000,
        })
        .mount(SandboxMount::Tmpfs {
            target: "/var/run/tmp".into(),
            size: Some(1 << 20),
        })
    }
}

/// One step as a line: what it does, to what, with which flags.
fn describe(step: &SetupStep) -> String {
    match step {
        SetupStep::MakePrivate => "make-private".to_owned(),
        SetupStep::Mount {
            source,
            target,
            fstype,
            flags,
            data,
            ..
        } => format!(
            "mount {} {} on {} flags={}{}",
            text(fstype),
            text(source),
            text(target),
            flag_names(*flags),
            data.as_deref()
                .map(|data| format!(" data={}", text(data)))
                .unwrap_or_default()
        ),
        SetupStep::Bind { source, target, .. } => {
            format!("bind {} on {}", text(source), text(target))
        }
        SetupStep::OpenPath { path, fd, .. } => format!("open {} as fd {fd}", text(path)),
        SetupStep::MakeDir { path, mode, .. } => format!("mkdir {} {mode:o}", text(path)),
        SetupStep::MakeFile { path, mode, .. } => format!("mkfile {} {mode:o}", text(path)),
        SetupStep::MakeIn {
            root,
            parent,
            name,
            dir,
            like,
            ..
        } => format!(
            "make-in {} /{}{}{} {}{}",
            text(root),
            text(parent),
            if parent.is_empty() { "" } else { "/" },
            text(name),
            if *dir { "dir" } else { "file" },
            like.as_ref()
                .map(|like| format!(" like {}:/{}", text(&like.layer), text(&like.path)))
                .unwrap_or_default()
        ),
        SetupStep::OpenInRoot { root, path, fd, .. } => {
            format!("open-in-root {} /{} as fd {fd}", text(root), text(path))
        }
        SetupStep::CopyFile { from, to, .. } => format!("copy {} to {}", text(from), text(to)),
        SetupStep::WriteFile {
            path,
            mode,
            uid,
            gid,
            ..
        } => format!("write {} {mode:o} {uid}:{gid}", text(path)),
        SetupStep::SetOwner {
            path,
            mode,
            uid,
            gid,
            ..
        } => format!("set-owner {} {mode:o} {uid}:{gid}", text(path)),
        SetupStep::Symlink { target, path, .. } => {
            format!("symlink {} -> {}", text(path), text(target))
        }
        SetupStep::CloneMount {
            root,
            source,
            slot,
            recursive,
            readonly,
            ..
        } => format!(
            "clone {}{} to slot {slot}{}{}",
            text(source),
            root.as_deref()
                .map(|root| format!(" in {}", text(root)))
                .unwrap_or_default(),
            if *recursive { " recursive" } else { "" },
            if *readonly { " readonly" } else { "" },
        ),
        SetupStep::AttachMount { slot, target, .. } => {
            format!("attach slot {slot} on {}", text(target))
        }
        SetupStep::PivotRoot { root } => format!("pivot-root {}", text(root)),
        SetupStep::MaskPath { path, .. } => format!("mask {}", text(path)),
        SetupStep::ReadonlyPath { path, .. } => format!("readonly {}", text(path)),
        SetupStep::ForbidDevices { path, .. } => format!("nodev {}", text(path)),
        other => format!("{other:?}"),
    }
}

fn text(c: &CStr) -> String {
    c.to_string_lossy().into_owned()
}

fn flag_names(flags: MountFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join("|")
    }
}

/// The steps of `plan` (lines) that mention `word`.
fn lines_with<'a>(plan: &'a str, word: &str) -> Vec<&'a str> {
    plan.lines().filter(|line| line.contains(word)).collect()
}

#[test]
fn native_overlay_plan() {
    let fixture = Fixture::new();
    let plan = fixture.plan(fixture.spec(fixture.overlay()), NATIVE, false);
    assert_data_eq!(plan, file!["plans/native-overlay.txt"]);
}

#[test]
fn rootless_on_the_host_network_binds_the_host_sys() {
    let fixture = Fixture::new();
    let spec = fixture.spec(fixture.overlay()).network(Network::Host);
    let plan = fixture.plan(spec, ROOTLESS, false);
    assert_data_eq!(plan, file!["plans/rootless-host-network.txt"]);
}

#[test]
fn rootless_private_network_mounts_a_fresh_sys() {
    let fixture = Fixture::new();
    let plan = fixture.plan(fixture.spec(fixture.overlay()), ROOTLESS, false);
    assert_eq!(
        lines_with(&plan, "/sys "),
        [
            "make-in [TMP]/scratch/stub /sys dir",
            "open-in-root [TMP]/scratch/root /sys as fd 105",
        ]
    );
    assert_eq!(
        lines_with(&plan, "sysfs"),
        ["mount sysfs sysfs on /proc/self/fd/105 flags=NODEV|NOEXEC|NOSUID|RDONLY"]
    );
    assert!(lines_with(&plan, "clone /sys").is_empty(), "{plan}");
    assert_eq!(
        lines_with(&plan, "overlay"),
        ["mount overlay overlay on [TMP]/scratch/root flags=- \
             data=lowerdir=[TMP]/scratch/stub:/proc/self/fd/100:/proc/self/fd/101,\
             upperdir=/proc/self/fd/102,workdir=/proc/self/fd/103,userxattr"]
    );
    assert_eq!(
        lines_with(&plan, "devpts"),
        [
            "mount devpts devpts on /dev/pts flags=NOEXEC|NOSUID data=newinstance,ptmxmode=0666,mode=0620"
        ]
    );
}

#[test]
fn run_mounts_plan() {
    let fixture = Fixture::new();
    let spec = fixture
        .mounts(fixture.spec(fixture.overlay()))
        .pipe_file("script", "echo hi", 0o755);
    let plan = fixture.plan(spec, NATIVE, false);
    assert_data_eq!(plan, file!["plans/run-mounts.txt"]);
}

#[test]
fn insecure_plan_keeps_devices_and_kernel_paths() {
    let fixture = Fixture::new();
    let spec = fixture
        .mounts(fixture.spec(fixture.overlay()))
        .security(Security::Insecure);
    let context = MountContext {
        no_devices: false,
        ..NATIVE
    };
    let plan = fixture.plan(spec, context, false);
    assert_data_eq!(plan, file!["plans/insecure.txt"]);
}

#[test]
fn resolv_conf_follows_the_network() {
    let fixture = Fixture::new();
    for (network, resolv) in [
        (
            Network::Default,
            "write [TMP]/scratch/files/resolv.conf 644 0:0",
        ),
        (
            Network::None,
            "copy /etc/resolv.conf to [TMP]/scratch/files/resolv.conf",
        ),
        (
            Network::Host,
            "copy /etc/resolv.conf to [TMP]/scratch/files/resolv.conf",
        ),
    ] {
        let spec = fixture.spec(fixture.overlay()).network(network);
        let plan = fixture.plan(spec, NATIVE, false);
        assert_eq!(
            lines_with(&plan, "files/resolv.conf")[0],
            resolv,
            "{network:?}"
        );
    }
}

#[test]
fn plain_directory_plan_makes_mount_points_in_it() {
    let fixture = Fixture::new();
    let spec = fixture.mounts(fixture.spec(Rootfs::Directory(fixture.path("plain"))));
    let spec = spec.build().unwrap();
    let plan = fixture.filesystem(&spec, NATIVE, false);
    let shown = |components: &[String]| format!("/{}", components.join("/"));
    let created: Vec<String> = plan.cleanup.created.iter().map(|c| shown(c)).collect();
    assert_eq!(
        created,
        [
            "/sys",
            "/var/run/tmp",
            "/var/run",
            "/var",
            "/run/buildkit/ssh_agent.0",
            "/run/buildkit",
            "/run/secrets/token",
            "/run/secrets",
            "/run",
            "/src",
            "/root/.cache",
            "/root",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/dev",
            "/proc",
        ]
        .map(|path| path.to_owned())
    );
    let plan = fixture.plan(
        fixture.mounts(fixture.spec(Rootfs::Directory(fixture.path("plain")))),
        NATIVE,
        false,
    );
    assert_data_eq!(plan, file!["plans/plain-directory.txt"]);
}

#[test]
fn runtime_plan_stops_at_the_root_and_stages_binds() {
    let fixture = Fixture::new();
    let spec = fixture.mounts(fixture.spec(fixture.overlay()));
    let plan = fixture.plan(spec, RUNTIME, true);
    assert_data_eq!(plan, file!["plans/runtime.txt"]);
}

#[test]
fn secret_content_goes_to_the_scratch_tmpfs_only() {
    let fixture = Fixture::new();
    let spec = fixture
        .mounts(fixture.spec(fixture.overlay()))
        .build()
        .unwrap();
    let plan = fixture.filesystem(&spec, NATIVE, false);
    let written: Vec<(&CStr, &[u8])> = plan
        .steps
        .iter()
        .filter_map(|step| match step {
            SetupStep::WriteFile { path, content, .. } if content == b"s3cret" => {
                Some((path.as_c_str(), content.as_slice()))
            }
            _ => None,
        })
        .collect();
    let expected = fixture.path("scratch/files/file-2");
    assert_eq!(written.len(), 1);
    assert_eq!(Path::new(written[0].0.to_str().unwrap()), expected);
}

#[test]
fn a_mount_inside_another_gets_its_mount_point_after_pivot_root() {
    let fixture = Fixture::new();
    let spec = fixture
        .spec(fixture.overlay())
        .mount(SandboxMount::Tmpfs {
            target: "/data".into(),
            size: None,
        })
        .mount(SandboxMount::Tmpfs {
            target: "/data/sub/dir".into(),
            size: None,
        });
    let plan = fixture.plan(spec, NATIVE, false);
    assert_eq!(
        lines_with(&plan, "/data"),
        [
            "make-in [TMP]/scratch/stub /data dir",
            "mount tmpfs tmpfs on /data flags=NODEV|NOSUID data=mode=1777",
            "mkdir /data/sub 755",
            "mkdir /data/sub/dir 755",
            "mount tmpfs tmpfs on /data/sub/dir flags=NODEV|NOSUID data=mode=1777",
        ]
    );
    let pivot = plan.find("pivot-root").unwrap();
    assert!(plan.find("mkdir /data/sub ").unwrap() > pivot, "{plan}");
}

#[test]
fn resolved_targets_name_where_the_image_puts_them() {
    let fixture = Fixture::new();
    let spec = fixture
        .mounts(fixture.spec(fixture.overlay()))
        .build()
        .unwrap();
    let plan = fixture.filesystem(&spec, RUNTIME, true);
    let resolved = &plan.resolved;
    let shown = |path: &PathBuf| path.display().to_string();
    assert_eq!(
        [
            &resolved.proc,
            &resolved.dev,
            &resolved.resolv_conf,
            &resolved.hosts,
            &resolved.sys
        ]
        .map(shown),
        ["/proc", "/dev", "/etc/resolv.conf", "/etc/hosts", "/sys"]
    );
    // `/var/run` is a symlink to `/run` in the image.
    assert_eq!(
        resolved.mounts.iter().map(shown).collect::<Vec<_>>(),
        [
            "/root/.cache",
            "/src",
            "/run/secrets/token",
            "/run/buildkit/ssh_agent.0",
            "/run/tmp"
        ]
    );
}
