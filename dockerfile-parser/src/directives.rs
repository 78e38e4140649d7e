//! Parser directives: `# syntax=…`, `# escape=…` and `# check=…` at the top of a file.
//!
//! Directives are comment lines of the form `# name=value` before anything else: the
//! first line that is not one (an instruction, another comment, an empty line) ends
//! them, and a directive written later is only a comment. Names are case-insensitive,
//! each may appear once, and `escape` takes `\` or `` ` ``.

use crate::error::ParseError;
use crate::span::Position;

/// The parser directives of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` unless `# escape=` said `` ` ``. It escapes characters in
    /// words and, at the end of a line, continues the instruction on the next one.
    pub escape: char,
    /// The `syntax` directive's value, as written.
    pub syntax: Option<String>,
    /// The `check` directive's value, as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Self {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// Reads directives line by line until the first line that is not one.
#[derive(Debug, Default)]
pub(crate) struct DirectiveReader {
    directives: Directives,
    escape_seen: bool,
    done: bool,
}

impl DirectiveReader {
    /// Looks at one physical line (line ending and leading blanks removed). Returns
    /// whether it was a directive; any line that is not one ends the directives.
    pub(crate) fn read(
        &mut self,
        text: &str,
        line: usize,
        indent: usize,
    ) -> Result<bool, ParseError> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value, value_at)) = directive(text) else {
            self.done = true;
            return Ok(false);
        };
        let at = Position {
            line,
            col: indent + text[..value_at].chars().count() + 1,
        };
        let name = name.to_ascii_lowercase();
        let seen = match name.as_str() {
            "escape" => self.escape_seen,
            "syntax" => self.directives.syntax.is_some(),
            "check" => self.directives.check.is_some(),
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if seen {
            return Err(ParseError::DuplicateDirective { at, name });
        }
        match name.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::InvalidEscape {
                            at,
                            value: value.to_owned(),
                        });
                    }
                };
                self.escape_seen = true;
            }
            "syntax" => self.directives.syntax = Some(value.to_owned()),
            _ => self.directives.check = Some(value.to_owned()),
        }
        Ok(true)
    }

    /// The escape character in force.
    pub(crate) fn escape(&self) -> char {
        self.directives.escape
    }

    /// The directives read.
    pub(crate) fn finish(self) -> Directives {
        self.directives
    }
}

/// Splits `# name = value` into the name, the value (trimmed) and the value's byte offset.
///
/// BuildKit matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`; this is that pattern
/// written out, which a regex would only obscure.
fn directive(text: &str) -> Option<(&str, &str, usize)> {
    let body = text.strip_prefix('#')?;
    let name_at = text.len() - body.trim_start().len();
    let rest = &text[name_at..];
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &rest[..name_len];
    let after = rest[name_len..].trim_start().strip_prefix('=')?;
    let value = after.trim();
    if value.is_empty() {
        return None;
    }
    let value_at = text.len() - after.trim_start().len();
    Some((name, value, value_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_lines() {
        assert_eq!(directive("# escape=`"), Some(("escape", "`", 9)));
        assert_eq!(
            directive("#syntax = docker/dockerfile:1 "),
            Some(("syntax", "docker/dockerfile:1", 10))
        );
        assert_eq!(
            directive("# check=skip=all"),
            Some(("check", "skip=all", 8))
        );
        assert_eq!(directive("# escape="), None);
        assert_eq!(directive("# a comment"), None);
        assert_eq!(directive("# 1x=y"), None);
        assert_eq!(directive("RUN x=y"), None);
    }

    #[test]
    fn directives_end_at_the_first_other_line() {
        let mut reader = DirectiveReader::default();
        assert!(reader.read("# escape=`", 1, 0).unwrap());
        assert!(!reader.read("# hello", 2, 0).unwrap());
        assert!(!reader.read("# syntax=x", 3, 0).unwrap());
        assert_eq!(reader.escape(), '`');
        assert_eq!(reader.finish().syntax, None);
    }

    #[test]
    fn unknown_directive_ends_directives() {
        let mut reader = DirectiveReader::default();
        assert!(!reader.read("# foo=bar", 1, 0).unwrap());
        assert!(!reader.read("# escape=`", 2, 0).unwrap());
        assert_eq!(reader.escape(), '\\');
    }

    #[test]
    fn bad_directives() {
        let mut reader = DirectiveReader::default();
        let error = reader.read("# escape=x", 1, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "1:10: invalid escape character `x`: expected `\\` or `` ` ``"
        );
        let mut reader = DirectiveReader::default();
        reader.read("# syntax=a", 1, 0).unwrap();
        let error = reader.read("# SYNTAX=b", 2, 2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "2:12: the `syntax` directive is given twice"
        );
    }
}
