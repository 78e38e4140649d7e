//! Parses arbitrary text as a Dockerfile: it must never panic, hang or overflow the stack,
//! and what it returns must point inside the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mkimage_dockerfile::{Instruction, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match parse(text) {
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
});

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
