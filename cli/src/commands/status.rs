//! `gatectl status`: what each runtime runs (bundle version, hash, activation time) and, with
//! `--spec`, whether it drifted from a spec.
//!
//! Drift compares specs, not bundle hashes, because a bundle's hash also covers its version and
//! build time: the spec hash is the SHA-256 of the normalised spec's canonical JSON, computed the
//! same way for the local spec and for the spec in the runtime's active bundle.

use std::path::PathBuf;

use gatectl_spec::Spec;
use serde::Serialize;

use super::plan;
use crate::diff;
use crate::exit::ExitStatus;
use crate::remote::{AdminClient, HistoryEntry, RateLimitStore, RemoteArgs};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Runtime admin URL, for example http://127.0.0.1:9901 (repeatable).
    #[arg(long = "target", required = true, value_name = "URL")]
    pub targets: Vec<String>,
    /// Spec files or directories to compare each runtime with (repeatable).
    #[arg(long = "spec", value_name = "SPEC")]
    pub spec: Vec<PathBuf>,
    /// Overlay applied on top of the spec (repeatable, applied in order).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// Also list each runtime's bundle history, highest version first: the bundles `gatectl rollback
    /// --to HASH` can activate.
    #[arg(long)]
    pub history: bool,
    /// Output format.
    #[arg(long, visible_alias = "format", value_enum, default_value_t = super::apply::OutputFormat::Text)]
    pub output: super::apply::OutputFormat,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetStatus {
    target: String,
    version: Option<u64>,
    hash: Option<String>,
    activated_at: Option<String>,
    /// The spec hash of what the runtime serves, from its bundle or from `--config`; `None` while
    /// it serves nothing.
    config_hash: Option<String>,
    drift: Option<Drift>,
    /// The runtime's counter store, and whether Redis responds.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_store: Option<RateLimitStore>,
    /// The bundles the runtime keeps, highest version first; only with `--history`.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryEntry>>,
    /// The reason the target's status could not be read. The other fields are empty then.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Drift {
    drifted: bool,
    spec_hash: String,
    live_spec_hash: Option<String>,
    /// Changes from the live spec to the local one. `None` when the runtime serves a spec given
    /// with `--config` that differs, because the admin API does not return that spec.
    summary: Option<plan::ChangeSummary>,
}

pub fn run(args: StatusArgs) -> ExitStatus {
    let spec = if args.spec.is_empty() {
        None
    } else {
        match super::bundle::load_spec(&args.spec, &args.overlays) {
            Ok(spec) => Some(spec),
            Err(status) => return status,
        }
    };
    let connection = match args.remote.connect() {
        Ok(connection) => connection,
        Err(message) => return fail(&message),
    };

    // Every target is reported, so one unreachable runtime does not hide the others.
    let mut statuses = Vec::new();
    for url in &args.targets {
        let result = connection.target(url).and_then(|client| target_status(&client, spec.as_ref(), args.history));
        statuses.push(result.unwrap_or_else(|message| {
            errln!("error: {message}");
            TargetStatus {
                target: url.clone(),
                version: None,
                hash: None,
                activated_at: None,
                config_hash: None,
                drift: None,
                rate_limit_store: None,
                history: None,
                error: Some(message),
            }
        }));
    }

    match args.output {
        super::apply::OutputFormat::Json => match serde_json::to_string_pretty(&statuses) {
            Ok(text) => outln!("{text}"),
            Err(error) => return fail(&format!("cannot serialise the status: {error}")),
        },
        super::apply::OutputFormat::Text => print_text(&statuses),
    }
    if statuses.iter().any(|status| status.error.is_some()) {
        return ExitStatus::Failure;
    }
    let drifted = statuses.iter().any(|status| status.drift.as_ref().is_some_and(|drift| drift.drifted));
    if drifted { ExitStatus::Findings } else { ExitStatus::Success }
}

fn fail(message: &str) -> ExitStatus {
    errln!("error: {message}");
    ExitStatus::Failure
}

fn target_status(client: &AdminClient, spec: Option<&Spec>, with_history: bool) -> Result<TargetStatus, String> {
    let status = client.status()?;
    let config_hash = Some(status.config.hash).filter(|hash| !hash.is_empty());
    let drift = match spec {
        Some(spec) => Some(drift(client, spec, config_hash.as_deref())?),
        None => None,
    };
    let history = if with_history { Some(client.history()?) } else { None };
    Ok(TargetStatus {
        target: client.url().to_owned(),
        version: status.version,
        hash: status.hash,
        activated_at: status.activated_at,
        config_hash,
        drift,
        rate_limit_store: status.rate_limit_store,
        history,
        error: None,
    })
}

