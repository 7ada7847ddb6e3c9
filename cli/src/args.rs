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
    /// Print the JSON Schema of the spec format.
    Schema(commands::schema::SchemaArgs),
}
