//! Running a spec through an OCI runtime (`runc`) instead of the native sandbox.
//!
//! The root filesystem is prepared exactly as for the native sandbox, stub layer included,
//! inside a private mount namespace: init gets only a new mount namespace, mounts the
//! overlay (or binds the directory) on the scratch tmpfs, and its command process executes
//! `runc run` on a bundle whose `config.json`, generated with `oci-spec`, names that
//! mount as the root and lists `/proc`, `/dev`, the copies of `resolv.conf` and `hosts`
//! and the extra mounts. runc makes the container's own namespaces below it, but for the
//! default network: init then gets a new network namespace, connected by `slirp4netns` as
//! for the native sandbox, and the config names no network namespace, so the container
//! stays in init's. When the run ends or is interrupted, `runc delete --force` removes the
//! container.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResources,
    LinuxResourcesBuilder, Mount as OciMount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
    UserBuilder, get_default_mounts,
};

use super::defaults;
use super::error::ExecError;
use super::filesystem::{FilesystemPlan, MountContext};
use super::namespaces::IdMapping;
use super::parent::{self, Fds, Launch};
use super::seccomp::{Arch, DeviceNodes, Profile};
use super::spec::{DEFAULT_PATH, SandboxMount, SandboxSpec};
use super::sys;
use crate::events::Stream;
use crate::plan::{Network, Security};

