//! Lowering the instructions of one stage into steps.

use std::collections::BTreeSet;

use mkimage_plan::{
    CONFIG_LIMIT, Command, Healthcheck, KeyValue, Op, Source, Span, Stage, Step, StepMeta,
};

use super::error::LowerError;
use super::flags::{Flags, Kind};
use super::instr::Instr;
use super::{Context, Warning};
use crate::args::Scope;
use crate::expand::{ExpandError, Vars};
use crate::healthcheck::HealthcheckFlags;
use crate::{chmod, expose, signal};

/// A stage being lowered: its scope and the steps so far.
pub(super) struct StageLowerer<'a> {
    pub(super) ctx: &'a Context<'a>,
    pub(super) scope: Scope,
    pub(super) steps: Vec<Step>,
    /// The base image whose environment lowering did not know, if any.
    pub(super) unknown_base: Option<String>,
    warned: BTreeSet<String>,
    pub(super) warnings: Vec<Warning>,
    /// The bytes the stage's image config holds at least: the history text of its steps
    /// and of its base stage's, and the values its `ENV` and `LABEL` set.
    config_text: usize,
}

/// What is left of a lowered stage for the stages after it.
#[derive(Debug, Clone)]
pub(super) struct Lowered {
    pub stage: Stage,
    pub scope: Scope,
    pub unknown_base: Option<String>,
    /// See [`StageLowerer`]'s `config_text`.
    pub config_text: usize,
}

impl<'a> StageLowerer<'a> {
    pub(super) fn new(ctx: &'a Context<'a>, scope: Scope, unknown_base: Option<String>) -> Self {
        Self {
            ctx,
            scope,
            steps: Vec::new(),
            unknown_base,
            warned: BTreeSet::new(),
            warnings: Vec::new(),
            config_text: 0,
        }
    }

    /// Starts from the config of a base stage that holds `config_text` bytes, which
    /// building the stage copies.
    ///
    /// # Errors
    /// [`LowerError::TooMuchText`] when the plan would grow too large.
    pub(super) fn inherit(&mut self, config_text: usize, span: Span) -> Result<(), LowerError> {
        self.ctx.budget.copy(config_text, span)?;
        self.config_text = config_text;
        Ok(())
    }

    /// Lowers one instruction of the stage.
    pub(super) fn instruction(&mut self, instr: &Instr) -> Result<(), LowerError> {
        match instr.name().as_str() {
            "ARG" => self.arg(instr),
            "ENV" => self.env(instr),
            "LABEL" => self.label(instr),
            "MAINTAINER" => self.maintainer(instr),
            "WORKDIR" => self.one_word(instr, Op::Workdir),
            "USER" => self.one_word(instr, Op::User),
            "STOPSIGNAL" => self.stop_signal(instr),
            "VOLUME" => self.volume(instr),
            "EXPOSE" => self.expose(instr),
            "CMD" => self.cmd(instr),
            "ENTRYPOINT" => self.entrypoint(instr),
            "SHELL" => self.shell(instr),
            "HEALTHCHECK" => self.healthcheck(instr),
            "ONBUILD" => self.onbuild(instr),
            "RUN" => self.run(instr),
            "COPY" => self.copy(instr, false),
            "ADD" => self.copy(instr, true),
            _ => Err(super::unknown_instruction(instr)),
        }
    }

    /// Adds a step made of `instr`.
    ///
    /// # Errors
    /// [`LowerError::TooMuchText`] when the plan would grow too large,
    /// [`LowerError::ConfigTooLarge`] when the stage's image config would grow too large.
    pub(super) fn push(&mut self, instr: &Instr, op: Op, text: String) -> Result<(), LowerError> {
        self.ctx.budget.step(&op, &text, instr.span)?;
        let values = match &op {
            Op::Env(pairs) | Op::Label(pairs) => pairs_len(pairs),
            _ => 0,
        };
        self.config_text = self.config_text.saturating_add(text.len() + values);
        if self.config_text > CONFIG_LIMIT {
            return Err(LowerError::ConfigTooLarge {
                span: instr.span,
                limit: CONFIG_LIMIT,
            });
        }
        self.steps.push(Step {
            op,
            meta: StepMeta {
                span: instr.span,
                text,
            },
        });
        Ok(())
    }

    /// Expands one word in the stage's scope.
    pub(super) fn word(&mut self, text: &str, span: Span) -> Result<String, LowerError> {
        let expanded = self
            .ctx
            .budget
            .word(text, &self.scope)
            .map_err(|source| expand_error(span, text, source))?;
        self.note_unset(&expanded.vars, span);
        Ok(expanded.value)
    }

