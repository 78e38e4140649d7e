//! Why a word could not be expanded.

/// Why a word could not be expanded.
///
/// Every variant carries `at`, the byte offset in the expanded text where the offending
/// construct starts (the `$` of a `${…}`, or the opening quote); [`ExpandError::offset`]
/// returns it so that a caller can turn it into a line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpandError {
    /// A `${` whose closing `}` never comes.
    #[error("`${{` is not closed by `}}`")]
    Unclosed {
        /// Offset of the `$`.
        at: usize,
    },
    /// `${}`, `${{…}`, `${:…}`: no variable name after `${`.
    #[error("bad substitution: expected a variable name after `${{`")]
    BadSubstitution {
        /// Offset of the `$`.
        at: usize,
    },
    /// `${NAME/pattern}` without the `/` that starts the replacement.
    #[error("missing `/` after the pattern in `${{{name}/…}}`")]
    MissingSlash {
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// `${NAME:=word}` or `${NAME=word}`: a shell assignment, which a Dockerfile cannot do.
    #[error(
        "unsupported modifier `{modifier}` in `${{{name}{modifier}…}}`: a Dockerfile cannot assign variables, use `ARG` or `ENV`"
    )]
    Assignment {
        /// `:=` or `=`.
        modifier: String,
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// Any other character after the name in `${NAME…}`.
    #[error(
        "unsupported modifier `{modifier}` in `${{{name}{modifier}…}}`: expected `}}`, `-`, `:-`, `+`, `:+`, `?`, `:?`, `#`, `##`, `%`, `%%`, `/` or `//`"
    )]
    UnsupportedModifier {
        /// The modifier as written.
        modifier: String,
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// A quoted string whose closing quote never comes.
    #[error("missing closing `{quote}`")]
    UnterminatedQuote {
        /// `'` or `"`.
        quote: char,
        /// Offset of the opening quote.
        at: usize,
    },
    /// `${NAME?}` or `${NAME:?}` with `NAME` unset.
    #[error("variable `{name}` is not allowed to be unset")]
    Unset {
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// `${NAME:?}` with `NAME` empty.
    #[error("variable `{name}` is not allowed to be empty")]
    Empty {
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// `${NAME?message}` or `${NAME:?message}` failed: the message is the user's.
    #[error("variable `{name}`: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message written after `?` (expanded).
        message: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// A pattern in `${NAME#…}`, `${NAME%…}` or `${NAME/…/…}` with a backslash before a
    /// character that cannot be escaped.
    #[error(
        "invalid escape `\\{escaped}` in pattern `{pattern}`: only `\\*`, `\\?`, `\\\\`, `\\}}` and `\\/` are escapes"
    )]
    PatternEscape {
        /// The pattern (expanded).
        pattern: String,
        /// What follows the backslash; empty when the backslash ends the pattern.
        escaped: String,
        /// Offset of the `$`.
        at: usize,
    },
    /// `${…}` nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("`${{…}}` is nested more than {limit} levels deep")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Offset of the `$` one level too deep.
        at: usize,
    },
    /// A word that expands to more than the expander's [limit](super::Expander::limit).
    #[error("the expanded text is longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
        /// Offset of the `$` whose expansion went past it.
        at: usize,
    },
    /// A pattern too large to compile.
    #[error("pattern in `${{{name}…}}` is too large")]
    PatternTooLarge {
        /// The variable.
        name: String,
        /// Offset of the `$`.
        at: usize,
        /// What the regular expression compiler said.
        #[source]
        source: Box<regex::Error>,
    },
}

impl ExpandError {
    /// The byte offset in the expanded text where the offending construct starts.
    pub fn offset(&self) -> usize {
        match self {
            ExpandError::Unclosed { at }
            | ExpandError::BadSubstitution { at }
            | ExpandError::MissingSlash { at, .. }
            | ExpandError::Assignment { at, .. }
            | ExpandError::UnsupportedModifier { at, .. }
            | ExpandError::UnterminatedQuote { at, .. }
            | ExpandError::Unset { at, .. }
            | ExpandError::Empty { at, .. }
            | ExpandError::Required { at, .. }
            | ExpandError::PatternEscape { at, .. }
            | ExpandError::TooDeep { at, .. }
            | ExpandError::TooLong { at, .. }
            | ExpandError::PatternTooLarge { at, .. } => *at,
        }
    }
}
