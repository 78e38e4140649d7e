//! Where things are in a Dockerfile: 1-based lines and columns.

use serde::{Deserialize, Serialize};

/// A point in a Dockerfile: a 1-based line and a 1-based column, counted in characters.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    /// 1-based physical line.
    pub line: usize,
    /// 1-based column, in characters (not bytes).
    pub col: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where an instruction (or a part of one) is: it starts at `line:col` and its last
/// physical line is `end_line` (past continuation lines and heredoc bodies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// 1-based line where it starts.
    pub line: usize,
    /// 1-based column where it starts, in characters.
    pub col: usize,
    /// 1-based line where it ends (the same as `line` for one line).
    pub end_line: usize,
}

impl Span {
    /// Where the span starts.
    pub fn start(&self) -> Position {
        Position {
            line: self.line,
            col: self.col,
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.start().fmt(f)
    }
}

impl From<Span> for mkimage_plan::Span {
    fn from(span: Span) -> Self {
        Self {
            line: span.line,
            col: span.col,
        }
    }
}

impl From<Position> for mkimage_plan::Span {
    fn from(position: Position) -> Self {
        Self {
            line: position.line,
            col: position.col,
        }
    }
}