    /// Warns, once per name, about variables that were unset while the base image's
    /// environment, which might set them, was unknown.
    pub(super) fn note_unset(&mut self, vars: &Vars, span: Span) {
        let Some(image) = &self.unknown_base else {
            return;
        };
        for name in &vars.unset {
            let plausible = name.starts_with(|c: char| c == '_' || c.is_alphabetic());
            if plausible && self.warned.insert(name.clone()) {
                self.warnings.push(Warning {
                    span,
                    message: format!(
                        "`{name}` is not set here; if the base image `{image}` sets it, its value was not known while lowering"
                    ),
                });
            }
        }
    }

    fn arg(&mut self, instr: &Instr) -> Result<(), LowerError> {
        for (arg, key, default) in super::arg_declarations(instr)? {
            let budget = &self.ctx.budget;
            let mut vars = Vars::default();
            let mut expand = |text: &str, scope: &Scope| {
                let expanded = budget.word(text, scope)?;
                vars.set.extend(expanded.vars.set);
                vars.unset.extend(expanded.vars.unset);
                Ok::<_, ExpandError>(expanded.value)
            };
            self.ctx
                .args
                .declare(&mut self.scope, key, default, &mut expand)
                .map_err(|source| expand_error(instr.span, arg, source))?;
            self.note_unset(&vars, instr.span);
        }
        Ok(())
    }

    /// Expands `ENV`/`LABEL` pairs, all against the scope before the instruction.
    fn pairs(&mut self, instr: &Instr) -> Result<Vec<KeyValue>, LowerError> {
        if instr.pairs.is_empty() {
            return Err(arguments(instr, "requires at least one argument"));
        }
        Flags::parse(instr, &[])?;
        let mut pairs = Vec::with_capacity(instr.pairs.len());
        for pair in &instr.pairs {
            if pair.key.is_empty() {
                return Err(arguments(instr, "names cannot be blank"));
            }
            let key = self.word(&pair.key, instr.span)?;
            let value = self.word(&pair.value, instr.span)?;
            pairs.push(KeyValue::new(key, value));
        }
        Ok(pairs)
    }

    fn env(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let pairs = self.pairs(instr)?;
        for pair in &pairs {
            self.scope.set_env(&pair.key, &pair.value);
        }
        let text = format!("ENV {}", pairs_text(&pairs));
        self.push(instr, Op::Env(pairs), text)
    }

    fn label(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let pairs = self.pairs(instr)?;
        let text = format!("LABEL {}", pairs_text(&pairs));
        self.push(instr, Op::Label(pairs), text)
    }

    fn maintainer(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let [name] = instr.args.as_slice() else {
            return Err(arguments(instr, "requires exactly one argument"));
        };
        Flags::parse(instr, &[])?;
        self.push(
            instr,
            Op::Maintainer(name.clone()),
            format!("MAINTAINER {name}"),
        )
    }

    /// `WORKDIR` and `USER`: one expanded word.
    fn one_word(&mut self, instr: &Instr, op: fn(String) -> Op) -> Result<(), LowerError> {
        let [word] = instr.args.as_slice() else {
            return Err(arguments(instr, "requires exactly one argument"));
        };
        Flags::parse(instr, &[])?;
        let value = self.word(word, instr.span)?;
        if instr.name() == "WORKDIR" {
            check_path(instr.span, "working directory", &value)?;
        }
        let text = format!("{} {value}", instr.name());
        self.push(instr, op(value), text)
    }

    fn stop_signal(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let [word] = instr.args.as_slice() else {
            return Err(arguments(instr, "requires exactly one argument"));
        };
        let value = self.word(word, instr.span)?;
        signal::check_signal(&value).map_err(|source| LowerError::Signal {
            span: instr.span,
            source,
        })?;
        let text = format!("STOPSIGNAL {value}");
        self.push(instr, Op::StopSignal(value), text)
    }

    fn volume(&mut self, instr: &Instr) -> Result<(), LowerError> {
        if instr.args.is_empty() {
            return Err(arguments(instr, "requires at least one argument"));
        }
        Flags::parse(instr, &[])?;
        let mut volumes = Vec::with_capacity(instr.args.len());
        for arg in &instr.args {
            let volume = self.word(arg.trim(), instr.span)?;
            if arg.trim().is_empty() || volume.is_empty() {
                return Err(arguments(instr, "cannot take an empty path"));
            }
            check_path(instr.span, "volume", &volume)?;
            volumes.push(volume);
        }
        let text = format!("VOLUME {}", volumes.join(" "));
        self.push(instr, Op::Volume(volumes), text)
    }

