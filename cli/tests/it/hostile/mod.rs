//! Hostile builds: Dockerfiles and stages that try to reach host files through symlinks,
//! `..` and mount targets. Each test puts a canary file with known content and a
//! directory that must stay empty on the host, runs a real build over a busybox image
//! made in code, and asserts that the canary is unchanged, that neither the build's
//! output nor the built filesystem holds its content, and that the directory is empty.
//!
//! Docker's rule is kept: a path inside a stage, an image or the context is resolved
//! inside that root, so a symlink `/d -> /real` in a stage still mounts the stage's
//! `/real`, and `..` stops at the root.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkimage_core::store::Store;
use mkimage_core::testutil::busybox_image;

mod layers;
mod remote;

/// What the host's canary file holds. No Dockerfile names it, so finding it in a build's
/// output means that the build read the canary.
const CANARY: &str = "host-canary-5b0e7d2c: only the host may read this\n";

/// What each stage puts at the canary's path inside itself.
const INSIDE: &str = "the stage own file";

/// A store holding `busybox:test`, a build context, and the host's canary and empty
/// directory, all in one temporary directory.
struct Hostile {
    dir: tempfile::TempDir,
}

impl Hostile {
    fn new() -> Hostile {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        busybox_image(&store, "busybox:test").unwrap();
        fs::create_dir_all(dir.path().join("ctx")).unwrap();
        fs::create_dir_all(dir.path().join("host/empty")).unwrap();
        fs::write(dir.path().join("host/canary"), CANARY).unwrap();
        Hostile { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The host directory holding `canary` and `empty/`, as an absolute path.
    fn host(&self) -> String {
        self.path("host").display().to_string()
    }

    /// `..` enough times to climb from anywhere in the store to `/`, then the host
    /// directory: a relative link that leaves any root it is resolved on the host from.
    fn climb(&self) -> String {
        format!(
            "{}{}",
            "../".repeat(40),
            self.host().trim_start_matches('/')
        )
    }

    /// A stage `evil` whose paths lead to the host directory, each holding, at the
    /// host's paths inside the stage, its own canary ([`INSIDE`]) and empty directory:
    /// `/abs` (absolute link), `/rel` (`../` climbing out), `/chain` (a link to a link
    /// that climbs out), `/file` (a link to the canary file).
    fn evil_stage(&self) -> String {
        let host = self.host();
        let climb = self.climb();
        format!(
            "FROM busybox:test AS evil\n\
             RUN mkdir -p {host}/empty && printf '%s' '{INSIDE}' > {host}/canary \
             && ln -s {host} /abs && ln -s {climb} /rel && ln -s /rel /link \
             && ln -s link /chain && ln -s {host}/canary /file\n"
        )
    }

    /// Runs `mkimage build ARGS…` on the store.
    fn mkimage_build(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .arg("--root")
            .arg(self.path("store"))
            .arg("build")
            .args(args)
            .output()
            .expect("run mkimage")
    }

    /// Writes the Dockerfile and runs `mkimage build ARGS… CTX`.
    fn build(&self, dockerfile: &str, args: &[&str]) -> Output {
        fs::write(self.path("ctx/Dockerfile"), dockerfile).unwrap();
        let context = self.path("ctx");
        let mut all = args.to_vec();
        all.push(context.to_str().unwrap());
        self.mkimage_build(&all)
    }

    /// Builds into `-o type=local` at `out`, which must succeed; returns the build's
    /// output (stdout and stderr).
    fn build_ok(&self, dockerfile: &str, args: &[&str]) -> String {
        let out = format!("type=local,dest={}", self.path("out").display());
        let mut all = vec!["-o", out.as_str()];
        all.extend_from_slice(args);
        let output = self.build(dockerfile, &all);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "the build failed:\n{text}");
        text
    }

    /// Builds the stage `evil` ([`Hostile::evil_stage`]) and then a stage from
    /// `busybox:test` whose instructions are `steps`, into `-o type=local` with `args`;
    /// asserts that the build succeeded and left the host untouched.
    fn build_over_evil(&self, steps: &str, args: &[&str]) {
        let dockerfile = format!("{}FROM busybox:test\n{steps}", self.evil_stage());
        let output = self.build_ok(&dockerfile, args);
        self.assert_untouched(&output);
    }

    /// Asserts that each of `files` of the built filesystem holds the stage's own canary
    /// ([`INSIDE`]), not the host's.
    fn assert_inside(&self, files: &[&str]) {
        for file in files {
            assert_eq!(self.built(file), INSIDE, "{file}");
        }
    }

    /// A file of the built filesystem.
    fn built(&self, path: &str) -> String {
        fs::read_to_string(self.path("out").join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("`{path}` of the built filesystem: {e}"))
    }

    /// Asserts that the host's canary is unchanged, its empty directory still empty, and
    /// that neither `output` nor any file of the built filesystem holds the canary.
    fn assert_untouched(&self, output: &str) {
        assert_eq!(
            fs::read_to_string(self.path("host/canary")).unwrap(),
            CANARY,
            "the host's canary changed"
        );
        let left: Vec<_> = fs::read_dir(self.path("host/empty"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "the host's empty directory got {left:?}");
        let canary = CANARY.trim_end();
        assert!(
            !output.contains(canary),
            "the build read the host's canary:\n{output}"
        );
        let out = self.path("out");
        if out.exists() {
            assert_no_canary_below(&out);
        }
    }
}

/// Asserts that no regular file below `dir` (symlinks not followed) holds the host's
/// canary.
fn assert_no_canary_below(dir: &Path) {
    let canary = CANARY.trim_end();
    let holding: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            entry.file_type().is_file()
                && String::from_utf8_lossy(&fs::read(entry.path()).unwrap()).contains(canary)
        })
        .map(walkdir::DirEntry::into_path)
        .collect();
    assert_eq!(
        holding,
        Vec::<PathBuf>::new(),
        "files below `{}` hold the host's canary",
        dir.display()
    );
}

