//! `mkimage build --isolation=chroot`: `RUN` steps chrooted into a copy of the image, on
//! the host here and inside a default unprivileged `podman run` in `container.rs`.

use std::fs;

use crate::build::listing;
use crate::run::{Setup, ok};

/// Steps whose files, environment, user, working directory and mounts the two
/// isolations must give alike.
const STEPS: &str = r#"FROM busybox:test
ENV GREETING=hello
WORKDIR /work
RUN echo "$GREETING" > greeting && id -u > uid && pwd > cwd && head -n 1 /proc/self/status > status \
 && test -c /dev/null && echo ok > null && rm /bin/ls
RUN --mount=type=bind,source=hello.txt,target=/mnt/hello --mount=type=cache,id=c,target=/cache \
    --mount=type=tmpfs,target=/scratch --mount=type=secret,id=s \
    cat /mnt/hello > bound && echo c >> /cache/count && wc -l < /cache/count > cache-lines \
    && touch /scratch/x && cat /run/secrets/s > secret-seen
RUN <<EOF
echo heredoc > /work/heredoc
EOF
USER app
RUN id -u > /tmp/app-uid && echo "$HOME" > /tmp/app-home
"#;

/// A [`Setup`] for `dockerfile` with `hello.txt` and the secret file `secret` beside it.
fn setup(dockerfile: &str) -> Setup {
    let setup = Setup::new(dockerfile);
    fs::write(setup.path("ctx/hello.txt"), "hello from the context\n").unwrap();
    fs::write(setup.path("secret"), "s3cret\n").unwrap();
    setup
}

#[test]
fn chroot_runs_steps_with_their_env_user_workdir_and_mounts() {
    let setup = setup(STEPS);
    let secret = format!("id=s,src={}", setup.path("secret").display());
    let chroot = setup.path("chroot");
    let local = format!("type=local,dest={}", chroot.display());
    let args = ["--isolation", "chroot", "--secret", &secret, "-o", &local];
    let (_, progress) = ok(&setup.build(&args));
    let read = |name: &str| fs::read_to_string(chroot.join(name)).unwrap();
    assert_eq!(read("work/greeting"), "hello\n", "{progress}");
    assert_eq!(read("work/uid"), "0\n");
    assert_eq!(read("work/cwd"), "/work\n");
    assert_eq!(read("work/status"), "Name:\thead\n");
    assert_eq!(read("work/null"), "ok\n");
    assert_eq!(read("work/bound"), "hello from the context\n");
    assert_eq!(read("work/cache-lines"), "1\n");
    assert_eq!(read("work/secret-seen"), "s3cret\n");
    assert_eq!(read("work/heredoc"), "heredoc\n");
    assert_eq!(read("tmp/app-uid"), "1000\n");
    assert_eq!(read("tmp/app-home"), "/home/app\n");
    assert!(!chroot.join("bin/ls").exists());
    // Mount points, generated files and mounted content never reach the image.
    for path in [
        "mnt",
        "cache",
        "scratch",
        "run",
        "etc/resolv.conf",
        "etc/hosts",
        "dev/null",
        "dev/pipes",
    ] {
        assert!(!chroot.join(path).exists(), "`{path}` reached the image");
    }

    // The native sandbox gives the same filesystem: paths, types, modes, owners, sizes.
    let native = setup.path("native");
    let local = format!("type=local,dest={}", native.display());
    ok(&setup.build(&["--no-cache", "--secret", &secret, "-o", &local]));
    assert_eq!(listing(&chroot), listing(&native));
}

#[test]
fn chroot_and_the_native_sandbox_write_the_same_layers() {
    let setup = setup(
        "FROM busybox:test\nWORKDIR /w\n\
         RUN mkdir -p /a/b && echo x > /a/b/f && chmod 700 /a && rm /bin/ls \
         && ln -s /a/b/f /w/link && echo y > f\n\
         RUN rm -r /a/b && touch /etc/new\n",
    );
    let build = |isolation: &str| {
        let args = [
            "-q",
            "--no-cache",
            "--network",
            "none",
            "--build-arg",
            "SOURCE_DATE_EPOCH=0",
            "--isolation",
            isolation,
        ];
        ok(&setup.build(&args)).0
    };
    let native = build("oci");
    assert_eq!(build("chroot"), native, "the same image, layer for layer");
    assert_eq!(
        build("native"),
        native,
        "`native` names the namespace sandbox"
    );
}

#[test]
fn mkimage_isolation_sets_the_default_that_the_flag_overrides() {
    let setup = setup("FROM busybox:test\nRUN hostname > /name\n");
    let out = setup.path("out");
    let local = format!("type=local,dest={}", out.display());
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let build = |env: &str, args: &[&str]| {
        let mut command = setup.command(&[&["--no-cache", "-o", &local], args].concat());
        command.env("MKIMAGE_ISOLATION", env);
        ok(&command.output().unwrap());
        fs::read_to_string(out.join("name")).unwrap()
    };
    // A chroot shares the host's UTS namespace; the sandbox names itself as BuildKit's.
    assert_eq!(build("chroot", &[]), host);
    assert_eq!(
        build("chroot", &["--isolation", "oci"]),
        "buildkitsandbox\n"
    );
    assert_eq!(build("oci", &[]), "buildkitsandbox\n");

    let help = setup.command(&["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--isolation <ISOLATION>"), "{help}");
    assert!(help.contains("MKIMAGE_ISOLATION"), "{help}");
    assert!(help.contains("chroot"), "{help}");
}
