//! `gatectl bundle build|inspect|verify`: signed, content-addressed bundles of a spec.

use std::path::{Path, PathBuf};

use gatectl_spec::Spec;
use gatectl_spec::bundle::keys::{PRIVATE_KEY_SUFFIX, PUBLIC_KEY_SUFFIX};
use gatectl_spec::bundle::{self, BundleMetadata, EntityCounts, OpenedBundle, SignerKey, TrustedKeys};
use gatectl_spec::load::{LoadOptions, load};
use gatectl_spec::rules::{self, RuleConfig};
use serde::Serialize;

use crate::exit::ExitStatus;

/// Environment variable with the PEM text of the signing key, for CI.
pub const SIGNING_KEY_ENV: &str = "GATECTL_SIGNING_KEY";

#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Build and sign a bundle of a spec.
    // `--version` sets the bundle version here, so the program's version flag is turned off.
    #[command(disable_version_flag = true)]
    Build(BuildArgs),
    /// Show a bundle's metadata, hash, signers and entity counts (signatures are not checked).
    Inspect(InspectArgs),
    /// Check a bundle's hash, signature and spec: exit 0 when valid, 1 when invalid, 2 when the
    /// check could not run.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Spec files or directories; a directory's .yaml, .yml and .json files are merged.
    #[arg(required = true, value_name = "SPEC")]
    pub paths: Vec<PathBuf>,
    /// Overlay applied on top of the spec (repeatable, applied in order).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// PKCS#8 PEM private key file; without it the PEM text is read from GATECTL_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Key id written beside the signature. Default: the id in the public key file beside
    /// --signing-key (NAME.pub.json for NAME.key.pem), else the id derived from the public key.
    #[arg(long, value_name = "KEY_ID", env = "GATECTL_SIGNING_KEY_ID")]
    pub key_id: Option<String>,
    /// Bundle version number, from 1 to 9007199254740991 (2^53 - 1); each rollout needs a
    /// higher one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=gatectl_spec::bundle::MAX_VERSION))]
    pub version: u64,
    /// Hash of the bundle this one replaces (`sha256:` and 64 hex digits).
    #[arg(long, value_name = "HASH")]
    pub parent: Option<String>,
    /// Git commit recorded in the bundle; default: `git rev-parse HEAD` in the spec's directory.
    #[arg(long, value_name = "COMMIT")]
    pub source_commit: Option<String>,
    /// File the bundle is written to.
    #[arg(short = 'o', long = "output", value_name = "FILE", value_parser = crate::args::bundle_file)]
    pub output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The bundle file.
    #[arg(value_name = "BUNDLE")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, visible_alias = "format", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The bundle file.
    #[arg(value_name = "BUNDLE")]
    pub path: PathBuf,
    /// Directory of trusted public key files (*.pub.json), or one such file (repeatable).
    #[arg(long = "trusted-keys", required = true, value_name = "PATH")]
    pub trusted_keys: Vec<PathBuf>,
    /// Largest bundle file accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = bundle::DEFAULT_MAX_BUNDLE_BYTES)]
    pub max_bytes: usize,
}

pub fn run(args: BundleArgs) -> ExitStatus {
    match args.command {
        BundleCommand::Build(args) => build(args),
        BundleCommand::Inspect(args) => inspect(args),
        BundleCommand::Verify(args) => verify(args),
    }
}

