//! The build plan: stages of steps that the engine executes.
//!
//! The types are defined in [`mkimage_plan`], the leaf crate the Dockerfile frontend
//! shares with the engine; this module names them for users of the engine.

pub use mkimage_plan::{
    AddOptions, Base, Command, Copy, CopySource, Healthcheck, HealthcheckOptions, InlineFile,
    KeyValue, Mount, Network, Op, ParsePlatformError, Plan, PlanError, Platform, Run, Security,
    Sharing, Source, Span, Stage, Step, StepMeta,
};
