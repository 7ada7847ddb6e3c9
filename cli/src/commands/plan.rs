//! `gatectl plan`: compiles a bundle, reads what each target runs now, and writes the rollout
//! plan that `apply` is to carry out: per-target changes, waves and health gates.
//!
//! The plan format is documented in `docs/bundles.md`. A target is a bundle file
//! (`file:PATH`) or a live runtime's admin API (`http://HOST:PORT`), whose active bundle is read
//! with `GET /bundles/active`. With `--signing-key` the plan's bundle is signed and written beside
//! the plan, so that `gatectl apply` pushes exactly the bundle that was planned.

use std::path::{Path, PathBuf};

use gatectl_spec::bundle::{self, BundleMetadata, CompiledBundle, EntityCounts, TrustedKeys};
use gatectl_spec::{Duration, Spec};
use serde::Serialize;

use crate::diff::{self, Changes, Class, EntityChange, Operation};
use crate::exit::ExitStatus;
use crate::remote::{Connection, RemoteArgs};

/// Version of the plan file format. Fields are only added while it stays 1.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Spec files or directories; a directory's .yaml, .yml and .json files are merged.
    #[arg(required = true, value_name = "SPEC")]
    pub paths: Vec<PathBuf>,
    /// Overlay applied on top of the spec (repeatable, applied in order).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// A runtime to roll out to (repeatable): `http://HOST:PORT` or `https://HOST:PORT` is a runtime's admin API;
    /// `file:PATH` or a bare PATH names a bundle file that stands for a runtime's live bundle
    /// (a missing file is a runtime with none).
    #[arg(long = "target", required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Target rolled out first, alone in the first wave (repeatable). Default: the first target.
    #[arg(long = "canary", value_name = "TARGET")]
    pub canaries: Vec<String>,
    /// File the plan is written to.
    #[arg(short = 'o', long = "output", value_name = "FILE", value_parser = crate::args::plan_file)]
    pub output: PathBuf,
    /// Maximum number of entities one target may lose before the plan is rejected.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_deletes: usize,
    /// Write the plan even when a target loses more than --max-deletes entities.
    #[arg(long)]
    pub allow_deletes: bool,
    /// Health gate: maximum share of 5xx responses, in percent, a wave may show before the
    /// rollout stops.
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0, value_parser = parse_percent)]
    pub max_error_rate: f64,
    /// Health gate: how long each wave is observed before the next one starts.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub observation_window: Duration,
    /// Health gate: minimum number of requests a wave must serve in the window for the error
    /// rate to count.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_requests: u64,
    /// Verify live bundles against these public keys (directory or file, repeatable). Without
    /// it only their hashes are checked.
    #[arg(long = "trusted-keys", value_name = "PATH")]
    pub trusted_keys: Vec<PathBuf>,
    /// Git commit recorded in the bundle; default: `git rev-parse HEAD` in the spec's directory.
    #[arg(long, value_name = "COMMIT")]
    pub source_commit: Option<String>,
    /// Sign the planned bundle with this PKCS#8 PEM private key and write it beside the plan, for
    /// `gatectl apply`. Without it the PEM text is read from GATECTL_SIGNING_KEY when that is
    /// set; with neither, the plan carries no bundle and can only be reviewed.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Key id written beside the signature (see `gatectl bundle build --key-id`).
    #[arg(long, value_name = "KEY_ID", env = "GATECTL_SIGNING_KEY_ID")]
    pub key_id: Option<String>,
    /// File the signed bundle is written to. Default: the plan's file name with `.bundle.json`
    /// in place of its extension, for example plan.bundle.json beside plan.json.
    #[arg(long, value_name = "FILE")]
    pub bundle_output: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number; give a percentage such as 1 or 0.5"))?;
    if (0.0..=100.0).contains(&value) { Ok(value) } else { Err(format!("{value} is not between 0 and 100")) }
}

/// The plan file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub plan_format: u32,
    pub created_at: String,
    pub bundle: PlannedBundle,
    pub targets: Vec<TargetPlan>,
    pub waves: Vec<Wave>,
    pub health_gates: HealthGates,
    pub deletes: DeletePolicy,
}

/// The bundle the plan rolls out. `apply` pushes the signed file that `file` names, after
/// checking that its hash is `hash`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedBundle {
    pub hash: String,
    pub format_version: u64,
    pub version: u64,
    pub parent: Option<String>,
    pub created_at: String,
    pub source_commit: Option<String>,
    pub counts: EntityCounts,
    /// The signed bundle file, relative to the plan's directory; `null` when the plan was made
    /// without a signing key.
    pub file: Option<String>,
}