fn build(args: BuildArgs) -> ExitStatus {
    if let Some(parent) = &args.parent
        && !bundle::is_bundle_hash(parent)
    {
        errln!("error: --parent `{parent}` is not a bundle hash; give `sha256:` followed by 64 lowercase hex digits");
        return ExitStatus::Failure;
    }
    let signer = match load_signer(args.signing_key.as_deref(), args.key_id.clone()) {
        Ok(signer) => signer,
        Err(message) => {
            errln!("error: {message}");
            return ExitStatus::Failure;
        }
    };
    let spec = match load_spec(&args.paths, &args.overlays) {
        Ok(spec) => spec,
        Err(status) => return status,
    };
    let created_at = match bundle::creation_timestamp() {
        Ok(created_at) => created_at,
        Err(error) => {
            errln!("error: {error}");
            return ExitStatus::Failure;
        }
    };

    let source_commit = args.source_commit.clone().or_else(|| git_head(&args.paths[0]));
    let metadata = BundleMetadata { version: args.version, parent: args.parent.clone(), created_at, source_commit };
    let envelope = match bundle::build(&spec, metadata, &signer) {
        Ok(envelope) => envelope,
        Err(error) => {
            errln!("error: {error}");
            return ExitStatus::Findings;
        }
    };
    if let Err(error) = std::fs::write(&args.output, envelope.to_bytes()) {
        errln!("error: cannot write {}: {error}", args.output.display());
        return ExitStatus::Failure;
    }

    outln!("{}", envelope.hash);
    errln!("built bundle version {} signed by {}: {}", args.version, signer.key_id(), args.output.display());
    ExitStatus::Success
}

/// Reads the signing key from `path`, or from GATECTL_SIGNING_KEY. Messages never contain the
/// key text.
pub fn load_signer(path: Option<&Path>, key_id: Option<String>) -> Result<SignerKey, String> {
    let pem = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|error| format!("cannot read signing key {}: {error}", path.display()))?,
        None => std::env::var(SIGNING_KEY_ENV)
            .map_err(|_| format!("no signing key: give --signing-key FILE, or put the key's PEM text in {SIGNING_KEY_ENV}"))?,
    };
    let signer = SignerKey::from_pem(&pem, key_id.clone()).map_err(|error| error.to_string())?;
    if key_id.is_some() {
        return Ok(signer);
    }
    let Some(sibling_id) = path.and_then(|path| key_id_beside(path, &signer)) else {
        return Ok(signer);
    };
    SignerKey::from_pem(&pem, Some(sibling_id)).map_err(|error| error.to_string())
}

/// Returns the key id of the public key file beside a private key file written by `keygen`,
/// when that file contains the matching public key.
fn key_id_beside(private_path: &Path, signer: &SignerKey) -> Option<String> {
    let file_name = private_path.file_name()?.to_str()?;
    let stem = file_name.strip_suffix(PRIVATE_KEY_SUFFIX)?;
    let public_path = private_path.with_file_name(format!("{stem}{PUBLIC_KEY_SUFFIX}"));
    let keys = TrustedKeys::from_path(&public_path).ok()?;
    let key_id = keys.key_ids().find(|key_id| keys.get(key_id) == Some(&signer.verifying_key()))?;
    Some(key_id.to_owned())
}

/// Loads a spec and runs the semantic rules, printing every finding. A spec with errors returns
/// `Findings`, an unreadable one `Failure`.
pub fn load_spec(paths: &[PathBuf], overlays: &[PathBuf]) -> Result<Spec, ExitStatus> {
    let options = LoadOptions { overlays: overlays.to_vec(), ..LoadOptions::default() };
    let loaded = load(paths, &options).map_err(|error| {
        errln!("error: {error}");
        ExitStatus::Failure
    })?;
    let mut diagnostics = loaded.diagnostics.clone();
    if let Some(spec) = &loaded.spec {
        diagnostics.extend(rules::check(spec, &loaded.index, &RuleConfig::default()));
    }
    let mut has_errors = false;
    for diagnostic in &diagnostics {
        has_errors |= diagnostic.severity == gatectl_spec::Severity::Error;
        let location = diagnostic.span.map(|span| loaded.sources.locate(span).to_string()).unwrap_or_default();
        errln!("{location}: {} [{}] {}", diagnostic.severity.as_str(), diagnostic.rule, diagnostic.message);
    }
    match loaded.spec {
        Some(spec) if !has_errors => Ok(spec),
        _ => {
            errln!("error: the spec is invalid; fix the errors above, then run the command again");
            Err(ExitStatus::Findings)
        }
    }
}

