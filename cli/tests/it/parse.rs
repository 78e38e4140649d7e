//! `mkimage parse`, run as a user runs it.

use std::path::{Path, PathBuf};

use snapbox::cmd::Command;
use snapbox::data::DataFormat;
use snapbox::{Data, IntoData as _, str};

fn mkimage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mkimage"))
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path)
}

/// A temporary directory holding `Dockerfile` with `text`.
fn dockerfile(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("Dockerfile"), text).expect("writing the Dockerfile");
    dir
}

#[test]
fn prints_normalized_instructions_and_warnings() {
    let dir = dockerfile(
        "# syntax=docker/dockerfile:1\n\
         from  alpine as base\n\
         run --mount=type=cache,target=/c \\\n\
         \n\
         \x20   apk add curl\n\
         copy --chown=\"a b\" <<EOF /etc/motd\n\
         hello\n\
         EOF\n\
         env LEGACY some value\n\
         cmd [ \"sh\",\"-c\" ]\n\
         onbuild run make\n\
         healthcheck --retries=3 cmd true\n",
    );
    mkimage()
        .arg("parse")
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout_eq(str![[r#"
FROM alpine as base
RUN --mount=type=cache,target=/c apk add curl
COPY --chown="a b" <<EOF /etc/motd
hello
EOF
ENV LEGACY some value
CMD ["sh", "-c"]
ONBUILD RUN make
HEALTHCHECK --retries=3 CMD true

"#]])
        .stderr_eq(str![[r#"
warning: Dockerfile:4: empty continuation line: Docker will make this an error, remove the blank line or the escape character before it

"#]]);
}

#[test]
fn json_is_the_parse_as_the_library_gives_it() {
    let case = fixture("parser/heredoc");
    mkimage()
        .args(["parse", "--json", "-f"])
        .arg(case.join("Dockerfile"))
        .assert()
        .success()
        .stdout_eq(Data::read_from(&case.join("parse.json"), Some(DataFormat::Text)).raw())
        .stderr_eq("");
}

#[test]
fn reads_standard_input() {
    mkimage()
        .args(["parse", "-f", "-", "--json"])
        .stdin("FROM scratch\nLABEL a=b\n")
        .assert()
        .success()
        .stdout_eq(
            str![[r#"
{
  "directives": {
    "escape": "\\",
    "syntax": null,
    "check": null
  },
  "warnings": [],
  "instructions": [
    {
      "keyword": "FROM",
      "line": 1,
      "end_line": 1,
      "flags": [],
      "args": [
        "scratch"
      ],
      "json_form": false,
      "heredocs": [],
      "original": "FROM scratch",
      "sub": null
    },
    {
      "keyword": "LABEL",
      "line": 2,
      "end_line": 2,
      "flags": [],
      "args": [
        {
          "key": "a",
          "value": "b",
          "sep": "="
        }
      ],
      "json_form": false,
      "heredocs": [],
      "original": "LABEL a=b",
      "sub": null
    }
  ]
}

"#]]
            .raw(),
        );
}

#[test]
fn error_shows_file_line_column_and_caret() {
    let dir = dockerfile("FROM alpine\n\tCMD [\"echo\", 1]\n");
    mkimage()
        .args(["parse", "-f", "Dockerfile"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stdout_eq("")
        .stderr_eq(str![[r#"
error: Dockerfile:2:15: expected a JSON string array or a command: a JSON array may hold only strings
  |
2 | 	CMD ["echo", 1]
  | 	             ^

"#]]);
}

#[test]
fn error_on_a_continued_line_points_into_it() {
    let case = fixture("parser-errors/error-after-continuation");
    mkimage()
        .args(["parse", "--plan", "-f"])
        .arg(case.join("Dockerfile"))
        .assert()
        .failure()
        .stderr_eq(str![[r#"
error: [..]Dockerfile:5:5: unknown flag `--bogus` for `RUN`
  |
5 |     --bogus echo
  |     ^

"#]]);
}

// See: issue 17
#[test]
fn json_is_the_parsers_view_and_lowering_rejects_what_it_keeps() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY --user=x a b\nHEALTHCHECK\n",
    )
    .expect("the Dockerfile is written");
    let output = mkimage()
        .args(["parse", "--json", "-f", "Dockerfile"])
        .current_dir(dir.path())
        .output()
        .expect("mkimage runs");
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let copy = &json["instructions"][1];
    assert_eq!(copy["flags"], serde_json::json!(["--user=x"]));
    assert_eq!(copy["args"], serde_json::json!(["a", "b"]));
    assert_eq!(json["instructions"][2]["keyword"], "HEALTHCHECK");
    assert_eq!(json["instructions"][2]["args"], serde_json::json!([]));
    mkimage()
        .args(["parse", "--plan", "-f", "Dockerfile"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stdout_eq("")
        .stderr_eq(str![[r#"
error: Dockerfile:2:6: unknown flag `--user` for `COPY`
  |
2 | COPY --user=x a b
  |      ^

"#]]);
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nHEALTHCHECK\n")
        .expect("the Dockerfile is written");
    mkimage()
        .args(["build", "--root", "store", "."])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr_eq(str![[r#"
error: Dockerfile:2:12: expected `NONE`, or `CMD` and a command, after `HEALTHCHECK`
  |
2 | HEALTHCHECK
  |            ^

"#]]);
}

#[test]
fn missing_file_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    mkimage()
        .args(["parse", "-f", "nope"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr_eq(str![[r#"
error: failed to read `nope`
caused by: No such file or directory (os error 2)

"#]]);
}

#[test]
fn plan_is_the_golden_plan_for_the_same_options() {
    // The golden plans are made for linux/amd64 (the host's platform is in the plan);
    // elsewhere the test is skipped only on request, so CI cannot pass without it.
    if mkimage_core::plan::Platform::host().to_string() != "linux/amd64" {
        assert!(
            std::env::var_os("MKIMAGE_TEST_SKIP_GOLDEN_PLATFORM").is_some(),
            "the golden plans are for linux/amd64 (set MKIMAGE_TEST_SKIP_GOLDEN_PLATFORM=1 to skip)"
        );
        return;
    }
    let case = fixture("plan/target-prune");
    mkimage()
        .args(["parse", "--plan", "--target", "BUILD", "-f"])
        .arg(case.join("Dockerfile"))
        .assert()
        .success()
        .stdout_eq(Data::read_from(&case.join("plan.json"), None).raw());
}

#[test]
fn plan_takes_build_args_from_the_flag_and_the_environment() {
    let dir = dockerfile("FROM scratch\nARG A B C\nENV X=$A/$B/[$C]\n");
    mkimage()
        .args(["parse", "--plan", "--build-arg", "A=1", "--build-arg", "B"])
        .args(["--build-arg", "C"])
        .env("B", "from-env")
        .env_remove("C")
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout_eq(str![[r#"
...
          "op": {
            "env": [
              {
                "key": "X",
                "value": "1/from-env/[]"
              }
            ]
          },
...
"#]]);
}

#[test]
fn plan_error_shows_file_line_column_and_caret() {
    let dir = dockerfile("FROM scratch\nWORKDIR ${DIR:=/app}\n");
    mkimage()
        .args(["parse", "--plan"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stdout_eq("")
        .stderr_eq(str![[r#"
error: Dockerfile:2:1: failed to expand `${DIR:=/app}`: unsupported modifier `:=` in `${DIR:=…}`: a Dockerfile cannot assign variables, use `ARG` or `ENV`
  |
2 | WORKDIR ${DIR:=/app}
  | ^

"#]]);
}

/// The instructions of `mkimage parse --json` without what normalizing changes: lines,
/// the text as written, and the case of keywords and of the `HEALTHCHECK` type.
fn meaning(json: &[u8]) -> serde_json::Value {
    fn instruction(value: &mut serde_json::Value) {
        let object = value.as_object_mut().expect("an instruction is an object");
        for key in ["line", "end_line", "original"] {
            object.remove(key);
        }
        let keyword = object["keyword"]
            .as_str()
            .unwrap_or("")
            .to_ascii_uppercase();
        if let Some(kind) = object["args"]
            .get_mut(0)
            .filter(|_| keyword == "HEALTHCHECK")
        {
            *kind = kind.as_str().unwrap_or("").to_ascii_uppercase().into();
        }
        object.insert("keyword".into(), keyword.into());
        if let Some(sub) = object.get_mut("sub").filter(|sub| !sub.is_null()) {
            instruction(sub);
        }
    }
    let mut parsed: serde_json::Value = serde_json::from_slice(json).expect("parse --json is JSON");
    let mut instructions = parsed["instructions"].take();
    for value in instructions
        .as_array_mut()
        .expect("instructions is an array")
    {
        instruction(value);
    }
    instructions
}

#[test]
fn normalized_text_parses_back_to_the_same_instructions() {
    let root = fixture("parser");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the parser fixtures")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .map(|path| path.join("Dockerfile"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} parser fixtures", cases.len());
    for case in cases {
        let run = |args: &[&str], stdin: Vec<u8>| {
            let output = mkimage()
                .args(["parse", "-f", "-"])
                .args(args)
                .stdin(stdin)
                .output()
                .expect("mkimage runs");
            assert!(output.status.success(), "{}: {output:?}", case.display());
            output.stdout
        };
        let text = std::fs::read(&case).expect("the fixture's Dockerfile");
        let normalized = run(&[], text.clone());
        assert_eq!(
            meaning(&run(&["--json"], normalized.clone())),
            meaning(&run(&["--json"], text)),
            "{} normalized as:\n{}",
            case.display(),
            String::from_utf8_lossy(&normalized)
        );
    }
}
