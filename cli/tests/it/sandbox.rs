//! What a `RUN` step may do to the host, in both sandboxes (the native one and runc):
//! Docker's masked and read-only `/proc` paths, and `--security=insecure` lifting them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::store::Store;
use mkimage_core::testutil::busybox_image;

/// The runtimes every test runs under: the native sandbox, then runc.
const RUNTIMES: [&[&str]; 2] = [&[], &["--runtime", "runc"]];

/// A store with `busybox:test` and a build context.
struct Build {
    dir: tempfile::TempDir,
}

impl Build {
    fn new(dockerfile: &str) -> Build {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        busybox_image(&store, "busybox:test").unwrap();
        fs::create_dir(dir.path().join("ctx")).unwrap();
        fs::write(dir.path().join("ctx/Dockerfile"), dockerfile).unwrap();
        Build { dir }
    }

    fn context(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    /// Builds with `args` and no cache, exports the filesystem and returns its directory.
    fn run(&self, args: &[&str]) -> PathBuf {
        let out = self.dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        let output = self.build(args, &out);
        assert!(
            output.status.success(),
            "mkimage build {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    }

    fn build(&self, args: &[&str], out: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .arg("--root")
            .arg(self.dir.path().join("store"))
            .args(["build", "--no-cache", "--progress", "plain", "-o"])
            .arg(format!("type=local,dest={}", out.display()))
            .args(args)
            .arg(self.context())
            .output()
            .expect("run mkimage")
    }
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// Docker's masked paths that this host's kernel has (they depend on its configuration),
/// with whether each is a directory.
fn masked_on_this_host() -> Vec<(&'static str, bool)> {
    let masked = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/sys/firmware",
    ];
    let present: Vec<(&str, bool)> = masked
        .into_iter()
        .filter_map(|path| Some((path, fs::metadata(path).ok()?.is_dir())))
        .collect();
    for needed in ["/proc/keys", "/proc/timer_list"] {
        assert!(
            present.iter().any(|(path, _)| *path == needed),
            "this kernel has no {needed}: the test cannot show it masked"
        );
    }
    present
}

/// Puts back the host's `kernel.core_pattern` if a test changed it.
struct CorePattern(String);

impl CorePattern {
    const PATH: &str = "/proc/sys/kernel/core_pattern";

    fn save() -> CorePattern {
        CorePattern(fs::read_to_string(Self::PATH).unwrap())
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if fs::read_to_string(Self::PATH).unwrap() != self.0 {
            fs::write(Self::PATH, self.0.trim_end()).unwrap();
        }
    }
}

// See: issue 13
#[test]
fn proc_keeps_dockers_masks_and_read_only_paths() {
    let masked = masked_on_this_host();
    let mut script = String::from(
        "(echo '|/canary-mkimage %p' > /proc/sys/kernel/core_pattern) 2>/dev/null \
         && echo core_pattern written >> /report || echo core_pattern refused >> /report; ",
    );
    for (path, is_dir) in &masked {
        script.push_str(&if *is_dir {
            format!("echo {path} $(ls -A {path} | wc -l) >> /report; ")
        } else {
            format!(
                "echo {path} $(stat -c %F {path}) $(cat {path} 2>/dev/null | wc -c) >> /report; "
            )
        });
    }
    script.push_str(
        "for path in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do \
         if [ -e $path ]; then echo $path $(awk -v p=$path '$2 == p { split($4, o, \",\"); print o[1] }' /proc/mounts) >> /report; fi; \
         done",
    );
    let build = Build::new(&format!("FROM busybox:test\nRUN {script}\n"));
    let mut expected = String::from("core_pattern refused\n");
    for (path, is_dir) in &masked {
        expected.push_str(&if *is_dir {
            format!("{path} 0\n")
        } else {
            format!("{path} character special file 0\n")
        });
    }
    for path in [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ] {
        if Path::new(path).exists() {
            expected.push_str(&format!("{path} ro\n"));
        }
    }
    for runtime in RUNTIMES {
        let host = CorePattern::save();
        let out = build.run(runtime);
        assert_eq!(
            fs::read_to_string(CorePattern::PATH).unwrap(),
            host.0,
            "the host's core_pattern changed ({runtime:?})"
        );
        assert_eq!(read(&out, "report"), expected, "{runtime:?}");
    }
}

// See: issue 13
#[test]
fn insecure_steps_may_do_all_of_it() {
    let build = Build::new(
        "FROM busybox:test\n\
         RUN --security=insecure --network=none \
             (unshare -U true && echo unshare ok) > /report; \
             echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward >> /report; \
             awk '$2 == \"/proc/sys\"' /proc/mounts | wc -l >> /report; \
             stat -c %F /proc/keys >> /report\n\
         RUN --network=none (echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null || echo refused > /confined\n",
    );
    for runtime in RUNTIMES {
        let mut args = vec!["--allow", "security.insecure"];
        args.extend(runtime);
        let out = build.run(&args);
        assert_eq!(
            read(&out, "report"),
            "unshare ok\n1\n0\nregular empty file\n",
            "{runtime:?}"
        );
        assert_eq!(read(&out, "confined"), "refused\n", "{runtime:?}");
    }
}
