//! Build checks: `mkimage build --check`, the summary after a build, `error=true` and
//! the metadata file.

use std::path::Path;

use crate::build::build;

/// A context holding `dockerfile` and a `.dockerignore` excluding `secret.txt`.
fn context(dir: &Path, dockerfile: &str) -> String {
    let context = dir.join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(context.join(".dockerignore"), "secret.txt\n").unwrap();
    std::fs::write(context.join("secret.txt"), "s\n").unwrap();
    context.to_str().unwrap().to_owned()
}

#[test]
fn check_lists_what_fires_and_exits_1_else_0() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ctx = context(
        dir.path(),
        "FROM scratch AS Builder\nCOPY secret.txt /\nCMD echo hi\n",
    );
    let output = build(&root, &["--check", &ctx]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "Check complete, 3 warnings have been found!\n\
         WARN: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\n\
         Stage name 'Builder' should be lowercase\nDockerfile:1\n\
         WARN: CopyIgnoredFile - https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/\n\
         Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore\nDockerfile:2\n\
         WARN: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n\
         JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n\
         Dockerfile:3\n"
    );
    // Nothing was built.
    let images = crate::store::mkimage(&root, &["images"]);
    assert_eq!(String::from_utf8(images.stdout).unwrap().lines().count(), 1);

    let ctx = context(
        dir.path(),
        "# check=skip=StageNameCasing,CopyIgnoredFile,JSONArgsRecommended\nFROM scratch AS Builder\nCOPY secret.txt /\nCMD echo hi\n",
    );
    let output = build(&root, &["--check", &ctx]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, b"Check complete, no warnings found.\n");
    // The build argument replaces the directive.
    let output = build(
        &root,
        &[
            "--check",
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=CopyIgnoredFile",
            &ctx,
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("Check complete, 2 warnings have been found!\n"),
        "{stdout}"
    );
}

#[test]
fn warnings_reach_the_summary_and_the_metadata_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ctx = context(dir.path(), "FROM scratch\nLABEL a b\n");
    let metadata = dir.path().join("metadata.json");
    let output = build(
        &root,
        &["--metadata-file", metadata.to_str().unwrap(), &ctx],
    );
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(
            " 1 warning found (use mkimage build --check to see their documentation):\n \
             - LegacyKeyValueFormat: \"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format (line 2)\n"
        ),
        "{stderr}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    let warnings = doc["buildx.build.warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0]["url"],
        "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/"
    );
    assert_eq!(warnings[0]["range"][0]["start"]["line"], 2);
    assert_eq!(warnings[0]["sourceInfo"]["filename"], "Dockerfile");
    let short = warnings[0]["short"].as_str().unwrap();
    assert_eq!(
        tool_base64_decode(short),
        "LegacyKeyValueFormat: \"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format (line 2)"
    );
}

#[test]
fn error_true_fails_the_build_after_listing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let ctx = context(
        dir.path(),
        "# check=error=true\nFROM scratch\nMAINTAINER me\n",
    );
    let output = build(&root, &[&ctx]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("MaintainerDeprecated: Maintainer instruction is deprecated"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lint violation found for rules: MaintainerDeprecated"),
        "{stderr}"
    );
}

/// Decodes base64 with coreutils' `base64`, a tool independent of mkimage.
fn tool_base64_decode(text: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64 from coreutils");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}
