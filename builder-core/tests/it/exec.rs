//! The sandbox: real namespaces, mounts and processes over a busybox root filesystem.
//!
//! These tests need root (or, for the rootless ones, `setpriv` and unprivileged user
//! namespaces) and the Debian package `busybox-static`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use mkimage_core::Stream;
use mkimage_core::exec::{
    ExecError, Rootfs, Sandbox, SandboxMount, SandboxSpec, SandboxSpecBuilder,
};
use mkimage_core::plan::Network;
use tempfile::TempDir;

use crate::busybox;

/// A busybox lower layer with empty upper and work directories.
struct Overlay {
    dir: TempDir,
}

impl Overlay {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        busybox::rootfs(&dir.path().join("lower"));
        fs::create_dir(dir.path().join("upper")).unwrap();
        fs::create_dir(dir.path().join("work")).unwrap();
        Overlay { dir }
    }

    fn lower(&self) -> PathBuf {
        self.dir.path().join("lower")
    }

    fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    fn rootfs(&self) -> Rootfs {
        Rootfs::Overlay {
            lower: vec![self.lower()],
            upper: self.upper(),
            work: self.dir.path().join("work"),
        }
    }

    fn spec(&self, script: &str) -> SandboxSpecBuilder {
        sh(self.rootfs(), script)
    }

    /// Every path in the upper directory, relative, sorted.
    fn upper_listing(&self) -> BTreeSet<String> {
        listing(&self.upper())
    }
}

fn sh(rootfs: Rootfs, script: &str) -> SandboxSpecBuilder {
    SandboxSpec::builder(rootfs, vec!["/bin/sh".into(), "-c".into(), script.into()])
        .env(["PATH=/bin"])
}

fn listing(dir: &Path) -> BTreeSet<String> {
    walk(dir)
        .into_iter()
        .map(|path| path.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        paths.push(path.clone());
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            paths.extend(walk(&path));
        }
    }
    paths
}

/// What a run gave.
#[derive(Debug)]
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn run(spec: SandboxSpecBuilder) -> Result<Output, ExecError> {
    run_in(&Sandbox::native(), spec)
}

/// Runs `spec` in `sandbox` (the native one or runc).
fn run_in(sandbox: &Sandbox, spec: SandboxSpecBuilder) -> Result<Output, ExecError> {
    let spec = spec.build()?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let status = sandbox.run(&spec, |stream, bytes| match stream {
        Stream::Stdout => stdout.extend_from_slice(bytes),
        Stream::Stderr => stderr.extend_from_slice(bytes),
    })?;
    Ok(Output {
        status,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    })
}

/// Runs a script that must succeed and returns its standard output.
fn stdout_of(spec: SandboxSpecBuilder) -> String {
    let output = run(spec).unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        output.status,
        output.stderr
    );
    output.stdout
}

#[test]
fn output_streams_and_exit_code() {
    let overlay = Overlay::new();
    let output = run(overlay.spec("echo out; echo err >&2; echo more; exit 3")).unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stdout, "out\nmore\n");
    assert_eq!(output.stderr, "err\n");
}

#[test]
fn output_arrives_while_the_command_runs() {
    let overlay = Overlay::new();
    let spec = overlay
        .spec("echo first; sleep 1; echo second")
        .build()
        .unwrap();
    let start = Instant::now();
    let mut arrivals = Vec::new();
    let status = Sandbox::native()
        .run(&spec, |_, bytes| {
            arrivals.push((start.elapsed(), bytes.to_vec()))
        })
        .unwrap();
    assert!(status.success());
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(
        arrivals[1].0 - arrivals[0].0 >= Duration::from_millis(800),
        "{arrivals:?}"
    );
}

#[test]
fn killed_command_reports_the_signal() {
    let overlay = Overlay::new();
    let output = run(overlay.spec("kill -9 $$")).unwrap();
    assert_eq!(output.status.signal(), Some(9));
}

#[test]
fn exec_form_searches_path_and_reports_missing_programs() {
    let overlay = Overlay::new();
    let spec = SandboxSpec::builder(overlay.rootfs(), vec!["echo".into(), "a  b".into()])
        .env(["PATH=/nope:/bin"]);
    assert_eq!(stdout_of(spec), "a  b\n");
    let spec = SandboxSpec::builder(overlay.rootfs(), vec!["nope".into()]).env(["PATH=/bin"]);
    let err = run(spec).err().unwrap();
    assert_eq!(err.to_string(), "failed to execute `nope`");
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "No such file or directory (os error 2)"
    );
}

#[test]
fn env_and_working_directory() {
    let overlay = Overlay::new();
    let spec = overlay
        .spec("echo \"$GREETING\"; pwd; env | sort")
        .env(["GREETING=hello world", "EMPTY="])
        .cwd("/work/dir")
        .user(1000, 1000, vec![]);
    assert_eq!(
        stdout_of(spec),
        "hello world\n/work/dir\nEMPTY=\nGREETING=hello world\nPATH=/bin\nPWD=/work/dir\nSHLVL=1\n"
    );
    // The missing working directory was created, owned by the user.
    let meta = fs::metadata(overlay.upper().join("work/dir")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o755)
    );
}

