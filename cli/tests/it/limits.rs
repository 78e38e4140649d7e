//! `mkimage build` on hostile Dockerfiles and stores: input that nests, grows or hides
//! bytes ends in a clear error at its line, long values are cut in what is printed, and
//! bases resolve only as docker resolves them.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::build::build;
use crate::store::stdout;

/// A temporary directory with a store and a build context holding `a.txt`.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("ctx")).unwrap();
        fs::write(dir.path().join("ctx/a.txt"), "a\n").unwrap();
        Case { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn context(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    /// Builds the Dockerfile `text` (bytes, to hold any) in the context, with `args`,
    /// showing its progress.
    fn build_with_progress(&self, text: &[u8], args: &[&str]) -> Output {
        let dockerfile = self.context().join("Dockerfile");
        fs::write(&dockerfile, text).unwrap();
        let context = self.context();
        let mut all = vec!["-f", dockerfile.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(context.to_str().unwrap());
        build(&self.root(), &all)
    }

    /// [`Case::build_with_progress`] with `-q`.
    fn build(&self, text: &[u8], args: &[&str]) -> Output {
        let mut all = vec!["-q"];
        all.extend_from_slice(args);
        self.build_with_progress(text, &all)
    }

    /// Saves the image `name` into an OCI archive and returns the archive as `skopeo`
    /// names it.
    fn saved(&self, name: &str) -> String {
        let archive = self.dir.path().join("saved.tar");
        stdout(&crate::store::mkimage(
            &self.root(),
            &["save", "-o", archive.to_str().unwrap(), name],
        ));
        format!("oci-archive:{}", archive.display())
    }

    /// Stderr of a build that must fail, neither killed nor aborted, with the
    /// Dockerfile's path shown as `Dockerfile`.
    fn error(&self, text: &[u8], args: &[&str]) -> String {
        let output = self.build(text, args);
        assert_eq!(output.status.signal(), None, "no abort: {output:?}");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let dockerfile = self.context().join("Dockerfile");
        String::from_utf8(output.stderr)
            .unwrap()
            .replace(dockerfile.to_str().unwrap(), "Dockerfile")
    }
}

/// The size of the largest blob in the store at `root`, 0 when it has none (or no store
/// was made).
fn largest_blob(root: &Path) -> u64 {
    let entries = match fs::read_dir(root.join("blobs/sha256")) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(error) => panic!("failed to list the blobs of `{}`: {error}", root.display()),
    };
    entries
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .max()
        .unwrap_or(0)
}

// See: issue 13
#[test]
fn deep_nesting_is_an_error_at_its_line_not_an_abort() {
    let case = Case::new();
    let depth = 30_000;
    let text = format!(
        "FROM scratch\nENV A={}x{}\n",
        "${A:-".repeat(depth),
        "}".repeat(depth)
    );
    let stderr = case.error(text.as_bytes(), &[]);
    let word = format!("{}… (180001 bytes)", "${A:-".repeat(40));
    assert_eq!(
        stderr,
        format!(
            "error: Dockerfile:2:1: failed to expand `{word}`: `${{…}}` is nested more than 64 levels deep\n  |\n2 | ENV A={}…\n  | ^\n",
            &"${A:-".repeat(40)[..194]
        )
    );
}

// See: issue 13
#[test]
fn a_nul_byte_in_a_path_is_an_error_at_its_line() {
    let case = Case::new();
    assert_eq!(
        case.error(b"FROM scratch\nCOPY a.txt /x\0y\n", &[]),
        "error: Dockerfile:2:1: the destination `/x\\0y` contains a NUL byte\n  |\n2 | COPY a.txt /x\\0y\n  | ^\n"
    );
    assert!(
        case.error(b"FROM scratch\nWORKDIR /w\0\n", &[])
            .starts_with(
                "error: Dockerfile:2:1: the working directory `/w\\0` contains a NUL byte"
            )
    );
    assert_eq!(largest_blob(&case.root()), 0, "nothing was built");
}

// See: issue 13
#[test]
fn a_config_too_large_fails_at_its_line_before_it_is_written() {
    let case = Case::new();
    // 100,000 bytes from the command line, repeated into megabytes by the Dockerfile.
    let value = "x".repeat(100_000);
    let arg = format!("A={value}");
    let label = |key: &str, times: usize| format!("LABEL {key}={}\n", "${A}".repeat(times));
    // 9 MB in the labels and 9 MB more in the history: found while lowering.
    let big = format!("FROM scratch\nARG A\n{}", label("big", 90));
    assert!(
        case.error(big.as_bytes(), &["--build-arg", &arg]).starts_with(
            "error: Dockerfile:3:1: the image config of this stage would be larger than the 16 MiB an image config may hold\n"
        )
    );
    assert!(largest_blob(&case.root()) < 1 << 20);

    // A base whose config holds 12 MB, and 6 MB more: found when the step is built.
    let base = format!("FROM scratch\nARG A\n{}", label("base", 60));
    stdout(&case.build(base.as_bytes(), &["--build-arg", &arg, "-t", "big"]));
    let more = format!("FROM big\nARG A\n{}", label("more", 30));
    let stderr = case.error(more.as_bytes(), &["--build-arg", &arg]);
    let command = format!("LABEL more={}… (3000011 bytes)", &value[..189]);
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "error: Dockerfile:3:1: `{command}` failed: the image config would be larger than the 16 MiB an image config may hold"
            )
            .as_str()
        )
    );
    assert!(largest_blob(&case.root()) <= 12 << 20);
}

