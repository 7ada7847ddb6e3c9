//! Helpers shared by the tests that run the `gatectl` binary for signing, planning and applying.

#![allow(dead_code, reason = "each test crate uses a different subset of the helpers")]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `gatectl` in `directory` with no signing key, admin token or build time from the
/// environment, so each test sets what it needs.
pub fn gatectl(arguments: &[&str], directory: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .args(arguments)
        .current_dir(directory)
        .env_remove("GATECTL_SIGNING_KEY")
        .env_remove("GATECTL_SIGNING_KEY_ID")
        .env_remove("GATECTL_ADMIN_TOKEN")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn exit_code(output: &Output) -> i32 {
    output.status.code().unwrap()
}
