//! Building the stages a target needs, each on its own thread as soon as the stages it
//! reads from are built, so that independent stages build at the same time.
//!
//! Results do not depend on the order stages finish in: a stage sees only the stages it
//! reads from, step numbers come from the plan, and the step results are listed in plan
//! order. The first stage to fail stops the others before their next step; the steps
//! already running are awaited.
//!
//! The work is linear in the stages and the edges between them: each stage counts the
//! stages it still waits for, and a stage built counts down those of its readers.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use super::StepResult;
use super::stage::BuildRun;

/// What a stage's thread reports: its image and steps, `None` when it was stopped, or
/// its error; `Err` when it panicked.
type Outcome =
    thread::Result<crate::Result<Option<(crate::executor::StageImage, Vec<StepResult>)>>>;

impl BuildRun<'_> {
    /// Builds the stages `needed` (which must include every stage they read from) into
    /// `self.stages`, adding their steps to `self.steps` in plan order.
    pub(super) fn build_stages(&mut self, needed: &[usize]) -> crate::Result<()> {
        let count = self.plan.stages.len();
        let mut steps: Vec<Vec<StepResult>> = vec![Vec::new(); count];
        // For each needed stage, how many stages it waits for, and who waits for each.
        let mut waits_for = vec![0_usize; count];
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); count];
        for &index in needed {
            for dependency in self.plan.stages[index].dependencies() {
                if self.stage_image(dependency).is_err() {
                    waits_for[index] += 1;
                    readers[dependency].push(index);
                }
            }
        }
        let mut ready: Vec<usize> = needed
            .iter()
            .copied()
            .filter(|&index| waits_for[index] == 0)
            .collect();
        let stop = AtomicBool::new(false);
        let mut failure: Option<crate::Error> = None;
        let mut panicked = None;
        thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel::<(usize, Outcome)>();
            let mut running = 0_usize;
            loop {
                if !stop.load(Ordering::Relaxed) {
                    for index in ready.drain(..) {
                        let mut fork = self.fork();
                        let sender = sender.clone();
                        let stop = &stop;
                        scope.spawn(move || {
                            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                                let image = fork.build_stage(index, stop)?;
                                Ok(image.map(|image| (image, fork.steps)))
                            }));
                            // The receiver lives until every thread is done.
                            let _ = sender.send((index, outcome));
                        });
                        running += 1;
                    }
                }
                if running == 0 {
                    break;
                }
                let Ok((index, outcome)) = receiver.recv() else {
                    break;
                };
                running -= 1;
                match outcome {
                    Ok(Ok(Some((image, built)))) => {
                        self.set_stage_image(index, image);
                        steps[index] = built;
                        for &reader in &readers[index] {
                            waits_for[reader] -= 1;
                            if waits_for[reader] == 0 {
                                ready.push(reader);
                            }
                        }
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(error)) => {
                        stop.store(true, Ordering::Relaxed);
                        failure.get_or_insert(error);
                    }
                    Err(payload) => {
                        stop.store(true, Ordering::Relaxed);
                        panicked.get_or_insert(payload);
                    }
                }
            }
        });
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
        if let Some(error) = failure {
            return Err(error);
        }
        self.steps.extend(steps.into_iter().flatten());
        Ok(())
    }
}