/// The keys of the build cache's step records in the store at `root`.
fn step_records(root: &Path) -> Vec<String> {
    let mut keys: Vec<String> = fs::read_dir(root.join("records/build-steps"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    keys.sort();
    keys
}

// See: issue 13
#[test]
fn a_step_whose_config_is_too_large_is_not_cached() {
    let case = Case::new();
    let value = "x".repeat(100_000);
    let arg = format!("A={value}");
    let label = |key: &str, times: usize| format!("LABEL {key}={}\n", "${A}".repeat(times));
    // A base whose config holds 12 MB, then a small step and 6 MB more.
    let base = format!("FROM scratch\nARG A\n{}", label("base", 60));
    stdout(&case.build(base.as_bytes(), &["--build-arg", &arg, "-t", "big"]));
    let before = step_records(&case.root());
    let more = format!("FROM big\nARG A\nLABEL small=1\n{}", label("more", 30));
    let first = case.error(more.as_bytes(), &["--build-arg", &arg]);
    let command = format!("LABEL more={}… (3000011 bytes)", &value[..189]);
    assert!(
        first.starts_with(&format!(
            "error: Dockerfile:4:1: `{command}` failed: the image config would be larger than the 16 MiB an image config may hold\n"
        )),
        "{first}"
    );
    // The small step that succeeded is recorded; the one that failed is not.
    let after = step_records(&case.root());
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    // Built again, it fails the same way, not from the cache, and still records nothing.
    let second = case.error(more.as_bytes(), &["--build-arg", &arg]);
    assert_eq!(second, first);
    assert_eq!(step_records(&case.root()), after);
}

// See: issue 13
#[test]
fn long_values_are_cut_in_errors_and_progress() {
    let case = Case::new();
    // 100,000 bytes from the command line (which takes no more than 128 KiB an argument),
    // repeated into 2 MB by the Dockerfile.
    let value = "s".repeat(100_000);
    let arg = format!("A={value}");
    let text = format!("FROM scratch\nARG A\nCOPY {} /\n", "${A}".repeat(20));
    let output = case.build(text.as_bytes(), &["--build-arg", &arg]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.len() < 2000, "{} bytes of errors", stderr.len());
    // The path is too long for the file system: the error quotes it, and the command.
    let command = format!("COPY {}… (2000007 bytes)", &value[..195]);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:3:1: `{command}` failed: failed to read `",
            case.context().join("Dockerfile").display()
        )),
        "{stderr}"
    );
    let path = format!("{}/{}", case.context().display(), "s".repeat(2_000_000));
    assert!(stderr.contains(&format!(
        "… ({} bytes)` from the build context: File name too long",
        path.len()
    )));
    // Without `-q`, the progress line is cut too.
    let progress = case.build_with_progress(text.as_bytes(), &["--build-arg", &arg]);
    let progress = String::from_utf8(progress.stderr).unwrap();
    assert!(
        progress.contains(&format!("#1 [stage-0 1/1] {command}\n")),
        "{progress}"
    );
}

