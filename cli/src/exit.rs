//! Exit statuses shared by every subcommand.

use std::process::ExitCode;

/// How a run ended. CI reads these codes, so they never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: valid, no changes, or the operation succeeded.
    Success,
    /// 1: the input is invalid, or `diff` found changes (breaking ones with `--fail-on breaking`).
    Findings,
    /// 2: the command could not run (unreadable file, bad flag, unreachable target).
    Failure,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::Findings => ExitCode::from(1),
            ExitStatus::Failure => ExitCode::from(2),
        }
    }
}
