//! The entry point of the cargo-fuzz target in `dockerfile-parser/fuzz/`, which the
//! corpus replay test (`tests/it/fuzz_corpus.rs`) calls too, so a regression on a
//! committed corpus input fails `cargo test` without a fuzzer. Enabled by the `fuzzing`
//! feature.

use crate::{Instruction, parse as parse_dockerfile};

/// Parses `data` (UTF-8) as a Dockerfile.
///
/// # Panics
///
/// When a span, a warning's line or an error's position is not inside the text, when a
/// parse does not serialize, or when the parser panics (or overflows the stack).
pub fn parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match parse_dockerfile(text) {
        Ok(dockerfile) => {
            assert!(!dockerfile.instructions.is_empty());
            for instruction in &dockerfile.instructions {
                check(instruction, lines);
            }
            for warning in &dockerfile.warnings {
                assert!((1..=lines).contains(&warning.line));
            }
            serde_json::to_string(&dockerfile).expect("a parse serializes");
        }
        Err(error) => {
            let at = error.position();
            assert!((1..=lines).contains(&at.line), "{error}");
            assert!(at.col >= 1, "{error}");
            assert!(!error.message().is_empty());
        }
    }
}

fn check(instruction: &Instruction, lines: usize) {
    let span = instruction.span;
    assert!(span.line >= 1 && span.col >= 1, "{span:?}");
    assert!(
        span.line <= span.end_line && span.end_line <= lines,
        "{span:?}"
    );
    for flag in &instruction.flags {
        assert!(flag.span.line >= span.line && flag.span.end_line <= span.end_line);
    }
    if let Some(sub) = instruction.sub() {
        assert_eq!(sub.span.end_line, span.end_line);
        check(sub, lines);
    }
}
