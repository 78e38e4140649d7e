//! Golden tests of lowering: each folder of `fixtures/plan/` holds a `Dockerfile` and the
//! `plan.json` that `mkimage parse --plan` must print for it (plus `warnings.txt` when
//! lowering warns); each folder of `fixtures/plan-errors/` a `Dockerfile` and the
//! `error.txt` lowering must fail with. An optional `args` file holds `--build-arg K=V` and
//! `--target T` lines. The target platform is `linux/amd64`, the build platform
//! `linux/arm64`. `SNAPSHOTS=overwrite cargo test` rewrites the expectations.

use std::path::Path;

use mkimage_dockerfile::{LowerError, LowerOptions, Lowered, lower, parse};
use snapbox::Data;

use crate::fixtures::{assert, cases, dockerfile};

fn options(case: &Path) -> LowerOptions {
    let mut options = LowerOptions::new("linux/amd64".parse().expect("a valid platform"));
    options.build_platform = "linux/arm64".parse().expect("a valid platform");
    let Ok(args) = std::fs::read_to_string(case.join("args")) else {
        return options;
    };
    for line in args.lines().filter(|line| !line.trim().is_empty()) {
        match line.split_once(' ') {
            Some(("--build-arg", pair)) => {
                let (key, value) = pair.split_once('=').expect("`--build-arg K=V`");
                options.build_args.insert(key.to_owned(), value.to_owned());
            }
            Some(("--target", target)) => options.target = Some(target.to_owned()),
            _ => panic!("{}: unknown line `{line}` in `args`", case.display()),
        }
    }
    options
}

fn lower_case(case: &Path) -> Result<Lowered, LowerError> {
    let text = dockerfile(case);
    let dockerfile = parse(&text)
        .unwrap_or_else(|error| panic!("{}: {error}", case.join("Dockerfile").display()));
    lower(&dockerfile, &options(case))
}

#[test]
fn fixtures_lower_to_their_plan() {
    let cases = cases("plan");
    assert!(cases.len() >= 10, "only {} plan fixtures", cases.len());
    for case in cases {
        let lowered =
            lower_case(&case).unwrap_or_else(|error| panic!("{}: {error}", case.display()));
        let json = serde_json::to_string_pretty(&lowered.plan).expect("a plan serializes") + "\n";
        assert().eq(json, Data::read_from(&case.join("plan.json"), None).raw());
        let warnings: String = lowered
            .warnings
            .iter()
            .map(|warning| format!("{}: {}\n", warning.span, warning.message))
            .collect();
        let path = case.join("warnings.txt");
        if !warnings.is_empty() || path.exists() {
            assert().eq(warnings, Data::read_from(&path, None).raw());
        }
    }
}

#[test]
fn error_fixtures_fail_with_their_message() {
    let cases = cases("plan-errors");
    assert!(
        cases.len() >= 20,
        "only {} plan error fixtures",
        cases.len()
    );
    for case in cases {
        let error = match lower_case(&case) {
            Ok(_) => panic!("{}: lowered without an error", case.display()),
            Err(error) => error,
        };
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!("\ncaused by: {cause}"));
            source = cause.source();
        }
        assert().eq(
            text + "\n",
            Data::read_from(&case.join("error.txt"), None).raw(),
        );
    }
}
