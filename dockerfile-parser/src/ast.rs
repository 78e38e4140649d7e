//! The parsed form of a Dockerfile: instructions as written, before any expansion.
//!
//! This is what the grammar produces and what lowering consumes. Nothing here is expanded
//! or interpreted beyond Docker's own parser: arguments are split the way BuildKit's
//! parser splits them for each instruction (see [`Arguments`]), flags are the leading
//! `--name[=value]` words with quotes removed, and heredoc bodies are kept raw.

use crate::directives::Directives;
use crate::error::ParseError;
use crate::span::Span;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives at the top of the file.
    pub directives: Directives,
    /// The instructions, in order.
    pub instructions: Vec<Instruction>,
    /// What the parser found worth telling but not worth failing for.
    pub warnings: Vec<ParseWarning>,
    /// The first instruction with a flag or arguments it does not take, which lowering
    /// rejects (see [`Dockerfile::invalid`]).
    pub(crate) invalid: Option<ParseError>,
}

impl Dockerfile {
    /// The first flag or argument that an instruction does not take, in file order, as
    /// BuildKit reads instructions after parsing: `COPY --user=x`, a bare
    /// `HEALTHCHECK`. The parser's view keeps such instructions; lowering fails with this.
    pub fn invalid(&self) -> Option<&ParseError> {
        self.invalid.as_ref()
    }
}

/// Something the parser accepted but the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning {
    /// The 1-based line it is about.
    pub line: usize,
    /// What, in one sentence.
    pub message: String,
}

/// The instruction keywords, plus [`Keyword::Unknown`] for any other word in the
/// keyword position (kept so that lowering can reject it with a suggestion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `ADD`.
    Add,
    /// `ARG`.
    Arg,
    /// `CMD`.
    Cmd,
    /// `COPY`.
    Copy,
    /// `ENTRYPOINT`.
    Entrypoint,
    /// `ENV`.
    Env,
    /// `EXPOSE`.
    Expose,
    /// `FROM`.
    From,
    /// `HEALTHCHECK`.
    Healthcheck,
    /// `LABEL`.
    Label,
    /// `MAINTAINER`.
    Maintainer,
    /// `ONBUILD`.
    Onbuild,
    /// `RUN`.
    Run,
    /// `SHELL`.
    Shell,
    /// `STOPSIGNAL`.
    Stopsignal,
    /// `USER`.
    User,
    /// `VOLUME`.
    Volume,
    /// `WORKDIR`.
    Workdir,
    /// A word that is no instruction.
    Unknown,
}

impl Keyword {
    /// Every instruction keyword (not [`Keyword::Unknown`]).
    pub const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The keyword `word` names, ignoring case; [`Keyword::Unknown`] if none.
    pub fn from_word(word: &str) -> Keyword {
        Keyword::ALL
            .into_iter()
            .find(|keyword| keyword.as_str().eq_ignore_ascii_case(word))
            .unwrap_or(Keyword::Unknown)
    }

    /// The keyword in upper case; empty for [`Keyword::Unknown`].
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
            Keyword::Unknown => "",
        }
    }
}

/// One instruction, with its continuation lines joined and its heredoc bodies attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The keyword as written (`run`, `COPY`, `RUNN`).
    pub keyword: String,
    /// What the keyword names.
    pub kind: Keyword,
    /// From the keyword to the last physical line (continuations and heredocs included).
    pub span: Span,
    /// The leading `--name[=value]` words, in order, quotes removed.
    pub flags: Vec<Flag>,
    /// The arguments after the flags, split as Docker's parser splits them.
    pub args: Arguments,
    /// The heredoc bodies, in the order their markers appear (`RUN`, `COPY`, `ADD`).
    pub heredocs: Vec<Heredoc>,
    /// The logical line as written: continuation characters removed, lines joined,
    /// comment lines dropped, leading blanks trimmed.
    pub original: String,
}

impl Instruction {
    /// The instruction inside `ONBUILD`.
    pub fn sub(&self) -> Option<&Instruction> {
        match &self.args {
            Arguments::Trigger(sub) => Some(sub),
            _ => None,
        }
    }

