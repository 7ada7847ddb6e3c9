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
    /// `--to` named a newer bundle than the active one.
    MovedForward(RolledBack),
    /// Another step changed the target after the check (the same runtime named twice), so it
    /// was left alone.
    ChangedSinceCheck {
        target: String,
        version: u64,
        hash: String,
    },
    /// `--to` names the bundle the target already runs, so nothing was sent.
    AlreadyActive {
        target: String,
        version: u64,
        hash: String,
    },
    Failed {
        target: String,
        error: String,
    },
    /// Not tried, because another target failed.
    NotAttempted {
        target: String,
    },
}

/// A target checked before any is changed: its client, its active bundle and the hash to
/// activate.
struct Step {
    url: String,
    client: AdminClient,
    active: Option<HistoryEntry>,
    hash: String,
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

    // Every target is read first, so that a mistyped URL or a missing bundle changes nothing.
    let checked: Vec<Result<Step, String>> =
        args.targets.iter().map(|url| connection.target(url).and_then(|client| check(url, client, args.to.as_deref()))).collect();
    let outcomes = if checked.iter().any(Result::is_err) {
        errln!("nothing was rolled back, because a target failed the check");
        checked
            .into_iter()
            .zip(&args.targets)
            .map(|(checked, url)| match checked {
                Ok(_) => TargetOutcome::NotAttempted { target: url.clone() },
                Err(error) => {
                    errln!("error: {error}");
                    TargetOutcome::Failed { target: url.clone(), error }
                }
            })
            .collect()
    } else {
        roll_back_in_order(checked.into_iter().flatten().collect())
    };

    if args.output == super::apply::OutputFormat::Json {
        match serde_json::to_string_pretty(&outcomes) {
            Ok(text) => outln!("{text}"),
            Err(error) => return fail(&format!("cannot serialise the result: {error}")),
        }
    }
    let failed = outcomes.iter().any(|outcome| matches!(outcome, TargetOutcome::Failed { .. }));
    if failed { ExitStatus::Failure } else { ExitStatus::Success }
}

/// Activates each target's bundle in order. The first failure stops the run, because the
/// operator decides what to do with a fleet that is now split. The outcomes show where it split.
fn roll_back_in_order(steps: Vec<Step>) -> Vec<TargetOutcome> {
    let mut outcomes = Vec::with_capacity(steps.len());
    let mut skipped = Vec::new();
    for step in steps {
        if outcomes.iter().any(|outcome| matches!(outcome, TargetOutcome::Failed { .. })) {
            skipped.push(step.url.clone());
            outcomes.push(TargetOutcome::NotAttempted { target: step.url });
            continue;
        }
        // An earlier step may have changed this runtime already, when two URLs name it.
        let active = match step.client.history() {
            Ok(history) => history.into_iter().find(|entry| entry.active),
            Err(error) => {
                let error = error.to_string();
                errln!("error: {error}");
                outcomes.push(TargetOutcome::Failed { target: step.url, error });
                continue;
            }
        };
        if active.as_ref().map(|active| &active.hash) != step.active.as_ref().map(|active| &active.hash) {
            let now = active.as_ref().map_or_else(|| "no bundle".to_owned(), |active| format!("version {}", active.version));
            errln!("{}: now runs {now}, changed since the check (is it named twice?), so it was left alone", step.url);
            outcomes.push(TargetOutcome::ChangedSinceCheck {
                target: step.url,
                version: active.as_ref().map_or(0, |active| active.version),
                hash: active.map(|active| active.hash).unwrap_or_default(),
            });
            continue;
        }
        if let Some(active) = step.active.as_ref().filter(|active| active.hash == step.hash) {
            errln!("{}: already runs version {} ({}), so nothing was changed", step.url, active.version, active.hash);
            outcomes.push(TargetOutcome::AlreadyActive { target: step.url, version: active.version, hash: step.hash });
            continue;
        }
        match step.client.activate(&step.hash) {
            Ok(to) if to.hash != step.hash => {
                let error = format!(
                    "{}: asked to activate {}, the runtime reports {} active; check it with `gatectl status`",
                    step.url, step.hash, to.hash
                );
                errln!("error: {error}");
                outcomes.push(TargetOutcome::Failed { target: step.url, error });
            }
            Ok(to) => {
                let from = step.active.as_ref().map_or_else(|| "no bundle".to_owned(), |from| format!("version {}", from.version));
                let forward = step.active.as_ref().is_some_and(|from| from.version < to.version);
                let direction = if forward { "moved forward" } else { "rolled back" };
                errln!("{}: {direction} from {from} to version {} ({})", step.url, to.version, to.hash);
                // `from` is the bundle that was active before this change, and no longer is.
                let from = step.active.map(|entry| HistoryEntry { active: false, ..entry });
                let moved = RolledBack { target: step.url, from, to };
                outcomes.push(if forward { TargetOutcome::MovedForward(moved) } else { TargetOutcome::RolledBack(moved) });
            }
            Err(error) => {
                let error = error.to_string();
                errln!("error: {error}");
                outcomes.push(TargetOutcome::Failed { target: step.url, error });
            }
        }
    }
    if !skipped.is_empty() {
        errln!(
            "stopped at the failure; not tried: {}. Once the failing target is fixed, roll it and these back with `--target` for each, or with `--to HASH` for all; without `--to`, a target that was rolled back already would step back one more version",
            skipped.join(", ")
        );
    }
    outcomes
}

fn fail(message: &str) -> ExitStatus {
    errln!("error: {message}");
    ExitStatus::Failure
}

/// Reads a target's history and finds the hash to activate, changing nothing.
fn check(url: &str, client: AdminClient, to: Option<&str>) -> Result<Step, String> {
    let history = client.history()?;
    let active = history.iter().find(|entry| entry.active).cloned();
    let hash = match to {
        Some(hash) if history.iter().any(|entry| entry.hash == hash) => hash.to_owned(),
        Some(hash) => {
            return Err(format!("target {url}: its history has no bundle {hash}; `gatectl status --target {url} --history` lists the bundles it has"));
        }
        None => match &active {
            None => return Err(format!("target {url} runs no bundle, so there is nothing to roll back")),
            Some(active) => previous(&history, active).ok_or_else(|| {
                format!(
                    "target {url}: the history has no bundle older than the active one, so there is nothing to roll back to; \
                     `gatectl status --target {url} --history` lists the bundles it has, and `gatectl apply` rolls out an earlier spec as a new version"
                )
            })?,
        },
    };
    Ok(Step { url: url.to_owned(), client, active, hash })
}

/// Returns the hash of the newest bundle older than the active one.
fn previous(history: &[HistoryEntry], active: &HistoryEntry) -> Option<String> {
    history.iter().filter(|entry| entry.version < active.version).max_by_key(|entry| entry.version).map(|entry| entry.hash.clone())
}