    fn expose(&mut self, instr: &Instr) -> Result<(), LowerError> {
        if instr.args.is_empty() {
            return Err(arguments(instr, "requires at least one argument"));
        }
        Flags::parse(instr, &[])?;
        // Docker sorts the words before expanding them.
        let mut words = instr.args.clone();
        words.sort();
        let mut ports: Vec<String> = Vec::new();
        for word in &words {
            let expanded = self
                .ctx
                .budget
                .words(word, &self.scope)
                .map_err(|source| expand_error(instr.span, word, source))?;
            self.note_unset(&expanded.vars, instr.span);
            for spec in &expanded.value {
                let parsed = expose::parse_port(spec).map_err(|source| LowerError::Expose {
                    span: instr.span,
                    source,
                })?;
                for port in parsed {
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
            }
        }
        let text = format!("EXPOSE {}", ports.join(" "));
        self.push(instr, Op::Expose(ports), text)
    }

    fn cmd(&mut self, instr: &Instr) -> Result<(), LowerError> {
        Flags::parse(instr, &[])?;
        let command = command(instr, &instr.args);
        let text = format!("CMD {}", command_text(&command));
        self.push(instr, Op::Cmd(command), text)
    }

    fn entrypoint(&mut self, instr: &Instr) -> Result<(), LowerError> {
        Flags::parse(instr, &[])?;
        let command = command(instr, &instr.args);
        let text = format!("ENTRYPOINT {}", command_text(&command));
        self.push(instr, Op::Entrypoint(command), text)
    }

    fn shell(&mut self, instr: &Instr) -> Result<(), LowerError> {
        Flags::parse(instr, &[])?;
        if !instr.json_form {
            return Err(arguments(
                instr,
                "requires its arguments in JSON form: `SHELL [\"executable\", \"parameters\"]`",
            ));
        }
        if instr.args.is_empty() {
            return Err(arguments(instr, "requires at least one argument"));
        }
        let shell = instr.args.clone();
        let text = format!("SHELL {}", command_text(&Command::Exec(shell.clone())));
        self.push(instr, Op::Shell(shell), text)
    }

    fn healthcheck(&mut self, instr: &Instr) -> Result<(), LowerError> {
        let Some((kind, rest)) = instr.args.split_first() else {
            return Err(arguments(instr, "requires at least one argument"));
        };
        let check = match kind.to_ascii_uppercase().as_str() {
            "NONE" => {
                if !rest.is_empty() {
                    return Err(arguments(instr, "takes no arguments after `NONE`"));
                }
                Healthcheck::None
            }
            "CMD" => {
                let flags = Flags::parse(
                    instr,
                    &[
                        ("interval", Kind::String),
                        ("timeout", Kind::String),
                        ("start-period", Kind::String),
                        ("start-interval", Kind::String),
                        ("retries", Kind::String),
                    ],
                )?;
                let test = command(instr, rest);
                if matches!(&test, Command::Exec(args) if args.is_empty())
                    || matches!(&test, Command::Shell(text) if text.trim().is_empty())
                {
                    return Err(arguments(instr, "requires a command after `CMD`"));
                }
                let options = HealthcheckFlags {
                    interval: flags.string("interval"),
                    timeout: flags.string("timeout"),
                    start_period: flags.string("start-period"),
                    start_interval: flags.string("start-interval"),
                    retries: flags.string("retries"),
                }
                .parse()
                .map_err(|source| LowerError::Healthcheck {
                    span: instr.span,
                    source,
                })?;
                Healthcheck::Check { test, options }
            }
            _ => {
                return Err(arguments(
                    instr,
                    "takes `NONE` or options and `CMD` followed by a command",
                ));
            }
        };
        let text = match &check {
            Healthcheck::None => "HEALTHCHECK NONE".to_owned(),
            Healthcheck::Check { test, .. } => {
                let flags: String = instr.flags.iter().map(|flag| format!("{flag} ")).collect();
                format!("HEALTHCHECK {flags}CMD {}", command_text(test))
            }
        };
        self.push(instr, Op::Healthcheck(check), text)
    }

    fn onbuild(&mut self, instr: &Instr) -> Result<(), LowerError> {
        Flags::parse(instr, &[])?;
        let Some(trigger) = &instr.sub else {
            return Err(arguments(instr, "requires an instruction to trigger"));
        };
        let keyword = trigger.name();
        if matches!(keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
            return Err(LowerError::OnbuildTrigger {
                span: trigger.span,
                keyword,
            });
        }
        let expression = onbuild_expression(instr);
        let text = format!("ONBUILD {expression}");
        self.push(instr, Op::Onbuild(expression), text)
    }

    /// `--chmod`, expanded and checked.
    pub(super) fn chmod(
        &mut self,
        instr: &Instr,
        value: Option<&str>,
    ) -> Result<Option<String>, LowerError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let value = self.word(value, instr.span)?;
        if value.is_empty() {
            return Ok(None);
        }
        chmod::check_chmod(&value).map_err(|source| LowerError::Chmod {
            span: instr.span,
            source,
        })?;
        Ok(Some(value))
    }

