//! Lowering: a parsed Dockerfile to a build [`Plan`].
//!
//! Lowering walks the instructions in order as BuildKit's dispatcher does: the `ARG`s
//! before the first `FROM` make the global scope (with the predefined platform
//! arguments), each `FROM` starts a stage from `scratch`, an image or an earlier stage,
//! and each instruction becomes a step with its words expanded where Docker expands them
//! (see [`crate::Expander`]). Stage references (`FROM stage`, `COPY --from`,
//! `RUN --mount=…,from=`) become indexes; the stages are then ordered so that sources come
//! first, and the plan is pruned to what the target needs.
//!
//! The base image's environment matters to expansion (`ENV PATH=$PATH:/x`) and its
//! `ONBUILD` triggers run at the start of the stage, but the parser does no I/O: a caller
//! that has resolved the images passes them in [`LowerOptions::base_images`]. Without
//! them, an image's environment is taken as empty except for Docker's default `PATH`, and
//! every variable that then expands as unset is reported in a warning.

mod budget;
mod copy;
mod error;
mod flags;
mod heredoc;
pub(crate) mod instr;
mod run;
pub(crate) mod source;
mod stage;

use std::collections::{BTreeMap, HashMap};

use mkimage_plan::{Base, KeyValue, Op, Plan, PlanError, Platform, Source, Span, Stage};
use serde::{Deserialize, Serialize};

use budget::Budget;
pub use budget::PLAN_TEXT_LIMIT;
pub use error::LowerError;
use flags::{Flags, Kind};
use instr::Instr;
use stage::{StageLowerer, arguments, expand_error};

use crate::args::{Args, Scope};
use crate::expand::{ExpandError, Expander};
use crate::platform::parse_platform;
use crate::suggest;

/// The instructions a Dockerfile may hold, in upper case.
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Stage names BuildKit reserves.
const RESERVED_STAGE_NAMES: &[&str] = &["context", "scratch"];

/// What lowering needs besides the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerOptions {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build (`--target`); the last stage when `None`.
    pub target: Option<String>,
    /// The platform the image is built for (`TARGETPLATFORM`).
    pub target_platform: Platform,
    /// The platform the build runs on (`BUILDPLATFORM`).
    pub build_platform: Platform,
    /// What is known of base images, by the reference written in `FROM` (after
    /// expansion). An image not listed is taken to have no environment but Docker's
    /// default `PATH`, and no `ONBUILD` triggers.
    pub base_images: BTreeMap<String, BaseImage>,
    /// Named build contexts (`--build-context NAME=…`), by name. A stage named `NAME` is
    /// replaced by the context's image (its instructions are not run), and `FROM NAME`,
    /// `COPY --from=NAME` and `RUN --mount=…,from=NAME` that name no stage use it. Names
    /// match as BuildKit matches them: `alpine`, `alpine:latest` and
    /// `docker.io/library/alpine` are one name.
    pub named_contexts: BTreeMap<String, NamedContext>,
}

/// A named build context (`--build-context NAME=VALUE`) as lowering uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedContext {
    /// The image reference that stands for it.
    pub image: String,
    /// `VALUE` as given (`docker-image://alpine`, a directory, a git URL), for progress:
    /// a stage based on the context shows as `FROM VALUE (build context NAME)`.
    pub value: String,
}

impl LowerOptions {
    /// Options for building on and for `platform`, with no build arguments, the last stage
    /// as target and no base image known.
    pub fn new(platform: Platform) -> Self {
        Self {
            build_args: BTreeMap::new(),
            target: None,
            target_platform: platform.clone(),
            build_platform: platform,
            base_images: BTreeMap::new(),
            named_contexts: BTreeMap::new(),
        }
    }
}

impl Default for LowerOptions {
    /// [`LowerOptions::new`] for the host's platform.
    fn default() -> Self {
        Self::new(Platform::host())
    }
}

/// The parts of a base image's config that lowering uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImage {
    /// The config's `Env`, in order.
    pub env: Vec<KeyValue>,
    /// The config's `OnBuild` triggers.
    pub onbuild: Vec<String>,
}

/// A lowered Dockerfile: the plan and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lowered {
    /// The plan, pruned to the target.
    pub plan: Plan,
    /// Warnings, in the order they were found.
    pub warnings: Vec<Warning>,
}

/// Something worth telling the user that does not stop the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Where.
    pub span: Span,
    /// What, in one sentence.
    pub message: String,
}

/// What every stage's lowering shares.
pub(crate) struct Context<'a> {
    /// Expands words and bounds what lowering makes.
    budget: Budget,
    args: &'a Args,
    /// The stage names (lowercase) in declaration order.
    names: Vec<Option<String>>,
    /// The index of each named stage, by its name; names are unique.
    stage_index: HashMap<String, usize>,
    /// [`LowerOptions::named_contexts`], by [`familiar`] name, each with its name as given.
    named_contexts: BTreeMap<String, (&'a str, &'a NamedContext)>,
}

