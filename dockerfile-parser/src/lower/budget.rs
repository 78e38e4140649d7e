//! What lowering may make of a Dockerfile: a bound on the text of the plan in all, so
//! that variables cannot make memory grow without end (`ENV A=$A$A` forty times is a
//! terabyte; one `ARG` copied into ten thousand `RUN`s is ten thousand copies).
//!
//! What can grow is charged: each expansion as it is made (the expander stops at what is
//! left, before building more); each step as it is added, by its text (which repeats
//! expanded values) and, for a `RUN`, the build arguments copied into it; and the scope
//! and config each stage starts from (copies of its base stage's). The rest of a step is
//! expanded values, charged already, or text of the Dockerfile, which is bounded. Charges
//! overlap, so the bound is met before the plan is that large, at a size no Dockerfile
//! needs: a 16 MiB Dockerfile (the most the CLI reads) fits, as does an image config of
//! the most a config may hold (16 MiB).

use std::cell::Cell;

use mkimage_plan::{Op, Span};

use super::error::LowerError;
use super::stage::pairs_len;
use crate::args::Scope;
use crate::expand::{Env, ExpandError, Expanded, Expander};

/// The most text lowering makes of one Dockerfile, in bytes.
pub const PLAN_TEXT_LIMIT: usize = 64 * 1024 * 1024;

/// The expander of one lowering and what is left of its budget.
pub(super) struct Budget {
    expander: Expander,
    left: Cell<usize>,
}

impl Budget {
    /// A full budget for expanding with `expander`.
    pub(super) fn new(expander: Expander) -> Self {
        Self {
            expander,
            left: Cell::new(PLAN_TEXT_LIMIT),
        }
    }

    /// Expands `text` as one word in `env`, charging the result.
    ///
    /// # Errors
    /// The expander's, [`ExpandError::TooLong`] when the budget is spent.
    pub(super) fn word(&self, text: &str, env: &dyn Env) -> Result<Expanded<String>, ExpandError> {
        self.word_with(self.expander, text, env)
    }

    /// As [`word`](Self::word), with another expander (a heredoc body's).
    pub(super) fn word_with(
        &self,
        expander: Expander,
        text: &str,
        env: &dyn Env,
    ) -> Result<Expanded<String>, ExpandError> {
        let expanded = expander.limit(self.left.get()).word(text, env)?;
        self.spend(expanded.value.len());
        Ok(expanded)
    }

    /// Expands `text` into words in `env`, charging them.
    ///
    /// # Errors
    /// As [`word`](Self::word).
    pub(super) fn words(
        &self,
        text: &str,
        env: &dyn Env,
    ) -> Result<Expanded<Vec<String>>, ExpandError> {
        let expanded = self.expander.limit(self.left.get()).words(text, env)?;
        self.spend(expanded.value.iter().map(String::len).sum());
        Ok(expanded)
    }

    /// Charges a step with `op` and `text`, added at `span`.
    ///
    /// # Errors
    /// [`LowerError::TooMuchText`] when the budget does not cover it.
    pub(super) fn step(&self, op: &Op, text: &str, span: Span) -> Result<(), LowerError> {
        let copied = match op {
            Op::Run(run) => pairs_len(&run.env) + pairs_len(&run.proxy_env),
            _ => 0,
        };
        self.copy(text.len() + copied, span)
    }

    /// Charges the scope a stage declared at `span` starts from.
    ///
    /// # Errors
    /// [`LowerError::TooMuchText`] when the budget does not cover it.
    pub(super) fn scope(&self, scope: &Scope, span: Span) -> Result<(), LowerError> {
        self.copy(scope.text_len(), span)
    }

    /// Charges `bytes` copied for the instruction at `span`.
    ///
    /// # Errors
    /// [`LowerError::TooMuchText`] when the budget does not cover them.
    pub(super) fn copy(&self, bytes: usize, span: Span) -> Result<(), LowerError> {
        if bytes > self.left.get() {
            return Err(LowerError::TooMuchText {
                span,
                limit: PLAN_TEXT_LIMIT,
            });
        }
        self.spend(bytes);
        Ok(())
    }

    fn spend(&self, bytes: usize) {
        self.left.set(self.left.get().saturating_sub(bytes));
    }
}
