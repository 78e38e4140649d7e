//! `mkimage`: build OCI container images from Dockerfiles, without a daemon.

mod args;
mod located;
mod parse;
mod render;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Args, Command};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            render::error(&error);
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Version => {
            render::line(&format!("mkimage {}", env!("CARGO_PKG_VERSION")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse(args) => parse::run(&args),
    }
}
