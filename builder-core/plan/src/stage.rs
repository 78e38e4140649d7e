//! Plans, stages and steps, and the graph between stages.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use super::op::{Mount, Op, Source};
use super::platform::Platform;

/// A whole build: stages in the order they were declared.
///
/// Stages refer to earlier stages by index ([`Base::Stage`], [`Source::Stage`]). The stage
/// at [`Plan::target`] is the one whose result becomes the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The stages, in declaration order.
    pub stages: Vec<Stage>,
    /// Index into `stages` of the stage that produces the image.
    pub target: usize,
}

/// One stage: a base and the steps applied on top of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// The stage's name (`FROM … AS name`), lowercased as Docker does.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: Base,
    /// The platform the stage is built for (`FROM --platform=…`); `None` means the build's
    /// target platform.
    pub platform: Option<Platform>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Where the stage was declared (the `FROM` line).
    pub span: Span,
    /// How progress shows the step that loads an image base, when not as
    /// `FROM {reference}` (a named build context shows its name and value). Never part of
    /// a cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_text: Option<String>,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// An empty filesystem and a default config (`FROM scratch`).
    Scratch,
    /// An image, named by a reference (`busybox`, `host:5000/repo:tag@sha256:…`) or a
    /// transport (`oci-archive:PATH[:ref]`, `docker-archive:PATH`, `oci:DIR[:ref]`). The
    /// engine resolves it through its base resolver.
    Image(String),
    /// The result of an earlier stage of this plan, by index.
    Stage(usize),
}

/// One step of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step does. Only this part is part of the step's cache key.
    pub op: Op,
    /// Where the step came from and how to show it. Never part of a cache key.
    pub meta: StepMeta,
}

/// Where a step came from and how to show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMeta {
    /// The position of the instruction in its source (the Dockerfile).
    pub span: Span,
    /// The instruction as shown in progress output and image history (`created_by`), for
    /// example `COPY . /app`.
    pub text: String,
}

/// A position in a source file: 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// 1-based line; 0 when the step was not made from a file.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a plan is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The plan has no stage.
    #[error("the plan has no stage")]
    Empty,
    /// `target` is not the index of a stage.
    #[error("target stage {target} does not exist (the plan has {count} stages)")]
    NoSuchTarget {
        /// The requested index.
        target: usize,
        /// How many stages there are.
        count: usize,
    },
    /// Stages read from each other in a circle.
    #[error("stage {stage} depends on itself through its sources")]
    Cycle {
        /// A stage on the circle.
        stage: usize,
    },
    /// A stage refers to itself or to a later stage.
    #[error("stage {stage} refers to stage {refers_to}, which is not an earlier stage")]
    ForwardReference {
        /// The referring stage.
        stage: usize,
        /// The stage it refers to.
        refers_to: usize,
    },
}

