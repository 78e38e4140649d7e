//! The rules about instructions on their own or within their stage.

use std::sync::LazyLock;

use regex::Regex;

use super::{Check, Layout, arg_keys, rules::*};
use crate::ast::{Arguments, Dockerfile, Instruction, Keyword};
use crate::span::Span;

/// Evaluates the instruction rules.
pub(super) fn check(layout: &Layout<'_>, found: &mut Vec<Check>) {
    casing(layout, found);
    let mut shell_set: Vec<bool> = Vec::with_capacity(layout.stages.len());
    for (index, stage) in layout.stages.iter().enumerate() {
        let inherited = stage
            .base_stage(&layout.stages[..index])
            .is_some_and(|parent| shell_set[parent]);
        let mut state = StageState {
            shell_set: inherited,
            ..StageState::default()
        };
        for instruction in &stage.body {
            state.instruction(instruction, found);
        }
        shell_set.push(state.shell_set);
    }
}

/// `NoEmptyContinuation`, from the parser's warnings, at the instruction they are in.
pub(super) fn empty_continuations(dockerfile: &Dockerfile, found: &mut Vec<Check>) {
    for warning in &dockerfile.warnings {
        let instruction = dockerfile
            .instructions
            .iter()
            .find(|i| i.span.line <= warning.line && warning.line <= i.span.end_line);
        if let Some(instruction) = instruction {
            let message = "Empty continuation line".to_owned();
            found.push(Check::new(
                &NO_EMPTY_CONTINUATION,
                message,
                instruction.span,
            ));
        }
    }
}