/// One target: what it runs now and what changes there.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetPlan {
    /// The target URI, for example `file:live/eu-1.json`.
    pub target: String,
    /// `file` or `http`.
    pub kind: &'static str,
    /// The live bundle; `null` when the target runs none.
    pub live: Option<LiveBundle>,
    pub summary: ChangeSummary,
    /// Entity changes, values redacted, as `gatectl diff --format json` lists them.
    pub changes: Vec<EntityChange>,
    /// The live bundle's spec is the planned one, so `apply` skips the target.
    pub runs_this_spec: bool,
    /// The target serves the planned spec from `--config`, without a bundle. `apply` pushes
    /// the bundle all the same, so that the target gets a history, and nothing changes.
    pub serves_spec_from_config: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveBundle {
    pub version: u64,
    pub hash: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSummary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub breaking: usize,
    pub risky: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    /// 1 for the first wave.
    pub number: usize,
    /// Whether this wave goes first while the others wait for its health gate.
    pub canary: bool,
    pub targets: Vec<String>,
}

/// Checks that `apply` is to run on each wave, over the observation window, before the next
/// wave starts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthGates {
    pub max_error_rate_percent: f64,
    pub observation_window: String,
    pub min_requests: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePolicy {
    pub max_deletes: usize,
    pub allow_deletes: bool,
    /// Largest number of entities that any one target loses.
    pub most_deletes_on_one_target: usize,
}

/// A parsed `--target`.
enum Target {
    File(PathBuf),
    Http(String),
}

impl Target {
    fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Self::Http(text.to_owned()));
        }
        let path = text.strip_prefix("file:").unwrap_or(text);
        if path.is_empty() {
            return Err(format!("target `{text}` names no file; write `file:PATH`"));
        }
        Ok(Self::File(PathBuf::from(path)))
    }

    fn uri(&self) -> String {
        match self {
            Self::File(path) => format!("file:{}", path.display()),
            Self::Http(url) => url.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::Http(_) => "http",
        }
    }
}

/// The live bundle of one target, with its spec (empty when the target runs no bundle).
struct LiveState {
    uri: String,
    kind: &'static str,
    live: Option<LiveBundle>,
    spec: Spec,
    /// The highest version in the runtime's bundle history, which after a rollback is above
    /// the live one; 0 for file targets and runtimes without a history.
    newest_in_history: u64,
    /// The spec hash of what a runtime serves (`config.hash`). It is known for a runtime that
    /// serves a `--config` spec without a bundle too. `None` for file targets.
    config_hash: Option<String>,
}

/// A plan and, when it was made with a signing key, the signed bundle it rolls out.
pub struct BuiltPlan {
    pub plan: Plan,
    pub signed_bundle: Option<Vec<u8>>,
}

pub fn run(args: PlanArgs) -> ExitStatus {
    let built = match build(&args) {
        Ok(built) => built,
        Err(status) => return status,
    };
    match write(&args, built) {
        Ok(()) => ExitStatus::Success,
        Err(message) => {
            errln!("error: {message}");
            ExitStatus::Failure
        }
    }
}

/// Makes the plan, prints its summary and checks the delete limit. Errors are printed; the
/// returned status is `Findings` for an invalid spec or too many deletes, else `Failure`.
pub fn build(args: &PlanArgs) -> Result<BuiltPlan, ExitStatus> {
    let fail = |message: String| {
        errln!("error: {message}");
        ExitStatus::Failure
    };
    let built = make(args).map_err(fail)??;
    let most_deletes = built.plan.deletes.most_deletes_on_one_target;
    if most_deletes > args.max_deletes && !args.allow_deletes {
        errln!(
            "error: a target would lose {most_deletes} entities, more than --max-deletes {}; check the deletes listed above, \
             then raise --max-deletes or pass --allow-deletes",
            args.max_deletes
        );
        return Err(ExitStatus::Findings);
    }
    Ok(built)
}