impl Context<'_> {
    /// What `--from=name` (of `COPY` or a mount) reads: the stage of that name, else the
    /// named context, else the image of that name.
    fn source_named(&self, name: &str) -> Source {
        match self.stage_named(name) {
            Some(index) => Source::Stage(index),
            None => Source::Image(
                self.named_context(name)
                    .map_or(name, |(_, context)| &context.image)
                    .to_owned(),
            ),
        }
    }

    /// The named context `name` (ignoring case, as stage names do), if any, with its name
    /// as given.
    fn named_context(&self, name: &str) -> Option<(&str, &NamedContext)> {
        let name = familiar(name);
        self.named_contexts
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, found)| *found)
    }

    /// The stage whose name is `name`, ignoring case.
    fn stage_named(&self, name: &str) -> Option<usize> {
        self.stage_index.get(&name.to_ascii_lowercase()).copied()
    }
}

/// A `FROM` line, read but not expanded.
struct From<'a> {
    instr: &'a Instr,
    base: &'a str,
    name: Option<String>,
    platform: Option<String>,
}

/// Lowers a parsed Dockerfile to a build plan, pruned to the target stage.
///
/// # Errors
/// The first problem found, with its line and column: an unknown instruction, an
/// instruction before the first `FROM`, a malformed flag or argument, a word that does
/// not expand, a stage reference that names nothing, a cycle between stages, an unknown
/// `--target`.
///
/// ```
/// use mkimage_dockerfile::{LowerOptions, lower, parse};
///
/// let dockerfile = parse("ARG TAG=3.20\nFROM alpine:$TAG\nRUN echo hi\n")?;
/// let lowered = lower(&dockerfile, &LowerOptions::new("linux/amd64".parse()?))?;
/// assert_eq!(lowered.plan.stages[0].steps[0].meta.text, "RUN echo hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn lower(
    dockerfile: &crate::Dockerfile,
    options: &LowerOptions,
) -> Result<Lowered, LowerError> {
    if let Some(error) = dockerfile.invalid() {
        return Err(LowerError::Instruction(error.clone()));
    }
    let instructions: Vec<Instr> = dockerfile.instructions.iter().map(Instr::from).collect();
    lower_instructions(&instructions, dockerfile.directives.escape, options)
}

/// Lowers instructions (with the Dockerfile's escape character) to a plan.
pub(crate) fn lower_instructions(
    instructions: &[Instr],
    escape: char,
    options: &LowerOptions,
) -> Result<Lowered, LowerError> {
    let mut globals = Vec::new();
    let mut stages: Vec<(&Instr, Vec<&Instr>)> = Vec::new();
    for instr in instructions {
        let name = instr.name();
        if !INSTRUCTIONS.contains(&name.as_str()) {
            return Err(unknown_instruction(instr));
        }
        match (name.as_str(), stages.last_mut()) {
            ("FROM", _) => stages.push((instr, Vec::new())),
            (_, Some((_, body))) => body.push(instr),
            ("ARG", None) => globals.push(instr),
            (_, None) => {
                return Err(LowerError::BeforeFrom {
                    span: instr.span,
                    keyword: name,
                });
            }
        }
    }
    if stages.is_empty() {
        let span = instructions
            .last()
            .map_or(Span { line: 1, col: 1 }, |i| i.span);
        return Err(LowerError::NoStage { span });
    }
    let froms = stages
        .iter()
        .map(|(instr, _)| read_from(instr))
        .collect::<Result<Vec<_>, _>>()?;
    check_stage_names(&froms)?;

    // `TARGETSTAGE` is the target as given.
    let target_name = match &options.target {
        Some(target) => target.clone(),
        None => froms
            .last()
            .and_then(|f| f.name.clone())
            .unwrap_or_default(),
    };
    let budget = Budget::new(Expander::new(escape));
    let mut args = Args::new(
        options.build_args.clone(),
        &options.target_platform,
        &options.build_platform,
        &target_name,
    );
    for instr in &globals {
        declare_globals(&mut args, instr, &budget)?;
    }
    let context = Context {
        budget,
        args: &args,
        names: froms.iter().map(|from| from.name.clone()).collect(),
        stage_index: froms
            .iter()
            .enumerate()
            .filter_map(|(index, from)| Some((from.name.clone()?, index)))
            .collect(),
        named_contexts: options
            .named_contexts
            .iter()
            .map(|(name, named)| (familiar(name).to_owned(), (name.as_str(), named)))
            .collect(),
    };

    let mut warnings = Vec::new();
    let mut lowered: Vec<stage::Lowered> = Vec::with_capacity(stages.len());
    for (from, (_, body)) in froms.iter().zip(&stages) {
        let stage = lower_stage(&context, options, from, &lowered, body)?;
        warnings.extend(stage.1);
        lowered.push(stage.0);
    }

    let target = match &options.target {
        None => lowered.len() - 1,
        Some(target) => context.stage_named(target).ok_or_else(|| {
            let names: Vec<String> = context.names.iter().flatten().cloned().collect();
            LowerError::UnknownTarget {
                target: target.clone(),
                suggestion: suggest::closest(target, &names),
                names,
            }
        })?,
    };
    let plan = Plan {
        stages: lowered.into_iter().map(|stage| stage.stage).collect(),
        target,
    };
    let plan = plan.sort_stages().map_err(|error| match error {
        PlanError::Cycle { stage } => LowerError::Cycle {
            span: froms[stage].instr.span,
            stage: froms[stage]
                .name
                .clone()
                .unwrap_or_else(|| stage.to_string()),
        },
        source => LowerError::Plan { source },
    })?;
    let plan = plan.prune().map_err(|source| LowerError::Plan { source })?;
    Ok(Lowered { plan, warnings })
}

