//! `InvalidDefinitionDescription` (experimental): a comment right above a named stage or
//! an `ARG` that does not start with the name it describes.

use super::{Check, Layout, arg_keys, rules::INVALID_DEFINITION_DESCRIPTION};
use crate::ast::Instruction;

/// Evaluates the rule for every `FROM … AS name` and every `ARG`.
pub(super) fn check(layout: &Layout<'_>, text: &str, found: &mut Vec<Check>) {
    let lines: Vec<&str> = text.lines().collect();
    let args = layout
        .globals
        .iter()
        .chain(layout.stages.iter().flat_map(|stage| &stage.body))
        .filter(|instruction| instruction.kind == crate::ast::Keyword::Arg);
    for instruction in args {
        definition(instruction, "ARG", &arg_keys(instruction), &lines, found);
    }
    for stage in &layout.stages {
        if let Some(name) = stage.name() {
            definition(stage.from, "FROM", &[name], &lines, found);
        }
    }
}

/// Checks the comment right above `instruction`, which defines `keys`.
fn definition(
    instruction: &Instruction,
    kind: &str,
    keys: &[&str],
    lines: &[&str],
    found: &mut Vec<Check>,
) {
    let Some(comment) = comment_above(lines, instruction.span.line) else {
        return;
    };
    let first = comment.split(' ').next().unwrap_or_default();
    if keys.contains(&first) {
        return;
    }
    let example = match keys {
        [key] => key,
        _ => "<arg_key>",
    };
    let message =
        format!("Comment for {kind} should follow the format: `# {example} <description>`");
    found.push(Check::new(
        &INVALID_DEFINITION_DESCRIPTION,
        message,
        instruction.span,
    ));
}

/// The last comment line (its text after `#`, trimmed) of the comment block that ends on
/// the line before `line` (1-based), if that line is a comment.
fn comment_above<'a>(lines: &[&'a str], line: usize) -> Option<&'a str> {
    let above = lines.get(line.checked_sub(2)?)?.trim();
    let comment = above.strip_prefix('#')?.trim();
    // The directives at the top describe nothing.
    let directive = ["syntax=", "escape=", "check="].iter().any(|name| {
        comment
            .replace(' ', "")
            .to_ascii_lowercase()
            .starts_with(name)
    });
    (!directive).then_some(comment)
}
