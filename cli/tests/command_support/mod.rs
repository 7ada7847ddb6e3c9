//! Helpers shared by the tests that run the `gatectl` binary for signing, planning and applying.

#![allow(dead_code, reason = "each test crate uses a different subset of the helpers")]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `gatectl` in `directory` with no signing key, admin token or build time from the
/// environment, so each test sets what it needs.
pub fn gatectl(arguments: &[&str], directory: &Path) -> Output {
    command(arguments, directory).output().unwrap()
}

/// Runs `gatectl` as [`gatectl`] does, with standard error a pipe whose reader has gone, as
/// under `gatectl ... 2>&1 | head -1`. The returned standard error is empty.
pub fn gatectl_with_closed_stderr(arguments: &[&str], directory: &Path) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command(arguments, directory).stderr(writer).output().unwrap()
}

fn command(arguments: &[&str], directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatectl"));
    command
        .args(arguments)
        .current_dir(directory)
        .env_remove("GATECTL_SIGNING_KEY")
        .env_remove("GATECTL_SIGNING_KEY_ID")
        .env_remove("GATECTL_ADMIN_TOKEN")
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn exit_code(output: &Output) -> i32 {
    output.status.code().unwrap()
}