    /// The arguments were a JSON array (exec form), for `HEALTHCHECK` its command's.
    pub fn json_form(&self) -> bool {
        match &self.args {
            Arguments::Exec(_) => true,
            Arguments::Healthcheck { command, .. } => matches!(**command, Arguments::Exec(_)),
            _ => false,
        }
    }

    /// The arguments as a list of strings, the way `mkimage parse --json` shows `args`:
    /// the words, the exec-form strings or the one shell-form string; for `HEALTHCHECK` the
    /// type word then its command. `ENV` and `LABEL` pairs and the `ONBUILD` trigger are
    /// not strings and give nothing here.
    pub fn arg_strings(&self) -> Vec<&str> {
        self.args.strings()
    }
}

/// A `--name[=value]` flag, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The name, without the leading `--`.
    pub name: String,
    /// What follows the first `=`; `None` when there is no `=`.
    pub value: Option<String>,
    /// Where the flag is written.
    pub span: Span,
}

impl std::fmt::Display for Flag {
    /// The flag as Docker hands it on: `--name` or `--name=value`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "--{}={value}", self.name),
            None => write!(f, "--{}", self.name),
        }
    }
}

/// The arguments of an instruction, split as Docker's parser splits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arguments {
    /// Nothing after the keyword and flags, or an unknown instruction (whose text is in
    /// [`Instruction::original`]).
    None,
    /// Whitespace-split words: `FROM`, `EXPOSE`, and `ADD`, `COPY`, `VOLUME` when not in
    /// JSON form. For `ARG`, quote-aware words with their quotes and escapes kept.
    Words(Vec<String>),
    /// A JSON array of strings (exec form): `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`, `ADD`,
    /// `COPY`, `VOLUME`.
    Exec(Vec<String>),
    /// The rest of the logical line as one string: shell-form `RUN`, `CMD`, `ENTRYPOINT`,
    /// `SHELL`, and `USER`, `WORKDIR`, `MAINTAINER`, `STOPSIGNAL`.
    Text(String),
    /// `ENV` and `LABEL` pairs, values raw.
    Pairs(Vec<Pair>),
    /// `HEALTHCHECK`: the type word (`CMD`, `NONE`) as written, then the command as for
    /// `CMD` ([`Arguments::Exec`], [`Arguments::Text`] or [`Arguments::None`]).
    Healthcheck {
        /// The type word as written.
        kind: String,
        /// The command after it.
        command: Box<Arguments>,
    },
    /// `ONBUILD`: the trigger instruction.
    Trigger(Box<Instruction>),
}

impl Arguments {
    /// See [`Instruction::arg_strings`].
    pub fn strings(&self) -> Vec<&str> {
        match self {
            Arguments::None | Arguments::Pairs(_) | Arguments::Trigger(_) => Vec::new(),
            Arguments::Words(words) | Arguments::Exec(words) => {
                words.iter().map(String::as_str).collect()
            }
            Arguments::Text(text) => vec![text.as_str()],
            Arguments::Healthcheck { kind, command } => {
                let mut strings = vec![kind.as_str()];
                strings.extend(command.strings());
                strings
            }
        }
    }
}

/// A `key=value` pair of `ENV` or `LABEL`, or the legacy `ENV key value` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The key as written (quotes and escapes kept).
    pub key: String,
    /// The value as written (quotes and escapes kept); in the legacy form, the rest of the
    /// line after the key.
    pub value: String,
    /// Written in the legacy `key value` form, without `=`.
    pub legacy: bool,
}

/// A heredoc: `<<NAME` (or `<<-NAME`, `3<<"NAME"`, …) and the lines up to `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The body as written, up to the delimiter line, with its final newline.
    pub content: String,
    /// The delimiter had no quotes: `COPY` and `ADD` expand variables in the body.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from each line of the body.
    pub chomp: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub fd: u64,
}

impl Heredoc {
    /// The body, with leading tabs stripped from each line for `<<-`.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}