/// Writes the signed bundle (when there is one) and then the plan that names it.
fn write(args: &PlanArgs, mut built: BuiltPlan) -> Result<(), String> {
    if let Some(bytes) = &built.signed_bundle {
        let bundle_path = args.bundle_output.clone().unwrap_or_else(|| default_bundle_path(&args.output));
        std::fs::write(&bundle_path, bytes).map_err(|error| format!("cannot write {}: {error}", bundle_path.display()))?;
        built.plan.bundle.file = Some(relative_to_plan(&bundle_path, &args.output));
        errln!("wrote signed bundle to {}", bundle_path.display());
    }
    let mut text = serde_json::to_string_pretty(&built.plan).map_err(|error| format!("cannot serialise the plan: {error}"))?;
    text.push('\n');
    std::fs::write(&args.output, text).map_err(|error| format!("cannot write {}: {error}", args.output.display()))?;
    errln!("wrote plan to {}", args.output.display());
    if !built.plan.targets.is_empty() && built.plan.targets.iter().all(|target| target.runs_this_spec) {
        errln!("note: every target already runs this spec, so `gatectl apply` will push nothing");
    } else if built.signed_bundle.is_none() {
        errln!(
            "note: the plan carries no bundle, so it is for review only and `gatectl apply` will refuse it; plan again with --signing-key FILE or GATECTL_SIGNING_KEY to roll it out"
        );
    }
    Ok(())
}

/// Returns `plan.bundle.json` for `plan.json`.
fn default_bundle_path(plan_path: &Path) -> PathBuf {
    let stem = plan_path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".to_owned());
    plan_path.with_file_name(format!("{stem}.bundle.json"))
}

/// Writes the bundle path relative to the plan's directory when it lies inside it, else as
/// given, so that a plan and its bundle can be moved together.
fn relative_to_plan(bundle_path: &Path, plan_path: &Path) -> String {
    let plan_directory = match plan_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match absolute(bundle_path).strip_prefix(absolute(plan_directory)) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => absolute(bundle_path).display().to_string(),
    }
}

/// Makes the plan. The outer error is a message for a plan that could not be made; the inner
/// one the status of an invalid spec, whose diagnostics are already printed.
fn make(args: &PlanArgs) -> Result<Result<BuiltPlan, ExitStatus>, String> {
    let targets = ordered_targets(&args.targets, &args.canaries)?;
    let trusted = read_trusted_keys(&args.trusted_keys)?;
    let signer = signer(args)?;
    let spec = match super::bundle::load_spec(&args.paths, &args.overlays) {
        Ok(spec) => spec,
        Err(status) => return Ok(Err(status)),
    };
    let connection = if targets.iter().any(|target| matches!(target, Target::Http(_))) { Some(args.remote.connect()?) } else { None };
    let mut states = Vec::new();
    for target in &targets {
        states.push(read_live(target, trusted.as_ref(), connection.as_ref())?);
    }

    let newest = states.iter().filter_map(|state| state.live.as_ref()).max_by_key(|live| live.version);
    // A version is never reused, so that a rolled-back bundle and its successor differ in it.
    let highest =
        states.iter().map(|state| state.newest_in_history.max(state.live.as_ref().map_or(0, |live| live.version))).max().unwrap_or(0);
    let Some(version) = highest.checked_add(1).filter(|version| *version <= bundle::MAX_VERSION) else {
        return Err(format!(
            "a target has bundle version {highest}, and the largest version is {}, so no higher version is left for the next bundle; start that runtime with an empty --state-dir, or replace that bundle file, and plan again",
            bundle::MAX_VERSION
        ));
    };
    let created_at = bundle::creation_timestamp().map_err(|error| error.to_string())?;
    let metadata = BundleMetadata {
        version,
        parent: newest.map(|live| live.hash.clone()),
        created_at: created_at.clone(),
        source_commit: args.source_commit.clone().or_else(|| super::bundle::git_head(&args.paths[0])),
    };
    let compiled = CompiledBundle::new(&spec, metadata.clone()).map_err(|error| error.to_string())?;
    let hash = compiled.hash.clone();
    let signed_bundle = signer.map(|signer| compiled.sign(&signer).to_bytes());

    let planned_spec_hash = bundle::spec_hash(&spec).map_err(|error| error.to_string())?;
    let mut target_plans = Vec::new();
    for state in &states {
        let runs_this_spec =
            state.live.is_some() && bundle::spec_hash(&state.spec).map_err(|error| error.to_string())? == planned_spec_hash;
        // A runtime that serves a `--config` spec has no bundle, but its `config.hash` is known.
        let serves_spec_from_config = state.live.is_none() && state.config_hash.as_deref() == Some(planned_spec_hash.as_str());
        let planned = if serves_spec_from_config { plan_unchanged(state, &spec) } else { plan_target(state, &spec) };
        target_plans.push(TargetPlan { runs_this_spec, serves_spec_from_config, ..planned });
    }
    let most_deletes = target_plans.iter().map(|target| target.summary.removed).max().unwrap_or(0);
    let plan = Plan {
        plan_format: PLAN_FORMAT,
        created_at,
        bundle: PlannedBundle {
            hash,
            format_version: bundle::FORMAT_VERSION,
            version: metadata.version,
            parent: metadata.parent,
            created_at: metadata.created_at,
            source_commit: metadata.source_commit,
            counts: EntityCounts::of(&spec),
            file: None,
        },
        waves: waves(&targets, &target_plans, first_wave_size(&args.canaries)?),
        targets: target_plans,
        health_gates: HealthGates {
            max_error_rate_percent: args.max_error_rate,
            observation_window: args.observation_window.to_string(),
            min_requests: args.min_requests,
        },
        deletes: DeletePolicy {
            max_deletes: args.max_deletes,
            allow_deletes: args.allow_deletes,
            most_deletes_on_one_target: most_deletes,
        },
    };

    print_summary(&plan);
    Ok(Ok(BuiltPlan { plan, signed_bundle }))
}