/// `FROM [--platform=…] base [AS name]`.
fn read_from(instr: &Instr) -> Result<From<'_>, LowerError> {
    let (base, name) = match instr.args.as_slice() {
        [base] => (base, None),
        [base, as_word, name] if as_word.eq_ignore_ascii_case("AS") => (base, Some(name)),
        _ => {
            return Err(arguments(
                instr,
                "takes an image and optionally `AS name`: `FROM image [AS name]`",
            ));
        }
    };
    let flags = Flags::parse(instr, &[("platform", Kind::String)])?;
    let name = match name {
        None => None,
        Some(name) => {
            let lower = name.to_ascii_lowercase();
            let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                && lower
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(LowerError::StageName {
                    span: instr.span,
                    name: name.clone(),
                });
            }
            Some(lower)
        }
    };
    Ok(From {
        instr,
        base,
        name,
        platform: flags.string("platform").map(str::to_owned),
    })
}

fn check_stage_names(froms: &[From<'_>]) -> Result<(), LowerError> {
    let mut first_lines: HashMap<&str, usize> = HashMap::new();
    for from in froms {
        let Some(name) = &from.name else { continue };
        if RESERVED_STAGE_NAMES.contains(&name.as_str()) {
            return Err(LowerError::ReservedStage {
                span: from.instr.span,
                name: name.clone(),
            });
        }
        if let Some(&first_line) = first_lines.get(name.as_str()) {
            return Err(LowerError::DuplicateStage {
                span: from.instr.span,
                name: name.clone(),
                first_line,
            });
        }
        first_lines.insert(name, from.instr.span.line);
    }
    Ok(())
}

/// One declaration of an `ARG`: the argument as written, its name and its default.
pub(super) type ArgDeclaration<'a> = (&'a String, &'a str, Option<&'a str>);

/// The declarations of an `ARG`.
pub(super) fn arg_declarations(instr: &Instr) -> Result<Vec<ArgDeclaration<'_>>, LowerError> {
    if instr.args.is_empty() {
        return Err(arguments(instr, "requires at least one argument"));
    }
    instr
        .args
        .iter()
        .map(|arg| {
            let (key, default) = match arg.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (arg.as_str(), None),
            };
            if key.is_empty() {
                return Err(arguments(instr, "names cannot be blank"));
            }
            Ok((arg, key, default))
        })
        .collect()
}

/// Declares the `ARG`s of one instruction before the first `FROM`.
fn declare_globals(args: &mut Args, instr: &Instr, budget: &Budget) -> Result<(), LowerError> {
    for (arg, key, default) in arg_declarations(instr)? {
        let mut expand =
            |text: &str, scope: &Scope| budget.word(text, scope).map(|expanded| expanded.value);
        args.declare_global(key, default, &mut expand)
            .map_err(|source: ExpandError| expand_error(instr.span, arg, source))?;
    }
    Ok(())
}

