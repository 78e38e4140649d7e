//! Input that nests or repeats far beyond what a Dockerfile needs, parsed and lowered on a
//! thread with a small stack: each case ends in a located error or a plan, never in a
//! stack overflow, however deep it goes.

use std::collections::BTreeMap;

use mkimage_dockerfile::{BaseImage, LowerOptions, lower, parse};

/// How deep or long each case goes: far past every bound.
const DEEP: usize = 100_000;

/// Parses and lowers `text` (with `options`) on a thread with a 1 MiB stack, an eighth
/// of the main thread's; returns the error's message, or `None` when it lowers.
fn outcome(text: String, options: LowerOptions) -> Option<String> {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let parsed = parse(&text).map_err(|error| error.to_string())?;
            lower(&parsed, &options).map_err(|error| error.to_string())?;
            Ok::<(), String>(())
        })
        .expect("spawn a thread")
        .join()
        .expect("no panic, no stack overflow")
        .err()
}

fn options() -> LowerOptions {
    LowerOptions::new("linux/amd64".parse().expect("a platform"))
}

/// How many heredocs one line opens.
const HEREDOCS: usize = 10_000;

/// `open` repeated [`DEEP`] times around `x`, closed as many times with `}`.
fn nested(open: &str) -> String {
    format!("{}x{}", open.repeat(DEEP), "}".repeat(DEEP))
}

// See: issue 13
#[test]
fn deep_expansions_are_errors_at_their_line() {
    let message = "`${…}` is nested more than 64 levels deep";
    let error = outcome(format!("FROM a\nENV A={}\n", nested("${A:-")), options());
    let error = error.expect("an error");
    assert!(error.starts_with("2:1: failed to expand `"), "{error}");
    let in_heredoc_line = format!("FROM a\nRUN <<EOF {}\nhi\nEOF\n", nested("\"${A:-"));
    assert_eq!(
        outcome(in_heredoc_line, options()).as_deref(),
        Some(format!("2:396: {message}").as_str())
    );
    let in_copy_heredoc = format!("FROM a\nCOPY <<EOF /x\n{}\nEOF\n", nested("${A:-"));
    assert!(
        outcome(in_copy_heredoc, options())
            .expect("an error")
            .starts_with("2:1: failed to expand `")
    );
}

// See: issue 13
#[test]
fn deep_json_and_onbuild_are_errors_at_their_line() {
    let json = format!("FROM a\nCMD {}\n", "[".repeat(DEEP));
    assert_eq!(
        outcome(json, options()).as_deref(),
        Some("2:69: expected a JSON string array or a command: a JSON array may hold only strings")
    );
    let onbuild = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(DEEP));
    assert_eq!(
        outcome(onbuild, options()).as_deref(),
        Some("2:9: `ONBUILD` is not allowed as an `ONBUILD` trigger: expected another instruction")
    );
    // A base image's trigger is parsed when a stage starts from it.
    let mut from_base = options();
    let trigger = format!("ENV A={}", nested("${A:-"));
    from_base.base_images = BTreeMap::from([(
        "base".to_owned(),
        BaseImage {
            env: Vec::new(),
            onbuild: vec![trigger],
        },
    )]);
    let error = outcome("FROM base\n".to_owned(), from_base).expect("an error");
    assert!(error.starts_with("1:1: failed to expand `"), "{error}");
}

// See: issue 13
#[test]
fn long_continuations_heredocs_and_chains_lower() {
    let continued = format!("FROM a\nRUN a \\\n{}b\n", "--x \\\n".repeat(DEEP));
    assert_eq!(outcome(continued, options()), None);
    let markers: String = (0..HEREDOCS).map(|i| format!(" <<E{i}")).collect();
    let bodies: String = (0..HEREDOCS).map(|i| format!("body\nE{i}\n")).collect();
    let heredocs = format!("FROM a\nRUN cat{markers}\n{bodies}");
    assert_eq!(outcome(heredocs, options()), None);
    let mut chain = String::from("FROM scratch AS s0\n");
    for index in 1..20_000 {
        chain.push_str(&format!("FROM s{} AS s{index}\n", index - 1));
    }
    assert_eq!(outcome(chain, options()), None);
}

// See: issue 13
#[test]
fn repeated_expansions_stop_at_the_text_budget() {
    let doubling = format!(
        "FROM a\nARG A=0123456789abcdef\n{}",
        "ARG A=$A$A\n".repeat(40)
    );
    assert_eq!(
        outcome(doubling, options()).as_deref(),
        Some("23:1: the Dockerfile expands to more than 64 MiB of text")
    );
}
