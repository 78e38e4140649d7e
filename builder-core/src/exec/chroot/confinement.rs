//! Which namespaces the system lets a chrooted command have, probed once per process.

use std::sync::OnceLock;

use rustix::thread::UnshareFlags;

use crate::exec::error::ExecError;
use crate::exec::sys;

/// What the chroot sandbox can add around the chroot, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// A private mount namespace (the caller may mount).
    MountNamespace,
    /// A user namespace owning a new mount namespace.
    UserNamespace,
    /// Neither: no mount at all.
    Plain,
}

/// The probe's answer, once per process: the system's policy does not change mid-build.
static DETECTED: OnceLock<Confinement> = OnceLock::new();

impl Confinement {
    /// What this process may create, asked of a forked child that tries.
    ///
    /// # Errors
    /// [`ExecError::ChrootProbe`] when the child cannot be forked or waited for.
    pub(crate) fn detect() -> Result<Confinement, ExecError> {
        if let Some(found) = DETECTED.get() {
            return Ok(*found);
        }
        let found = probe()?;
        Ok(*DETECTED.get_or_init(|| found))
    }

    /// The namespaces the command's process unshares: `network` adds a network namespace.
    pub(super) fn unshare_flags(self, network: bool) -> UnshareFlags {
        let mut flags = match self {
            Confinement::MountNamespace => UnshareFlags::NEWNS,
            Confinement::UserNamespace => UnshareFlags::NEWUSER | UnshareFlags::NEWNS,
            Confinement::Plain => UnshareFlags::empty(),
        };
        if network {
            flags |= UnshareFlags::NEWNET;
        }
        flags
    }

    /// Whether mounts can be made.
    pub(super) fn mounts(self) -> bool {
        self != Confinement::Plain
    }
}

/// Forks a child that tries a mount namespace, then a user and mount namespace, and exits
/// with 0, 1 or 2 for [`Confinement::MountNamespace`], [`Confinement::UserNamespace`] and
/// [`Confinement::Plain`].
fn probe() -> Result<Confinement, ExecError> {
    let err = |source| ExecError::ChrootProbe { source };
    // SAFETY: the child only makes two system calls and exits.
    match unsafe { sys::fork() }.map_err(err)? {
        sys::Forked::Child => {
            let code = if sys::unshare(UnshareFlags::NEWNS).is_ok() {
                0
            } else if sys::unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNS).is_ok() {
                1
            } else {
                2
            };
            sys::exit(code)
        }
        sys::Forked::Parent(pid) => {
            let status = sys::wait_for(pid).map_err(err)?;
            Ok(match libc::WEXITSTATUS(status) {
                0 if libc::WIFEXITED(status) => Confinement::MountNamespace,
                1 if libc::WIFEXITED(status) => Confinement::UserNamespace,
                _ => Confinement::Plain,
            })
        }
    }
}
