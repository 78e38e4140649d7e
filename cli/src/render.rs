//! Everything the CLI prints: results, progress and the final error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// Prints one line of output to stdout.
pub fn line(text: &str) {
    println!("{text}");
}

/// Prints an error and its causes to stderr.
pub fn error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("caused by: {cause}");
    }
}