/// Returns the commit checked out in the repository that contains `path`, when there is one.
pub fn git_head(path: &Path) -> Option<String> {
    let directory = if path.is_dir() { path } else { path.parent()? };
    let directory = if directory.as_os_str().is_empty() { Path::new(".") } else { directory };
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(["rev-parse", "--verify", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
}

/// The fields that `inspect` shows of a bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inspection {
    hash: String,
    format_version: u64,
    version: u64,
    parent: Option<String>,
    created_at: String,
    source_commit: Option<String>,
    gateway: Option<String>,
    signers: Vec<String>,
    payload_bytes: usize,
    counts: EntityCounts,
}

impl Inspection {
    fn of(opened: &OpenedBundle) -> Self {
        Self {
            hash: opened.hash.clone(),
            format_version: bundle::FORMAT_VERSION,
            version: opened.metadata.version,
            parent: opened.metadata.parent.clone(),
            created_at: opened.metadata.created_at.clone(),
            source_commit: opened.metadata.source_commit.clone(),
            gateway: opened.spec.metadata.name.clone(),
            signers: opened.signatures.iter().map(|entry| entry.key_id.clone()).collect(),
            payload_bytes: opened.payload_bytes,
            counts: EntityCounts::of(&opened.spec),
        }
    }

    fn to_text(&self) -> String {
        let none = || "(none)".to_owned();
        let counts = &self.counts;
        [
            format!("hash:            {}", self.hash),
            format!("format version:  {}", self.format_version),
            format!("version:         {}", self.version),
            format!("parent:          {}", self.parent.clone().unwrap_or_else(none)),
            format!("created at:      {}", self.created_at),
            format!("source commit:   {}", self.source_commit.clone().unwrap_or_else(|| "(unknown)".to_owned())),
            format!("gateway:         {}", self.gateway.clone().unwrap_or_else(none)),
            format!("signed by:       {} (not checked; run `gatectl bundle verify`)", self.signers.join(", ")),
            format!("payload:         {} bytes", self.payload_bytes),
            format!("upstreams:       {}", counts.upstreams),
            format!("routes:          {}", counts.routes),
            format!("auth providers:  {}", counts.auth_providers),
            format!("consumers:       {}", counts.consumers),
            format!("rate limits:     {}", counts.rate_limit_policies),
            format!("tiers:           {}", counts.tiers),
        ]
        .join("\n")
    }
}

fn inspect(args: InspectArgs) -> ExitStatus {
    let bytes = match std::fs::read(&args.path) {
        Ok(bytes) => bytes,
        Err(error) => {
            errln!("error: cannot read {}: {error}", args.path.display());
            return ExitStatus::Failure;
        }
    };
    let opened = match bundle::open(&bytes) {
        Ok(opened) => opened,
        Err(error) => {
            errln!("error: {}: {error}", args.path.display());
            return ExitStatus::Findings;
        }
    };
    let inspection = Inspection::of(&opened);
    match args.output {
        OutputFormat::Text => outln!("{}", inspection.to_text()),
        OutputFormat::Json => {
            outln!("{}", serde_json::to_string_pretty(&inspection).expect("an inspection serialises to JSON"))
        }
    }
    ExitStatus::Success
}

fn verify(args: VerifyArgs) -> ExitStatus {
    let mut trusted = TrustedKeys::new();
    for path in &args.trusted_keys {
        if let Err(error) = trusted.add_path(path) {
            errln!("error: {error}");
            return ExitStatus::Failure;
        }
    }
    let bytes = match std::fs::read(&args.path) {
        Ok(bytes) => bytes,
        Err(error) => {
            errln!("error: cannot read {}: {error}", args.path.display());
            return ExitStatus::Failure;
        }
    };
    match bundle::verify_with_limit(&bytes, &trusted, args.max_bytes) {
        Ok(verified) => {
            outln!("valid: {} version {} signed by {}", verified.hash, verified.metadata.version, verified.signer);
            ExitStatus::Success
        }
        Err(error) => {
            errln!("invalid: {}: {error}", args.path.display());
            ExitStatus::Findings
        }
    }
}