/// `ConsistentInstructionCasing`: each keyword in the case most keywords of the stages
/// are written in.
fn casing(layout: &Layout<'_>, found: &mut Vec<Check>) {
    let keywords = || {
        layout
            .stages
            .iter()
            .flat_map(|stage| std::iter::once(&stage.from).chain(&stage.body))
    };
    let (mut lower, mut upper) = (0, 0);
    for instruction in keywords() {
        let keyword = &instruction.keyword;
        if *keyword == keyword.to_lowercase() {
            lower += 1;
        } else if *keyword == keyword.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for instruction in keywords() {
        let keyword = &instruction.keyword;
        let casing = if majority_lower && *keyword != keyword.to_lowercase() {
            "lowercase"
        } else if !majority_lower && *keyword != keyword.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        let message =
            format!("Command '{keyword}' should match the case of the command majority ({casing})");
        found.push(Check::new(
            &CONSISTENT_INSTRUCTION_CASING,
            message,
            instruction.span,
        ));
    }
}

/// What the rules remember within a stage.
#[derive(Default)]
struct StageState {
    /// A `SHELL` was given, here or in the base stage.
    shell_set: bool,
    workdir_set: bool,
    /// Where the last `CMD`, `ENTRYPOINT` and `HEALTHCHECK` are.
    cmd: Option<Span>,
    entrypoint: Option<Span>,
    healthcheck: Option<Span>,
}

impl StageState {
    fn instruction(&mut self, instruction: &Instruction, found: &mut Vec<Check>) {
        let span = instruction.span;
        let name = instruction.keyword.as_str();
        match instruction.kind {
            Keyword::Maintainer => {
                let message = "Maintainer instruction is deprecated in favor of using label";
                found.push(Check::new(&MAINTAINER_DEPRECATED, message.to_owned(), span));
            }
            Keyword::Shell => self.shell_set = true,
            Keyword::Cmd => {
                used_once(name, &mut self.cmd, span, found);
                self.json_args(instruction, found);
            }
            Keyword::Entrypoint => {
                used_once(name, &mut self.entrypoint, span, found);
                self.json_args(instruction, found);
            }
            Keyword::Healthcheck => used_once(name, &mut self.healthcheck, span, found),
            Keyword::Workdir => self.workdir(instruction, found),
            Keyword::Env | Keyword::Label => pairs(instruction, found),
            Keyword::Arg => {
                for key in arg_keys(instruction) {
                    secret(key, "ARG", span, found);
                }
            }
            Keyword::Expose => {
                for port in instruction.arg_strings() {
                    expose(port, span, found);
                }
            }
            _ => {}
        }
    }

    /// `JSONArgsRecommended`: a shell-form `CMD` or `ENTRYPOINT` without a `SHELL`.
    fn json_args(&self, instruction: &Instruction, found: &mut Vec<Check>) {
        if !instruction.json_form() && !self.shell_set {
            let message = format!(
                "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                instruction.keyword
            );
            found.push(Check::new(
                &JSON_ARGS_RECOMMENDED,
                message,
                instruction.span,
            ));
        }
    }

    /// `WorkdirRelativePath`: the stage's first `WORKDIR` is relative.
    fn workdir(&mut self, instruction: &Instruction, found: &mut Vec<Check>) {
        let path = instruction
            .arg_strings()
            .first()
            .copied()
            .unwrap_or_default();
        // A path from a variable is only known once expanded; BuildKit checks the
        // expansion, which is absolute in every use of this form we know of.
        let relative = !path.starts_with('/') && !path.starts_with('$');
        if !self.workdir_set && relative {
            let message = format!(
                "Relative workdir {path:?} can have unexpected results if the base image changes"
            );
            found.push(Check::new(
                &WORKDIR_RELATIVE_PATH,
                message,
                instruction.span,
            ));
        }
        self.workdir_set = true;
    }
}

/// `MultipleInstructionsDisallowed`, at the instruction the later one makes useless.
fn used_once(name: &str, last: &mut Option<Span>, span: Span, found: &mut Vec<Check>) {
    if let Some(previous) = last.replace(span) {
        let message = format!(
            "Multiple {name} instructions should not be used in the same stage because only the last one will be used"
        );
        found.push(Check::new(
            &MULTIPLE_INSTRUCTIONS_DISALLOWED,
            message,
            previous,
        ));
    }
}

/// `LegacyKeyValueFormat` and, for `ENV`, `SecretsUsedInArgOrEnv`.
fn pairs(instruction: &Instruction, found: &mut Vec<Check>) {
    let Arguments::Pairs(pairs) = &instruction.args else {
        return;
    };
    let name = instruction.keyword.as_str();
    for pair in pairs {
        if pair.legacy {
            let message = format!(
                "\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"
            );
            found.push(Check::new(
                &LEGACY_KEY_VALUE_FORMAT,
                message,
                instruction.span,
            ));
        }
        if instruction.kind == Keyword::Env {
            secret(&pair.key, "ENV", instruction.span, found);
        }
    }
}

/// `SecretsUsedInArgOrEnv`: a name with a word of a secret and none of a public value.
fn secret(key: &str, instruction: &str, span: Span, found: &mut Vec<Check>) {
    if looks_secret(key) {
        let message = format!(
            "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
        );
        found.push(Check::new(&SECRETS_USED_IN_ARG_OR_ENV, message, span));
    }
}

/// Whether the variable name `key` looks like it holds a secret, as BuildKit's rule
/// `SecretsUsedInArgOrEnv` tells: a `_`-separated word of a secret (`token`,
/// `password`, `key`…) and none of a public value (`public`, `file`, `version`).
pub fn looks_secret(key: &str) -> bool {
    static DENY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            "(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)",
        )
        .expect("the pattern is valid")
    });
    static ALLOW: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new("(?i)(?:_|^)(?:public|file|version)(?:_|$)").expect("the pattern is valid")
    });
    DENY.is_match(key) && !ALLOW.is_match(key)
}

/// `ExposeProtoCasing` and `ExposeInvalidFormat` for one `EXPOSE` word,
/// `[ip:][host-port:]port[/proto]`.
fn expose(port: &str, span: Span, found: &mut Vec<Check>) {
    let (mapping, proto) = port.rsplit_once('/').unwrap_or((port, ""));
    if proto != proto.to_lowercase() {
        let message =
            format!("Defined protocol '{port}' in EXPOSE instruction should be lowercase");
        found.push(Check::new(&EXPOSE_PROTO_CASING, message, span));
    }
    if mapping
        .rsplit_once(':')
        .is_some_and(|(before, _)| !before.is_empty())
    {
        let message = format!(
            "EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'"
        );
        found.push(Check::new(&EXPOSE_INVALID_FORMAT, message, span));
    }
}
