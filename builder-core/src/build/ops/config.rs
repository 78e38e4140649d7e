//! The ops that only edit the image config (`ENV`, `LABEL`, `CMD`…).

use super::OpHandler;
use crate::build::config;
use crate::build::stage::{BuildRun, StageState};
use crate::events::StepRef;
use crate::executor::NewLayer;
use crate::plan::Op;

/// A step that edits the config and writes no layer.
pub(super) struct ConfigOp<'o>(pub &'o Op);

impl OpHandler for ConfigOp<'_> {
    fn execute(
        &mut self,
        _run: &mut BuildRun<'_>,
        state: &mut StageState,
        _step: &StepRef,
    ) -> crate::Result<Option<NewLayer>> {
        config::apply(&mut state.image.config, &mut state.cmd_set, self.0);
        Ok(None)
    }
}
