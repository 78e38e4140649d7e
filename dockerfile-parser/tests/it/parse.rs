//! Golden tests of the parser: each folder of `fixtures/parser/` holds a `Dockerfile` and
//! the `parse.json` that `mkimage parse --json` must print for it; each folder of
//! `fixtures/parser-errors/` a `Dockerfile` and the `error.txt` its parse (or, for a flag
//! or argument an instruction does not take, its lowering) must fail with.
//! `SNAPSHOTS=overwrite cargo test` rewrites the expectations.

use snapbox::Data;
use snapbox::data::DataFormat;

use crate::fixtures::{assert, cases, dockerfile};

#[test]
fn fixtures_parse_to_their_json() {
    let cases = cases("parser");
    assert!(cases.len() >= 30, "only {} parser fixtures", cases.len());
    for case in cases {
        let parsed = mkimage_dockerfile::parse(&dockerfile(&case))
            .unwrap_or_else(|error| panic!("{}: {error}", case.display()));
        let json = serde_json::to_string_pretty(&parsed).expect("a parse serializes") + "\n";
        assert().eq(
            Data::text(json).raw(),
            // Read as text: a JSON comparison would normalize `\r\n` inside strings.
            Data::read_from(&case.join("parse.json"), Some(DataFormat::Text)).raw(),
        );
    }
}

#[test]
fn error_fixtures_fail_with_their_message() {
    let cases = cases("parser-errors");
    assert!(cases.len() >= 40, "only {} error fixtures", cases.len());
    for case in cases {
        let error = match mkimage_dockerfile::parse(&dockerfile(&case)) {
            // A flag or argument an instruction does not take parses, as in BuildKit's
            // parser, and lowering fails with the check's error.
            Ok(parsed) => {
                let Some(invalid) = parsed.invalid() else {
                    panic!("{}: parsed, but should fail", case.display());
                };
                let options = mkimage_dockerfile::LowerOptions::default();
                let lowered = mkimage_dockerfile::lower(&parsed, &options).map(|_| ());
                let error = lowered.expect_err("lowering an invalid instruction fails");
                assert_eq!(error.to_string(), invalid.to_string(), "{}", case.display());
                invalid.to_string() + "\n"
            }
            Err(error) => error.to_string() + "\n",
        };
        assert().eq(
            Data::text(error).raw(),
            Data::read_from(&case.join("error.txt"), Some(DataFormat::Text)).raw(),
        );
    }
}
