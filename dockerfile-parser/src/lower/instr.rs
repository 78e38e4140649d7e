//! Instructions as lowering reads them: keyword, flags, arguments and heredocs, before
//! any expansion.
//!
//! The parser's AST is mapped to this model; it holds what `mkimage parse --json` shows:
//! - `args`, split as Docker's own parser splits them: `FROM` and `EXPOSE` whitespace-split
//!   words; `ADD`, `COPY` and `VOLUME` the JSON array's strings or whitespace-split words;
//!   `RUN`, `CMD`, `ENTRYPOINT` and `SHELL` the JSON array's strings (`json_form`) or one
//!   string holding the rest of the logical line; `USER`, `WORKDIR`, `MAINTAINER` and
//!   `STOPSIGNAL` one string; `ARG` quote-aware words with the quotes kept; `HEALTHCHECK`
//!   the type word (`CMD`, `NONE`), then the command as for `CMD`; `ONBUILD` nothing (the
//!   trigger is in `sub`);
//! - `pairs` for `ENV` and `LABEL`, with the raw value (the legacy `ENV k v` form gives
//!   the rest of the line as the value);
//! - heredoc markers stay in `args` (`<<EOF`), their bodies are in `heredocs`.

use mkimage_plan::Span;

/// One instruction, as parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Instr {
    /// The keyword as written (`run`, `COPY`).
    pub keyword: String,
    /// Where the instruction starts.
    pub span: Span,
    /// The leading `--name[=value]` words, quotes removed.
    pub flags: Vec<String>,
    /// The arguments, split as Docker's parser splits them for this instruction.
    pub args: Vec<String>,
    /// `ENV` and `LABEL` pairs.
    pub pairs: Vec<Pair>,
    /// The arguments were a JSON array.
    pub json_form: bool,
    /// The heredocs, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// The instruction's text as written, continuation lines joined.
    pub original: String,
    /// The instruction inside `ONBUILD`.
    pub sub: Option<Box<Instr>>,
}

/// A `key=value` (or legacy `key value`) pair of `ENV` or `LABEL`, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    pub key: String,
    pub value: String,
}

/// A heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The body as written, with its final newline.
    pub content: String,
    /// The delimiter was not quoted: the body is expanded (for `COPY` and `ADD`).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from every line.
    pub chomp: bool,
}

impl Instr {
    /// The keyword in upper case.
    pub(crate) fn name(&self) -> String {
        self.keyword.to_ascii_uppercase()
    }
}

impl Heredoc {
    /// The body, with leading tabs stripped from each line for `<<-`.
    pub(crate) fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

impl From<&crate::ast::Instruction> for Instr {
    fn from(instruction: &crate::ast::Instruction) -> Self {
        use crate::ast::Arguments;
        let mut instr = Instr {
            keyword: instruction.keyword.clone(),
            span: instruction.span.into(),
            flags: instruction.flags.iter().map(ToString::to_string).collect(),
            json_form: instruction.json_form(),
            heredocs: instruction
                .heredocs
                .iter()
                .map(|heredoc| Heredoc {
                    name: heredoc.name.clone(),
                    content: heredoc.content.clone(),
                    expand: heredoc.expand,
                    chomp: heredoc.chomp,
                })
                .collect(),
            original: instruction.original.clone(),
            ..Instr::default()
        };
        match &instruction.args {
            Arguments::Pairs(pairs) => {
                instr.pairs = pairs
                    .iter()
                    .map(|pair| Pair {
                        key: pair.key.clone(),
                        value: pair.value.clone(),
                    })
                    .collect();
            }
            Arguments::Trigger(sub) => instr.sub = Some(Box::new(Instr::from(&**sub))),
            args => instr.args = args.strings().into_iter().map(str::to_owned).collect(),
        }
        instr
    }
}