    /// Resolves a `--from` of `COPY`: a stage index, a stage name, a named context, or an
    /// image.
    pub(super) fn copy_from(&self, instr: &Instr, from: &str) -> Result<Source, LowerError> {
        let env = std::collections::BTreeMap::new();
        let unchanged = self
            .ctx
            .budget
            .word(from, &env)
            .is_ok_and(|expanded| expanded.value == from);
        if !unchanged {
            return Err(LowerError::FromVariable { span: instr.span });
        }
        if let Ok(index) = from.parse::<i64>() {
            return usize::try_from(index)
                .ok()
                .filter(|&index| index < self.ctx.names.len())
                .map(Source::Stage)
                .ok_or_else(|| LowerError::StageIndex {
                    span: instr.span,
                    index: from.to_owned(),
                    count: self.ctx.names.len(),
                });
        }
        Ok(self.ctx.source_named(from))
    }

    pub(super) fn finish(self, stage: Stage) -> (Lowered, Vec<Warning>) {
        let lowered = Lowered {
            stage: Stage {
                steps: self.steps,
                ..stage
            },
            scope: self.scope,
            unknown_base: self.unknown_base,
            config_text: self.config_text,
        };
        (lowered, self.warnings)
    }
}

/// `ONBUILD`'s trigger as Docker records it: the text after `ONBUILD`, then each heredoc's
/// body and delimiter.
fn onbuild_expression(instr: &Instr) -> String {
    let original = instr.original.trim_start();
    let rest = original
        .get(..7)
        .filter(|head| head.eq_ignore_ascii_case("ONBUILD"))
        .map_or(original, |_| original[7..].trim_start());
    let mut expression = rest.to_owned();
    let heredocs = instr
        .sub
        .as_ref()
        .map_or(&instr.heredocs, |sub| &sub.heredocs);
    for heredoc in heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    expression
}

/// The error for `word`, which did not expand, in the instruction at `span`.
pub(super) fn expand_error(span: Span, word: &str, source: ExpandError) -> LowerError {
    match source {
        // The expander stopped at what was left of the budget.
        ExpandError::TooLong { .. } => LowerError::TooMuchText {
            span,
            limit: super::PLAN_TEXT_LIMIT,
        },
        source => LowerError::Expand {
            span,
            word: word.to_owned(),
            source,
        },
    }
}

/// Refuses a path with a NUL byte: a system call would stop reading it there (a
/// destination `/x\0y` would be `/x`), or refuse it late.
pub(super) fn check_path(span: Span, what: &'static str, path: &str) -> Result<(), LowerError> {
    if path.contains('\0') {
        return Err(LowerError::NulInPath {
            span,
            what,
            path: path.to_owned(),
        });
    }
    Ok(())
}

pub(super) fn arguments(instr: &Instr, expected: &'static str) -> LowerError {
    LowerError::Arguments {
        span: instr.span,
        keyword: instr.name(),
        expected,
    }
}

/// The command of `RUN`, `CMD`, `ENTRYPOINT` or `HEALTHCHECK CMD`: exec form from a JSON
/// array, otherwise the text for the shell.
pub(super) fn command(instr: &Instr, args: &[String]) -> Command {
    if instr.json_form {
        Command::Exec(args.to_vec())
    } else {
        Command::Shell(args.join(" "))
    }
}

/// A command as it appears in an instruction.
pub(super) fn command_text(command: &Command) -> String {
    match command {
        Command::Shell(text) => text.clone(),
        Command::Exec(args) => {
            serde_json::to_string(args).expect("a list of strings always serializes")
        }
    }
}

/// The bytes of the keys and values of `pairs`.
pub(super) fn pairs_len(pairs: &[KeyValue]) -> usize {
    pairs.iter().map(|kv| kv.key.len() + kv.value.len()).sum()
}

fn pairs_text(pairs: &[KeyValue]) -> String {
    pairs
        .iter()
        .map(|pair| format!("{}={}", pair.key, pair.value))
        .collect::<Vec<_>>()
        .join(" ")
}