// See: issue 13
#[test]
fn a_chain_of_four_thousand_stages_builds() {
    let case = Case::new();
    let mut text = String::from("FROM scratch AS s0\nCOPY a.txt /\n");
    for index in 1..4000 {
        text.push_str(&format!("FROM s{} AS s{index}\n", index - 1));
    }
    text.push_str("LABEL last=yes\n");
    let id = stdout(&case.build(text.as_bytes(), &["-t", "chain"]));
    let inspect = crate::build::skopeo_json(&["inspect", "--config", &case.saved("chain")]);
    assert_eq!(inspect["config"]["Labels"]["last"], "yes");
    assert_eq!(inspect["history"].as_array().unwrap().len(), 2);
    assert!(id.starts_with("sha256:"));
}

// See: issue 13
#[test]
fn copy_from_errors_name_the_stage_or_image() {
    let case = Case::new();
    stdout(&case.build(
        b"FROM scratch\nCOPY a.txt /\n",
        &["-t", "localhost/it/base:1"],
    ));
    let stage = case.error(
        b"FROM scratch AS build\nCOPY a.txt /\nFROM scratch\nCOPY --from=build /nope /\n",
        &[],
    );
    assert!(
        stage.starts_with(
            "error: Dockerfile:4:1: `COPY --from=build /nope /` failed: source `/nope` matches no file in stage `build`\n"
        ),
        "{stage}"
    );
    let image = case.error(
        b"FROM scratch\nCOPY --from=localhost/it/base:1 /nope /\n",
        &[],
    );
    assert!(
        image.starts_with(
            "error: Dockerfile:2:1: `COPY --from=localhost/it/base:1 /nope /` failed: source `/nope` matches no file in image `localhost/it/base:1`\n"
        ),
        "{image}"
    );
}

// See: issue 13
#[test]
fn bases_resolve_by_full_id_never_by_prefix_nor_past_corruption() {
    let case = Case::new();
    // Named on a registry nothing listens on: any pull fails at once.
    let name = "127.0.0.1:1/it/base:1";
    let id = stdout(&case.build(b"FROM scratch\nCOPY a.txt /\n", &["-t", name]));
    let hex = id.trim().strip_prefix("sha256:").unwrap().to_owned();
    for from in [format!("sha256:{hex}"), hex.clone(), name.to_owned()] {
        let text = format!("FROM {from}\nLABEL x=1\n");
        stdout(&case.build(text.as_bytes(), &[]));
    }
    // A prefix of the id names a repository on docker.io, as for docker.
    let prefix = &hex[..12];
    let stderr = case.error(format!("FROM {prefix}\n").as_bytes(), &[]);
    assert!(
        stderr.starts_with(&format!(
            "error: Dockerfile:1:1: failed to resolve the base image `{prefix}`: "
        )) && stderr.contains(&format!("library/{prefix}")),
        "{stderr}"
    );

    // The base's config changes on disk: its build fails, saying so, without a pull.
    let config =
        crate::build::skopeo_json(&["inspect", "--raw", &case.saved(name)])["config"]["digest"]
            .as_str()
            .unwrap()
            .to_owned();
    let blob = case
        .root()
        .join("blobs/sha256")
        .join(config.strip_prefix("sha256:").unwrap());
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&blob, "{}").unwrap();
    let stderr = case.error(format!("FROM {name}\nLABEL y=1\n").as_bytes(), &[]);
    assert!(
        stderr.starts_with(&format!(
            "error: Dockerfile:1:1: failed to resolve the base image `{name}`: the image `{name}` (`{}`) in the local store is corrupt: blob `{config}` is corrupt: its content has digest `sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`\n",
            id.trim()
        )),
        "{stderr}"
    );
}
