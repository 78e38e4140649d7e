//! Progress reporting: the engine tells, the caller shows.
//!
//! The engine never prints. It calls an [`Events`] implementation that the caller provides;
//! every method has a no-op default, so a caller implements only what it displays.

use std::fmt;
use std::time::Duration;

use crate::plan::Plan;

/// Receives progress from a build, a pull or a push. Called from several threads.
pub trait Events: Send + Sync {
    /// A build is starting with this (pruned) plan.
    fn build_started(&self, _plan: &Plan) {}
    /// A step is starting.
    fn step_started(&self, _step: &StepRef) {}
    /// A step's result was found in the cache; it will not run.
    fn step_cached(&self, _step: &StepRef) {}
    /// A step's result was found in an imported cache (`--cache-from`), named `source`;
    /// it will not run. By default told as [`Events::step_cached`].
    fn step_imported(&self, step: &StepRef, _source: &str) {
        self.step_cached(step);
    }
    /// A step finished after running for `elapsed`.
    fn step_finished(&self, _step: &StepRef, _elapsed: Duration) {}
    /// A running step wrote output.
    fn step_output(&self, _step: &StepRef, _stream: Stream, _bytes: &[u8]) {}
    /// A long task (a layer being written, a blob being pulled or pushed) started; `total`
    /// is its size in bytes when known.
    fn task_started(&self, _task: &TaskRef, _total: Option<u64>) {}
    /// A long task has done `done` bytes of its work.
    fn task_progress(&self, _task: &TaskRef, _done: u64) {}
    /// A long task finished.
    fn task_finished(&self, _task: &TaskRef) {}
    /// A step's new layer copied the compressed form of `reused` bytes of its tar from
    /// the layer the step wrote in an earlier build, and compressed only the rest.
    fn layer_reused(&self, _step: &StepRef, _reused: u64) {}
    /// Something the user should know that does not stop the build.
    fn warning(&self, _message: &str) {}
    /// A network request has waited `waited` for its server: for an answer, or for the
    /// next bytes of one. Reported every few seconds while the wait lasts.
    fn request_waiting(&self, _request: &RequestRef, _waited: Duration) {}
    /// A network request failed and is tried again after a pause.
    fn request_retrying(&self, _request: &RequestRef, _retry: &Retry) {}
}

/// An [`Events`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl Events for NoEvents {}

/// Which output stream of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Names one step of a build, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    /// Index of the stage in the plan.
    pub stage: usize,
    /// The stage's name, if it has one.
    pub stage_name: Option<String>,
    /// Index of the step in its stage (0-based).
    pub step: usize,
    /// Number of steps in the stage.
    pub steps: usize,
    /// The step's text (`COPY . /app`).
    pub text: String,
}

impl fmt::Display for StepRef {
    /// `[name 2/5] COPY . /app`, or `[stage-0 2/5] …` for an unnamed stage.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stage_name {
            Some(name) => write!(f, "[{name} ")?,
            None => write!(f, "[stage-{} ", self.stage)?,
        }
        write!(f, "{}/{}] {}", self.step + 1, self.steps, self.text)
    }
}

/// Names a long task, for display (`pull sha256:ab12…`, `layer 2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskRef {
    /// What the task is.
    pub label: String,
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// Names one network request (with the tries it takes), for display:
/// ``blob `sha256:…` of `registry.example/app` ``.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestRef {
    /// What is requested, and from where.
    pub label: String,
}

impl fmt::Display for RequestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// A retry of a failed network request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The number of the try about to be made: 2 for the first retry.
    pub attempt: u32,
    /// How many tries are allowed in all.
    pub attempts: u32,
    /// The pause before it.
    pub delay: Duration,
    /// Why the last try failed, with its causes.
    pub reason: String,
}