#[test]
fn user_groups_and_hostname() {
    let overlay = Overlay::new();
    let spec = overlay
        .spec("id; hostname")
        .user(1000, 1000, vec![10])
        .hostname("builder");
    assert_eq!(
        stdout_of(spec),
        "uid=1000(app) gid=1000(app) groups=10(wheel)\nbuilder\n"
    );
    let spec = overlay.spec("id -u; id -g").user(4242, 4343, vec![]);
    assert_eq!(stdout_of(spec), "4242\n4343\n");
}

#[test]
fn pid_one_is_init_and_dev_is_minimal() {
    let overlay = Overlay::new();
    let out = stdout_of(overlay.spec("echo $$; ls /dev; ls /dev/pts; readlink /dev/ptmx; readlink /dev/fd; echo x > /dev/null; head -c 4 /dev/zero | od -An -tx1"));
    assert_eq!(
        out,
        "2\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\nptmx\npts/ptmx\n/proc/self/fd\n 00 00 00 00\n"
    );
    let out = stdout_of(
        overlay.spec("ls /proc/1/ >/dev/null && echo proc ok; cat /proc/self/status | grep ^NSpid"),
    );
    assert!(out.starts_with("proc ok\nNSpid:\t"), "{out}");
}

#[test]
fn sys_is_read_only_and_the_hostname_resolves() {
    let overlay = Overlay::new();
    for network in [Network::Default, Network::None] {
        let spec = overlay
            .spec(
                "test -d /sys/kernel && ! touch /sys/kernel/x 2>/dev/null && echo sys ro; \
                 grep -c \"^127.0.0.1[[:space:]]*builder$\" /etc/hosts",
            )
            .hostname("builder")
            .network(network);
        assert_eq!(stdout_of(spec), "sys ro\n1\n");
    }
    assert!(
        listing(&overlay.upper()).is_empty(),
        "mount points left no trace"
    );
}

#[test]
fn pid_one_shows_nothing_of_the_builder() {
    // Init is a clone of the builder: its command line would be the host's (paths, flags).
    let overlay = Overlay::new();
    let out = stdout_of(overlay.spec("tr '\\0' ' ' </proc/1/cmdline | tr -s ' '; echo"));
    assert_eq!(out, "init \n");
}

#[test]
fn stdin_is_empty() {
    let overlay = Overlay::new();
    assert_eq!(stdout_of(overlay.spec("cat; echo done")), "done\n");
}

