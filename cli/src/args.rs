//! Command-line arguments. Each subcommand's own flags live beside its code in `commands/`.

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Debug, Parser)]
#[command(name = "gatectl", version, about = "GitOps toolchain for API gateways", propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs against the JSON Schema and the semantic rules.
    Validate(commands::validate::ValidateArgs),
    /// Generate a gateway spec from OpenAPI 2.0, 3.0 or 3.1 files.
    Import(commands::import::ImportArgs),
    /// Print the JSON Schema of the spec format.
    Schema(commands::schema::SchemaArgs),
    /// Compare two specs, or a spec with a git revision, and classify each change.
    Diff(commands::diff::DiffArgs),
    /// Create API keys for consumers.
    Keys(commands::keys::KeysArgs),
    /// Make an Ed25519 key pair for signing bundles.
    Keygen(commands::keygen::KeygenArgs),
    /// Build, inspect and verify signed bundles.
    Bundle(commands::bundle::BundleArgs),
    /// Plan a rollout of a spec to targets: bundle version, changes, waves and health gates.
    Plan(commands::plan::PlanArgs),
    /// Roll a plan out to runtimes wave by wave, with health gates and automatic rollback.
    Apply(commands::apply::ApplyArgs),
    /// Show each runtime's active bundle and its drift from a spec.
    Status(commands::status::StatusArgs),
    /// Activate an earlier bundle from each runtime's history.
    Rollback(commands::rollback::RollbackArgs),
}

/// Names of formats that `--output` takes on `validate`, `apply`, `status` and `rollback`.
const FORMAT_NAMES: [&str; 8] = ["json", "text", "yaml", "yml", "human", "markdown", "sarif", "github"];

/// Refuses a bare format name as the file `--output` writes on `plan`, `bundle build` and
/// `import`: there `--output json` is far more likely a slip than a file meant to be `json`.
/// `advice` is the way to get what the user probably wanted.
fn output_file(value: &str, advice: &str) -> Result<std::path::PathBuf, String> {
    if value == "-" {
        return Err(format!("this command writes a file, not standard output; {advice}"));
    }
    if FORMAT_NAMES.iter().any(|format| value.eq_ignore_ascii_case(format)) {
        return Err(format!(
            "`{value}` is a format name, but this command's --output takes the file to write; {advice}, or `./{value}` for a file named {value}"
        ));
    }
    Ok(std::path::PathBuf::from(value))
}

/// Parses `plan --output`.
pub fn plan_file(value: &str) -> Result<std::path::PathBuf, String> {
    output_file(value, "a plan is always JSON, so give a file name such as `plan.json`")
}

/// Parses `bundle build --output`.
pub fn bundle_file(value: &str) -> Result<std::path::PathBuf, String> {
    output_file(value, "a bundle is always JSON, so give a file name such as `bundle.json`")
}

/// Parses `import --output`, where `-` stands for standard output.
pub fn import_file(value: &str) -> Result<std::path::PathBuf, String> {
    if value == "-" {
        return Ok(std::path::PathBuf::from(value));
    }
    let advice = if value.eq_ignore_ascii_case("json") {
        "to write JSON, add `--format json` and give a file name such as `gateway.json`"
    } else {
        "give a file name such as `gateway.yaml`, and `--format json` for JSON"
    };
    output_file(value, advice)
}

#[cfg(test)]
mod tests {
    use super::{import_file, plan_file};

    #[test]
    fn output_file_refuses_a_format_name() {
        let error = plan_file("YAML").unwrap_err();
        assert!(error.contains("`YAML` is a format name"), "{error}");
        assert!(error.contains("`plan.json`"), "{error}");
        assert!(import_file("json").unwrap_err().contains("add `--format json`"));
        assert_eq!(plan_file("./json").unwrap(), std::path::PathBuf::from("./json"));
        assert_eq!(plan_file("plan.json").unwrap(), std::path::PathBuf::from("plan.json"));
        assert_eq!(import_file("-").unwrap(), std::path::PathBuf::from("-"));
        assert!(plan_file("-").unwrap_err().contains("writes a file, not standard output"));
    }
}
