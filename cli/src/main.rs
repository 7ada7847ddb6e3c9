//! `gatectl`: import, validate, diff, plan and apply gateway specs.

#[macro_use]
mod output;

mod args;
mod commands;
mod diff;
mod exit;
mod import;
mod remote;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    let status = commands::run(args);
    status.into()
}
