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
