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
    #[arg(long)]
    pub json: bool,
}
