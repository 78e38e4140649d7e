//! The JSON form of a parsed Dockerfile, as `mkimage parse --json` prints it.
//!
//! ```json
//! {"directives": {"escape": "\\", "syntax": null, "check": null},
//!  "warnings": [{"line": 4, "message": "…"}],
//!  "instructions": [{"keyword": "RUN", "line": 3, "end_line": 4,
//!                    "flags": ["--mount=type=cache,target=/x"], "args": ["echo hi"],
//!                    "json_form": false, "heredocs": [], "original": "RUN echo hi",
//!                    "sub": null}]}
//! ```
//! `args` holds strings, except for `ENV` and `LABEL`, whose `args` are objects
//! `{"key": K, "value": V, "sep": "="}` (`sep` is `""` for the legacy `ENV k v` form).
//! Heredocs are `{"name", "content", "expand", "chomp", "fd"}`.

use serde::Serialize;

use crate::ast::{Arguments, Dockerfile, Heredoc, Instruction, Pair, ParseWarning};
use crate::directives::Directives;

impl Serialize for Dockerfile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DockerfileView {
            directives: DirectivesView::from(&self.directives),
            warnings: &self.warnings,
            instructions: self
                .instructions
                .iter()
                .map(InstructionView::from)
                .collect(),
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct DockerfileView<'a> {
    directives: DirectivesView<'a>,
    warnings: &'a [ParseWarning],
    instructions: Vec<InstructionView<'a>>,
}

#[derive(Serialize)]
struct DirectivesView<'a> {
    escape: String,
    syntax: Option<&'a str>,
    check: Option<&'a str>,
}

impl<'a> From<&'a Directives> for DirectivesView<'a> {
    fn from(directives: &'a Directives) -> Self {
        Self {
            escape: directives.escape.to_string(),
            syntax: directives.syntax.as_deref(),
            check: directives.check.as_deref(),
        }
    }
}

impl Serialize for ParseWarning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            line: usize,
            message: &'a str,
        }
        View {
            line: self.line,
            message: &self.message,
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct InstructionView<'a> {
    keyword: &'a str,
    line: usize,
    end_line: usize,
    flags: Vec<String>,
    args: Vec<ArgView<'a>>,
    json_form: bool,
    heredocs: Vec<HeredocView<'a>>,
    original: &'a str,
    sub: Option<Box<InstructionView<'a>>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ArgView<'a> {
    String(&'a str),
    Pair {
        key: &'a str,
        value: &'a str,
        sep: &'static str,
    },
}

#[derive(Serialize)]
struct HeredocView<'a> {
    name: &'a str,
    content: &'a str,
    expand: bool,
    chomp: bool,
    fd: u64,
}

impl<'a> From<&'a Instruction> for InstructionView<'a> {
    fn from(instruction: &'a Instruction) -> Self {
        let args = match &instruction.args {
            Arguments::Pairs(pairs) => pairs.iter().map(pair_view).collect(),
            other => other.strings().into_iter().map(ArgView::String).collect(),
        };
        Self {
            keyword: &instruction.keyword,
            line: instruction.span.line,
            end_line: instruction.span.end_line,
            flags: instruction.flags.iter().map(ToString::to_string).collect(),
            args,
            json_form: instruction.json_form(),
            heredocs: instruction.heredocs.iter().map(HeredocView::from).collect(),
            original: &instruction.original,
            sub: instruction
                .sub()
                .map(|sub| Box::new(InstructionView::from(sub))),
        }
    }
}

fn pair_view(pair: &Pair) -> ArgView<'_> {
    ArgView::Pair {
        key: &pair.key,
        value: &pair.value,
        sep: if pair.legacy { "" } else { "=" },
    }
}

impl<'a> From<&'a Heredoc> for HeredocView<'a> {
    fn from(heredoc: &'a Heredoc) -> Self {
        Self {
            name: &heredoc.name,
            content: &heredoc.content,
            expand: heredoc.expand,
            chomp: heredoc.chomp,
            fd: heredoc.fd,
        }
    }
}
