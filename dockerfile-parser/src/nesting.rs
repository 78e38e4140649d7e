//! How deeply `${…}` nests in a line, found without recursion, before the grammar's
//! recursive `shell_words` rule reads the line to find its heredoc markers.
//!
//! The scan follows the contexts of `dockerfile.pest` (`shell_param`, `param_mod`,
//! `param_repl`, `shell_dquote`, quotes and escapes) on an explicit stack. Where it is
//! unsure what the grammar would do with a `${`, it counts a level: it may count more
//! levels than the grammar enters, never fewer, so the bound holds for the grammar.

use crate::expand::{MAX_DEPTH, name_len};

/// What encloses a position of the line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// `"…"`.
    Quoted,
    /// The word of `${NAME:-word}` (any modifier), up to `}`.
    Word,
    /// The pattern of `${NAME/pattern/…}`, up to `/` (a `}` there is text).
    Pattern,
}

/// The byte offset of the first `${` nested more than [`MAX_DEPTH`] levels deep in
/// `line`, read as the heredoc detection reads it; `None` when there is none.
pub(crate) fn params_too_deep(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut stack: Vec<Context> = Vec::new();
    let mut levels = 0_usize;
    let mut pos = 0;
    while pos < bytes.len() {
        let inside = stack.last().copied();
        match (inside, bytes[pos]) {
            (Some(Context::Quoted), b'\\') => {
                let escapes = matches!(bytes.get(pos + 1), Some(b'"' | b'$' | b'\\'));
                pos += if escapes { 2 } else { 1 };
            }
            (Some(Context::Quoted), b'"') => {
                stack.pop();
                pos += 1;
            }
            (_, b'$') if bytes.get(pos + 1) == Some(&b'{') => {
                if levels == MAX_DEPTH {
                    return Some(pos);
                }
                let (context, after) = param_head(line, pos + 2);
                if let Some(context) = context {
                    stack.push(context);
                    levels += 1;
                }
                pos = after;
            }
            (Some(Context::Quoted), _) => pos += 1,
            (_, b'\\') => pos += 2,
            (_, b'\'') => {
                // An unclosed single quote ends what the grammar can read.
                let close = line[pos + 1..].find('\'')?;
                pos += close + 2;
            }
            (_, b'"') => {
                stack.push(Context::Quoted);
                pos += 1;
            }
            (Some(Context::Word), b'}') => {
                stack.pop();
                levels -= 1;
                pos += 1;
            }
            (Some(Context::Pattern), b'/') => {
                *stack.last_mut().expect("inside a pattern") = Context::Word;
                pos += 1;
            }
            _ => pos += 1,
        }
    }
    None
}

/// Reads `${` up to its word, from `pos` just after the `{`: the context the word opens
/// (`None` for `${NAME}`, which holds none) and where reading goes on.
fn param_head(line: &str, pos: usize) -> (Option<Context>, usize) {
    let after_name = pos + name_len(&line[pos..]);
    let mut rest = line[after_name..].chars();
    match rest.next() {
        None => (None, after_name),
        Some('}') => (None, after_name + 1),
        Some('/') => {
            let all = usize::from(line[after_name + 1..].starts_with('/'));
            (Some(Context::Pattern), after_name + 1 + all)
        }
        // After `:` the grammar takes any one character as the modifier.
        Some(':') => {
            let modifier = rest.next().map_or(0, char::len_utf8);
            (Some(Context::Word), after_name + 1 + modifier)
        }
        // `-`, `+`, `?`, `#`, `%`, and anything the grammar refuses (counted anyway).
        Some(other) => (Some(Context::Word), after_name + other.len_utf8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_levels_of_words_and_patterns() {
        let nested = |open: &str, levels: usize| {
            format!("RUN {}x{}", open.repeat(levels), "}".repeat(levels))
        };
        for open in ["${A:-", "${A+", "\"${A:-", "${A/x/", "${A//}/", "${A:x"] {
            assert_eq!(params_too_deep(&nested(open, MAX_DEPTH)), None, "{open}");
            let at = 4 + open.len() * MAX_DEPTH + open.find('$').unwrap_or(0);
            assert_eq!(
                params_too_deep(&nested(open, MAX_DEPTH + 1)),
                Some(at),
                "{open}"
            );
        }
    }

    #[test]
    fn quotes_escapes_and_closed_params_do_not_nest() {
        let many = "${A} '${A:-' \\${A:- \"\\\"${A:-x}\" ${A:-\"}\"} ".repeat(100);
        assert_eq!(params_too_deep(&many), None);
        // A `}` in quotes inside a word does not close it.
        let quoted = format!("{}x", "${A:-\"}\"".repeat(MAX_DEPTH + 1));
        assert!(params_too_deep(&quoted).is_some());
    }
}
