//! Chroot isolation (`--isolation=chroot`, buildah's name and meaning): the command runs
//! chrooted into the plain-directory root of its spec, without the namespaces the native
//! sandbox needs, so that `RUN` works inside an unprivileged container.
//!
//! # What it gives up
//! The command shares the caller's pid, network, IPC and UTS namespaces and keeps the
//! caller's capabilities: a root step sees the container's processes and network and could
//! leave the chroot. There is no seccomp filter and no masked `/proc`. It is the user's own
//! build, in a container that is the isolation; it is never chosen silently.
//!
//! # Design
//! Before anything runs, [`Confinement::detect`] asks a forked child which of these the
//! system allows, once per process:
//!
//! - a mount namespace (root with `CAP_SYS_ADMIN`, as on a host): the command gets a
//!   private one, where the host's `/proc`, `/sys` (read-only) and device nodes, the
//!   generated `/etc/resolv.conf` and `/etc/hosts`, and the `RUN --mount`s are bound;
//! - a user namespace with a mount namespace (a default `podman run`, as root or not):
//!   the same mounts from inside a user namespace that maps the caller's ids (all of them
//!   as root, the caller alone as root otherwise);
//! - neither (Docker's default seccomp profile): root chroots without any mount: device
//!   nodes are created, a missing `resolv.conf`, `hosts` and the heredoc scripts are
//!   written into the tree, and each `RUN --mount` is copied in (`copied.rs`), all
//!   removed after the run; `/proc` and `/sys` stay empty.
//!
//! The parent creates the missing mount points in the tree and removes them after the run,
//! putting back the times of the directories that held them (`points.rs`), so they never
//! reach the layer. Every target is resolved inside the tree from its descriptor, by the
//! child (`openat2(RESOLVE_IN_ROOT)`), never joined onto a host path. The child's program
//! is plain data prepared by the parent (`program.rs`): it runs between `fork` and `execve`
//! and never allocates. The command's output is streamed as it comes (`spawn.rs`); when it
//! ends, whatever it left in its process group is killed.

mod confinement;
mod copied;
mod points;
mod program;
mod spawn;

use std::path::Path;
use std::process::ExitStatus;

pub(crate) use confinement::Confinement;

use super::error::ExecError;
use super::spec::{Rootfs, SandboxSpec};
use super::sys;
use crate::events::Stream;

/// Runs `spec` chrooted into its plain-directory root; scratch files go in a directory
/// made in `scratch_dir` and removed after the run.
pub(super) fn run(
    spec: &SandboxSpec,
    scratch_dir: &Path,
    output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<ExitStatus, ExecError> {
    let Rootfs::Directory(root) = &spec.rootfs else {
        return Err(ExecError::ChrootNeedsDirectory);
    };
    let confinement = Confinement::detect()?;
    let (caller, _) = sys::effective_ids();
    if caller != 0 {
        if confinement != Confinement::UserNamespace {
            return Err(ExecError::ChrootUnavailable);
        }
        if spec.uid != 0 || spec.gid != 0 {
            return Err(ExecError::ChrootUser {
                uid: spec.uid,
                gid: spec.gid,
            });
        }
    }
    let scratch = tempfile::Builder::new()
        .prefix("chroot-")
        .tempdir_in(scratch_dir)
        .map_err(|source| ExecError::ChrootScratch {
            path: scratch_dir.to_owned(),
            source,
        })?;
    let mut plan = points::Plan::new(spec, root, scratch.path(), confinement)?;
    let program = program::Program::new(spec, root, &mut plan, confinement)?;
    let status = spawn::run(spec, program, output);
    let undone = plan.undo();
    let status = status?;
    undone?;
    Ok(status)
}
