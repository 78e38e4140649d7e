//! An error at a place in a file: printed with the file name, the source line and a caret.

use std::fmt;

/// An error at `line:col` of a file, with the text of that line.
#[derive(Debug)]
pub struct Located {
    /// The file's name as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// The text of the line, without its line ending.
    pub source_line: String,
    /// What is wrong, without the position.
    pub message: String,
}

impl Located {
    /// Locates `message` at `line:col` of `text`.
    pub fn new(file: &str, text: &str, line: usize, col: usize, message: String) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source_line = text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned();
        Self {
            file: file.to_owned(),
            line,
            col,
            source_line,
            message,
        }
    }

    /// Locates `error` at `line:col` of `text`: its message without the leading
    /// `LINE:COL: ` it may carry, then each of its causes after a `: `.
    pub fn error(
        file: &str,
        text: &str,
        line: usize,
        col: usize,
        error: &dyn std::error::Error,
    ) -> Self {
        let prefix = format!("{line}:{col}: ");
        let message = error.to_string();
        let mut message = message.strip_prefix(&prefix).unwrap_or(&message).to_owned();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Self::new(file, text, line, col, message)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for Located {}
