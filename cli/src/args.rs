//! Command-line arguments.

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
}
