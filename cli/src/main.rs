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

/// Loading a spec builds and frees many small trees: YAML nodes, JSON values and the typed
/// model. mimalloc does that with fewer page faults than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    let status = commands::run(args);
    status.into()
}
