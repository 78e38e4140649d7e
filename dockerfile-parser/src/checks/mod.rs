//! Build checks: BuildKit's Dockerfile linter, rule for rule.
//!
//! [`check`] evaluates every rule of [`RULES`] over a parsed [`Dockerfile`] and returns
//! what fired, as data: a [`Check`] names its [`Rule`], says what is wrong in BuildKit's
//! words and where. A [`CheckConfig`] (the `# check=` directive, or the
//! `BUILDKIT_DOCKERFILE_CHECK` build argument that replaces it) then selects what is
//! reported and whether a report fails the build. Everything here reads text: the one
//! rule that needs the build context, `CopyIgnoredFile`, takes the context's
//! `.dockerignore` as a function from the caller ([`copy_ignored`]).
//!
//! The rules are grouped by what they read: `from` the `FROM` lines and global `ARG`s,
//! `instructions` each instruction on its own or within its stage, `vars` the variables
//! in scope, `description` the comments above a definition, `copy` the `COPY`/`ADD`
//! sources.
//!
//! ```
//! use mkimage_dockerfile::{LowerOptions, checks, parse};
//!
//! let text = "FROM alpine AS Builder\n";
//! let found = checks::check(&parse(text)?, text, &LowerOptions::new("linux/amd64".parse()?));
//! assert_eq!(found[0].rule.name, "StageNameCasing");
//! assert_eq!(found[0].message, "Stage name 'Builder' should be lowercase");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod copy;
mod description;
mod from;
mod instructions;
mod rules;
mod vars;

pub use config::{CHECK_BUILD_ARG, CheckConfig, CheckConfigError};
pub use copy::copy_ignored;
pub use instructions::looks_secret;
pub use rules::*;

use crate::ast::{Dockerfile, Instruction, Keyword};
use crate::expand::Expander;
use crate::lower::LowerOptions;
use crate::span::Span;

/// The longest text a word of a check may expand to; checks ignore a word that would
/// grow longer (lowering then reports it).
const EXPAND_LIMIT: usize = 64 * 1024;

/// A check that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The rule.
    pub rule: &'static Rule,
    /// What is wrong, as BuildKit words it.
    pub message: String,
    /// The instruction it is about.
    pub span: Span,
}

impl Check {
    fn new(rule: &'static Rule, message: String, span: Span) -> Check {
        Check {
            rule,
            message,
            span,
        }
    }
}

/// Evaluates every rule but `CopyIgnoredFile` over `dockerfile`, whose text is `text`,
/// for a build with `options` (build arguments, platforms and, for `UndefinedVar`, the
/// base images' environment: a stage on a base not listed there is not checked for
/// undefined variables). Returns what fired, by line, whether a configuration would
/// report it or not (see [`CheckConfig::select`]).
pub fn check(dockerfile: &Dockerfile, text: &str, options: &LowerOptions) -> Vec<Check> {
    let layout = Layout::of(dockerfile);
    let expander = Expander::new(dockerfile.directives.escape).limit(EXPAND_LIMIT);
    let mut found = Vec::new();
    instructions::empty_continuations(dockerfile, &mut found);
    from::check(&layout, &expander, options, &mut found);
    instructions::check(&layout, &mut found);
    vars::check(&layout, &expander, options, &mut found);
    description::check(&layout, text, &mut found);
    found.sort_by_key(|check| check.span.line);
    found
}

/// The Dockerfile as stages: the `ARG`s before the first `FROM`, then each `FROM` with
/// the instructions after it.
struct Layout<'a> {
    globals: Vec<&'a Instruction>,
    stages: Vec<StageView<'a>>,
}

/// One stage: its `FROM` and the instructions up to the next.
struct StageView<'a> {
    from: &'a Instruction,
    body: Vec<&'a Instruction>,
}

impl<'a> Layout<'a> {
    fn of(dockerfile: &'a Dockerfile) -> Layout<'a> {
        let mut layout = Layout {
            globals: Vec::new(),
            stages: Vec::new(),
        };
        for instruction in &dockerfile.instructions {
            match (instruction.kind, layout.stages.last_mut()) {
                (Keyword::From, _) => layout.stages.push(StageView {
                    from: instruction,
                    body: Vec::new(),
                }),
                (_, Some(stage)) => stage.body.push(instruction),
                (Keyword::Arg, None) => layout.globals.push(instruction),
                (_, None) => {}
            }
        }
        layout
    }
}

impl StageView<'_> {
    /// The base as written.
    fn base(&self) -> Option<&str> {
        self.from.arg_strings().first().copied()
    }

    /// The name after `AS`, as written.
    fn name(&self) -> Option<&str> {
        match self.from.arg_strings().as_slice() {
            [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(name),
            _ => None,
        }
    }

    /// The index of the earlier stage the base names, if it names one.
    fn base_stage(&self, before: &[StageView<'_>]) -> Option<usize> {
        let base = self.base()?.to_ascii_lowercase();
        before
            .iter()
            .rposition(|stage| stage.name().map(str::to_ascii_lowercase) == Some(base.clone()))
    }
}

/// The keys an `ARG` declares.
fn arg_keys(instruction: &Instruction) -> Vec<&str> {
    instruction
        .arg_strings()
        .into_iter()
        .map(|arg| arg.split_once('=').map_or(arg, |(key, _)| key))
        .collect()
}

/// The value of the flag `--name`, if given.
fn flag<'a>(instruction: &'a Instruction, name: &str) -> Option<&'a str> {
    instruction
        .flags
        .iter()
        .find(|flag| flag.name == name)
        .map(|flag| flag.value.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests;