impl Plan {
    /// Checks that the plan has a target and that stages only refer to earlier stages.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.stages.is_empty() {
            return Err(PlanError::Empty);
        }
        if self.target >= self.stages.len() {
            return Err(PlanError::NoSuchTarget {
                target: self.target,
                count: self.stages.len(),
            });
        }
        for (index, stage) in self.stages.iter().enumerate() {
            if let Some(&refers_to) = stage.dependencies().iter().find(|&&dep| dep >= index) {
                return Err(PlanError::ForwardReference {
                    stage: index,
                    refers_to,
                });
            }
        }
        Ok(())
    }

    /// The indexes of the stages the target needs, itself included, in ascending order.
    pub fn needed_stages(&self) -> Vec<usize> {
        let mut needed = vec![false; self.stages.len()];
        let mut pending = vec![self.target];
        while let Some(index) = pending.pop() {
            if index >= needed.len() || needed[index] {
                continue;
            }
            needed[index] = true;
            pending.extend(self.stages[index].dependencies());
        }
        (0..needed.len()).filter(|&i| needed[i]).collect()
    }

    /// Orders the stages so that each comes after the stages it reads from, keeping the
    /// declared order where it can, and renumbers the references. A Dockerfile may
    /// `COPY --from` a stage declared further down; after this the plan validates.
    ///
    /// # Errors
    /// [`PlanError::Cycle`] when stages read from each other in a circle, and
    /// [`PlanError::NoSuchTarget`] for a reference to a stage that does not exist.
    pub fn sort_stages(self) -> Result<Plan, PlanError> {
        let count = self.stages.len();
        let deps: Vec<Vec<usize>> = self.stages.iter().map(Stage::dependencies).collect();
        if let Some(&missing) = deps.iter().flatten().find(|&&dep| dep >= count) {
            return Err(PlanError::NoSuchTarget {
                target: missing,
                count,
            });
        }
        // Repeatedly take the first stage whose dependencies are all placed: the stages
        // ready to place wait in a min-heap, and placing one counts down the dependencies
        // left to each stage that reads from it, so each edge is looked at once.
        let mut left: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (index, stage_deps) in deps.iter().enumerate() {
            for &dep in stage_deps {
                readers[dep].push(index);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
            .filter(|&index| left[index] == 0)
            .map(Reverse)
            .collect();
        let mut new_index = vec![usize::MAX; count];
        let mut order = Vec::with_capacity(count);
        while let Some(Reverse(next)) = ready.pop() {
            new_index[next] = order.len();
            order.push(next);
            for &reader in &readers[next] {
                left[reader] -= 1;
                if left[reader] == 0 {
                    ready.push(Reverse(reader));
                }
            }
        }
        if order.len() < count {
            let stage = (0..count)
                .find(|&index| new_index[index] == usize::MAX)
                .expect("some stage is not placed");
            return Err(PlanError::Cycle { stage });
        }
        let mut stages: Vec<Option<Stage>> = self.stages.into_iter().map(Some).collect();
        let stages = order
            .iter()
            .map(|&old| {
                let mut stage = stages[old].take().expect("each stage is placed once");
                stage.renumber(&new_index);
                stage
            })
            .collect();
        Ok(Plan {
            stages,
            target: new_index.get(self.target).copied().unwrap_or(self.target),
        })
    }

    /// Drops every stage the target does not need and renumbers the references.
    ///
    /// # Errors
    /// As [`Plan::validate`].
    pub fn prune(self) -> Result<Plan, PlanError> {
        self.validate()?;
        let keep = self.needed_stages();
        let mut new_index = vec![usize::MAX; self.stages.len()];
        for (new, &old) in keep.iter().enumerate() {
            new_index[old] = new;
        }
        let mut stages = Vec::with_capacity(keep.len());
        for (old, mut stage) in self.stages.into_iter().enumerate() {
            if new_index[old] == usize::MAX {
                continue;
            }
            stage.renumber(&new_index);
            stages.push(stage);
        }
        Ok(Plan {
            target: new_index[self.target],
            stages,
        })
    }
}

impl Stage {
    /// The earlier stages this stage reads from: its base, `COPY --from` and
    /// `RUN --mount=…,from=` sources. Sorted, without duplicates.
    pub fn dependencies(&self) -> Vec<usize> {
        let mut deps = Vec::new();
        if let Base::Stage(index) = self.base {
            deps.push(index);
        }
        for step in &self.steps {
            for source in step.op.sources() {
                if let Source::Stage(index) = source {
                    deps.push(*index);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    fn renumber(&mut self, new_index: &[usize]) {
        if let Base::Stage(index) = &mut self.base {
            *index = new_index[*index];
        }
        for step in &mut self.steps {
            match &mut step.op {
                Op::Copy(copy) => copy.from.renumber(new_index),
                Op::Run(run) => {
                    for mount in &mut run.mounts {
                        match mount {
                            Mount::Bind { from, .. }
                            | Mount::Cache {
                                from: Some(from), ..
                            } => from.renumber(new_index),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl Source {
    fn renumber(&mut self, new_index: &[usize]) {
        if let Source::Stage(index) = self {
            *index = new_index[*index];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Copy, Run, Sharing};

    fn stage(base: Base, steps: Vec<Op>) -> Stage {
        Stage {
            name: None,
            base,
            platform: None,
            steps: steps
                .into_iter()
                .map(|op| Step {
                    op,
                    meta: StepMeta::default(),
                })
                .collect(),
            span: Span::default(),
            from_text: None,
        }
    }

    fn copy_from(from: Source) -> Op {
        Op::Copy(Copy {
            from,
            ..Copy::new(vec!["a".into()], "/b")
        })
    }

    #[test]
    fn prune_keeps_only_what_the_target_needs() {
        let plan = Plan {
            stages: vec![
                stage(Base::Scratch, vec![]),
                stage(Base::Scratch, vec![]),
                stage(Base::Stage(1), vec![]),
                stage(Base::Scratch, vec![copy_from(Source::Stage(2))]),
            ],
            target: 3,
        };
        let pruned = plan.prune().unwrap();
        assert_eq!(pruned.stages.len(), 3);
        assert_eq!(pruned.target, 2);
        assert_eq!(pruned.stages[1].base, Base::Stage(0));
        assert_eq!(pruned.stages[2].dependencies(), vec![1]);
    }

    #[test]
    fn only_cache_mounts_with_a_source_are_dependencies() {
        let cache = |from| Mount::Cache {
            target: "/c".into(),
            id: "c".into(),
            sharing: Sharing::Shared,
            from,
            source: "/".into(),
            readonly: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        };
        let mut run = Run::new(Command::Shell("true".into()));
        run.mounts = vec![cache(None), cache(Some(Source::Stage(0)))];
        let with_cache = stage(Base::Scratch, vec![Op::Run(run)]);
        assert_eq!(with_cache.dependencies(), vec![0]);
    }

    #[test]
    fn sorting_puts_sources_first() {
        let plan = Plan {
            stages: vec![
                stage(Base::Scratch, vec![copy_from(Source::Stage(2))]),
                stage(Base::Scratch, vec![]),
                stage(Base::Stage(1), vec![]),
            ],
            target: 0,
        };
        let sorted = plan.sort_stages().unwrap();
        assert_eq!(sorted.target, 2);
        assert_eq!(sorted.stages[1].base, Base::Stage(0));
        assert_eq!(sorted.stages[2].dependencies(), vec![1]);
        sorted.validate().unwrap();

        let cycle = Plan {
            stages: vec![
                stage(Base::Scratch, vec![copy_from(Source::Stage(1))]),
                stage(Base::Scratch, vec![copy_from(Source::Stage(0))]),
            ],
            target: 1,
        };
        assert_eq!(cycle.sort_stages(), Err(PlanError::Cycle { stage: 0 }));
    }

    #[test]
    fn forward_references_are_rejected() {
        let plan = Plan {
            stages: vec![stage(
                Base::Stage(0),
                vec![Op::Cmd(Command::Exec(vec!["x".into()]))],
            )],
            target: 0,
        };
        assert_eq!(
            plan.validate().unwrap_err().to_string(),
            "stage 0 refers to stage 0, which is not an earlier stage"
        );
    }
}
