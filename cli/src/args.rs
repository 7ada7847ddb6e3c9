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

/// Parses the `--output FILE` of `plan`, `bundle build` and `import`, and refuses a bare format
/// name. On `validate`, `apply`, `status` and `rollback` the same flag takes a format, so
/// `--output json` here is far more likely a slip than a file meant to be called `json`.
pub fn output_file(value: &str) -> Result<std::path::PathBuf, String> {
    const FORMATS: [&str; 8] = ["json", "text", "yaml", "yml", "human", "markdown", "sarif", "github"];
    if FORMATS.iter().any(|format| value.eq_ignore_ascii_case(format)) {
        return Err(format!(
            "`{value}` is a format name, but this command's --output takes the file to write; give a file name such as `out.{}`, or `./{value}` for a file named {value}",
            if value.starts_with('y') || value.starts_with('Y') { "yaml" } else { "json" }
        ));
    }
    Ok(std::path::PathBuf::from(value))
}

#[cfg(test)]
mod tests {
    use super::output_file;

    #[test]
    fn output_file_refuses_a_format_name() {
        let error = output_file("JSON").unwrap_err();
        assert!(error.contains("`JSON` is a format name"), "{error}");
        assert!(error.contains("`out.json`"), "{error}");
        assert!(output_file("yaml").unwrap_err().contains("`out.yaml`"));
        assert_eq!(output_file("./json").unwrap(), std::path::PathBuf::from("./json"));
        assert_eq!(output_file("plan.json").unwrap(), std::path::PathBuf::from("plan.json"));
    }
}
