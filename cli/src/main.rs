//! `mkimage`: build OCI container images from Dockerfiles, without a daemon.

mod args;
mod build;
mod excerpt;
mod history;
mod human;
mod images;
mod inspect;
mod load;
mod located;
mod login;
mod parse;
mod prune;
mod pull;
mod push;
mod registry;
mod render;
mod rmi;
mod save;
mod secrets;
mod store;
mod tag;

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
        Command::Parse(parse) => parse::run(&parse),
        Command::Build(build) => build::run(&store::open(args.root.as_deref())?, &build),
        Command::Images(images) => images::run(&store::open(args.root.as_deref())?, &images),
        Command::Inspect(inspect) => inspect::run(&store::open(args.root.as_deref())?, &inspect),
        Command::History(history) => history::run(&store::open(args.root.as_deref())?, &history),
        Command::Tag(tag) => tag::run(&store::open(args.root.as_deref())?, &tag),
        Command::Rmi(rmi) => rmi::run(&store::open(args.root.as_deref())?, &rmi),
        Command::Save(save) => save::run(&store::open(args.root.as_deref())?, &save),
        Command::Load(load) => load::run(&store::open(args.root.as_deref())?, &load),
        Command::Prune(prune) => prune::run(&store::open(args.root.as_deref())?, &prune),
        Command::Pull(pull) => pull::run(&store::open(args.root.as_deref())?, &pull),
        Command::Push(push) => push::run(&store::open(args.root.as_deref())?, &push),
        Command::Login(login) => login::login(&login),
        Command::Logout(logout) => login::logout(&logout),
    }
}
