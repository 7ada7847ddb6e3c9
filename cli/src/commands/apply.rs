//! `gatectl apply`: rolls a planned bundle out to live runtimes, wave by wave.
//!
//! Before anything is pushed, every target's live bundle must still be the one the plan was
//! made against, else the plan is stale and nothing changes. Each wave's targets get the bundle
//! (`POST /bundles`), then their health gate is watched over the observation window. A target
//! fails when it served at least `minRequests` requests in the runtime's traffic window, and its
//! 5xx rate is above both `maxErrorRatePercent` and the rate it had before the push. A failed
//! wave is rolled back to the bundles its targets ran before (`POST /bundles/{hash}/activate`)
//! and the rollout stops with exit status 1; earlier waves keep the new bundle.

mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gatectl_spec::bundle::TrustedKeys;
use serde::{Deserialize, Serialize};

use self::progress::{Progress, TargetProgress};
use super::plan::{self, PlanArgs};
use crate::exit::ExitStatus;
use crate::remote::{AdminClient, Connection, RemoteArgs, Traffic, is_admin_url};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A plan file written by `gatectl plan`; or, with --target, spec files or directories,
    /// which are planned first.
    #[arg(required = true, value_name = "PLAN|SPEC")]
    pub paths: Vec<PathBuf>,
    /// Runtime admin URL to plan for and roll out to (repeatable); only without a plan file.
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
    /// Target rolled out first, alone in the first wave (repeatable); only without a plan file.
    #[arg(long = "canary", value_name = "URL")]
    pub canaries: Vec<String>,
    /// Overlay applied on top of the spec (repeatable); only without a plan file.
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// Private key that signs the bundle when a spec is planned here; without it the PEM text is
    /// read from GATECTL_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Key id written beside the signature.
    #[arg(long, value_name = "KEY_ID", env = "GATECTL_SIGNING_KEY_ID")]
    pub key_id: Option<String>,
    /// Maximum number of entities one target may lose when a spec is planned here.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_deletes: usize,
    /// Plan and apply even when a target loses more than --max-deletes entities.
    #[arg(long)]
    pub allow_deletes: bool,
    /// Apply without asking for confirmation (needed when standard input is not a terminal and
    /// a spec is planned here).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Health gate: how long each wave is observed; overrides the plan's value.
    #[arg(long, value_name = "DURATION")]
    pub observation_window: Option<gatectl_spec::Duration>,
    /// Health gate: fewest requests in the runtime's traffic window for the error rate to count;
    /// overrides the plan's value.
    #[arg(long, value_name = "N")]
    pub min_requests: Option<u64>,
    /// Health gate: maximum share of 5xx responses, in percent; overrides the plan's value.
    #[arg(long, value_name = "PERCENT")]
    pub max_error_rate: Option<f64>,
    /// Verify the bundle and the live bundles against these public keys (directory or file,
    /// repeatable) before pushing.
    #[arg(long = "trusted-keys", value_name = "PATH")]
    pub trusted_keys: Vec<PathBuf>,
    /// `text` prints progress only; `json` also prints one JSON report on standard output at the
    /// end, for CI logs.
    #[arg(long, visible_alias = "format", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The fields of a plan file that `apply` reads (`docs/bundles.md` documents the whole file).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanFile {
    plan_format: u32,
    bundle: PlannedBundle,
    targets: Vec<PlannedTarget>,
    waves: Vec<PlannedWave>,
    health_gates: PlannedGates,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlannedBundle {
    hash: String,
    version: u64,
    #[serde(default)]
    file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlannedTarget {
    target: String,
    live: Option<plan::LiveBundle>,
}

#[derive(Debug, Deserialize)]
struct PlannedWave {
    number: usize,
    targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlannedGates {
    max_error_rate_percent: f64,
    observation_window: String,
    min_requests: u64,
}

/// The health gate that every wave passes before the next one starts.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Gate {
    max_error_rate_percent: f64,
    #[serde(serialize_with = "serialize_seconds", rename = "observationWindowSeconds")]
    window: Duration,
    min_requests: u64,
}

fn serialize_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// Everything a rollout needs, from a plan file or from a plan made here.
struct Rollout {
    plan: PlanFile,
    bundle: Vec<u8>,
    /// The spec hash of the bundle's spec, which a runtime reports as `config.hash`.
    spec_hash: String,
    gate: Gate,
}

/// The JSON report of `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// `applied`, `stale`, `rejected` (a runtime did not accept the bundle) or `rolledBack`.
    outcome: &'static str,
    bundle: ReportBundle,
    health_gate: Option<Gate>,
    waves: Vec<WaveReport>,
    /// Targets whose live bundle differs from the plan; set when the outcome is `stale`.
    stale: Vec<StaleTarget>,
    message: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportBundle {
    version: u64,
    hash: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StaleTarget {
    target: String,
    planned_hash: Option<String>,
    live_hash: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WaveReport {
    number: usize,
    /// `passed`, `failed` or `notStarted`.
    outcome: &'static str,
    targets: Vec<TargetReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetReport {
    target: String,
    /// `applied`, `alreadyApplied`, `rejected`, `unhealthy`, `rolledBack` or `notPushed`.
    outcome: &'static str,
    before: Option<Traffic>,
    after: Option<Traffic>,
    rolled_back_to: Option<String>,
    message: Option<String>,
}

pub fn run(args: ApplyArgs) -> ExitStatus {
    let rollout = match prepare(&args) {
        Ok(rollout) => rollout,
        Err(status) => return status,
    };
    let connection = match args.remote.connect() {
        Ok(connection) => connection,
        Err(message) => return fail(&message),
    };
    let report = match execute(&rollout, &connection) {
        Ok(report) => report,
        Err(message) => return fail(&message),
    };

    if args.output == OutputFormat::Json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => outln!("{text}"),
            Err(error) => return fail(&format!("cannot serialise the report: {error}")),
        }
    }
    if report.outcome == "applied" { ExitStatus::Success } else { ExitStatus::Findings }
}

fn fail(message: &str) -> ExitStatus {
    errln!("error: {message}");
    ExitStatus::Failure
}

/// Reads the plan file, or plans the spec here, and loads the bundle to push.
fn prepare(args: &ApplyArgs) -> Result<Rollout, ExitStatus> {
    let (plan, bundle) = if args.targets.is_empty() {
        let [path] = args.paths.as_slice() else {
            return Err(fail("give one plan file, or spec paths with --target URL"));
        };
        read_plan_file(path).map_err(|message| fail(&message))?
    } else {
        plan_here(args)?
    };
    if plan.plan_format != plan::PLAN_FORMAT {
        return Err(fail(&format!(
            "the plan has planFormat {}, but this gatectl reads only {}; make the plan again with this gatectl",
            plan.plan_format,
            plan::PLAN_FORMAT
        )));
    }
    let spec_hash = check_bundle(&plan, &bundle, &args.trusted_keys).map_err(|message| fail(&message))?;
    let gate = gate(&plan.health_gates, args).map_err(|message| fail(&message))?;
    Ok(Rollout { plan, bundle, spec_hash, gate })
}

fn read_plan_file(path: &Path) -> Result<(PlanFile, Vec<u8>), String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read the plan {}: {error}", path.display()))?;
    let plan: PlanFile = serde_json::from_str(&text).map_err(|error| {
        format!(
            "{} is not a plan file written by `gatectl plan` ({error}); give a plan file, or spec paths with --target URL",
            path.display()
        )
    })?;
    let Some(file) = &plan.bundle.file else {
        return Err(format!(
            "the plan {} carries no signed bundle, because it was made without a signing key; run `gatectl plan` again with --signing-key",
            path.display()
        ));
    };
    let bundle_path = path.parent().unwrap_or(Path::new("")).join(file);
    let bundle = std::fs::read(&bundle_path)
        .map_err(|error| format!("cannot read the plan's bundle {}: {error}; keep it beside the plan", bundle_path.display()))?;
    Ok((plan, bundle))
}

/// Plans the spec like `gatectl plan`, prints the summary and asks for confirmation on a TTY.
fn plan_here(args: &ApplyArgs) -> Result<(PlanFile, Vec<u8>), ExitStatus> {
    let plan_args = PlanArgs {
        paths: args.paths.clone(),
        overlays: args.overlays.clone(),
        targets: args.targets.clone(),
        canaries: args.canaries.clone(),
        output: PathBuf::new(),
        max_deletes: args.max_deletes,
        allow_deletes: args.allow_deletes,
        max_error_rate: args.max_error_rate.unwrap_or(1.0),
        observation_window: args.observation_window.unwrap_or_else(|| "5m".parse().expect("5m is a valid duration")),
        min_requests: args.min_requests.unwrap_or(100),
        trusted_keys: args.trusted_keys.clone(),
        source_commit: None,
        signing_key: args.signing_key.clone(),
        key_id: args.key_id.clone(),
        bundle_output: None,
        remote: args.remote.clone(),
    };
    let built = plan::build(&plan_args)?;
    // Nothing is pushed when every target already runs the spec, so there is nothing to confirm.
    let nothing_to_push = !built.plan.targets.is_empty() && built.plan.targets.iter().all(|target| target.runs_this_spec);
    let Some(bundle) = built.signed_bundle else {
        return Err(fail("applying a spec needs a signing key; pass --signing-key FILE or set GATECTL_SIGNING_KEY"));
    };
    let value = serde_json::to_value(&built.plan).map_err(|error| fail(&format!("cannot serialise the plan: {error}")))?;
    let plan: PlanFile = serde_json::from_value(value).map_err(|error| fail(&format!("cannot read back the plan: {error}")))?;
    if !args.yes && !nothing_to_push && !confirm(&plan)? {
        errln!("apply cancelled; nothing was pushed");
        return Err(ExitStatus::Findings);
    }
    Ok((plan, bundle))
}

/// Asks on the terminal whether to go on. Without a terminal the caller must pass --yes.
fn confirm(plan: &PlanFile) -> Result<bool, ExitStatus> {
    if !std::io::stdin().is_terminal() {
        return Err(fail("standard input is not a terminal, so apply cannot ask for confirmation; pass --yes to apply the plan above"));
    }
    err!("apply bundle version {} to {} target(s) in {} wave(s)? [y/N] ", plan.bundle.version, plan.targets.len(), plan.waves.len());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|error| fail(&format!("cannot read the answer: {error}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Checks that the bundle is the one the plan names, and its signature when keys are given.
fn check_bundle(plan: &PlanFile, bundle: &[u8], trusted_key_paths: &[PathBuf]) -> Result<String, String> {
    let trusted = if trusted_key_paths.is_empty() {
        None
    } else {
        let mut trusted = TrustedKeys::new();
        for path in trusted_key_paths {
            trusted.add_path(path).map_err(|error| error.to_string())?;
        }
        Some(trusted)
    };
    let opened = plan::read_bundle(bundle, trusted.as_ref()).map_err(|error| format!("the plan's bundle is invalid: {error}"))?;
    if opened.hash != plan.bundle.hash {
        return Err(format!(
            "the bundle file has hash {}, but the plan names {}; run `gatectl plan` again so that plan and bundle match",
            opened.hash, plan.bundle.hash
        ));
    }
    gatectl_spec::bundle::spec_hash(&opened.spec).map_err(|error| format!("cannot hash the bundle's spec: {error}"))
}

fn gate(planned: &PlannedGates, args: &ApplyArgs) -> Result<Gate, String> {
    let window = match args.observation_window {
        Some(window) => window,
        None => planned.observation_window.parse().map_err(|error| {
            format!("the plan's observationWindow `{}` is invalid: {error}; pass --observation-window", planned.observation_window)
        })?,
    };
    let max_error_rate_percent = args.max_error_rate.unwrap_or(planned.max_error_rate_percent);
    if !(0.0..=100.0).contains(&max_error_rate_percent) {
        return Err(format!("--max-error-rate {max_error_rate_percent} is not between 0 and 100"));
    }
    Ok(Gate { max_error_rate_percent, window: window.as_std(), min_requests: args.min_requests.unwrap_or(planned.min_requests) })
}

/// One target of the rollout: its client and the bundle it ran when the plan was made.
struct Target {
    client: AdminClient,
    planned_live: Option<plan::LiveBundle>,
}

fn execute(rollout: &Rollout, connection: &Connection) -> Result<Report, String> {
    let plan = &rollout.plan;
    let mut targets = Vec::new();
    for planned in &plan.targets {
        if !is_admin_url(&planned.target) {
            return Err(format!(
                "target {} is a bundle file; apply pushes to runtimes only, so plan with their admin URLs (http://HOST:PORT)",
                planned.target
            ));
        }
        targets.push(Target { client: connection.target(&planned.target)?, planned_live: planned.live.clone() });
    }
    let mut report = Report {
        outcome: "applied",
        bundle: ReportBundle { version: plan.bundle.version, hash: plan.bundle.hash.clone() },
        health_gate: Some(rollout.gate),
        waves: Vec::new(),
        stale: Vec::new(),
        message: None,
    };

    let progress = Progress::for_stderr();
    let (stale, done) = check_live(&targets, &plan.bundle.hash, &rollout.spec_hash)?;
    if !stale.is_empty() {
        for target in &stale {
            let shown = |hash: &Option<String>| hash.clone().unwrap_or_else(|| "no bundle".to_owned());
            progress.line(&format!(
                "stale plan: target {} was planned against {} but now runs {}",
                target.target,
                shown(&target.planned_hash),
                shown(&target.live_hash)
            ));
        }
        let message = "the plan is stale, so nothing was pushed; run `gatectl plan` again and review the new plan".to_owned();
        errln!("error: {message}");
        report.outcome = "stale";
        report.stale = stale;
        report.message = Some(message);
        return Ok(report);
    }

    progress.line(&format!("applying bundle version {} ({}) in {} wave(s)", plan.bundle.version, plan.bundle.hash, plan.waves.len()));
    for wave in &plan.waves {
        if report.outcome != "applied" {
            let targets = wave.targets.iter().map(|target| not_pushed(target)).collect();
            report.waves.push(WaveReport { number: wave.number, outcome: "notStarted", targets });
            continue;
        }
        let wave_targets: Vec<&Target> =
            wave.targets.iter().filter_map(|uri| targets.iter().find(|target| target.client.url() == uri.trim_end_matches('/'))).collect();
        let wave_report = run_wave(wave.number, &wave_targets, &done, rollout, &progress);
        if wave_report.outcome == "failed" {
            let rejected = wave_report.targets.iter().any(|target| target.outcome == "rejected");
            report.outcome = if rejected { "rejected" } else { "rolledBack" };
            let cause = if rejected { "a runtime rejected the bundle (see above)" } else { "a health gate failed" };
            let earlier = if report.waves.is_empty() {
                "no target runs the new bundle".to_owned()
            } else {
                format!("earlier waves keep bundle version {}", plan.bundle.version)
            };
            let message = format!(
                "wave {} failed because {cause}, so the wave's updated targets were rolled back and the rollout stopped; {earlier}",
                wave.number
            );
            errln!("error: {message}");
            report.message = Some(message);
        }
        report.waves.push(wave_report);
    }
    if report.outcome == "applied" {
        let pushed = report.waves.iter().flat_map(|wave| &wave.targets).filter(|target| target.outcome == "applied").count();
        let skipped = targets.len() - pushed;
        let line = match (pushed, skipped) {
            (0, _) => format!("nothing to push: every target already runs the spec of bundle version {}", plan.bundle.version),
            (_, 0) => format!("applied bundle version {} to {pushed} target(s)", plan.bundle.version),
            _ => format!("applied bundle version {} to {pushed} target(s); {skipped} already ran it", plan.bundle.version),
        };
        progress.line(&line);
    }
    Ok(report)
}

fn not_pushed(target: &str) -> TargetReport {
    TargetReport { target: target.to_owned(), outcome: "notPushed", before: None, after: None, rolled_back_to: None, message: None }
}

/// Compares each target's live hash with the plan. Returns the stale targets and the URLs of
/// targets that already run the planned spec, from this bundle (an apply that is run again) or
/// from another bundle (a plan without changes). Apply skips those, so that an unchanged spec
/// adds no bundle to the history.
fn check_live(targets: &[Target], planned_hash: &str, spec_hash: &str) -> Result<(Vec<StaleTarget>, Vec<String>), String> {
    let mut stale = Vec::new();
    let mut done = Vec::new();
    for target in targets {
        let status = target.client.status()?;
        let live_hash = status.hash;
        let planned = target.planned_live.as_ref().map(|live| live.hash.clone());
        // A runtime that serves the spec from `--config` still gets the bundle: it has no
        // history yet, and bundles are how it is managed from now on.
        if live_hash.as_deref() == Some(planned_hash) || (live_hash.is_some() && status.config.hash == spec_hash) {
            done.push(target.client.url().to_owned());
        } else if live_hash != planned {
            stale.push(StaleTarget { target: target.client.url().to_owned(), planned_hash: planned, live_hash });
        }
    }
    Ok((stale, done))
}

/// Pushes the bundle to one wave, watches its health gate and rolls it back on failure.
fn run_wave(number: usize, targets: &[&Target], done: &[String], rollout: &Rollout, progress: &Progress) -> WaveReport {
    progress.line(&format!("wave {number}: {} target(s)", targets.len()));
    let gate = rollout.gate;
    let bars: Vec<TargetProgress> = targets.iter().map(|target| progress.target(number, target.client.url(), gate.window)).collect();
    let mut reports: Vec<TargetReport> = targets.iter().map(|target| not_pushed(target.client.url())).collect();
    let mut failed = false;

    for ((target, bar), report) in targets.iter().zip(&bars).zip(reports.iter_mut()) {
        if done.iter().any(|url| url == target.client.url()) {
            // Its bar reports that once the wave ends.
            report.outcome = "alreadyApplied";
            continue;
        }
        report.before = target.client.status().ok().map(|status| status.traffic);
        bar.step("pushing");
        match target.client.upload(&rollout.bundle) {
            Ok(activated) => {
                report.outcome = "applied";
                bar.step(&format!("activated version {}", activated.version));
            }
            Err(error) => {
                report.outcome = "rejected";
                report.message = Some(error.to_string());
                bar.finish("rejected the bundle");
                progress.line(&format!("error: {error}"));
                failed = true;
                break;
            }
        }
    }

    if !failed && reports.iter().any(|report| report.outcome == "applied") {
        // Without a terminal there are no bars, and the window can last minutes without output.
        progress.line(&format!(
            "wave {number}: watching the health gate for {}, until {}",
            gatectl_spec::Duration(gate.window),
            (chrono::Utc::now() + gate.window).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
        failed = observe(targets, &bars, &mut reports, gate);
    }
    if failed {
        roll_back(targets, &bars, &mut reports, progress);
    } else {
        for (bar, report) in bars.iter().zip(&reports) {
            if report.outcome == "alreadyApplied" {
                bar.finish("already runs the planned spec");
            } else {
                bar.finish(&format!("healthy ({})", describe(report.after.as_ref())));
            }
        }
    }
    WaveReport { number, outcome: if failed { "failed" } else { "passed" }, targets: reports }
}

/// Polls each pushed target's traffic until the window ends or a gate fails. Returns whether
/// the wave failed.
fn observe(targets: &[&Target], bars: &[TargetProgress], reports: &mut [TargetReport], gate: Gate) -> bool {
    let started = Instant::now();
    let poll = (gate.window / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        let elapsed = started.elapsed();
        let window_over = elapsed >= gate.window;
        for ((target, bar), report) in targets.iter().zip(bars).zip(reports.iter_mut()) {
            if report.outcome != "applied" {
                continue;
            }
            let traffic = match target.client.status() {
                Ok(status) => status.traffic,
                Err(error) => {
                    report.outcome = "unhealthy";
                    report.message = Some(format!("the runtime stopped responding during the observation window: {error}"));
                    bar.finish("unreachable");
                    return true;
                }
            };
            let verdict = judge(&traffic, report.before.as_ref(), gate);
            bar.observed(elapsed.min(gate.window), &describe(Some(&traffic)));
            report.after = Some(traffic);
            if let Some(reason) = verdict {
                report.outcome = "unhealthy";
                report.message = Some(reason.clone());
                bar.finish(&format!("health gate failed: {reason}"));
                return true;
            }
        }
        if window_over {
            return false;
        }
        std::thread::sleep(poll.min(gate.window.saturating_sub(started.elapsed())).max(Duration::from_millis(10)));
    }
}

/// Returns why a target fails its gate, or `None` while it passes. Too few requests pass,
/// because the rate of a handful of requests is noise.
fn judge(now: &Traffic, before: Option<&Traffic>, gate: Gate) -> Option<String> {
    if now.requests < gate.min_requests {
        return None;
    }
    let percent = now.error_rate * 100.0;
    let before_rate = before.map_or(0.0, |before| before.error_rate);
    if percent > gate.max_error_rate_percent && now.error_rate > before_rate {
        return Some(format!(
            "5xx rate {percent:.2}% over {} requests is above the limit of {}% and above {:.2}% before the push",
            now.requests,
            gate.max_error_rate_percent,
            before_rate * 100.0
        ));
    }
    None
}

fn describe(traffic: Option<&Traffic>) -> String {
    match traffic {
        Some(traffic) => format!(
            "{} {}, {} errors ({:.2}%) in the last {}s",
            traffic.requests,
            if traffic.requests == 1 { "request" } else { "requests" },
            traffic.errors,
            traffic.error_rate * 100.0,
            traffic.window_seconds
        ),
        None => "no traffic data".to_owned(),
    }
}

/// Activates the bundle each pushed target ran before the wave. A target that ran none keeps
/// the new bundle, because a runtime cannot return to running no bundle.
fn roll_back(targets: &[&Target], bars: &[TargetProgress], reports: &mut [TargetReport], progress: &Progress) {
    for ((target, bar), report) in targets.iter().zip(bars).zip(reports.iter_mut()) {
        if !matches!(report.outcome, "applied" | "unhealthy") {
            continue;
        }
        let Some(previous) = &target.planned_live else {
            let note = "ran no bundle before this wave, so it keeps the new bundle; roll it out again or stop it";
            progress.line(&format!("warning: target {} {note}", target.client.url()));
            report.message = Some(note.to_owned());
            continue;
        };
        match target.client.activate(&previous.hash) {
            Ok(activated) => {
                report.outcome = "rolledBack";
                report.rolled_back_to = Some(activated.hash.clone());
                bar.finish(&format!("rolled back to version {}", activated.version));
            }
            Err(error) => {
                progress.line(&format!("error: rollback failed: {error}; run `gatectl rollback --target {}`", target.client.url()));
                let reason = report.message.take().unwrap_or_default();
                report.message = Some(format!("{reason}; rollback failed: {error}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(requests: u64, errors: u64) -> Traffic {
        let error_rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
        Traffic { window_seconds: 60, requests, errors, error_rate }
    }

    const GATE: Gate = Gate { max_error_rate_percent: 1.0, window: Duration::from_secs(1), min_requests: 10 };

    #[test]
    fn gate_passes_with_too_few_requests() {
        assert_eq!(judge(&traffic(9, 9), Some(&traffic(0, 0)), GATE), None);
    }

    #[test]
    fn gate_fails_above_limit_and_baseline() {
        let reason = judge(&traffic(100, 5), Some(&traffic(100, 0)), GATE);

        assert!(reason.as_deref().is_some_and(|reason| reason.contains("5.00%")), "{reason:?}");
    }

    #[test]
    fn gate_passes_when_rate_not_above_baseline() {
        assert_eq!(judge(&traffic(100, 5), Some(&traffic(100, 5)), GATE), None);
    }

    #[test]
    fn gate_passes_at_the_limit() {
        assert_eq!(judge(&traffic(100, 1), None, GATE), None);
    }
}