fn interfaces(out: &str) -> Vec<String> {
    out.lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn network_none_has_only_loopback_up() {
    let overlay = Overlay::new();
    let out = stdout_of(overlay.spec("cat /proc/net/dev").network(Network::None));
    assert_eq!(interfaces(&out), ["lo"]);
    let out = stdout_of(overlay.spec("ip -o link show lo").network(Network::None));
    assert!(
        out.contains(",UP,") || out.contains("<LOOPBACK,UP"),
        "{out}"
    );
    let out = stdout_of(
        overlay
            .spec("ping -c 1 -W 1 127.0.0.1 >/dev/null && echo reachable")
            .network(Network::None),
    );
    assert_eq!(out, "reachable\n");
}

// See: issue 13
#[test]
fn network_default_is_private_behind_slirp4netns() {
    let overlay = Overlay::new();
    let out = stdout_of(overlay.spec("cat /proc/net/dev"));
    let mut names = interfaces(&out);
    names.sort();
    assert_eq!(names, ["lo", "tap0"]);
    let out =
        stdout_of(overlay.spec("ip -o -4 addr show tap0 | grep -o 'inet [0-9./]*'; ip route"));
    assert_eq!(
        out,
        "inet 10.0.2.100/24\ndefault via 10.0.2.2 dev tap0 \n\
         10.0.2.0/24 dev tap0 scope link  src 10.0.2.100 \n"
    );
    assert_eq!(
        stdout_of(overlay.spec("cat /etc/resolv.conf"))
            .lines()
            .next(),
        Some("nameserver 10.0.2.3")
    );
}

#[test]
fn network_host_is_the_hosts() {
    let overlay = Overlay::new();
    let host = interfaces(&fs::read_to_string("/proc/net/dev").unwrap());
    let out = stdout_of(overlay.spec("cat /proc/net/dev").network(Network::Host));
    assert_eq!(interfaces(&out), host);
    assert!(host.len() > 1, "the host has only loopback: {host:?}");
}

#[test]
fn upper_holds_exactly_the_changes() {
    let overlay = Overlay::new();
    fs::write(overlay.lower().join("etc/motd"), "old\n").unwrap();
    fs::create_dir_all(overlay.lower().join("data/sub")).unwrap();
    fs::write(overlay.lower().join("data/old"), "x").unwrap();
    fs::write(overlay.lower().join("data/sub/f"), "x").unwrap();
    fs::create_dir_all(overlay.lower().join("gone")).unwrap();
    let script = "echo new > /new; echo changed > /etc/motd; rm /data/old; \
                  rm -r /gone; mkdir /gone; touch /gone/fresh; \
                  cat /etc/resolv.conf /etc/hosts > /dev/null; ls / > /dev/null";
    stdout_of(overlay.spec(script));
    assert_eq!(
        overlay.upper_listing(),
        [
            "data",
            "data/old",
            "etc",
            "etc/motd",
            "gone",
            "gone/fresh",
            "new"
        ]
        .map(String::from)
        .into()
    );
    let whiteout = fs::symlink_metadata(overlay.upper().join("data/old")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert_eq!(
        fs::read_to_string(overlay.upper().join("etc/motd")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        opaque(&overlay.upper().join("gone")).as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(opaque(&overlay.upper().join("data")), None);
}

fn opaque(path: &Path) -> Option<Vec<u8>> {
    let name = format!("{}opaque", mkimage_core::exec::overlay_xattr_prefix());
    let output = Command::new("getfattr")
        .args(["--only-values", "-h", "-n", &name])
        .arg(path)
        .output()
        .expect("getfattr (Debian package `attr`)");
    output.status.success().then_some(output.stdout)
}

#[test]
fn copied_up_directories_keep_the_images_metadata() {
    // `/etc` exists in the image and receives the `resolv.conf` mount point in the stub
    // layer: a file created in `/etc` must copy up the image's `/etc`, not the stub's.
    let overlay = Overlay::new();
    let etc = overlay.lower().join("etc");
    fs::set_permissions(&etc, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&etc, Some(12), Some(34)).unwrap();
    let out = stdout_of(overlay.spec("stat -c '%a %u %g' /etc; touch /etc/new"));
    assert_eq!(out, "750 12 34\n");
    let meta = fs::metadata(overlay.upper().join("etc")).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o750, 12, 34)
    );
}

/// On the host's network: the host's `resolv.conf` (the default network's names the
/// stack's forwarder, see `network_default_is_private_behind_slirp4netns`).
#[test]
fn resolv_conf_and_hosts_come_from_the_host() {
    let overlay = Overlay::new();
    let spec = overlay
        .spec("cat /etc/hosts; echo '1.2.3.4 extra' >> /etc/hosts")
        .hostname("mkimage-test-host");
    let mut host = fs::read_to_string("/etc/hosts").unwrap();
    if !host.is_empty() && !host.ends_with('\n') {
        host.push('\n');
    }
    // The host's, and the sandbox's name so that it resolves.
    assert_eq!(stdout_of(spec), host + "127.0.0.1\tmkimage-test-host\n");
    assert!(!fs::read_to_string("/etc/hosts").unwrap().contains("extra"));
    let out = stdout_of(overlay.spec("cat /etc/resolv.conf").network(Network::Host));
    assert_eq!(
        out,
        fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
    assert!(
        overlay.upper_listing().is_empty(),
        "{:?}",
        overlay.upper_listing()
    );
}

#[test]
fn resolv_conf_symlink_in_the_image_is_followed() {
    let overlay = Overlay::new();
    std::os::unix::fs::symlink(
        "../run/resolvconf/resolv.conf",
        overlay.lower().join("etc/resolv.conf"),
    )
    .unwrap();
    let out = stdout_of(
        overlay
            .spec("cat /etc/resolv.conf; ls -d /run/resolvconf")
            .network(Network::Host),
    );
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert_eq!(out, format!("{host}/run/resolvconf\n"));
    assert!(overlay.upper_listing().is_empty());
}

#[test]
fn bind_tmpfs_and_file_mounts() {
    let overlay = Overlay::new();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("in"), "from host\n").unwrap();
    let readonly = tempfile::tempdir().unwrap();
    fs::write(readonly.path().join("ro"), "ro\n").unwrap();
    let spec = overlay
        .spec(
            "cat /mnt/rw/in; echo written > /mnt/rw/out; \
             cat /mnt/ro/ro; touch /mnt/ro/x 2>/dev/null || echo read-only; \
             echo t > /scratch/t && cat /scratch/t; df -k /scratch | tail -1 | awk '{print $2}'; \
             stat -c '%a %u %g' /run/secrets/token; cat /run/secrets/token",
        )
        .mount(SandboxMount::Bind {
            root: host.path().to_owned(),
            source: "/".into(),
            target: "/mnt/rw".into(),
            readonly: false,
        })
        .mount(SandboxMount::Bind {
            root: readonly.path().to_owned(),
            source: "/".into(),
            target: "/mnt/ro".into(),
            readonly: true,
        })
        .mount(SandboxMount::Tmpfs {
            target: "/scratch".into(),
            size: Some(1024 * 1024),
        })
        .mount(SandboxMount::File {
            target: "/run/secrets/token".into(),
            content: b"s3cret".to_vec(),
            mode: 0o400,
            uid: 1000,
            gid: 10,
        });
    assert_eq!(
        stdout_of(spec),
        "from host\nro\nread-only\nt\n1024\n400 1000 10\ns3cret"
    );
    assert_eq!(
        fs::read_to_string(host.path().join("out")).unwrap(),
        "written\n"
    );
    assert!(
        overlay.upper_listing().is_empty(),
        "{:?}",
        overlay.upper_listing()
    );
}

#[test]
fn pipe_files_are_read_only_scripts() {
    let overlay = Overlay::new();
    let spec = overlay
        .spec("sh /dev/pipes/EOF; /dev/pipes/EOF; echo x > /dev/pipes/EOF || echo read-only")
        .pipe_file("EOF", "#!/bin/sh\necho from heredoc\n", 0o755);
    let output = run(spec).unwrap();
    assert_eq!(output.stdout, "from heredoc\nfrom heredoc\nread-only\n");
}

#[test]
fn orphans_are_reaped() {
    // The subshell exits at once; its `sleep` is orphaned to init, exits after 0.2s and must
    // be reaped: no zombie may be left while the command still runs.
    let overlay = Overlay::new();
    let out = stdout_of(overlay.spec("(sleep 0.2 &); sleep 1; cat /proc/[0-9]*/stat"));
    let states: Vec<&str> = out
        .lines()
        .filter_map(|line| line.rsplit(')').next()?.split_whitespace().next())
        .collect();
    assert!(!states.is_empty());
    assert!(!states.contains(&"Z"), "{out}");
}

/// Processes whose environment holds `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(environ) = fs::read(entry.path().join("environ"))
            && environ
                .split(|&byte| byte == 0)
                .any(|var| var == marker.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

fn marker() -> String {
    format!(
        "MKIMAGE_TEST_MARKER={}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Asserts that no mount of this test's appeared since `before` was read: none under
/// `within` or a sandbox scratch directory. Other processes (other tests, peer tools) may
/// mount elsewhere meanwhile, and the host's mount table shows theirs too.
fn assert_no_new_mounts(before: &str, within: &[&Path]) {
    let before: std::collections::HashSet<&str> = before.lines().collect();
    let now = mountinfo();
    let ours: Vec<&str> = now
        .lines()
        .filter(|line| !before.contains(line))
        .filter(|line| {
            line.contains("mkimage-sandbox-")
                || within
                    .iter()
                    .any(|path| line.contains(path.to_str().unwrap()))
        })
        .collect();
    assert!(ours.is_empty(), "mounts left behind: {ours:#?}");
}

#[test]
fn nothing_is_left_behind() {
    let overlay = Overlay::new();
    let marker = marker();
    let before = mountinfo();
    let spec = overlay
        .spec("sleep 1000 & (sleep 1000 &) ; setsid sleep 1000 & echo started")
        .env([marker.clone()])
        .mount(SandboxMount::Tmpfs {
            target: "/scratch".into(),
            size: None,
        })
        .network(Network::None);
    let scratch = tempfile::tempdir().unwrap();
    let spec = spec.build().unwrap();
    let mut stdout = Vec::new();
    let status = Sandbox::native()
        .scratch_dir(scratch.path())
        .run(&spec, |_, bytes| stdout.extend_from_slice(bytes))
        .unwrap();
    assert!(status.success());
    assert_eq!(stdout, b"started\n");
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
    assert_no_new_mounts(&before, &[overlay.dir.path(), scratch.path()]);
    assert_eq!(listing(scratch.path()), BTreeSet::new());
}

#[test]
fn setup_failures_name_the_step() {
    let overlay = Overlay::new();
    let spec = overlay.spec("true").mount(SandboxMount::Bind {
        root: "/".into(),
        source: "/nonexistent/source".into(),
        target: "/mnt".into(),
        readonly: true,
    });
    let err = run(spec).err().unwrap();
    assert_eq!(
        err.to_string(),
        "failed to find the bind mount source `/nonexistent/source` in `/`"
    );

    let spec = overlay.spec("true").mount(SandboxMount::Tmpfs {
        target: "/etc/passwd/x".into(),
        size: None,
    });
    let err = run(spec).err().unwrap();
    assert_eq!(
        err.to_string(),
        "mount target `/etc/passwd/x` needs a directory at `/etc/passwd`, but the image has a file there"
    );

    let spec = overlay.spec("true").cwd("/etc/passwd");
    let err = run(spec).err().unwrap();
    assert_eq!(
        err.to_string(),
        "failed to enter the working directory `/etc/passwd`"
    );

    let broken = Rootfs::Overlay {
        lower: vec![overlay.lower()],
        upper: overlay.upper(),
        work: "/nonexistent/work".into(),
    };
    let err = run(sh(broken, "true")).err().unwrap();
    assert_eq!(
        err.to_string(),
        "failed to open the layer directory `/nonexistent/work`"
    );
}

#[test]
fn plain_directory_root_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    busybox::rootfs(&root);
    let times = |path: &Path| {
        let meta = fs::metadata(path).unwrap();
        (meta.mtime(), meta.mtime_nsec())
    };
    std::thread::sleep(Duration::from_millis(20));
    let (root_before, etc_before) = (times(&root), times(&root.join("etc")));
    let before = listing(&root);
    let spec = sh(
        Rootfs::Directory(root.clone()),
        "touch /tmp/made; ls /proc/1 >/dev/null; cat /etc/hosts >/dev/null",
    )
    .mount(SandboxMount::Tmpfs {
        target: "/cache/deep".into(),
        size: None,
    });
    stdout_of(spec);
    let mut expected = before;
    expected.insert("tmp/made".into());
    assert_eq!(listing(&root), expected);
    assert_eq!(times(&root), root_before);
    assert_eq!(times(&root.join("etc")), etc_before);
}

// See: issue 13
#[test]
fn plain_directory_cleanup_never_follows_symlinks_the_step_made() {
    // The step moves the directory its mount points were made in and puts a symlink to
    // the host there: removing the mount points afterwards must not remove host files.
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("canary"), "host canary\n").unwrap();
    fs::create_dir(host.join("t")).unwrap();
    let root = dir.path().join("root");
    busybox::rootfs(&root);
    fs::create_dir(root.join("a")).unwrap();
    let script = format!("mv /a/b /a/moved && ln -s {} /a/b", host.display());
    let spec = sh(Rootfs::Directory(root.clone()), &script)
        .mount(SandboxMount::File {
            target: "/a/b/canary".into(),
            content: b"secret\n".to_vec(),
            mode: 0o400,
            uid: 0,
            gid: 0,
        })
        .mount(SandboxMount::Tmpfs {
            target: "/a/b/t".into(),
            size: None,
        });
    let result = run(spec);
    assert!(
        root.join("a/moved").is_dir(),
        "the step ran: {:?}",
        result.as_ref().err()
    );
    assert_eq!(
        fs::read_to_string(host.join("canary")).unwrap(),
        "host canary\n"
    );
    assert!(host.join("t").is_dir());
}

/// The test binary, run again as a helper process: `test` is the name of an ignored test
/// that does the work when `MKIMAGE_TEST_HELPER` is set.
fn helper(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            test,
        ])
        .env("MKIMAGE_TEST_HELPER", "1");
    command
}

fn is_helper() -> bool {
    std::env::var_os("MKIMAGE_TEST_HELPER").is_some()
}

/// Helper: runs a long sandbox over `MKIMAGE_TEST_ROOT` with the marker from
/// `MKIMAGE_TEST_MARKER_VAR`, and prints how the run ended.
#[test]
#[ignore = "helper of interrupt_kills_the_sandbox"]
fn helper_long_run() {
    if !is_helper() {
        return;
    }
    let root = PathBuf::from(std::env::var("MKIMAGE_TEST_ROOT").unwrap());
    let marker = std::env::var("MKIMAGE_TEST_MARKER_VAR").unwrap();
    let spec = sh(Rootfs::Directory(root), "sleep 1000 & sleep 1000").env([marker]);
    match run(spec) {
        Ok(output) => println!("RESULT finished {}", output.status),
        Err(error) => println!("RESULT {error}"),
    }
}

fn interrupt_kills_the_sandbox(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    busybox::rootfs(&root);
    let marker = marker();
    let before = mountinfo();
    let child = helper("exec::helper_long_run")
        .env("MKIMAGE_TEST_ROOT", &root)
        .env("MKIMAGE_TEST_MARKER_VAR", &marker)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).len() < 2 {
        assert!(Instant::now() < deadline, "the sandbox did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("RESULT interrupted by signal {signal}")),
        "{stdout}"
    );
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
    assert_no_new_mounts(&before, &[dir.path()]);
    assert_eq!(listing(&root), {
        let fresh = dir.path().join("fresh");
        busybox::rootfs(&fresh);
        listing(&fresh)
    });
}

#[test]
fn sigint_kills_the_sandbox() {
    interrupt_kills_the_sandbox(2);
}

#[test]
fn sigterm_kills_the_sandbox() {
    interrupt_kills_the_sandbox(15);
}

/// The uid and gid the rootless tests run as (`nobody`).
const ROOTLESS_ID: u32 = 65534;

/// Helper: run as an unprivileged user by `rootless_sandbox_works`, over the overlay in
/// `MKIMAGE_TEST_ROOT` (`lower`, `upper`, `work`, owned by that user).
#[test]
#[ignore = "helper of rootless_sandbox_works"]
fn helper_rootless() {
    if !is_helper() {
        return;
    }
    assert_ne!(effective_uid(), 0, "the helper must not run as root");
    let dir = PathBuf::from(std::env::var("MKIMAGE_TEST_ROOT").unwrap());
    let rootfs = Rootfs::Overlay {
        lower: vec![dir.join("lower")],
        upper: dir.join("upper"),
        work: dir.join("work"),
    };
    let marker = marker();
    let before = mountinfo();
    let script = "id; cat /proc/self/uid_map; hostname; ls /dev | wc -l; \
                  echo new > /new; rm /etc/group; rm -r /gone; mkdir /gone; touch /gone/fresh; \
                  cat /scratch/../run/secrets/s; sleep 1000 &";
    let spec = sh(rootfs.clone(), script)
        .env([marker.clone()])
        .hostname("rootless")
        .network(Network::None)
        .mount(SandboxMount::Tmpfs {
            target: "/scratch".into(),
            size: None,
        })
        .mount(SandboxMount::File {
            target: "/run/secrets/s".into(),
            content: b"secret\n".to_vec(),
            mode: 0o400,
            uid: 0,
            gid: 0,
        });
    let out = stdout_of(spec);
    // With subordinate ids for the user (and newuidmap), they follow root in the map;
    // without, only root is mapped and `setgroups` is denied (no supplementary groups).
    let subordinate = fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let owner = fields.next()?;
            if owner != "nobody" && owner != ROOTLESS_ID.to_string() {
                return None;
            }
            let start: u32 = fields.next()?.parse().ok()?;
            let count: u32 = fields.next()?.parse().ok()?;
            Some((start, count))
        })
        .filter(|_| Path::new("/usr/bin/newuidmap").exists());
    let expected = match subordinate {
        None => format!(
            "uid=0(root) gid=0(root)\n         0      {ROOTLESS_ID}          1\nrootless\n14\nsecret\n"
        ),
        Some((start, count)) => format!(
            "uid=0(root) gid=0(root)\n         0      {ROOTLESS_ID}          1\n         1 {start:>10} {count:>10}\nrootless\n14\nsecret\n"
        ),
    };
    assert_eq!(out, expected);
    let upper = dir.join("upper");
    assert_eq!(
        listing(&upper),
        ["etc", "etc/group", "gone", "gone/fresh", "new"]
            .map(String::from)
            .into()
    );
    let whiteout = fs::symlink_metadata(upper.join("etc/group")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert_eq!(mkimage_core::exec::overlay_xattr_prefix(), "user.overlay.");
    assert_eq!(opaque(&upper.join("gone")).as_deref(), Some(&b"y"[..]));
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
    assert_no_new_mounts(&before, &[&dir]);

    // On the host's network sysfs cannot be mounted afresh: the host's is bound, read-only.
    let sys = "test -d /sys/kernel && ! touch /sys/kernel/x 2>/dev/null && echo sys ro";
    for network in [Network::Host, Network::None] {
        let output = run(sh(rootfs.clone(), sys).network(network)).unwrap();
        assert_eq!(output.stdout, "sys ro\n", "{}", output.stderr);
    }
    // See: issue 13. Rootless too, the default network reaches the host's own address
    // but not its loopback.
    let loopback = closing_listener(std::net::Ipv4Addr::LOCALHOST.into());
    let own = closing_listener(host_address());
    let script = format!(
        "for a in {loopback} {own}; do nc -w 3 ${{a%:*}} ${{a##*:}} </dev/null 2>/dev/null \
         && echo \"$a reached\" || echo \"$a refused\"; done"
    );
    let result = run(sh(rootfs.clone(), &script));
    // slirp4netns makes its tap device through /dev/net/tun, as this user: where the
    // system keeps the device from other users, the step fails up front, naming it.
    let tun = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun");
    match (tun, result) {
        (Ok(_), Ok(output)) => assert_eq!(
            output.stdout,
            format!("{loopback} refused\n{own} reached\n"),
            "{}",
            output.stderr
        ),
        (Err(_), Err(error)) => assert!(
            error
                .to_string()
                .starts_with("a `RUN` step on the default network needs to open `/dev/net/tun`"),
            "{error}"
        ),
        (tun, result) => panic!("/dev/net/tun: {tun:?}, the run: {result:?}"),
    }
    let result = run(sh(
        rootfs,
        "id -u; id -g; id -G; touch /tmp/made; stat -c %u /tmp/made",
    )
    .user(1000, 1000, vec![10]));
    if subordinate.is_some() {
        let output = result.unwrap();
        assert_eq!(
            output.stdout, "1000\n1000\n1000 10\n1000\n",
            "{}",
            output.stderr
        );
    } else {
        // Only root is mapped: another user is refused up front.
        let err = result.err().unwrap();
        assert!(
            err.to_string()
                .starts_with("uid `1000` does not exist in the rootless sandbox"),
            "{err}"
        );
    }
    println!("ROOTLESS OK");
}

