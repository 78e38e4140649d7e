//! Errors of the `exec` module.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// What can fail in the `exec` module. A command that runs and exits with a non-zero
/// status is not an error here: [`Sandbox::run`](super::Sandbox::run) returns its status.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The spec has no program.
    #[error("the command is empty")]
    EmptyCommand,
    /// A string of the spec contains a NUL byte.
    #[error("the {what} `{value}` contains a NUL byte")]
    NulByte {
        /// Which string.
        what: &'static str,
        /// The string, with NUL shown as `\0`.
        value: String,
    },
    /// A path of the spec must be absolute.
    #[error("the {what} `{path}` is not an absolute path")]
    NotAbsolute {
        /// Which path.
        what: &'static str,
        /// The path.
        path: String,
    },
    /// A mount target is the root directory.
    #[error("the mount target `{target}` is the root directory")]
    MountOnRoot {
        /// The target.
        target: String,
    },
    /// A `/dev/pipes/` file name is not a plain file name.
    #[error("the pipe file name `{name}` is not a file name")]
    PipeFileName {
        /// The name.
        name: String,
    },
    /// A uid or gid of the spec is `4294967295`, which means "unchanged" to the kernel.
    #[error("the id `{id}` is reserved")]
    ReservedId {
        /// The id.
        id: u32,
    },
    /// The spec asks for a uid that the rootless user namespace does not map.
    #[error(
        "uid `{id}` does not exist in the rootless sandbox: give the user subordinate ids in /etc/subuid and install newuidmap (package `uidmap`)"
    )]
    UnmappedUid {
        /// The uid.
        id: u32,
    },
    /// The spec asks for a gid that the rootless user namespace does not map.
    #[error(
        "gid `{id}` does not exist in the rootless sandbox: give the user subordinate ids in /etc/subgid and install newgidmap (package `uidmap`)"
    )]
    UnmappedGid {
        /// The gid.
        id: u32,
    },
    /// Reading a host configuration file failed.
    #[error("failed to read `{}`", path.display())]
    ReadHostFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating the sandbox's scratch directory failed.
    #[error("failed to create the sandbox's scratch directory in `{}`", path.display())]
    CreateScratch {
        /// The parent directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Opening a layer directory failed.
    #[error("failed to open the layer directory `{}`", path.display())]
    OpenLayer {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Looking a path up in the root filesystem failed.
    #[error("failed to inspect `{}` in the root filesystem", path.display())]
    InspectRootfs {
        /// The path, as the image has it.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A bind mount's source cannot be resolved inside its root (it is missing, most
    /// likely).
    #[error("failed to find the bind mount source `{source_path}` in `{}`", root.display())]
    ResolveBindSource {
        /// The host directory it is resolved in.
        root: PathBuf,
        /// The path inside `root`.
        source_path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A mount target runs through a non-directory of the image.
    #[error(
        "mount target `{target}` needs a directory at `{path}`, but the image has a file there"
    )]
    MountTargetNotDirectory {
        /// The target as given.
        target: String,
        /// The component that is not a directory.
        path: String,
    },
    /// A mount target runs through a symlink loop.
    #[error("too many levels of symbolic links resolving `{target}` in the root filesystem")]
    SymlinkLoop {
        /// The target as given.
        target: String,
    },
    /// Creating a pipe or socket for the sandbox failed.
    #[error("failed to create the sandbox's pipes")]
    CreatePipes {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Installing the interrupt handler failed.
    #[error("failed to install the interrupt handler")]
    InstallSignalHandler {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The system refused what the namespace sandbox needs, as an unprivileged container
    /// does: chroot isolation would run the step.
    #[error(
        "the system refused the sandbox's {what} (as in an unprivileged container); \
         `--isolation=chroot` runs `RUN` steps without them, chrooted into the image \
         but sharing this container's processes, network and capabilities"
    )]
    NamespacesRefused {
        /// What was refused: `namespaces`, the `/proc` mount.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Chroot isolation runs over a plain directory, not an overlay.
    #[error("chroot isolation needs a plain-directory root")]
    ChrootNeedsDirectory,
    /// A non-root caller can chroot only in a user namespace, which the system refuses.
    #[error(
        "chroot isolation as a non-root user needs a user namespace, which this system \
         refuses: run the build as root"
    )]
    ChrootUnavailable,
    /// A non-root caller's user namespace maps only the caller, as root.
    #[error(
        "chroot isolation as a non-root user runs steps as root of a user namespace that \
         maps only the caller: the user `{uid}:{gid}` does not exist there"
    )]
    ChrootUser {
        /// The step's uid.
        uid: u32,
        /// The step's gid.
        gid: u32,
    },
    /// The scratch directory of a chroot run could not be made.
    #[error("failed to make a scratch directory in `{}`", path.display())]
    ChrootScratch {
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Asking the system which namespaces it allows failed.
    #[error("failed to probe which namespaces the system allows")]
    ChrootProbe {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A `RUN --mount` where nothing can be mounted.
    #[error(
        "`RUN --mount` on `{target}` needs a mount, which chroot isolation cannot make \
         here (the system refuses mount and user namespaces)"
    )]
    ChrootMountUnavailable {
        /// The mount's target.
        target: String,
    },
    /// `--network=none` where no network namespace can be made.
    #[error(
        "`--network=none` needs a network namespace, which chroot isolation cannot make \
         here (the system refuses mount and user namespaces)"
    )]
    ChrootNetwork,
    /// A mount point or file could not be made in the tree before a chroot run.
    #[error("failed to prepare `{path}` in the chroot")]
    ChrootPrepare {
        /// The path in the tree.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step of the chroot's setup failed in the child.
    #[error("failed to {step} for the chroot")]
    ChrootStep {
        /// What the step does.
        step: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The command could not be executed in the chroot.
    #[error("failed to execute `{program}` in the chroot")]
    ChrootExecute {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Waiting for the chrooted command failed.
    #[error("failed to wait for the chrooted command")]
    ChrootWait {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating the sandbox's init process failed.
    #[error("failed to start the sandbox process")]
    StartSandbox {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The process that works on the store's files in the user namespace could not be
    /// started.
    #[error("failed to start a process in a user namespace")]
    StartNamespaceHelper {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Work on the store's files in the user namespace failed; the message is its error
    /// and causes.
    #[error("in the user namespace: {message}")]
    NamespaceWork {
        /// The error, with its causes after `: `.
        message: String,
    },
    /// The process working in the user namespace ended without an answer.
    #[error("the process working in the user namespace died ({status})")]
    NamespaceHelperDied {
        /// How it ended.
        status: ExitStatus,
    },
    /// Writing a user-namespace map failed.
    #[error("failed to write `{}`", path.display())]
    MapIds {
        /// The map file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `newuidmap` or `newgidmap` could not be run.
    #[error("failed to run `{}`", program.display())]
    RunIdHelper {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `newuidmap` or `newgidmap` failed.
    #[error("`{}` failed ({status}): {stderr}", program.display())]
    IdHelperFailed {
        /// The program.
        program: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        stderr: String,
    },
    /// Talking to the sandbox over its socket failed.
    #[error("failed to communicate with the sandbox")]
    Communicate {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the command's output failed.
    #[error("failed to read the command's output")]
    ReadOutput {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Waiting for the sandbox failed.
    #[error("failed to wait for the sandbox")]
    Wait {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The sandbox's init ended without reporting the command's end.
    #[error("the sandbox's init process ended unexpectedly ({status})")]
    SandboxDied {
        /// Init's status.
        status: ExitStatus,
    },
    /// The run was interrupted by a signal to the builder; the sandbox was killed.
    #[error("interrupted by signal {signal}")]
    Interrupted {
        /// The signal number (`SIGINT` is 2, `SIGTERM` 15).
        signal: i32,
    },
    /// Making the sandbox's mounts private failed.
    #[error("failed to make the sandbox's mounts private")]
    MakeMountsPrivate {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A mount in the sandbox failed.
    #[error("failed to mount `{what}` on `{target}`")]
    Mount {
        /// What was mounted.
        what: String,
        /// Where, as the sandbox sees it.
        target: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating a mount point failed.
    #[error("failed to create the mount point `{path}`")]
    CreateMountPoint {
        /// The path, as the sandbox sees it.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A mount point could not be opened inside the new root.
    #[error("failed to open the mount point `{path}`")]
    OpenMountPoint {
        /// The path, as the sandbox sees it.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a file for the sandbox (a secret, a pipe file, a copy of a host file)
    /// failed.
    #[error("failed to write `{path}` for the sandbox")]
    WriteFile {
        /// The file, as the sandbox sees it (or the host file copied).
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Giving a socket bound into the sandbox its mode and owner failed.
    #[error("failed to set the owner and mode of the socket `{path}`")]
    SetSocketOwner {
        /// The socket, as the sandbox sees it.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Preparing a bind mount of a host path failed.
    #[error("failed to prepare the bind mount of `{source_path}`")]
    PrepareBind {
        /// The host path.
        source_path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `pivot_root` into the root filesystem failed.
    #[error("failed to pivot into the root filesystem")]
    PivotRoot {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Setting the host name failed.
    #[error("failed to set the hostname `{hostname}`")]
    SetHostname {
        /// The host name.
        hostname: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step on the default network needs `slirp4netns`, which is not installed.
    #[error(
        "a `RUN` step on the default network needs `slirp4netns` (Debian package `slirp4netns`) \
         for its private network: install it, or run the step with `--network none`, or on \
         the host's network with `--network host` and `--allow network.host`"
    )]
    UserNetworkMissing,
    /// This user cannot open the tun device the user-mode network stack needs.
    #[error(
        "a `RUN` step on the default network needs to open `{}` for its private network \
         (slirp4netns makes its tap device with it; most systems make it mode 0666): make \
         it readable and writable, or run the step with `--network none`",
        path.display()
    )]
    UserNetworkNoTun {
        /// The device.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The user-mode network stack could not be started.
    #[error("failed to start `{}` for the step's network", program.display())]
    StartUserNetwork {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The user-mode network stack exited before the step's network was up.
    #[error("`{}` failed to set up the step's network ({status}): {stderr}", program.display())]
    UserNetworkFailed {
        /// The program.
        program: PathBuf,
        /// How it exited.
        status: ExitStatus,
        /// The start of its standard error.
        stderr: String,
    },
    /// The user-mode network stack did not report the step's network up in time.
    #[error(
        "`{}` did not set up the step's network within {} s",
        program.display(),
        waited.as_secs()
    )]
    UserNetworkTimeout {
        /// The program.
        program: PathBuf,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
    /// Bringing up loopback in the private network namespace failed.
    #[error("failed to bring up the loopback interface")]
    LoopbackUp {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Dropping capabilities failed.
    #[error("failed to drop capabilities")]
    DropCapabilities {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Installing the seccomp filter failed.
    #[error("failed to install the seccomp filter")]
    InstallSeccomp {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Hiding a `/proc` or `/sys` path from the command failed.
    #[error("failed to mask `{path}`")]
    MaskPath {
        /// The path in the sandbox.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Making a mount ignore device nodes failed.
    #[error("failed to make the mounts at `{path}` ignore device nodes (`nodev`)")]
    ForbidDevices {
        /// The mount point in the sandbox.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Making a `/proc` path read-only failed.
    #[error("failed to make `{path}` read-only")]
    ReadonlyPath {
        /// The path in the sandbox.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating the working directory failed.
    #[error("failed to create the working directory `{path}`")]
    CreateWorkdir {
        /// The directory (a component of the working directory).
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Forking the command process failed.
    #[error("failed to fork the command process")]
    SpawnCommand {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Connecting the command's standard streams failed.
    #[error("failed to connect the command's standard streams")]
    RedirectStdio {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Entering the working directory failed.
    #[error("failed to enter the working directory `{path}`")]
    EnterWorkdir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Switching to the user failed.
    #[error("failed to switch to uid `{uid}` and gid `{gid}`")]
    SwitchUser {
        /// The uid.
        uid: u32,
        /// The gid.
        gid: u32,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The program could not be executed.
    #[error("failed to execute `{program}`")]
    Execute {
        /// The program as given.
        program: String,
        /// The cause (`No such file or directory` when it is not in `PATH`).
        #[source]
        source: io::Error,
    },
    /// The OCI runtime was asked for while running rootless.
    #[error("the runtime `{}` can only be used as root", program.display())]
    RuntimeNeedsRoot {
        /// The runtime.
        program: PathBuf,
    },
    /// This process's capabilities could not be read.
    #[error("failed to read the capabilities of this process")]
    ReadCapabilities {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The runtime-spec configuration could not be built.
    #[error("failed to build the OCI runtime configuration")]
    BuildRuntimeConfig {
        /// The cause.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// Writing the runtime-spec `config.json` failed.
    #[error("failed to write `{}`", path.display())]
    WriteRuntimeConfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// No seccomp profile is made for this host's architecture.
    #[error(
        "the sandbox has no seccomp profile for the architecture `{arch}` (only `RUN --security=insecure` runs here)"
    )]
    SeccompArchitecture {
        /// The architecture.
        arch: String,
    },
    /// Compiling the seccomp profile to BPF failed.
    #[error("failed to compile the seccomp profile")]
    BuildSeccomp {
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The seccomp compiler laid a filter out differently than the sandbox expects (a
    /// changed `seccompiler`).
    #[error("failed to compile the seccomp profile: unexpected filter layout")]
    SeccompLayout,
    /// Removing a mount point created in a plain-directory root failed.
    #[error("failed to remove the mount point `{}` after the run", path.display())]
    RemoveMountPoint {
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