/// How long `runc delete` may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `spec` with the runc binary `runc` and returns the command's exit status.
pub(crate) fn run(
    runc: &Path,
    spec: &SandboxSpec,
    scratch_dir: &Path,
    output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<ExitStatus, ExecError> {
    let mapping = IdMapping::detect()?;
    if mapping.user_namespace() {
        return Err(ExecError::RuntimeNeedsRoot {
            program: runc.to_owned(),
        });
    }
    parent::check_ids(spec, &mapping)?;
    let network = parent::user_network(spec.network)?;
    let scratch = parent::scratch(scratch_dir)?;
    let bundle = parent::scratch(scratch_dir)?;
    let context = MountContext {
        user_namespace: false,
        tty_group_mapped: true,
        no_devices: false,
    };
    let fds = Fds::new()?;
    let plan = FilesystemPlan::new(spec, scratch.path(), context, fds.max_child_fd() + 1, true)?;
    let config = config(spec, &plan)?;
    let config_path = bundle.path().join("config.json");
    config
        .save(&config_path)
        .map_err(|source| ExecError::WriteRuntimeConfig {
            path: config_path.clone(),
            source,
        })?;
    let state = bundle.path().join("state");
    let id = bundle
        .path()
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mkimage".to_owned());
    let runc_text = runc.display().to_string();
    let state_text = state.display().to_string();
    let bundle_text = bundle.path().display().to_string();
    let launch = Launch {
        steps: plan.steps,
        slots: plan.slots,
        flags: match network {
            Some(_) => libc::CLONE_NEWNS | libc::CLONE_NEWNET,
            None => libc::CLONE_NEWNS,
        },
        network,
        argv: [
            runc_text.as_str(),
            "--root",
            &state_text,
            "run",
            "--bundle",
            &bundle_text,
            &id,
        ]
        .map(str::to_owned)
        .to_vec(),
        env: vec![format!("PATH={DEFAULT_PATH}")],
        candidates: parent::candidates(&runc_text, DEFAULT_PATH),
        command_steps: Vec::new(),
    };
    let delete = || {
        // Removes the container whatever its state; a container that already ended is
        // gone and this fails harmlessly. A runc that hangs is killed.
        let _ = Command::new(runc)
            .args(["--root", &state_text, "delete", "--force", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut child| sys::wait_exit(&mut child, DELETE_TIMEOUT));
    };
    let mut on_interrupt = |pid| {
        delete();
        let _ = sys::kill(pid, libc::SIGKILL);
    };
    let result = launch.run(fds, &mapping, &mut on_interrupt, output);
    delete();
    let undone = plan.cleanup.undo();
    let status = result?;
    undone?;
    Ok(status)
}

/// The runtime-spec `config.json` for `spec` over the root prepared by `plan`.
fn config(spec: &SandboxSpec, plan: &FilesystemPlan<'_>) -> Result<Spec, ExecError> {
    let invalid = |source| ExecError::BuildRuntimeConfig { source };
    let confined = spec.security == Security::Sandbox;
    let capabilities: HashSet<Capability> = match spec.security {
        Security::Sandbox => defaults::CAPABILITIES.into_iter().collect(),
        // Every capability this process has, as BuildKit gives them: runc fails to set one
        // that the host withholds.
        Security::Insecure => {
            let current = sys::effective_capabilities()
                .map_err(|source| ExecError::ReadCapabilities { source })?;
            defaults::capabilities_in(current).collect()
        }
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(capabilities.clone())
        .effective(capabilities.clone())
        .permitted(capabilities)
        .build()
        .map_err(invalid)?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.groups.clone())
        .build()
        .map_err(invalid)?;
    let process = ProcessBuilder::default()
        .args(spec.argv.clone())
        .env(spec.env.clone())
        .cwd(spec.cwd.clone())
        .user(user)
        .capabilities(capabilities)
        .no_new_privileges(false)
        .build()
        .map_err(invalid)?;
    let root = RootBuilder::default()
        .path(plan.scratch_path("root"))
        .readonly(false)
        .build()
        .map_err(invalid)?;

    let resolved = &plan.resolved;
    let mut mounts: Vec<OciMount> = get_default_mounts()
        .into_iter()
        .filter(|mount| {
            // cgroups are the runtime's business; a build step gets none, as in the native
            // sandbox.
            mount.destination() != Path::new("/sys/fs/cgroup")
        })
        .map(|mut mount| {
            if mount.destination() == Path::new("/proc") {
                mount.set_destination(resolved.proc.clone());
            } else if mount.destination() == Path::new("/dev") {
                mount.set_destination(resolved.dev.clone());
            } else if mount.destination() == Path::new("/sys") {
                mount.set_destination(resolved.sys.clone());
            }
            mount
        })
        .collect();
    let files = plan.scratch_path("files");
    mounts.push(bind(
        files.join("resolv.conf"),
        resolved.resolv_conf.clone(),
        false,
    )?);
    mounts.push(bind(files.join("hosts"), resolved.hosts.clone(), false)?);
    if !spec.pipe_files.is_empty() {
        mounts.push(bind(plan.scratch_path("pipes"), "/dev/pipes".into(), true)?);
    }
    for (index, (mount, target)) in spec.mounts.iter().zip(&resolved.mounts).enumerate() {
        let target = target.clone();
        mounts.push(match mount {
            SandboxMount::Bind { readonly, .. } => {
                bind(plan.runtime_bind_source(index), target, *readonly)?
            }
            SandboxMount::Socket { source, .. } => bind(source.clone(), target, false)?,
            SandboxMount::File { .. } => bind(files.join(format!("file-{index}")), target, true)?,
            SandboxMount::Tmpfs { size, .. } => {
                let mut options = vec![
                    "nosuid".to_owned(),
                    "nodev".to_owned(),
                    "mode=1777".to_owned(),
                ];
                if let Some(size) = size {
                    options.push(format!("size={size}"));
                }
                MountBuilder::default()
                    .destination(target)
                    .typ("tmpfs")
                    .source("tmpfs")
                    .options(options)
                    .build()
                    .map_err(invalid)?
            }
        });
    }

    let mut namespaces: Vec<LinuxNamespace> = Vec::new();
    let mut kinds = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if spec.network == Network::None {
        kinds.push(LinuxNamespaceType::Network);
    }
    for kind in kinds {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(kind)
                .build()
                .map_err(invalid)?,
        );
    }
    // The builder starts from Docker's masked and read-only paths: none for
    // `--security=insecure`.
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(device_rules(confined)?)
        .masked_paths(Vec::new())
        .readonly_paths(Vec::new());
    if confined {
        linux = linux
            .masked_paths(defaults::masked_paths())
            .readonly_paths(defaults::READONLY_PATHS.map(str::to_owned).to_vec())
            .seccomp(
                Profile::new(
                    Arch::host()?,
                    &defaults::CAPABILITIES,
                    DeviceNodes::Character,
                )
                .oci()?,
            );
    }
    let linux = linux.build().map_err(invalid)?;

    let mut config = Spec::default();
    config.set_hostname(Some(spec.hostname.clone()));
    config.set_process(Some(process));
    config.set_root(Some(root));
    config.set_mounts(Some(mounts));
    config.set_linux(Some(linux));
    Ok(config)
}

fn bind(source: PathBuf, destination: PathBuf, readonly: bool) -> Result<OciMount, ExecError> {
    let options = if readonly {
        vec!["rbind", "ro"]
    } else {
        vec!["rbind", "rw"]
    };
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .build()
        .map_err(|source| ExecError::BuildRuntimeConfig { source })
}

/// The device cgroup rules: nothing but Docker's default devices (runc adds its own list,
/// which lets any device node be created), or, for `--security=insecure`, every device.
fn device_rules(confined: bool) -> Result<LinuxResources, ExecError> {
    let invalid = |source| ExecError::BuildRuntimeConfig { source };
    // Read, write and create (`mknod`).
    let rule = |allow: bool, major: Option<u32>, minor: Option<u32>| {
        let mut rule = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access("rwm");
        if let Some(major) = major {
            rule = rule.typ(LinuxDeviceType::C).major(i64::from(major));
        }
        if let Some(minor) = minor {
            rule = rule.minor(i64::from(minor));
        }
        rule.build().map_err(invalid)
    };
    let mut rules = vec![rule(!confined, None, None)?];
    if confined {
        for device in defaults::DEVICES {
            rules.push(rule(true, Some(device.major), device.minor)?);
        }
    }
    LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .map_err(invalid)
}
