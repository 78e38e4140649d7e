//! Why a Dockerfile could not be lowered to a plan.

use mkimage_plan::{PlanError, Span};

use crate::chmod::ChmodError;
use crate::error::ParseError;
use crate::expand::ExpandError;
use crate::expose::ExposeError;
use crate::healthcheck::HealthcheckError;
use crate::mount::MountError;
use crate::platform::PlatformError;
use crate::sandbox::SandboxError;
use crate::signal::SignalError;

/// Why a Dockerfile could not be lowered to a plan. Every variant that comes from the
/// Dockerfile carries the [`Span`] of the instruction (or the word) at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LowerError {
    /// An instruction has a flag or arguments it does not take (see
    /// [`Dockerfile::invalid`](crate::Dockerfile::invalid)).
    #[error(transparent)]
    Instruction(ParseError),
    /// The Dockerfile has no `FROM`.
    #[error("{span}: the Dockerfile has no `FROM`: nothing to build")]
    NoStage {
        /// Where the file ends.
        span: Span,
    },
    /// A keyword that is not an instruction.
    #[error("{span}: unknown instruction `{keyword}`{}", did_you_mean(.suggestion))]
    UnknownInstruction {
        /// Where.
        span: Span,
        /// The keyword as written.
        keyword: String,
        /// The closest instruction, if one is close.
        suggestion: Option<&'static str>,
    },
    /// An instruction other than `ARG` before the first `FROM`.
    #[error("{span}: `{keyword}` before the first `FROM`: only `ARG` may come first")]
    BeforeFrom {
        /// Where.
        span: Span,
        /// The instruction.
        keyword: String,
    },
    /// The wrong number or form of arguments.
    #[error("{span}: `{keyword}` {expected}")]
    Arguments {
        /// Where.
        span: Span,
        /// The instruction.
        keyword: String,
        /// What it takes (`requires exactly one argument`).
        expected: &'static str,
    },
    /// A flag the instruction does not have.
    #[error("{span}: unknown flag `--{flag}` for `{keyword}`{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// Where.
        span: Span,
        /// The instruction.
        keyword: String,
        /// The flag name.
        flag: String,
        /// The closest flag of the instruction, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A flag given in a form it does not take.
    #[error("{span}: invalid flag `{flag}` for `{keyword}`: {reason}")]
    InvalidFlag {
        /// Where.
        span: Span,
        /// The instruction.
        keyword: String,
        /// The flag as written.
        flag: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A word whose variables could not be expanded.
    #[error("{span}: failed to expand `{word}`")]
    Expand {
        /// Where the word (or its instruction) is.
        span: Span,
        /// The word as written.
        word: String,
        /// Why.
        #[source]
        source: ExpandError,
    },
    /// Lowering would make more text than [`PLAN_TEXT_LIMIT`](crate::PLAN_TEXT_LIMIT)
    /// (variables repeated into long values, values copied into many steps).
    #[error("{span}: the Dockerfile expands to more than {} MiB of text", limit >> 20)]
    TooMuchText {
        /// The instruction at which the limit was reached.
        span: Span,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A step that makes its stage's image config larger than
    /// [`CONFIG_LIMIT`](mkimage_plan::CONFIG_LIMIT).
    #[error(
        "{span}: the image config of this stage would be larger than the {} MiB an image config may hold",
        limit >> 20
    )]
    ConfigTooLarge {
        /// The instruction.
        span: Span,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A path (a `COPY` destination or source, a `WORKDIR`, a `VOLUME`, a mount target)
    /// with a NUL byte, which no file system path can hold.
    #[error("{span}: the {what} `{path}` contains a NUL byte")]
    NulInPath {
        /// The instruction.
        span: Span,
        /// What the path is for (`destination`, `mount target`).
        what: &'static str,
        /// The path, expanded.
        path: String,
    },
    /// `FROM … AS name` with a name Docker does not accept.
    #[error(
        "{span}: invalid stage name `{name}`: it must start with a letter and hold only letters, digits, `-`, `_` and `.`"
    )]
    StageName {
        /// Where.
        span: Span,
        /// The name as written.
        name: String,
    },
    /// Two stages with the same name.
    #[error("{span}: duplicate stage name `{name}`, first defined on line {first_line}")]
    DuplicateStage {
        /// Where the second one is.
        span: Span,
        /// The name.
        name: String,
        /// The line of the first one.
        first_line: usize,
    },
    /// A stage named `scratch` or `context`.
    #[error("{span}: stage name `{name}` is reserved")]
    ReservedStage {
        /// Where.
        span: Span,
        /// The name.
        name: String,
    },
    /// `FROM` whose image expands to nothing.
    #[error("{span}: the base of `FROM {text}` expands to an empty name")]
    BlankBase {
        /// Where.
        span: Span,
        /// The base as written.
        text: String,
    },
    /// `--from` or `from=` naming a stage by an index that does not exist.
    #[error("{span}: `--from={index}` names no stage: the Dockerfile has {count}")]
    StageIndex {
        /// Where.
        span: Span,
        /// The index as written.
        index: String,
        /// How many stages there are.
        count: usize,
    },
    /// `COPY --from` with quotes, escapes or variables.
    #[error(
        "{span}: `--from` does not support variable expansion: define a stage with `FROM` from a global `ARG` and copy from it"
    )]
    FromVariable {
        /// Where.
        span: Span,
    },
    /// Stages that depend on each other in a circle.
    #[error("{span}: circular dependency between stages, through stage `{stage}`")]
    Cycle {
        /// Where the stage is declared.
        span: Span,
        /// The stage's name or index.
        stage: String,
    },
    /// `--target` names no stage.
    #[error("target stage `{target}` not found: the named stages are {}{}", list(.names), did_you_mean(.suggestion))]
    UnknownTarget {
        /// The requested target.
        target: String,
        /// The stage names there are.
        names: Vec<String>,
        /// The closest name, if one is close.
        suggestion: Option<String>,
    },
    /// `ONBUILD ONBUILD`, `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error("{span}: `{keyword}` is not allowed as an `ONBUILD` trigger")]
    OnbuildTrigger {
        /// Where.
        span: Span,
        /// The nested instruction.
        keyword: String,
    },
    /// A heredoc where a heredoc cannot be.
    #[error("{span}: `{keyword}` cannot take a heredoc as {what}")]
    Heredoc {
        /// Where.
        span: Span,
        /// The instruction.
        keyword: String,
        /// Where the heredoc was (`the destination`).
        what: &'static str,
    },
    /// An `ADD` or `COPY` option or source that does not fit.
    #[error("{span}: {reason}")]
    Copy {
        /// Where.
        span: Span,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `--platform` value.
    #[error("{span}: invalid `--platform`")]
    Platform {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: PlatformError,
    },
    /// A `RUN --mount` value.
    #[error("{span}: invalid `--mount`")]
    Mount {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: MountError,
    },
    /// A `RUN --network` or `--security` value.
    #[error("{span}: invalid `RUN` option")]
    Sandbox {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: SandboxError,
    },
    /// A `HEALTHCHECK` option.
    #[error("{span}: invalid `HEALTHCHECK` option")]
    Healthcheck {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: HealthcheckError,
    },
    /// An `EXPOSE` port.
    #[error("{span}: invalid `EXPOSE`")]
    Expose {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: ExposeError,
    },
    /// A `STOPSIGNAL` value.
    #[error("{span}: invalid `STOPSIGNAL`")]
    Signal {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: SignalError,
    },
    /// A `--chmod` value.
    #[error("{span}: invalid `--chmod`")]
    Chmod {
        /// Where.
        span: Span,
        /// Why.
        #[source]
        source: ChmodError,
    },
    /// An `ONBUILD` trigger of the base that does not parse.
    #[error("{span}: invalid `ONBUILD` trigger `{trigger}` of the base")]
    Trigger {
        /// The `FROM` that runs the trigger.
        span: Span,
        /// The trigger's text.
        trigger: String,
        /// Why.
        #[source]
        source: crate::ParseError,
    },
    /// The plan is not well formed (a bug in lowering, reported rather than hidden).
    #[error("the lowered plan is not well formed")]
    Plan {
        /// Why.
        #[source]
        source: PlanError,
    },
}

