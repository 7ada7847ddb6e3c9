//! `gatectl rollback`: activates an earlier bundle from each runtime's history.
//!
//! Without `--to`, the target is the newest bundle in the history whose version is lower than
//! the active one, so repeated rollbacks step back one version at a time.

use serde::Serialize;

use crate::exit::ExitStatus;
use crate::remote::{Activated, AdminClient, HistoryEntry, RemoteArgs};

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Runtime admin URL, for example http://127.0.0.1:9901 (repeatable).
    #[arg(long = "target", required = true, value_name = "URL")]
    pub targets: Vec<String>,
    /// Hash of the bundle to activate (`sha256:` and 64 hex digits); it must be in each target's
    /// history (`GET /bundles`). Default: the previous version in the history.
    #[arg(long, value_name = "HASH")]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, visible_alias = "format", value_enum, default_value_t = super::apply::OutputFormat::Text)]
    pub output: super::apply::OutputFormat,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolledBack {
    target: String,
    from: Option<HistoryEntry>,
    to: Activated,
}

/// Outcome of one target, for `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
enum TargetOutcome {
    RolledBack(RolledBack),
    Failed {
        target: String,
        error: String,
    },
    /// Not tried, because an earlier target failed.
    NotAttempted {
        target: String,
    },
}

pub fn run(args: RollbackArgs) -> ExitStatus {
    if let Some(hash) = &args.to
        && !gatectl_spec::bundle::is_bundle_hash(hash)
    {
        return fail(&format!("--to `{hash}` is not a bundle hash; give `sha256:` followed by 64 lowercase hex digits"));
    }
    let connection = match args.remote.connect() {
        Ok(connection) => connection,
        Err(message) => return fail(&message),
    };

    // Targets are rolled back in order, and the first failure stops the run: the operator
    // decides what to do with a fleet that is now split, and the output shows where it split.
    let mut outcomes = Vec::with_capacity(args.targets.len());
    let mut failed = false;
    for url in &args.targets {
        if failed {
            outcomes.push(TargetOutcome::NotAttempted { target: url.clone() });
            continue;
        }
        match connection.target(url).and_then(|client| roll_back(&client, args.to.as_deref())) {
            Ok(rolled_back) => {
                let from = rolled_back.from.as_ref().map_or_else(|| "no bundle".to_owned(), |from| format!("version {}", from.version));
                eprintln!("{url}: rolled back from {from} to version {} ({})", rolled_back.to.version, rolled_back.to.hash);
                outcomes.push(TargetOutcome::RolledBack(rolled_back));
            }
            Err(message) => {
                eprintln!("error: {message}");
                outcomes.push(TargetOutcome::Failed { target: url.clone(), error: message });
                failed = true;
            }
        }
    }
    let skipped = outcomes.iter().filter(|outcome| matches!(outcome, TargetOutcome::NotAttempted { .. })).count();
    if skipped > 0 {
        eprintln!(
            "stopped at the failure: {skipped} later target(s) were not tried. Once the failing target is fixed, roll back it and those with `--target` for each; naming a target that was rolled back already would step it back one more version"
        );
    }
    if args.output == super::apply::OutputFormat::Json {
        match serde_json::to_string_pretty(&outcomes) {
            Ok(text) => outln!("{text}"),
            Err(error) => return fail(&format!("cannot serialise the result: {error}")),
        }
    }
    if failed { ExitStatus::Failure } else { ExitStatus::Success }
}

fn fail(message: &str) -> ExitStatus {
    eprintln!("error: {message}");
    ExitStatus::Failure
}

fn roll_back(client: &AdminClient, to: Option<&str>) -> Result<RolledBack, String> {
    let history = client.history()?;
    let active = history.iter().find(|entry| entry.active).cloned();
    let hash = match to {
        Some(hash) => hash.to_owned(),
        None => previous(&history, active.as_ref()).ok_or_else(|| {
            format!("target {}: the history has no bundle older than the active one, so there is nothing to roll back to", client.url())
        })?,
    };
    let to = client.activate(&hash)?;
    Ok(RolledBack { target: client.url().to_owned(), from: active, to })
}

/// Returns the hash of the newest bundle older than the active one.
fn previous(history: &[HistoryEntry], active: Option<&HistoryEntry>) -> Option<String> {
    let active_version = active?.version;
    history.iter().filter(|entry| entry.version < active_version).max_by_key(|entry| entry.version).map(|entry| entry.hash.clone())
}
