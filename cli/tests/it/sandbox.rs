//! What a `RUN` step may do to the host, in both sandboxes (the native one and runc):
//! Docker's masked and read-only `/proc` paths, its seccomp profile, its devices, and
//! `--security=insecure` lifting them.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::Setup;

/// The runtimes every test runs under: the native sandbox, then runc.
const RUNTIMES: [&[&str]; 2] = [&[], &["--runtime", "runc"]];

/// Builds `setup` with `args` and no cache, exports the filesystem and returns its
/// directory.
fn export(setup: &Setup, args: &[&str]) -> PathBuf {
    let out = setup.path("out");
    let _ = fs::remove_dir_all(&out);
    let local = format!("type=local,dest={}", out.display());
    let mut all = vec!["--no-cache", "--progress", "plain", "-o", &local];
    all.extend_from_slice(args);
    let output = setup.build(&all);
    assert!(
        output.status.success(),
        "mkimage build {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
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
    let setup = Setup::new(&format!("FROM busybox:test\nRUN {script}\n"));
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
        let out = export(&setup, runtime);
        assert_eq!(
            fs::read_to_string(CorePattern::PATH).unwrap(),
            host.0,
            "the host's core_pattern changed ({runtime:?})"
        );
        assert_eq!(read(&out, "report"), expected, "{runtime:?}");
    }
}

/// Copies the host's `perl` and the libraries it loads into `dir` at the same paths, and
/// returns the command that runs it from there once `dir` is mounted at `/perl`: a program
/// that can make any system call (`syscall`), as a hostile one would.
fn perl(dir: &Path) -> String {
    let ldd = Command::new("ldd")
        .arg("/usr/bin/perl")
        .output()
        .expect("ldd (Debian package `libc-bin`)");
    assert!(ldd.status.success(), "perl is missing: install `perl-base`");
    let mut loader = None;
    let mut library_dirs: Vec<String> = Vec::new();
    for line in String::from_utf8(ldd.stdout).unwrap().lines() {
        let Some(path) = line.split_whitespace().find(|word| word.starts_with('/')) else {
            continue;
        };
        let path = Path::new(path);
        let target = dir.join(path.strip_prefix("/").unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(path, &target).unwrap();
        if line.contains("=>") {
            let parent = format!("/perl{}", path.parent().unwrap().display());
            if !library_dirs.contains(&parent) {
                library_dirs.push(parent);
            }
        } else {
            loader = Some(format!("/perl{}", path.display()));
        }
    }
    fs::create_dir_all(dir.join("usr/bin")).unwrap();
    fs::copy("/usr/bin/perl", dir.join("usr/bin/perl")).unwrap();
    format!(
        "{} --library-path {} /perl/usr/bin/perl",
        loader.expect("perl's loader in the output of ldd"),
        library_dirs.join(":")
    )
}

/// `add_key` and `keyctl` on this architecture.
const KEY_SYSCALLS: (u32, u32) = if cfg!(target_arch = "aarch64") {
    (217, 219)
} else {
    (248, 250)
};

// See: issue 13
#[test]
fn namespaces_mounts_devices_and_keys_are_refused() {
    let (add_key, keyctl) = KEY_SYSCALLS;
    let setup = Setup::new("");
    let perl = perl(&setup.path("ctx/perl"));
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN --mount=type=bind,source=perl,target=/perl \
             (unshare -U true && echo unshare -U ok || echo unshare -U refused) >> /report 2>/dev/null; \
             (unshare -r true && echo unshare -r ok || echo unshare -r refused) >> /report 2>/dev/null; \
             (mkdir /m && mount -t tmpfs t /m && echo mount ok || echo mount refused) >> /report 2>/dev/null; \
             (mknod /b b 8 0 && echo mknod b ok || echo mknod b refused) >> /report 2>/dev/null; \
             [ ! -e /b ] && echo no /b >> /report; \
             {perl} -e 'my @key = (\"user\", \"mkimage\", \"v\"); print syscall({add_key}, @key, 1, -3) == -1 ? \"add_key $!\\n\" : \"add_key ok\\n\"' >> /report; \
             {perl} -e 'print syscall({keyctl}, 0, -3, 0) == -1 ? \"keyctl $!\\n\" : \"keyctl ok\\n\"' >> /report\n"
    );
    fs::write(setup.path("ctx/Dockerfile"), dockerfile).unwrap();
    for runtime in RUNTIMES {
        let out = export(&setup, runtime);
        assert_eq!(
            read(&out, "report"),
            "unshare -U refused\nunshare -r refused\nmount refused\nmknod b refused\nno /b\n\
             add_key Operation not permitted\nkeyctl Operation not permitted\n",
            "{runtime:?}"
        );
    }
}

/// What `linux32 uname -m` prints here.
const ARCH32: &str = if cfg!(target_arch = "aarch64") {
    "armv8l"
} else {
    "i686"
};

// See: issue 13
#[test]
fn ordinary_steps_still_work() {
    let setup = Setup::new(
        "FROM busybox:test\n\
         RUN rm /etc/group && mkdir /home && chown 1000:1000 /home && chmod 750 /home && \
             mkfifo /tmp/fifo && echo x > /dev/null && \
             { head -c 3 /dev/zero | wc -c; head -c 3 /dev/urandom | wc -c; head -c 2 /dev/full | wc -c; \
               [ -c /dev/tty ] && echo tty; exec 3<>/dev/ptmx; ls /dev/pts; linux32 uname -m; \
               su app -c 'id -u'; } > /report\n",
    );
    for runtime in RUNTIMES {
        let out = export(&setup, runtime);
        // `rm` of a file of the base image made a whiteout, which the export applied.
        assert!(!out.join("etc/group").exists(), "{runtime:?}");
        let home = fs::metadata(out.join("home")).unwrap();
        assert_eq!((home.uid(), home.mode() & 0o7777), (1000, 0o750));
        assert_eq!(
            read(&out, "report"),
            format!("3\n3\n2\ntty\n0\nptmx\n{ARCH32}\n1000\n"),
            "{runtime:?}"
        );
    }
}

// See: issue 13
#[test]
fn insecure_steps_may_do_all_of_it() {
    let setup = Setup::new(
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
        let out = export(&setup, &args);
        assert_eq!(
            read(&out, "report"),
            "unshare ok\n1\n0\nregular empty file\n",
            "{runtime:?}"
        );
        assert_eq!(read(&out, "confined"), "refused\n", "{runtime:?}");
    }
}