// See: issue 13
#[test]
fn stage_mounts_resolve_symlinks_inside_the_stage() {
    let hostile = Hostile::new();
    hostile.build_over_evil(
        "RUN --mount=from=evil,source=/abs,target=/m cat /m/canary > /abs-copy\n\
         RUN --mount=from=evil,source=/rel,target=/m cat /m/canary > /rel-copy\n\
         RUN --mount=from=evil,source=/chain,target=/m cat /m/canary > /chain-copy\n\
         RUN --mount=from=evil,source=/file,target=/m cat /m > /file-copy\n\
         RUN --mount=from=evil,source=/abs/canary,target=/m cat /m > /through-copy\n",
        &[],
    );
    hostile.assert_inside(&[
        "abs-copy",
        "rel-copy",
        "chain-copy",
        "file-copy",
        "through-copy",
    ]);
}

// See: issue 13
#[test]
fn writable_stage_mounts_never_write_to_the_host() {
    let hostile = Hostile::new();
    let host = hostile.host();
    hostile.build_over_evil(
        &format!(
            "RUN --mount=from=evil,source=/abs,target=/m,rw \
             echo overwritten > /m/canary && touch /m/empty/new && cat /m/canary > /abs-copy\n\
             RUN --mount=from=evil,source=/rel,target=/m,rw \
             echo overwritten > /m/canary && touch /m/empty/new && ls /m/empty > /rel-list\n\
             RUN --mount=from=evil,source=/,target=/m,rw \
             readlink /m/abs > /root-link && echo overwritten > /m{host}/canary \
             && touch /m{host}/empty/new && cat /m{host}/canary > /root-copy\n"
        ),
        &[],
    );
    assert_eq!(hostile.built("abs-copy"), "overwritten\n");
    assert_eq!(hostile.built("rel-list"), "new\n");
    // The copy keeps the stage's symlinks as links.
    assert_eq!(hostile.built("root-link"), format!("{}\n", hostile.host()));
    assert_eq!(hostile.built("root-copy"), "overwritten\n");
}

// See: issue 13
#[test]
fn cache_mounts_seeded_from_a_stage_copy_the_stage_only() {
    let hostile = Hostile::new();
    hostile.build_over_evil(
        "RUN --mount=type=cache,id=abs,from=evil,source=/abs,target=/c cat /c/canary > /abs-copy\n\
         RUN --mount=type=cache,id=rel,from=evil,source=/rel,target=/c cat /c/canary > /rel-copy\n\
         RUN --mount=type=cache,id=root,from=evil,source=/,target=/c ls -l /c/abs > /root-list\n",
        &[],
    );
    hostile.assert_inside(&["abs-copy", "rel-copy"]);
    // The seed's symlinks are copied as links, never followed.
    assert!(
        hostile
            .built("root-list")
            .contains(&format!("-> {}", hostile.host())),
        "{}",
        hostile.built("root-list")
    );
    assert_no_canary_below(&hostile.path("store/data/cache-mounts"));
}

