//! An error at a place in a file: printed with the file name, the source line and a caret.

use std::fmt;

use mkimage_core::frontend::{FrontendError, Location};

/// An error at a place of a file, with its causes in its message.
#[derive(Debug)]
pub(crate) struct Located {
    /// Where: the file, line, column and the text of that line.
    pub at: Location,
    /// What is wrong, without the position.
    pub message: String,
}

impl Located {
    /// Locates `message` at `at`.
    pub(crate) fn new(at: Location, message: String) -> Self {
        Self { at, message }
    }

    /// Locates `error` at `at`: its message without the leading `FILE:LINE:COL: ` or
    /// `LINE:COL: ` it may carry, then each of its causes after a `: `.
    pub(crate) fn error(at: Location, error: &dyn std::error::Error) -> Self {
        let message = error.to_string();
        let (long, short) = (format!("{at}: "), format!("{}:{}: ", at.line, at.col));
        let mut message = message
            .strip_prefix(&long)
            .or_else(|| message.strip_prefix(&short))
            .unwrap_or(&message)
            .to_owned();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Self::new(at, message)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for Located {}

/// A build's error, shown with an excerpt of the Dockerfile when it is located in it.
pub(crate) fn frontend_error(error: FrontendError) -> anyhow::Error {
    match &error {
        FrontendError::Dockerfile(located) => {
            Located::error(located.location().clone(), located.as_ref()).into()
        }
        _ => error.into(),
    }
}
