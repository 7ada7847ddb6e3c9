//! `gatectl keys create`: makes an API key for a consumer.
//!
//! The key is printed once on standard output, so `KEY=$(gatectl keys create ...)` captures only
//! the key. The YAML entry to add under the consumer's `credentials.apiKeys` goes to standard
//! error. It carries only the key's hash, and nothing is written to disk.

use gatectl_spec::api_key;

use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Generate an API key: the key goes to stdout, the spec entry with its hash to stderr.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Id of the consumer that will own the key (`consumers[].id`).
    #[arg(long)]
    pub consumer: String,
    /// Label stored beside the hash to tell keys apart, for example `ci-2026-11`.
    #[arg(long)]
    pub label: Option<String>,
    /// Expiry time in RFC 3339, for example `2027-01-31T00:00:00Z`; the key never expires when absent.
    #[arg(long)]
    pub expires: Option<String>,
}

pub fn run(args: KeysArgs) -> ExitStatus {
    match args.command {
        KeysCommand::Create(create) => create_key(create),
    }
}

fn create_key(args: CreateArgs) -> ExitStatus {
    if !is_valid_consumer_id(&args.consumer) {
        errln!(
            "error: invalid consumer id `{}`: use 1 to 128 letters, digits, `.`, `_`, `@` or `-`, starting with a letter or digit",
            args.consumer
        );
        return ExitStatus::Failure;
    }
    let expires_at = match args.expires.as_deref().map(api_key::parse_expiry).transpose() {
        Ok(expires_at) => expires_at,
        Err(error) => {
            errln!("error: invalid --expires value: {error}; write an RFC 3339 time such as 2027-01-31T00:00:00Z");
            return ExitStatus::Failure;
        }
    };

    let key = api_key::generate();
    outln!("{key}");

    // JSON strings are valid YAML scalars, so serde_json quotes the label safely.
    let mut entry = format!("- hash: {}\n", api_key::hash(&key));
    if let Some(label) = &args.label {
        let quoted = serde_json::to_string(label).unwrap_or_default();
        entry.push_str(&format!("  label: {quoted}\n"));
    }
    if let Some(expires_at) = expires_at {
        entry.push_str(&format!("  expiresAt: {}\n", api_key::format_expiry(&expires_at)));
    }
    errln!(
        "# Add this entry under credentials.apiKeys of consumer `{}`. The key itself, written to standard output, is shown only once.",
        args.consumer
    );
    err!("{entry}");
    ExitStatus::Success
}

fn is_valid_consumer_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    let Some(first) = bytes.next() else { return false };
    id.len() <= 128 && first.is_ascii_alphanumeric() && bytes.all(|byte| byte.is_ascii_alphanumeric() || b"._@-".contains(&byte))
}
