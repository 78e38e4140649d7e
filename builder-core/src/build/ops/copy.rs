//! `COPY` and `ADD`: files from the context, a stage, an image or a URL, as one layer.

use oci_spec::image::Digest;

use super::OpHandler;
use crate::build::Fetched;
use crate::build::copy::{self, Prepared};
use crate::build::stage::{BuildRun, StageState};
use crate::events::StepRef;
use crate::executor::NewLayer;
use crate::plan::{Copy, Op, Platform, Source};

/// Whether a step of `op` can be keyed after it wrote its layer: a `COPY` from the
/// context, whose files its layer writer hashes as it copies them. Its definition (its
/// key without the files) finds the record of an earlier build, or else the step runs
/// and hashes as it goes.
pub(crate) fn keyed_after_writing(op: &Op) -> bool {
    matches!(op, Op::Copy(copy) if copy.add.is_none() && copy.from == Source::Context)
}

/// A `COPY` or `ADD` step with its sources found.
pub(super) struct CopyOp<'o> {
    copy: &'o Copy,
    prepared: Prepared,
}

impl<'o> CopyOp<'o> {
    /// Finds the sources of `copy` (see [`copy::prepare`]).
    pub(super) fn prepare(
        run: &BuildRun<'_>,
        copy: &'o Copy,
        platform: &Platform,
        defer: bool,
    ) -> crate::Result<CopyOp<'o>> {
        let prepared = copy::prepare(run, copy, platform, defer)?;
        Ok(CopyOp { copy, prepared })
    }
}

impl OpHandler for CopyOp<'_> {
    fn inputs(&self, _run: &BuildRun<'_>) -> crate::Result<Vec<Digest>> {
        Ok(self.prepared.inputs())
    }

    fn fetched(&self) -> Vec<Fetched> {
        self.prepared.add.fetched.clone()
    }

    fn reuses_layer(&self) -> bool {
        true
    }

    fn execute(
        &mut self,
        run: &mut BuildRun<'_>,
        state: &mut StageState,
        _step: &StepRef,
    ) -> crate::Result<Option<NewLayer>> {
        copy::run(run, state, self.copy, &mut self.prepared)
    }
}