/// Returns the signing key from --signing-key or GATECTL_SIGNING_KEY, or `None` with neither.
fn signer(args: &PlanArgs) -> Result<Option<bundle::SignerKey>, String> {
    if args.signing_key.is_none() && std::env::var_os(super::bundle::SIGNING_KEY_ENV).is_none() {
        return Ok(None);
    }
    super::bundle::load_signer(args.signing_key.as_deref(), args.key_id.clone()).map(Some)
}

/// Parses targets and puts canaries first. Canaries not listed with --target are added.
fn ordered_targets(targets: &[String], canaries: &[String]) -> Result<Vec<Target>, String> {
    let mut ordered: Vec<Target> = Vec::new();
    for text in canaries.iter().chain(targets) {
        let target = Target::parse(text)?;
        if ordered.iter().any(|existing| existing.uri() == target.uri()) {
            if canaries.contains(text) {
                continue;
            }
            return Err(format!("target `{text}` is given twice; name each target once"));
        }
        ordered.push(target);
    }
    Ok(ordered)
}

/// Returns how many targets the first wave has: the distinct canaries, or 1 without any.
fn first_wave_size(canaries: &[String]) -> Result<usize, String> {
    let mut uris = Vec::new();
    for text in canaries {
        let uri = Target::parse(text)?.uri();
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris.len().max(1))
}

fn read_trusted_keys(paths: &[PathBuf]) -> Result<Option<TrustedKeys>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut trusted = TrustedKeys::new();
    for path in paths {
        trusted.add_path(path).map_err(|error| error.to_string())?;
    }
    Ok(Some(trusted))
}

fn read_live(target: &Target, trusted: Option<&TrustedKeys>, connection: Option<&Connection>) -> Result<LiveState, String> {
    let uri = target.uri();
    let kind = target.kind();
    let (bytes, newest_in_history, config_hash) = match target {
        Target::File(path) if !path.exists() => (None, 0, None),
        Target::File(path) => {
            (Some(std::fs::read(path).map_err(|error| format!("target {uri}: cannot read {}: {error}", path.display()))?), 0, None)
        }
        Target::Http(url) => {
            let connection = connection.expect("a connection is made when any target is a URL");
            let client = connection.target(url)?;
            let newest = client.history()?.iter().map(|entry| entry.version).max().unwrap_or(0);
            let config_hash = Some(client.status()?.config.hash).filter(|hash| !hash.is_empty());
            (client.active_bundle()?, newest, config_hash)
        }
    };
    let Some(bytes) = bytes else {
        return Ok(LiveState { uri, kind, live: None, spec: Spec::empty(), newest_in_history, config_hash });
    };
    let live = read_bundle(&bytes, trusted).map_err(|error| format!("target {uri}: the live bundle is invalid: {error}"))?;
    let live_bundle = LiveBundle { version: live.version, hash: live.hash };
    Ok(LiveState { uri, kind, live: Some(live_bundle), spec: live.spec, newest_in_history, config_hash })
}

/// Version, hash and spec of a live bundle.
pub struct LiveSpec {
    pub version: u64,
    pub hash: String,
    pub spec: Spec,
}

/// Reads a live bundle: checks its signature when `trusted` is given, else only its hash.
pub fn read_bundle(bytes: &[u8], trusted: Option<&TrustedKeys>) -> Result<LiveSpec, bundle::BundleError> {
    match trusted {
        Some(trusted) => {
            let verified = bundle::verify(bytes, trusted)?;
            Ok(LiveSpec { version: verified.metadata.version, hash: verified.hash, spec: verified.spec })
        }
        None => {
            let opened = bundle::open(bytes)?;
            Ok(LiveSpec { version: opened.metadata.version, hash: opened.hash, spec: opened.spec })
        }
    }
}