/// Lowers the stage that `from` starts, after the stages `lowered` before it.
fn lower_stage(
    context: &Context<'_>,
    options: &LowerOptions,
    from: &From<'_>,
    lowered: &[stage::Lowered],
    body: &[&Instr],
) -> Result<(stage::Lowered, Vec<Warning>), LowerError> {
    let span = from.instr.span;
    let globals = context.args.globals();
    let base = context
        .budget
        .word(from.base, globals)
        .map_err(|source| expand_error(span, from.base, source))?
        .value;
    if base.is_empty() {
        return Err(LowerError::BlankBase {
            span,
            text: from.base.to_owned(),
        });
    }
    let platform = match &from.platform {
        None => None,
        Some(raw) => {
            let value = context
                .budget
                .word(raw, globals)
                .map_err(|source| expand_error(span, raw, source))?
                .value;
            Some(
                parse_platform(&value, &options.build_platform)
                    .map_err(|source| LowerError::Platform { span, source })?,
            )
        }
    };
    // A stage that a named context replaces is that image; its instructions do not run.
    if let Some((name, named)) = from.name.as_deref().and_then(|n| context.named_context(n)) {
        let image = named.image.as_str();
        let env = options
            .base_images
            .get(image)
            .map_or(&[][..], |known| &known.env[..]);
        let unknown = (!options.base_images.contains_key(image)).then(|| image.to_owned());
        let scope = Scope::from_image_env(env);
        context.budget.scope(&scope, span)?;
        let lowerer = StageLowerer::new(context, scope, unknown);
        return Ok(lowerer.finish(Stage {
            name: from.name.clone(),
            base: Base::Image(image.to_owned()),
            platform,
            steps: Vec::new(),
            span,
            from_text: Some(named_context_text(name, named)),
        }));
    }
    // `FROM name` refers to an earlier stage only, by its exact (lowercase) name.
    let base_stage = context
        .stage_index
        .get(base.as_str())
        .copied()
        .filter(|&index| index < lowered.len());
    // Else a named context of that name stands for the image.
    let (base, from_text) = match (base_stage, context.named_context(&base)) {
        (None, Some((name, named))) => (named.image.clone(), Some(named_context_text(name, named))),
        _ => (base, None),
    };
    // The base's ONBUILD triggers run first, as if written at the top of the stage.
    let (base, scope, unknown_base, platform, triggers) = match base_stage {
        Some(index) => {
            let parent = &lowered[index];
            let triggers = parent
                .stage
                .steps
                .iter()
                .filter_map(|step| match &step.op {
                    Op::Onbuild(trigger) => Some(trigger.clone()),
                    _ => None,
                })
                .collect();
            (
                Base::Stage(index),
                parent.scope.clone(),
                parent.unknown_base.clone(),
                parent.stage.platform.clone(),
                triggers,
            )
        }
        None if base == "scratch" => (
            Base::Scratch,
            Scope::from_image_env(&[]),
            None,
            platform,
            Vec::new(),
        ),
        None => match options.base_images.get(&base) {
            Some(image) => (
                Base::Image(base),
                Scope::from_image_env(&image.env),
                None,
                platform,
                image.onbuild.clone(),
            ),
            None => (
                Base::Image(base.clone()),
                Scope::from_image_env(&[]),
                Some(base),
                platform,
                Vec::new(),
            ),
        },
    };
    context.budget.scope(&scope, span)?;
    let mut lowerer = StageLowerer::new(context, scope, unknown_base);
    if let Some(index) = base_stage {
        lowerer.inherit(lowered[index].config_text, span)?;
    }
    for trigger in &triggers {
        lower_trigger(&mut lowerer, trigger, span)?;
    }
    for instr in body {
        lowerer.instruction(instr)?;
    }
    Ok(lowerer.finish(Stage {
        name: from.name.clone(),
        base,
        platform,
        steps: Vec::new(),
        span,
        from_text,
    }))
}

/// How progress shows a stage based on a named context.
fn named_context_text(name: &str, named: &NamedContext) -> String {
    format!("FROM {} (build context {name})", named.value)
}

/// Parses an `ONBUILD` trigger of the base (as Docker does, on its own with the default
/// escape character) and lowers it in the stage, at the stage's `FROM`.
fn lower_trigger(
    lowerer: &mut StageLowerer<'_>,
    trigger: &str,
    span: Span,
) -> Result<(), LowerError> {
    let error = |source| LowerError::Trigger {
        span,
        trigger: trigger.to_owned(),
        source,
    };
    let parsed = crate::parse(trigger).map_err(error)?;
    for instruction in &parsed.instructions {
        let mut instr = Instr::from(instruction);
        instr.span = span;
        if matches!(instr.name().as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
            return Err(LowerError::OnbuildTrigger {
                span,
                keyword: instr.name(),
            });
        }
        lowerer.instruction(&instr)?;
    }
    Ok(())
}

/// The error for a keyword that is no instruction.
fn unknown_instruction(instr: &Instr) -> LowerError {
    LowerError::UnknownInstruction {
        span: instr.span,
        keyword: instr.keyword.clone(),
        suggestion: suggest::closest(&instr.keyword, INSTRUCTIONS),
    }
}

/// A reference as BuildKit compares named contexts: without the `docker.io/library/` (or
/// `docker.io/`) prefix and the `:latest` tag.
fn familiar(name: &str) -> &str {
    let name = [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ]
    .iter()
    .find_map(|prefix| name.strip_prefix(prefix))
    .unwrap_or(name);
    name.strip_suffix(":latest").unwrap_or(name)
}

#[cfg(test)]
mod tests;