/// A TCP listener on a free port of `ip` that closes each connection it accepts, for as
/// long as the process lives.
fn closing_listener(ip: std::net::IpAddr) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || listener.incoming().for_each(drop));
    addr
}

/// The host's own address on its default route (connecting a UDP socket sends nothing).
fn host_address() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    socket
        .connect(("203.0.113.1", 9))
        .expect("the host needs an IPv4 default route for this test");
    socket.local_addr().unwrap().ip()
}

fn effective_uid() -> u32 {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn rootless_sandbox_works() {
    let dir = tempfile::tempdir().unwrap();
    busybox::rootfs(&dir.path().join("lower"));
    fs::create_dir_all(dir.path().join("lower/gone")).unwrap();
    fs::write(dir.path().join("lower/gone/old"), "x").unwrap();
    fs::create_dir(dir.path().join("upper")).unwrap();
    fs::create_dir(dir.path().join("work")).unwrap();
    // The test binary may live where the user cannot read it: run a copy. `cp` writes
    // it, not this process: a write descriptor held here is inherited by any child
    // another test thread forks meanwhile, and exec then fails with ETXTBSY.
    let binary = dir.path().join("it");
    let status = Command::new("cp")
        .arg(std::env::current_exe().unwrap())
        .arg(&binary)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("chown")
        .args(["-R", "-h", &format!("{ROOTLESS_ID}:{ROOTLESS_ID}")])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new("setpriv")
        .args([
            &format!("--reuid={ROOTLESS_ID}"),
            &format!("--regid={ROOTLESS_ID}"),
            "--clear-groups",
        ])
        .arg(&binary)
        .args([
            "--ignored",
            "--exact",
            "--nocapture",
            "exec::helper_rootless",
        ])
        .env("MKIMAGE_TEST_HELPER", "1")
        .env("MKIMAGE_TEST_ROOT", dir.path())
        .output()
        .expect("setpriv (Debian package `util-linux`)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("ROOTLESS OK"),
        "{stdout}\n{stderr}"
    );
}

/// runc from the Debian package `runc`.
fn runc() -> Sandbox {
    assert!(
        Path::new("/usr/sbin/runc").exists(),
        "runc is missing: install the Debian package `runc`"
    );
    Sandbox::runc("runc")
}

#[test]
fn runc_runtime_runs_the_same_spec() {
    let overlay = Overlay::new();
    let host = tempfile::tempdir().unwrap();
    let marker = marker();
    let before = mountinfo();
    let spec = overlay
        .spec(
            "echo out; echo err >&2; id; hostname; cat /proc/net/dev | tail -n +3 | cut -d: -f1; \
             cat /run/secrets/s; echo new > /tmp/new; cat /mnt/in; sleep 1000 & exit 7",
        )
        .env([marker.clone()])
        .user(1000, 1000, vec![10])
        .hostname("via-runc")
        .network(Network::None)
        .mount(SandboxMount::Bind {
            root: host.path().to_owned(),
            source: "/".into(),
            target: "/mnt".into(),
            readonly: true,
        })
        .mount(SandboxMount::File {
            target: "/run/secrets/s".into(),
            content: b"secret\n".to_vec(),
            mode: 0o444,
            uid: 0,
            gid: 0,
        });
    fs::write(host.path().join("in"), "bound\n").unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = run_in(&runc(), spec).unwrap();
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert_eq!(
        stdout,
        "out\nuid=1000(app) gid=1000(app) groups=10(wheel)\nvia-runc\n    lo\nsecret\nbound\n"
    );
    assert!(stderr.starts_with("err\n"), "{stderr}");
    // Nothing of the sandbox's own mount points is in the upper directory.
    assert_eq!(
        overlay.upper_listing(),
        ["tmp", "tmp/new"].map(String::from).into()
    );
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
    assert_no_new_mounts(&before, &[overlay.dir.path(), host.path()]);
}

// See: issue 13
#[test]
fn runc_runtime_gets_the_same_private_network() {
    let overlay = Overlay::new();
    let marker = marker();
    let spec = overlay
        .spec("tail -n +3 /proc/net/dev | cut -d: -f1 | sort; ip route; head -n 1 /etc/resolv.conf")
        .env([marker.clone()]);
    let output = run_in(&runc(), spec).unwrap();
    assert!(output.status.success());
    assert_eq!(
        output.stdout,
        "    lo\n  tap0\ndefault via 10.0.2.2 dev tap0 \n\
         10.0.2.0/24 dev tap0 scope link  src 10.0.2.100 \nnameserver 10.0.2.3\n"
    );
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
}

/// The major and minor numbers of the block device holding the host's root filesystem.
fn root_device() -> (u64, u64) {
    let dev = fs::metadata("/").unwrap().dev();
    let (major, minor) = (libc_major(dev), libc_minor(dev));
    assert_ne!(
        major, 0,
        "the host's root is not on a block device: no disk to attack"
    );
    (major, minor)
}

// glibc's `gnu_dev_major` and `gnu_dev_minor`.
fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Makes a device node with the host's `mknod`.
fn mknod(path: &Path, kind: &str, major: u64, minor: u64) {
    let status = Command::new("mknod")
        .arg(path)
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A busybox overlay whose lower layer holds, as a hostile image could, the host's root
/// disk (`/disk`) and a character device outside Docker's list that root may open on the
/// host (`/latency`, the CPU latency control).
fn overlay_with_devices() -> Overlay {
    let overlay = Overlay::new();
    let (major, minor) = root_device();
    mknod(&overlay.lower().join("disk"), "b", major, minor);
    mknod(&overlay.lower().join("latency"), "c", 10, 259);
    overlay
}

/// Tries to read the devices of [`overlay_with_devices`] and to make a block device.
const DEVICE_ATTACK: &str = "for node in disk latency; do \
      (dd if=/$node of=/dev/null bs=4 count=1 && echo $node read || echo $node refused) 2>/dev/null; done; \
    (mknod /made b 1 1 && echo block made || echo block refused) 2>/dev/null";

// See: issue 13
#[test]
fn device_nodes_of_the_image_cannot_be_opened() {
    let overlay = overlay_with_devices();
    // A stage or cache mount holding a device node, as a hostile image's stage would.
    let stage = tempfile::tempdir().unwrap();
    mknod(&stage.path().join("latency"), "c", 10, 259);
    let script = format!(
        "{DEVICE_ATTACK}; (dd if=/stage/latency of=/dev/null bs=4 count=1 && echo bound read || echo bound refused) 2>/dev/null; \
         (mknod /null c 1 3 && cat /null && echo char ok || echo char refused) 2>/dev/null; \
         rm /etc/group && echo x > /dev/null && head -c 2 /dev/zero | wc -c && exec 3<>/dev/ptmx && ls /dev/pts"
    );
    for (sandbox, char_node) in [(Sandbox::native(), "char refused"), (runc(), "char ok")] {
        let spec = overlay.spec(&script).mount(SandboxMount::Bind {
            root: stage.path().to_owned(),
            source: "/".into(),
            target: "/stage".into(),
            readonly: false,
        });
        let output = run_in(&sandbox, spec).unwrap();
        assert!(output.status.success(), "{sandbox:?}");
        // Docker lets a container make a character device (not a block one) and open it if
        // it is a default device; the native sandbox makes no device at all.
        assert_eq!(
            output.stdout,
            format!(
                "disk refused\nlatency refused\nblock refused\nbound refused\n{char_node}\n2\n0\nptmx\n"
            ),
            "{sandbox:?}"
        );
        // `rm` of the image's file left a whiteout.
        let whiteout = fs::symlink_metadata(overlay.upper().join("etc/group")).unwrap();
        assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
        fs::remove_dir_all(overlay.upper()).unwrap();
        fs::create_dir(overlay.upper()).unwrap();
    }
}

#[cfg(target_arch = "x86_64")]
/// A static i386 program, written out here byte by byte: it writes `i386\n`, calls
/// `unshare(CLONE_NEWUSER)` and exits with the error number it got (0 on success).
fn i386_program() -> Vec<u8> {
    const BASE: u32 = 0x0804_8000;
    let mut code = Vec::new();
    code.extend([0xB8, 4, 0, 0, 0]); // mov eax, 4 (write)
    code.extend([0xBB, 1, 0, 0, 0]); // mov ebx, 1
    code.push(0xB9); // mov ecx, message
    code.extend((BASE + 52 + 32 + 45).to_le_bytes());
    code.extend([0xBA, 5, 0, 0, 0]); // mov edx, 5
    code.extend([0xCD, 0x80]); // int 0x80
    code.extend([0xB8, 0x36, 0x01, 0, 0]); // mov eax, 310 (unshare)
    code.extend([0xBB, 0, 0, 0, 0x10]); // mov ebx, CLONE_NEWUSER
    code.extend([0xCD, 0x80]); // int 0x80
    code.extend([0x89, 0xC3, 0xF7, 0xDB]); // mov ebx, eax; neg ebx
    code.extend([0xB8, 1, 0, 0, 0, 0xCD, 0x80]); // exit(ebx)
    assert_eq!(code.len(), 45);
    let size = (52 + 32 + code.len() + 5) as u32;
    let mut elf = b"\x7fELF\x01\x01\x01".to_vec();
    elf.resize(16, 0);
    for half in [2u16, 3] {
        elf.extend(half.to_le_bytes()); // executable, i386
    }
    for word in [1, BASE + 52 + 32, 52, 0, 0] {
        elf.extend(word.to_le_bytes()); // version, entry, program headers, sections, flags
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes());
    }
    for word in [1, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(word.to_le_bytes()); // one loadable, readable and executable segment
    }
    elf.extend(code);
    elf.extend(b"i386\n");
    elf
}

/// `EPERM`, "operation not permitted".
#[cfg(target_arch = "x86_64")]
const EPERM: i32 = 1;

// See: issue 13
#[cfg(target_arch = "x86_64")]
#[test]
fn i386_programs_run_under_the_same_profile() {
    let overlay = Overlay::new();
    let program = overlay.lower().join("i386");
    fs::write(&program, i386_program()).unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    for sandbox in [Sandbox::native(), runc()] {
        let spec = SandboxSpec::builder(overlay.rootfs(), vec!["/i386".into()]);
        let output = run_in(&sandbox, spec).unwrap();
        // Not killed for its architecture; `unshare` refused with EPERM, as for x86_64.
        assert_eq!(output.stdout, "i386\n", "{sandbox:?}");
        let status = output.status;
        assert_eq!(status.code(), Some(EPERM), "{sandbox:?}: {status}");
    }
}