fn did_you_mean(suggestion: &Option<impl std::fmt::Display>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(": did you mean `{s}`?"))
        .unwrap_or_default()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl LowerError {
    /// Where in the Dockerfile the error is, when it comes from one place.
    pub fn span(&self) -> Option<Span> {
        match self {
            LowerError::NoStage { span }
            | LowerError::UnknownInstruction { span, .. }
            | LowerError::BeforeFrom { span, .. }
            | LowerError::Arguments { span, .. }
            | LowerError::UnknownFlag { span, .. }
            | LowerError::InvalidFlag { span, .. }
            | LowerError::Expand { span, .. }
            | LowerError::TooMuchText { span, .. }
            | LowerError::ConfigTooLarge { span, .. }
            | LowerError::NulInPath { span, .. }
            | LowerError::StageName { span, .. }
            | LowerError::DuplicateStage { span, .. }
            | LowerError::ReservedStage { span, .. }
            | LowerError::BlankBase { span, .. }
            | LowerError::StageIndex { span, .. }
            | LowerError::FromVariable { span }
            | LowerError::Cycle { span, .. }
            | LowerError::OnbuildTrigger { span, .. }
            | LowerError::Heredoc { span, .. }
            | LowerError::Copy { span, .. }
            | LowerError::Platform { span, .. }
            | LowerError::Mount { span, .. }
            | LowerError::Sandbox { span, .. }
            | LowerError::Healthcheck { span, .. }
            | LowerError::Expose { span, .. }
            | LowerError::Signal { span, .. }
            | LowerError::Chmod { span, .. }
            | LowerError::Trigger { span, .. } => Some(*span),
            LowerError::Instruction(error) => Some(error.position().into()),
            LowerError::UnknownTarget { .. } | LowerError::Plan { .. } => None,
        }
    }
}