// See: issue 13
#[test]
fn dot_dot_in_stage_mount_sources_stops_at_the_root() {
    let hostile = Hostile::new();
    let host = hostile.host();
    hostile.build_over_evil(
        &format!(
            "RUN --mount=from=evil,source=../../../../../../..{host},target=/m cat /m/canary > /stage-copy\n\
             RUN --mount=from=evil,source=/abs/../../../../..{host}/canary,target=/m cat /m > /stage-dots\n"
        ),
        &[],
    );
    hostile.assert_inside(&["stage-copy", "stage-dots"]);
}

// See: issue 13
#[test]
fn context_mount_sources_never_leave_the_context() {
    let hostile = Hostile::new();
    let ctx = hostile.path("ctx");
    fs::create_dir(ctx.join("real")).unwrap();
    fs::write(ctx.join("real/canary"), "the context own file").unwrap();
    std::os::unix::fs::symlink("real", ctx.join("inside")).unwrap();
    std::os::unix::fs::symlink(hostile.path("host"), ctx.join("abs")).unwrap();
    std::os::unix::fs::symlink(hostile.climb(), ctx.join("rel")).unwrap();
    std::os::unix::fs::symlink(hostile.path("host/canary"), ctx.join("file")).unwrap();
    let output = hostile.build_ok(
        "FROM busybox:test\nRUN --mount=source=inside,target=/m cat /m/canary > /copy\n",
        &[],
    );
    hostile.assert_untouched(&output);
    assert_eq!(hostile.built("copy"), "the context own file");
    let dots = format!("../../../../../..{}", hostile.host());
    let sources = [
        ("abs", ""),
        ("rel", ""),
        ("file", ""),
        (&dots, ""),
        ("abs", ",rw"),
    ];
    for (source, rw) in sources {
        let output = hostile.build(
            &format!(
                "FROM busybox:test\nRUN --mount=source={source},target=/m{rw} \
                 cat /m/canary /m; echo overwritten > /m/canary; touch /m/empty/new\n"
            ),
            &[],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{source}{rw}: {stderr}");
        assert!(
            stderr.contains("leaves the build context"),
            "{source}{rw}: {stderr}"
        );
        hostile.assert_untouched(&stderr);
    }
}

// See: issue 13
#[test]
fn symlinked_mount_targets_stay_in_the_root() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let climb = hostile.climb();
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN ln -s {host}/empty /abs && ln -s {climb}/empty /rel\n\
         RUN --mount=type=tmpfs,target=/abs/tmpfs --mount=type=bind,source=Dockerfile,target=/rel/bound \
         --mount=type=cache,id=t,target=/abs/cache/dir --mount=type=secret,id=s,target=/rel/secret \
         ls {host}/empty > /listed\n"
    );
    let output = hostile.build_ok(&dockerfile, &[]);
    hostile.assert_untouched(&output);
    let listed = hostile.built("listed");
    assert_eq!(listed, "bound\ncache\ntmpfs\n");
}

// See: issue 13
#[test]
fn symlinked_mount_targets_stay_in_the_root_with_runc() {
    let hostile = Hostile::new();
    let host = hostile.host();
    hostile.build_over_evil(
        &format!(
            "RUN ln -s {host}/empty /abs\n\
             RUN --mount=from=evil,source=/rel,target=/abs/m --mount=type=tmpfs,target=/abs/t \
             cat /abs/m/canary > /copy\n"
        ),
        &["--runtime", "runc"],
    );
    hostile.assert_inside(&["copy"]);
}

