//! Everything the CLI prints: results, progress and the final error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;

use crate::located::Located;

/// Prints one line of output to stdout.
///
/// # Errors
///
/// When stdout cannot be written (a closed pipe, a full disk).
pub fn line(text: &str) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")
}

/// Prints a warning to stderr.
pub fn warning(text: &str) {
    eprintln!("warning: {text}");
}

/// Prints an error and its causes to stderr; an error in a file also shows the line
/// and a caret under the column.
pub fn error(error: &anyhow::Error) {
    // A reader that stopped reading (`mkimage parse | head`) is not an error to report.
    if let Some(io) = error.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return;
    }
    eprintln!("error: {error}");
    if let Some(located) = error.downcast_ref::<Located>() {
        snippet(located);
    }
    for cause in error.chain().skip(1) {
        eprintln!("caused by: {cause}");
    }
}

/// The source line of a located error, with a caret under its column:
/// ```text
///   |
/// 7 | CMD ["echo", 1]
///   |              ^
/// ```
fn snippet(located: &Located) {
    let number = located.line.to_string();
    let gutter = " ".repeat(number.len());
    // Tabs are shown as they are, and the caret's padding copies them so it lines up.
    let pad: String = located
        .source_line
        .chars()
        .take(located.col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    eprintln!("{gutter} |");
    eprintln!("{number} | {}", located.source_line);
    eprintln!("{gutter} | {pad}^");
}
