//! One handler per kind of op, as BuildKit keeps one op per file (`ops/exec.go`,
//! `ops/file.go`, `ops/source.go`): what a step of that kind reads for its cache key,
//! whether the layer it writes reuses the one it wrote last, and how it runs. Building a
//! step (`BuildRun::step`) picks the handler of its op once, in [`handler`], and asks it
//! the rest.

mod config;
mod copy;
mod run;
mod workdir;

use oci_spec::image::Digest;

use super::stage::{BuildRun, StageState};
use crate::build::Fetched;
use crate::events::StepRef;
use crate::executor::NewLayer;
use crate::plan::{Op, Platform};

pub(super) use copy::keyed_after_writing;

/// How the engine builds a step of one kind of op.
pub(super) trait OpHandler {
    /// The digests of what the step reads besides its parent and its op, for its cache
    /// key (none by default). For a step keyed after writing ([`keyed_after_writing`]),
    /// complete only once it ran.
    ///
    /// # Errors
    ///
    /// Why something the step reads cannot be found or read.
    fn inputs(&self, _run: &BuildRun<'_>) -> crate::Result<Vec<Digest>> {
        Ok(Vec::new())
    }

    /// What the step fetched from outside the build (`ADD` of URLs and git sources).
    fn fetched(&self) -> Vec<Fetched> {
        Vec::new()
    }

    /// Whether the layer it writes copies the unchanged chunks of the layer the same
    /// step wrote in an earlier build.
    fn reuses_layer(&self) -> bool {
        false
    }

    /// Runs the step onto `state`: edits the config and returns the layer it wrote, if
    /// any.
    ///
    /// # Errors
    ///
    /// Why the step failed.
    fn execute(
        &mut self,
        run: &mut BuildRun<'_>,
        state: &mut StageState,
        step: &StepRef,
    ) -> crate::Result<Option<NewLayer>>;
}

/// The handler of `op` for a step built for `platform`, with what it reads found; with
/// `defer`, a step [`keyed_after_writing`] leaves the digest of its files to
/// [`OpHandler::execute`].
///
/// # Errors
///
/// Why what the step reads cannot be found (a source, a stage, an image).
pub(super) fn handler<'o>(
    run: &BuildRun<'_>,
    op: &'o Op,
    platform: &Platform,
    defer: bool,
) -> crate::Result<Box<dyn OpHandler + 'o>> {
    Ok(match op {
        Op::Copy(copy) => Box::new(copy::CopyOp::prepare(run, copy, platform, defer)?),
        Op::Run(command) => Box::new(run::RunOp::prepare(run, command, platform)?),
        Op::Workdir(_) => Box::new(workdir::WorkdirOp(op)),
        other => Box::new(config::ConfigOp(other)),
    })
}
