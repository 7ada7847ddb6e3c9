//! `gatectl keygen`: makes an Ed25519 key pair for signing bundles.

use std::io::Write;
use std::path::{Path, PathBuf};

use gatectl_spec::bundle::SignerKey;
use gatectl_spec::bundle::keys::{PRIVATE_KEY_SUFFIX, PUBLIC_KEY_SUFFIX};

use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory the key files are written to; created when missing. Existing files are never
    /// overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key id that signatures carry and the public key file is named after. Without it, the id
    /// is derived from the public key's SHA-256.
    #[arg(long = "id", value_name = "KEY_ID")]
    pub key_id: Option<String>,
}

pub fn run(args: KeygenArgs) -> ExitStatus {
    let signer = match SignerKey::generate(args.key_id.clone()) {
        Ok(signer) => signer,
        Err(error) => {
            errln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    if let Err(error) = std::fs::create_dir_all(&args.out) {
        errln!("error: cannot create directory {}: {error}", args.out.display());
        return ExitStatus::Failure;
    }

    let private_path = args.out.join(format!("{}{PRIVATE_KEY_SUFFIX}", signer.key_id()));
    let public_path = args.out.join(format!("{}{PUBLIC_KEY_SUFFIX}", signer.key_id()));
    for path in [&private_path, &public_path] {
        if path.exists() {
            errln!("error: {} already exists; choose another --out directory or --id, or remove the old key first", path.display());
            return ExitStatus::Failure;
        }
    }
    if let Err(error) = write_new_file(&private_path, signer.to_private_pem().as_bytes(), 0o600) {
        errln!("error: cannot write {}: {error}", private_path.display());
        return ExitStatus::Failure;
    }
    if let Err(error) = write_new_file(&public_path, signer.to_public_key_file().as_bytes(), 0o644) {
        errln!("error: cannot write {}: {error}", public_path.display());
        return ExitStatus::Failure;
    }

    outln!("key id:      {}", signer.key_id());
    outln!("private key: {}", private_path.display());
    outln!("public key:  {}", public_path.display());
    errln!(
        "Keep the private key secret. Give the public key to every runtime and `gatectl bundle verify --trusted-keys`. \
         In CI, put the private key's PEM text in GATECTL_SIGNING_KEY."
    );
    ExitStatus::Success
}

/// Writes a file that must not exist yet, created with `mode` so a private key is never
/// readable by others, not even for a moment.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
