//! Why a Dockerfile could not be parsed.

use crate::span::Position;

/// Why a Dockerfile could not be parsed. Every variant carries the [`Position`] at fault
/// and its message says what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `# escape=` with something other than `\` or `` ` ``.
    #[error("{at}: invalid escape character `{value}`: expected `\\` or `` ` ``")]
    InvalidEscape {
        /// Where the value is.
        at: Position,
        /// The value as written.
        value: String,
    },
    /// The same directive twice.
    #[error("{at}: the `{name}` directive is given twice")]
    DuplicateDirective {
        /// Where the second one's value is.
        at: Position,
        /// The directive's name, in lower case.
        name: String,
    },
    /// Nothing but comments, directives and blank lines.
    #[error("{at}: expected an instruction: the Dockerfile has none")]
    NoInstructions {
        /// Where the file ends.
        at: Position,
    },
    /// An instruction that requires arguments it was not given, or got too many.
    #[error("{at}: expected {expected}")]
    Arguments {
        /// Where the missing or extra argument is.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
        /// What it takes, naming the instruction (`a user after \`USER\``).
        expected: &'static str,
    },
    /// A JSON array that holds something other than strings.
    #[error("{at}: expected a JSON string array or a command: a JSON array may hold only strings")]
    JsonNotStrings {
        /// Where the first element that is not a string starts.
        at: Position,
    },
    /// `SHELL` not in JSON form.
    #[error(
        "{at}: expected a JSON string array after `SHELL`, as in `SHELL [\"/bin/sh\", \"-c\"]`"
    )]
    ShellNotJson {
        /// Where the arguments start.
        at: Position,
    },
    /// `ENV key` or `LABEL key` in the legacy form, without a value.
    #[error(
        "{at}: expected a value after `{key}`: `{keyword} {key}=value` or `{keyword} {key} value`"
    )]
    MissingValue {
        /// Where the key ends.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
        /// The key.
        key: String,
    },
    /// A word of `ENV` or `LABEL` (in the `key=value` form) without `=`.
    #[error("{at}: expected `name=value`, found `{word}` without `=`")]
    MissingEquals {
        /// Where the word starts.
        at: Position,
        /// The word.
        word: String,
    },
    /// `=value` with no name in `ENV`, `LABEL` or `ARG`.
    #[error("{at}: expected a name before `=` in `{keyword}`")]
    BlankName {
        /// Where the word starts.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
    },
    /// A flag the instruction does not have.
    #[error("{at}: unknown flag `--{flag}` for `{keyword}`{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// Where the flag is.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
        /// The flag's name.
        flag: String,
        /// The instruction's flag closest to it, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A flag written in a form it does not take.
    #[error("{at}: invalid flag `{flag}` for `{keyword}`: expected {expected}")]
    InvalidFlag {
        /// Where the flag is.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
        /// The flag as written, quotes removed.
        flag: String,
        /// What it takes.
        expected: &'static str,
    },
    /// `ONBUILD ONBUILD`, `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error(
        "{at}: `{keyword}` is not allowed as an `ONBUILD` trigger: expected another instruction"
    )]
    OnbuildTrigger {
        /// Where the trigger's keyword is.
        at: Position,
        /// The trigger's keyword as written.
        keyword: String,
    },
    /// `HEALTHCHECK` with a type other than `CMD` or `NONE`.
    #[error("{at}: unknown `HEALTHCHECK` type `{kind}`: expected `CMD` or `NONE`")]
    HealthcheckType {
        /// Where the type is.
        at: Position,
        /// The type as written.
        kind: String,
    },
    /// A heredoc as the destination of `ADD` or `COPY`.
    #[error("{at}: expected a destination path after the sources of `{keyword}`, found a heredoc")]
    HeredocDestination {
        /// Where the destination is.
        at: Position,
        /// The instruction, in upper case.
        keyword: &'static str,
    },
    /// The parser's recursion guard found too little stack left to go on.
    #[error("{at}: the parser ran out of stack space on this line")]
    StackExhausted {
        /// Where the line being read starts.
        at: Position,
    },
    /// `${…}` nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) in a line searched for
    /// heredoc markers.
    #[error("{at}: `${{…}}` is nested more than {limit} levels deep")]
    TooDeep {
        /// Where the `$` one level too deep is.
        at: Position,
        /// The limit.
        limit: usize,
    },
    /// A heredoc whose delimiter line never comes.
    #[error("{at}: unterminated heredoc: expected a line `{name}` before the end of the file")]
    UnterminatedHeredoc {
        /// Where the heredoc's marker is.
        at: Position,
        /// The delimiter.
        name: String,
    },
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion
        .map(|s| format!(": did you mean `--{s}`?"))
        .unwrap_or_default()
}

impl ParseError {
    /// Where the error is.
    pub fn position(&self) -> Position {
        match self {
            ParseError::InvalidEscape { at, .. }
            | ParseError::DuplicateDirective { at, .. }
            | ParseError::NoInstructions { at }
            | ParseError::Arguments { at, .. }
            | ParseError::JsonNotStrings { at }
            | ParseError::ShellNotJson { at }
            | ParseError::MissingValue { at, .. }
            | ParseError::MissingEquals { at, .. }
            | ParseError::BlankName { at, .. }
            | ParseError::UnknownFlag { at, .. }
            | ParseError::InvalidFlag { at, .. }
            | ParseError::OnbuildTrigger { at, .. }
            | ParseError::HealthcheckType { at, .. }
            | ParseError::HeredocDestination { at, .. }
            | ParseError::StackExhausted { at }
            | ParseError::TooDeep { at, .. }
            | ParseError::UnterminatedHeredoc { at, .. } => *at,
        }
    }

    /// The message without the position in front.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let prefix = format!("{}: ", self.position());
        text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
    }
}
