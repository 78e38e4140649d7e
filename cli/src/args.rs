//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build OCI container images from Dockerfiles, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "mkimage", version)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version.
    Version,
    /// Parse a Dockerfile and print its instructions.
    Parse(ParseArgs),
}

/// `mkimage parse`.
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// The Dockerfile to read; `-` reads standard input.
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: PathBuf,
    /// Print the instructions as parsed, before expansion, as one JSON document.
    #[arg(long, conflicts_with = "plan")]
    pub json: bool,
    /// Print the build plan (expanded, pruned to the target) as one JSON document.
    #[arg(long)]
    pub plan: bool,
    /// A build argument for `--plan`: `KEY=VALUE`, or `KEY` to take the value from the
    /// environment (skipped when it is not set). Repeatable.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]", requires = "plan")]
    pub build_args: Vec<String>,
    /// The stage to plan for with `--plan`; the last one by default.
    #[arg(long, value_name = "STAGE", requires = "plan")]
    pub target: Option<String>,
}
