//! Parsing a whole Dockerfile: logical lines, instructions, heredoc bodies.

use crate::ast::{Arguments, Dockerfile, Heredoc, Instruction, Keyword, ParseWarning};
use crate::error::ParseError;
use crate::grammar::{LineParser, heredoc_markers};
use crate::lines::{Logical, Source, trim_newline};
use crate::span::Position;

/// Parses a Dockerfile.
///
/// Unknown instructions are kept (as [`Keyword::Unknown`]); lowering rejects them.
///
/// # Errors
///
/// A [`ParseError`] for text Docker's parser would refuse: a bad directive, a JSON array
/// of something other than strings, a heredoc without its delimiter line, or a file
/// without instructions. A flag or argument an instruction does not take (`COPY
/// --user=x`, a bare `HEALTHCHECK`) parses, as in BuildKit's parser, and fails
/// [`lower`](crate::lower) (see [`Dockerfile::invalid`]).
///
/// # Example
///
/// ```
/// use mkimage_dockerfile::{Arguments, Keyword, parse};
///
/// let dockerfile = parse("FROM alpine\nrun --network=none echo hi\n")?;
/// let run = &dockerfile.instructions[1];
/// assert_eq!(run.kind, Keyword::Run);
/// assert_eq!(run.keyword, "run");
/// assert_eq!(run.flags[0].to_string(), "--network=none");
/// assert_eq!(run.args, Arguments::Text("echo hi".into()));
/// # Ok::<(), mkimage_dockerfile::ParseError>(())
/// ```
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let mut source = Source::new(text);
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    let mut invalid = None;
    while let Some(mut logical) = source.logical()? {
        if let Some(line) = logical.empty_continuation {
            warnings.push(ParseWarning {
                line,
                message: "empty continuation line: Docker will make this an error, remove the \
                          blank line or the escape character before it"
                    .to_owned(),
            });
        }
        let parser = LineParser {
            logical: &logical,
            escape: source.escape(),
        };
        let (mut instruction, wrong) = parser.instruction(0)?;
        invalid = invalid.or(wrong);
        let heredocs = read_heredocs(&mut source, &logical, &instruction)?;
        if !heredocs.is_empty() {
            logical.end_line = source.lines_read();
            set_end_line(&mut instruction, logical.end_line);
            match &mut instruction.args {
                Arguments::Trigger(sub) => sub.heredocs = heredocs,
                _ => instruction.heredocs = heredocs,
            }
        }
        instructions.push(instruction);
    }
    if instructions.is_empty() {
        return Err(ParseError::NoInstructions {
            at: Position {
                line: source.lines_read().max(1),
                col: 1,
            },
        });
    }
    Ok(Dockerfile {
        directives: source.finish(),
        instructions,
        warnings,
        invalid,
    })
}

/// Whether heredocs are looked for: in `RUN`, `COPY` and `ADD` (also as an `ONBUILD`
/// trigger) in shell form.
fn takes_heredocs(instruction: &Instruction) -> bool {
    let instruction = instruction.sub().unwrap_or(instruction);
    matches!(
        instruction.kind,
        Keyword::Run | Keyword::Copy | Keyword::Add
    ) && !instruction.json_form()
}

/// Reads the bodies of the heredocs the instruction's line opens, from the lines after it.
fn read_heredocs(
    source: &mut Source<'_>,
    logical: &Logical,
    instruction: &Instruction,
) -> Result<Vec<Heredoc>, ParseError> {
    if !takes_heredocs(instruction) || !logical.text.contains("<<") {
        return Ok(Vec::new());
    }
    let markers = heredoc_markers(&logical.text).map_err(|at| ParseError::TooDeep {
        at: logical.position(at),
        limit: crate::MAX_DEPTH,
    })?;
    let mut heredocs = Vec::new();
    for marker in markers {
        let mut content = String::new();
        let mut terminated = false;
        while let Some((_, raw)) = source.physical() {
            let mut candidate = trim_newline(raw);
            if marker.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == marker.name {
                terminated = true;
                break;
            }
            content.push_str(raw);
        }
        if !terminated {
            return Err(ParseError::UnterminatedHeredoc {
                at: logical.position(marker.at),
                name: marker.name,
            });
        }
        heredocs.push(Heredoc {
            name: marker.name,
            content,
            expand: marker.expand,
            chomp: marker.chomp,
            fd: marker.fd,
        });
    }
    Ok(heredocs)
}

fn set_end_line(instruction: &mut Instruction, end_line: usize) {
    instruction.span.end_line = end_line;
    if let Arguments::Trigger(sub) = &mut instruction.args {
        set_end_line(sub, end_line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Arguments;

    #[test]
    fn nested_onbuild_fails_without_recursing() {
        let text = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(100_000));
        let error = parse(&text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "2:9: `ONBUILD` is not allowed as an `ONBUILD` trigger: expected another instruction"
        );
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
        let text = format!("CMD {}\n", "[".repeat(100_000));
        let error = parse(&text).unwrap_err();
        assert_eq!(error.position(), Position { line: 1, col: 69 });
    }

    #[test]
    fn a_line_of_many_flags_parses_in_linear_time() {
        // Quadratic column lookups would take minutes here.
        let text = format!(
            "RUN {}true\n",
            "--mount=type=tmpfs,target=/é ".repeat(50_000)
        );
        let dockerfile = parse(&text).unwrap();
        let run = &dockerfile.instructions[0];
        assert_eq!(run.flags.len(), 50_000);
        assert_eq!(run.flags[49_999].span.col, 5 + 49_999 * 29);
        assert_eq!(run.args, Arguments::Text("true".into()));
    }

    #[test]
    fn a_small_stack_gives_an_error_not_a_panic() {
        // pest refuses to recurse with less than 64 KiB of stack left.
        let result = std::thread::Builder::new()
            .stack_size(72 * 1024)
            .spawn(|| parse("FROM a\nRUN --mount=type=cache,target=/x make\n").map(drop))
            .unwrap()
            .join()
            .expect("parse does not panic");
        // How much stack a parse takes depends on the build; without a panic, either
        // outcome is right.
        if let Err(error) = result {
            assert_eq!(
                error.to_string(),
                "1:1: the parser ran out of stack space on this line"
            );
        }
    }

    // See: issue 13
    #[test]
    fn deep_nesting_in_a_heredoc_line_is_an_error_not_a_stack_overflow() {
        let text = format!(
            "FROM a\nRUN <<EOF {}x{}\nhi\nEOF\n",
            "${A:-".repeat(100_000),
            "}".repeat(100_000)
        );
        let result = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || parse(&text).map(drop))
            .unwrap()
            .join()
            .expect("parse does not overflow its stack");
        assert_eq!(
            result.unwrap_err().to_string(),
            "2:331: `${…}` is nested more than 64 levels deep"
        );
    }

    #[test]
    fn many_continuation_lines() {
        let text = format!("RUN a \\\n{}b\n", "--x \\\n".repeat(50_000));
        let dockerfile = parse(&text).unwrap();
        assert_eq!(dockerfile.instructions[0].span.end_line, 50_002);
    }
}
