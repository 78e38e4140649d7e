//! Physical lines to logical lines, as Docker's parser reads them.
//!
//! This part is written by hand rather than in the grammar: the character that continues
//! a line is chosen by a directive on an earlier line, a heredoc's body is only known to
//! exist once its instruction line has been parsed, and comment or empty lines inside a
//! continuation are dropped. The rules, from BuildKit's parser:
//! - a UTF-8 BOM is dropped from the first line; a line ends at `\n`, and any `\r` or
//!   `\n` at its end is removed;
//! - the first line of an instruction has its leading white space removed; a line whose
//!   first non-blank character is `#` is a comment; empty and comment lines between
//!   instructions are skipped;
//! - a line whose last character, ignoring trailing spaces and tabs, is the escape
//!   character (and not an escaped escape character) continues on the next line; the
//!   escape character and the blanks after it are removed and the lines are joined
//!   as they are, without adding a space;
//! - inside a continuation, comment lines are dropped and so are blank lines (with a
//!   warning: Docker means to make them errors).

use std::cell::Cell;

use crate::directives::{DirectiveReader, Directives};
use crate::error::ParseError;
use crate::span::Position;

/// The physical lines of a Dockerfile and where reading them has got to.
pub(crate) struct Source<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to read.
    next: usize,
    directives: DirectiveReader,
}

/// One logical line: an instruction with its continuation lines joined.
#[derive(Debug)]
pub(crate) struct Logical {
    /// The joined text.
    pub(crate) text: String,
    /// Where each joined piece came from, in order of `offset`.
    segments: Vec<Segment>,
    /// The physical line it ends on.
    pub(crate) end_line: usize,
    /// The first blank line inside the continuation, if any.
    pub(crate) empty_continuation: Option<usize>,
    /// The last position looked up: (byte offset, its column). Positions are mostly asked
    /// for in increasing order, and counting characters on from the last one keeps a
    /// line with many flags linear rather than quadratic.
    cursor: Cell<(usize, Position)>,
}

/// A piece of a logical line taken from one physical line.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Byte offset in the logical line.
    offset: usize,
    /// The physical line.
    line: usize,
    /// How many characters of the physical line come before the piece.
    col: usize,
}

impl<'a> Source<'a> {
    /// Splits `text` into physical lines, each with its line ending.
    pub(crate) fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self {
            lines: text.split_inclusive('\n').collect(),
            next: 0,
            directives: DirectiveReader::default(),
        }
    }

    /// The escape character in force.
    pub(crate) fn escape(&self) -> char {
        self.directives.escape()
    }

    /// How many physical lines have been read.
    pub(crate) fn lines_read(&self) -> usize {
        self.next
    }

    /// The directives read.
    pub(crate) fn finish(self) -> Directives {
        self.directives.finish()
    }

    /// The next physical line, with its 1-based number and its line ending.
    pub(crate) fn physical(&mut self) -> Option<(usize, &'a str)> {
        let line = self.lines.get(self.next)?;
        self.next += 1;
        Some((self.next, line))
    }

    /// The next logical line, or `None` at the end of the file.
    pub(crate) fn logical(&mut self) -> Result<Option<Logical>, ParseError> {
        loop {
            let Some((number, raw)) = self.physical() else {
                return Ok(None);
            };
            let body = trim_newline(raw);
            let token = body.trim_start();
            let indent = body[..body.len() - token.len()].chars().count();
            self.directives.read(token, number, indent)?;
            let token = if is_comment(token) { "" } else { token };
            let escape = self.escape();
            let (token, mut end) = trim_continuation(token, escape);
            if end && token.is_empty() {
                continue;
            }
            let mut logical = Logical {
                text: String::new(),
                segments: Vec::new(),
                end_line: number,
                empty_continuation: None,
                cursor: Cell::new((0, Position::default())),
            };
            logical.push(token, number, indent);
            while !end {
                let Some((number, raw)) = self.physical() else {
                    break;
                };
                logical.end_line = number;
                let body = trim_newline(raw);
                if is_comment(body) {
                    continue;
                }
                if body.trim_start().is_empty() {
                    logical.empty_continuation.get_or_insert(number);
                    continue;
                }
                let (token, done) = trim_continuation(body, escape);
                end = done;
                logical.push(token, number, 0);
            }
            return Ok(Some(logical));
        }
    }
}

impl Logical {
    fn push(&mut self, piece: &str, line: usize, col: usize) {
        self.segments.push(Segment {
            offset: self.text.len(),
            line,
            col,
        });
        self.text.push_str(piece);
    }

    /// The physical position of byte `offset` of the logical line.
    pub(crate) fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let index = self
            .segments
            .partition_point(|segment| segment.offset <= offset)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(index) else {
            return Position {
                line: self.end_line,
                col: 1,
            };
        };
        let (cached, at) = self.cursor.get();
        let (from, col) = if cached <= offset && cached >= segment.offset && at.line == segment.line
        {
            (cached, at.col)
        } else {
            (segment.offset, segment.col + 1)
        };
        let position = Position {
            line: segment.line,
            col: col + self.text[from..offset].chars().count(),
        };
        self.cursor.set((offset, position));
        position
    }
}

/// Removes every `\r` and `\n` at the end of a line.
pub(crate) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Whether the line is a comment: `#` after leading white space.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a continuation (the escape character and blanks after it) from the end of a
/// line. Returns the line and whether it ends the instruction (no continuation).
///
/// An escape character preceded by another one is escaped and continues nothing, as in
/// Docker (which does not look further back: `a\\\` does not continue either).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical_lines(text: &str) -> Vec<(String, usize)> {
        let mut source = Source::new(text);
        let mut lines = Vec::new();
        while let Some(logical) = source.logical().unwrap() {
            lines.push((logical.text, logical.end_line));
        }
        lines
    }

    #[test]
    fn continuations_join_without_a_space() {
        assert_eq!(
            logical_lines("RUN a \\\n  b\\  \t\nc\n"),
            [("RUN a   bc".to_owned(), 3)]
        );
    }

    #[test]
    fn comments_and_blanks_inside_a_continuation_are_dropped() {
        let mut source = Source::new("RUN a \\\n # note\n\n   \nb\nRUN c");
        let first = source.logical().unwrap().unwrap();
        assert_eq!(first.text, "RUN a b");
        assert_eq!(first.end_line, 5);
        assert_eq!(first.empty_continuation, Some(3));
        assert_eq!(source.logical().unwrap().unwrap().text, "RUN c");
        assert!(source.logical().unwrap().is_none());
    }

    #[test]
    fn escaped_escape_does_not_continue() {
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", true));
        assert_eq!(trim_continuation("a \\ ", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }

    #[test]
    fn positions_map_back_to_physical_lines() {
        let mut source = Source::new("  RUN a \\\n# c\n  bc\n");
        let logical = source.logical().unwrap().unwrap();
        assert_eq!(logical.text, "RUN a   bc");
        assert_eq!(logical.position(0), Position { line: 1, col: 3 });
        assert_eq!(logical.position(4), Position { line: 1, col: 7 });
        assert_eq!(logical.position(6), Position { line: 3, col: 1 });
        assert_eq!(logical.position(8), Position { line: 3, col: 3 });
    }

    #[test]
    fn bom_and_crlf() {
        assert_eq!(
            logical_lines("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n"),
            [("FROM a".to_owned(), 1), ("RUN b  c".to_owned(), 3)]
        );
    }
}
