//! User values (commands, paths, words of a Dockerfile) as the lines the CLI prints show
//! them: cut when long, with their size, and with control characters made visible.
//!
//! Errors and progress quote values as they were given, which may be megabytes (a
//! `RUN` of a generated script, a word that expands to a long text) and may hold bytes a
//! terminal acts on (an escape sequence in a Dockerfile). The library keeps them whole in
//! its errors and events; the CLI cuts them here, where it prints them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of one value a line shows.
pub(crate) const SHOWN: usize = 200;

/// `value` as a line shows it: whole when at most [`SHOWN`] characters, else its first
/// [`SHOWN`], `…` and its size (`RUN make all… (10485760 bytes)`); control characters
/// other than newline and tab are escaped (`\0`, `\u{1b}`).
pub(crate) fn excerpt(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(SHOWN) {
        None => visible(value),
        Some((at, _)) => Cow::Owned(format!(
            "{}… ({} bytes)",
            visible(&value[..at]),
            value.len()
        )),
    }
}

/// `text` with its control characters escaped.
fn visible(text: &str) -> Cow<'_, str> {
    if text.chars().any(hidden) {
        Cow::Owned(text.chars().map(shown_char).collect::<String>())
    } else {
        Cow::Borrowed(text)
    }
}

/// `message` with each value in it shown by [`excerpt`]. A value is what messages put
/// between backticks; a value that itself holds backticks is split by them, and each
/// part is shown alone, so a long one is cut wherever the backticks fall. Text outside
/// backticks is the message's own and short, except where it ends with a user's text
/// (`${NAME?message}`), which is cut as well.
pub(crate) fn message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * SHOWN));
    for (index, part) in message.split('`').enumerate() {
        if index > 0 {
            out.push('`');
        }
        out.push_str(&excerpt(part));
    }
    out
}

/// The part of a long `line` around its 1-based column `col`, as a snippet under an
/// error shows it, and the column of the same character in that part: at most
/// [`SHOWN`] characters, `…` where the line goes on, control characters escaped.
pub(crate) fn around(line: &str, col: usize) -> (String, usize) {
    let start = col.saturating_sub(1).saturating_sub(SHOWN / 2);
    let mut shown = String::new();
    let mut shown_col = col.saturating_sub(start);
    if start > 0 {
        shown.push('…');
        shown_col += 1;
    }
    let mut chars = line.chars().skip(start);
    for (index, ch) in chars.by_ref().take(SHOWN).enumerate() {
        let text = shown_char(ch);
        // An escaped character takes several columns before the caret.
        if index + 1 < col.saturating_sub(start) {
            shown_col += text.chars().count() - 1;
        }
        shown.push_str(&text);
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    (shown, shown_col)
}

/// Whether a terminal would not show `ch` as text.
fn hidden(ch: char) -> bool {
    ch.is_control() && ch != '\n' && ch != '\t'
}

/// `ch` as text: itself, or an escape.
fn shown_char(ch: char) -> Cow<'static, str> {
    match ch {
        '\0' => Cow::Borrowed("\\0"),
        ch if hidden(ch) => {
            let mut text = String::new();
            let _ = write!(text, "\\u{{{:x}}}", u32::from(ch));
            Cow::Owned(text)
        }
        ch => Cow::Owned(ch.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole() {
        assert_eq!(excerpt("COPY . /app"), "COPY . /app");
        assert_eq!(excerpt(&"é".repeat(SHOWN)), "é".repeat(SHOWN));
    }

    // See: issue 13
    #[test]
    fn long_values_are_cut_with_their_size() {
        let command = format!("RUN echo {}", "a".repeat(10 << 20));
        let shown = excerpt(&command);
        assert_eq!(
            shown,
            format!("RUN echo {}… (10485769 bytes)", "a".repeat(SHOWN - 9))
        );
        let error = message(&format!("2:1: `{command}` failed: source `x` is missing"));
        assert_eq!(
            error,
            format!("2:1: `{shown}` failed: source `x` is missing")
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(excerpt("/x\0y\u{1b}[2J"), "/x\\0y\\u{1b}[2J");
        assert_eq!(excerpt("a\tb\nc"), "a\tb\nc");
        assert_eq!(message("path `a\0b`"), "path `a\\0b`");
    }

    #[test]
    fn a_long_line_is_shown_around_its_column() {
        let line = format!("RUN {}", "x".repeat(1000));
        assert_eq!(around("COPY a b", 6), ("COPY a b".to_owned(), 6));
        let (shown, col) = around(&line, 1);
        assert_eq!(shown, format!("RUN {}…", "x".repeat(SHOWN - 4)));
        assert_eq!(col, 1);
        let (shown, col) = around(&line, 600);
        assert_eq!(shown, format!("…{}…", "x".repeat(SHOWN)));
        assert_eq!(shown.chars().nth(col - 1), Some('x'));
        assert_eq!(col, SHOWN / 2 + 2);
        let (shown, col) = around("a\0b", 3);
        assert_eq!((shown.as_str(), col), ("a\\0b", 4));
    }
}
