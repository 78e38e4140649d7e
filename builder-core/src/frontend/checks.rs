//! The build checks of a Dockerfile build: BuildKit's rules (see
//! [`mkimage_dockerfile::checks`]) evaluated with what the frontend knows and the parser
//! does not, the base images' environment and the context's `.dockerignore`.

use mkimage_dockerfile::checks::{self, CHECK_BUILD_ARG, Check, CheckConfig};
use mkimage_dockerfile::{Dockerfile, LowerOptions};

use crate::context::Context;

use super::FrontendError;
use super::outcome::{Warning, Warnings};

/// The checks of one build and how they are configured.
pub(super) struct Checks {
    config: CheckConfig,
    /// The rules that fired and were reported.
    fired: Vec<&'static str>,
}

impl Checks {
    /// The configuration of a build with these `build_args`.
    pub(super) fn new(
        dockerfile: &Dockerfile,
        build_args: &std::collections::BTreeMap<String, String>,
    ) -> Result<Checks, FrontendError> {
        let build_arg = build_args.get(CHECK_BUILD_ARG).map(String::as_str);
        let config = CheckConfig::for_build(&dockerfile.directives, build_arg)
            .map_err(|source| FrontendError::CheckOption { source })?;
        Ok(Checks {
            config,
            fired: Vec::new(),
        })
    }

    /// Evaluates the checks of `dockerfile` (named `file`, text `text`) with `options`
    /// and the `context`'s `.dockerignore`, and adds those the configuration reports to
    /// `warnings`.
    pub(super) fn run(
        &mut self,
        file: &str,
        (dockerfile, text): (&Dockerfile, &str),
        options: &LowerOptions,
        context: Option<&Context>,
        warnings: &mut Warnings<'_>,
    ) {
        let mut found = checks::check(dockerfile, text, options);
        if let Some(context) = context {
            found.extend(copy_ignored(dockerfile, context));
        }
        found.sort_by_key(|check| check.span.line);
        for check in self.config.select(found) {
            if !self.fired.contains(&check.rule.name) {
                self.fired.push(check.rule.name);
            }
            warnings.add(warning(file, &check));
        }
    }

    /// With `error=true`, the error for the rules that fired, if any did.
    pub(super) fn failure(&self, warnings: &Warnings<'_>) -> Result<(), FrontendError> {
        if self.config.error && !self.fired.is_empty() {
            return Err(FrontendError::ChecksFailed {
                rules: self.fired.join(", "),
                warnings: warnings.checks(),
            });
        }
        Ok(())
    }
}

/// `CopyIgnoredFile`, when the context's `.dockerignore` has no `!` pattern: as in
/// BuildKit, a directory excluded with a file re-included below it cannot be told apart
/// from its path alone.
fn copy_ignored(dockerfile: &Dockerfile, context: &Context) -> Vec<Check> {
    let patterns = context.ignore();
    if patterns.is_empty() || patterns.has_exclusions() {
        return Vec::new();
    }
    checks::copy_ignored(dockerfile, &|path| match path {
        "." => patterns.excludes_every_entry(),
        path => patterns.matches(path),
    })
}

/// The warning a check makes.
fn warning(file: &str, check: &Check) -> Warning {
    Warning::Check {
        file: file.to_owned(),
        line: check.span.line,
        col: check.span.col,
        rule: check.rule.name,
        description: check.rule.description,
        url: check.rule.url(),
        message: check.message.clone(),
    }
}
