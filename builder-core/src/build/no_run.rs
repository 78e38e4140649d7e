//! The executor of builds without a sandbox.

use super::BuildError;
use crate::executor::{NewLayer, RunInput, StepExecutor};

/// A [`StepExecutor`] for builds without a sandbox: every `RUN` fails with
/// [`BuildError::RunUnavailable`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRun;

impl StepExecutor for NoRun {
    fn run(&self, _input: &RunInput<'_>) -> crate::Result<Option<NewLayer>> {
        Err(BuildError::RunUnavailable.into())
    }
}
