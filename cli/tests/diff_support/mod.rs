//! Helpers shared by the `gatectl diff` tests: fixtures, temporary specs and runs of the binary.

#![allow(dead_code, reason = "each test crate uses a different subset of the helpers")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff").join(name)
}

pub fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// Runs `gatectl ARGS` in `directory` without colour.
pub fn gatectl_in(directory: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl")).args(args).current_dir(directory).env("NO_COLOR", "1").output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub fn gatectl(args: &[&str]) -> Run {
    gatectl_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Two spec files in a temporary directory.
pub struct SpecPair {
    pub directory: tempfile::TempDir,
    pub old: PathBuf,
    pub new: PathBuf,
}

pub fn spec_pair(old: &str, new: &str) -> SpecPair {
    let directory = tempfile::tempdir().unwrap();
    let old_path = directory.path().join("old.yaml");
    let new_path = directory.path().join("new.yaml");
    std::fs::write(&old_path, old).unwrap();
    std::fs::write(&new_path, new).unwrap();
    SpecPair { directory, old: old_path, new: new_path }
}

/// Diffs `old` against `new` with `--format json` and extra arguments; returns the exit code
/// and the parsed document.
pub fn diff_json(old: &str, new: &str, extra: &[&str]) -> (i32, Value) {
    let pair = spec_pair(old, new);
    let mut args = vec!["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let run = gatectl(&args);
    assert!(run.code == 0 || run.code == 1, "exit {}: {}", run.code, run.stderr);
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

/// Diffs the base fixture against the base fixture with `from` replaced by `to`.
pub fn diff_base(from: &str, to: &str) -> Value {
    let base = read_fixture("base.yaml");
    assert!(base.contains(from), "base.yaml does not contain {from:?}");
    diff_json(&base, &base.replacen(from, to, 1), &[]).1
}

/// Finds the entity change of `kind` named `name`.
pub fn entity<'a>(document: &'a Value, kind: &str, name: &str) -> &'a Value {
    let changes = document["changes"].as_array().unwrap();
    changes
        .iter()
        .find(|change| change["kind"] == kind && change["name"] == name)
        .unwrap_or_else(|| panic!("no change of {kind} {name} in {document:#}"))
}

/// Finds the field change at `path` of the entity of `kind` named `name`.
pub fn field<'a>(document: &'a Value, kind: &str, name: &str, path: &str) -> &'a Value {
    let fields = entity(document, kind, name)["fields"].as_array().unwrap();
    fields.iter().find(|field| field["path"] == path).unwrap_or_else(|| panic!("no field {path} of {kind} {name} in {document:#}"))
}