fn plan_target(state: &LiveState, spec: &Spec) -> TargetPlan {
    // A target without a live bundle has no name or labels to change: the first rollout adds
    // every entity and only that.
    let first_rollout;
    let before = if state.live.is_none() {
        first_rollout = Spec { metadata: spec.metadata.clone(), ..state.spec.clone() };
        &first_rollout
    } else {
        &state.spec
    };
    let changes: Changes = diff::compare(before, spec, &diff::Options::default());
    let summary = changes.summary();
    TargetPlan {
        target: state.uri.clone(),
        kind: state.kind,
        live: state.live.clone(),
        summary: ChangeSummary {
            added: summary.added,
            changed: summary.changed,
            removed: summary.removed,
            breaking: summary.breaking,
            risky: summary.risky,
        },
        changes: changes.entities,
        runs_this_spec: false,
        serves_spec_from_config: false,
    }
}

/// Plans a target that already serves `spec` without a bundle: it is compared with `spec`
/// itself, so nothing changes there.
fn plan_unchanged(state: &LiveState, spec: &Spec) -> TargetPlan {
    let serving = LiveState {
        uri: state.uri.clone(),
        kind: state.kind,
        live: None,
        spec: spec.clone(),
        newest_in_history: state.newest_in_history,
        config_hash: state.config_hash.clone(),
    };
    plan_target(&serving, spec)
}

/// Splits targets into waves: the first `first_wave_size` targets that need the bundle (the
/// canaries, or the first target), then all the others. A target that already runs the spec
/// gets nothing from `apply`, so it never takes a canary's place: it goes to the last wave.
fn waves(targets: &[Target], plans: &[TargetPlan], first_wave_size: usize) -> Vec<Wave> {
    let (up_to_date, pending): (Vec<_>, Vec<_>) = targets.iter().zip(plans).partition(|(_, plan)| plan.runs_this_spec);
    let mut uris: Vec<String> = pending.iter().map(|(target, _)| target.uri()).collect();
    let split = if uris.is_empty() { 0 } else { first_wave_size.min(uris.len()) };
    uris.extend(up_to_date.iter().map(|(target, _)| target.uri()));
    let split = if split == 0 { uris.len() } else { split };
    let (first, rest) = uris.split_at(split);
    let mut waves = vec![Wave { number: 1, canary: !rest.is_empty(), targets: first.to_vec() }];
    if !rest.is_empty() {
        waves.push(Wave { number: 2, canary: false, targets: rest.to_vec() });
    }
    waves
}

fn print_summary(plan: &Plan) {
    let bundle = &plan.bundle;
    errln!("plan: bundle version {} ({}) for {} target(s)", bundle.version, bundle.hash, plan.targets.len());
    for target in &plan.targets {
        let live = match &target.live {
            Some(live) => format!("live version {} ({})", live.version, live.hash),
            None => "no live bundle".to_owned(),
        };
        let summary = &target.summary;
        if target.runs_this_spec {
            errln!("  {}: {live}; already runs this spec, nothing to push", target.target);
            continue;
        }
        if target.serves_spec_from_config {
            errln!(
                "  {}: serves this spec from --config without a bundle; the bundle changes nothing and starts its history",
                target.target
            );
            continue;
        }
        errln!(
            "  {}: {live}; {} added, {} changed, {} removed; {} breaking, {} risky",
            target.target,
            summary.added,
            summary.changed,
            summary.removed,
            summary.breaking,
            summary.risky
        );
        // Deletions, then every other change a reviewer must look at, most severe first.
        for change in target.changes.iter().filter(|change| change.operation == Operation::Removed) {
            errln!("    delete {} {} [{}]", change.kind.as_str(), change.name, change.class.as_str());
        }
        for class in [Class::Breaking, Class::Risky] {
            for change in target.changes.iter().filter(|change| change.operation != Operation::Removed && change.class == class) {
                let verb = if change.operation == Operation::Added { "add" } else { "change" };
                errln!("    {verb} {} {}: {} [{}]", change.kind.as_str(), change.name, change.reason, class.as_str());
            }
        }
    }
    for wave in &plan.waves {
        let role = if wave.canary { " (canary)" } else { "" };
        errln!("  wave {}{role}: {}", wave.number, wave.targets.join(", "));
    }
    let gates = &plan.health_gates;
    errln!(
        "  health gates after each wave: watched for {1}; fails when the 5xx rate over the runtime's last 60 s exceeds {0}% and the rate before the push, once at least {2} requests were served",
        gates.max_error_rate_percent,
        gates.observation_window,
        gates.min_requests
    );
}