/// Compares the runtime's spec with `spec`. `config_hash` is the spec hash of what it serves.
fn drift(client: &AdminClient, spec: &Spec, config_hash: Option<&str>) -> Result<Drift, String> {
    let local_hash = spec_hash(spec)?;
    let live_spec = match client.active_bundle()? {
        Some(bytes) => {
            let live = plan::read_bundle(&bytes, None)
                .map_err(|error| format!("target {}: the active bundle is invalid: {error}", client.url()))?;
            Some(live.spec)
        }
        // A spec given with `--config` is known by its hash only.
        None if let Some(config_hash) = config_hash => {
            let drifted = config_hash != local_hash;
            let summary = (!drifted).then(plan::ChangeSummary::default);
            return Ok(Drift { drifted, spec_hash: local_hash, live_spec_hash: Some(config_hash.to_owned()), summary });
        }
        None => None,
    };
    let live_spec_hash = live_spec.as_ref().map(spec_hash).transpose()?;
    let empty = Spec::empty();
    let counts = diff::compare(live_spec.as_ref().unwrap_or(&empty), spec, &diff::Options::default()).summary();
    let summary = plan::ChangeSummary {
        added: counts.added,
        changed: counts.changed,
        removed: counts.removed,
        breaking: counts.breaking,
        risky: counts.risky,
    };
    Ok(Drift {
        drifted: live_spec_hash.as_deref() != Some(local_hash.as_str()),
        spec_hash: local_hash,
        live_spec_hash,
        summary: Some(summary),
    })
}

/// Returns the spec hash (see [`gatectl_spec::bundle::spec_hash`]).
fn spec_hash(spec: &Spec) -> Result<String, String> {
    gatectl_spec::bundle::spec_hash(spec).map_err(|error| format!("cannot hash the spec: {error}"))
}

fn print_text(statuses: &[TargetStatus]) {
    for status in statuses {
        // The error went to standard error already, and standard output is for results only.
        if status.error.is_some() {
            continue;
        }
        match status.version {
            Some(version) => {
                let hash = status.hash.as_deref().unwrap_or("-");
                let activated_at = status.activated_at.as_deref().unwrap_or("-");
                outln!("{}: version {version}, {hash}, activated {activated_at}", status.target);
            }
            None => match &status.config_hash {
                Some(hash) => outln!("{}: no bundle active; serves the spec given with --config, spec hash {hash}", status.target),
                None => outln!("{}: no bundle active", status.target),
            },
        }
        if let Some(store) = &status.rate_limit_store {
            print_store(store);
        }
        if let Some(history) = &status.history {
            print_history(history);
        }
        let Some(drift) = &status.drift else { continue };
        if drift.drifted {
            match &drift.summary {
                Some(summary) => outln!(
                    "  drift: the live spec differs from the given spec: {} added, {} changed, {} removed; {} breaking, {} risky",
                    summary.added,
                    summary.changed,
                    summary.removed,
                    summary.breaking,
                    summary.risky
                ),
                None => {
                    outln!("  drift: the spec given with --config differs from the given spec; apply a bundle to compare them in detail")
                }
            }
        } else {
            outln!("  no drift: the live spec equals the given spec");
        }
    }
}

/// Prints where a runtime keeps its counters. For Redis, it counts the checks that `failureMode`
/// decided, since those were not shared with the other runtimes.
fn print_store(store: &RateLimitStore) {
    let Some(url) = store.url.as_deref().filter(|_| store.kind == "redis") else {
        outln!("  rate-limit store: {}", store.kind);
        return;
    };
    let state = if store.reachable == Some(true) { "reachable" } else { "unreachable" };
    let failure_mode_checks = store.failure_mode_checks.unwrap_or(0);
    outln!("  rate-limit store: redis at {url}, {state}; {failure_mode_checks} checks decided by failureMode since start");
    if let Some(error) = &store.last_error {
        outln!("    last error: {error}");
    }
}

/// Prints a runtime's history under its status line, with `*` before the active bundle.
fn print_history(history: &[HistoryEntry]) {
    if history.is_empty() {
        outln!("  history: no bundles");
        return;
    }
    outln!("  history, highest version first:");
    for entry in history {
        let marker = if entry.active { '*' } else { ' ' };
        let activated_at = entry.activated_at.as_deref().map_or_else(|| "never activated".to_owned(), |at| format!("activated {at}"));
        outln!("  {marker} version {}, {}, {activated_at}", entry.version, entry.hash);
    }
}
