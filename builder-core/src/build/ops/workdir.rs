//! `WORKDIR`: sets the working directory and creates it when the image lacks it.

use super::OpHandler;
use crate::build::stage::{BuildRun, StageState};
use crate::build::{config, workdir};
use crate::events::StepRef;
use crate::executor::NewLayer;
use crate::plan::Op;

/// A `WORKDIR` step (the op is `Op::Workdir`).
pub(super) struct WorkdirOp<'o>(pub &'o Op);

impl OpHandler for WorkdirOp<'_> {
    fn execute(
        &mut self,
        run: &mut BuildRun<'_>,
        state: &mut StageState,
        _step: &StepRef,
    ) -> crate::Result<Option<NewLayer>> {
        config::apply(&mut state.image.config, &mut state.cmd_set, self.0);
        workdir::make_workdir(run, state)
    }
}
