//! Instructions as lowering reads them: keyword, flags, arguments and heredocs, before
//! any expansion.

use mkimage_core::plan::Span;

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