// See: issue 16
#[test]
fn chroot_isolation_keeps_mounts_and_writes_in_the_root() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let climb = hostile.climb();
    hostile.build_over_evil(
        &format!(
            "RUN ln -s {host}/empty /abs && ln -s {climb}/empty /rel && ln -s {host}/canary /c \
             && mkdir -p {host} && echo written > /c\n\
             RUN --mount=type=tmpfs,target=/abs/tmpfs --mount=type=bind,source=Dockerfile,target=/rel/bound \
             --mount=type=cache,id=t,target=/abs/cache/dir --mount=from=evil,source=/rel,target=/abs/m,rw \
             ls {host}/empty > /listed && cat /abs/m/canary > /copy && cat /c > /c-copy \
             && echo overwritten > /abs/m/canary\n"
        ),
        &["--isolation", "chroot"],
    );
    hostile.assert_inside(&["copy"]);
    // The mount points were made inside the image, through its links, and removed after.
    assert_eq!(hostile.built("listed"), "bound\ncache\nm\ntmpfs\n");
    assert!(!hostile.path("out").join(&host[1..]).join("empty").exists());
    assert_eq!(hostile.built("c-copy"), "written\n");
}

// See: issue 13
#[test]
fn copy_from_a_stage_resolves_its_symlinks_inside_it() {
    let hostile = Hostile::new();
    hostile.build_over_evil(
        "COPY --from=evil /abs/canary /abs-copy\n\
         COPY --from=evil /rel/canary /rel-copy\n\
         COPY --from=evil /chain/canary /chain-copy\n\
         COPY --from=evil /file /file-copy\n\
         COPY --from=evil /abs/ /dir-copy/\n",
        &[],
    );
    hostile.assert_inside(&[
        "abs-copy",
        "rel-copy",
        "chain-copy",
        "file-copy",
        "dir-copy/canary",
    ]);
}

// See: issue 13
#[test]
fn workdir_through_a_symlink_stays_in_the_image() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN ln -s {host}/empty /w && ln -s {host} /h\n\
         WORKDIR /w/sub\n\
         RUN echo made > file && pwd > /pwd\n\
         WORKDIR /h\n\
         RUN echo overwritten > canary\n"
    );
    let output = hostile.build_ok(&dockerfile, &[]);
    hostile.assert_untouched(&output);
    assert_eq!(hostile.built(&format!("{host}/empty/sub/file")), "made\n");
    assert_eq!(hostile.built(&format!("{host}/canary")), "overwritten\n");
}

// See: issue 13
#[test]
fn local_output_writes_through_no_symlink_of_the_image() {
    let hostile = Hostile::new();
    let host = hostile.host();
    let climb = hostile.climb();
    // The output directory itself sits next to the host directory, so a `..` or an
    // absolute link followed on the host would reach it.
    let dockerfile = format!(
        "FROM busybox:test\n\
         RUN ln -s {host}/empty /abs && ln -s {climb}/empty /rel && ln -s ../host/canary /up \
         && ln -s {host}/canary /file\n\
         COPY Dockerfile /abs/copied\n\
         COPY Dockerfile /rel/copied\n"
    );
    let output = hostile.build_ok(&dockerfile, &[]);
    hostile.assert_untouched(&output);
    assert_eq!(
        fs::read_link(hostile.path("out/abs")).unwrap(),
        Path::new(&format!("{host}/empty"))
    );
    assert!(hostile.path(&format!("out{host}/empty/copied")).is_file());
    let tar = hostile.path("fs.tar");
    let output = hostile.build(
        &dockerfile,
        &["-o", &format!("type=tar,dest={}", tar.display())],
    );
    assert!(output.status.success());
    hostile.assert_untouched(&String::from_utf8_lossy(&output.stderr));
    hostile.assert_untouched(&String::from_utf8_lossy(&fs::read(&tar).unwrap()));
}

// See: issue 13
#[test]
fn local_output_merges_without_following_an_earlier_exports_links() {
    let hostile = Hostile::new();
    let host = hostile.host();
    // The first export leaves links to the host where the second has a directory and a
    // file.
    hostile.build_ok(
        &format!("FROM busybox:test\nRUN ln -s {host}/empty /d && ln -s {host}/canary /f\n"),
        &[],
    );
    assert!(
        fs::symlink_metadata(hostile.path("out/d"))
            .unwrap()
            .is_symlink()
    );
    fs::write(hostile.path("out/mine"), "the caller's own").unwrap();
    let output = hostile.build_ok(
        "FROM busybox:test\nRUN mkdir /d && echo new > /d/new && echo new > /f\n",
        &[],
    );
    hostile.assert_untouched(&output);
    assert!(
        fs::symlink_metadata(hostile.path("out/d"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(hostile.built("d/new"), "new\n");
    assert_eq!(hostile.built("f"), "new\n");
    assert_eq!(hostile.built("mine"), "the caller's own");
}
