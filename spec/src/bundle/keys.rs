//! Ed25519 signing keys, public key files and the set of keys a verifier trusts.
//!
//! A private key is stored as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). A public key is stored
//! as a small JSON file that names its key id beside the SubjectPublicKeyInfo PEM:
//! `{"algorithm":"ed25519","keyId":"...","publicKey":"-----BEGIN PUBLIC KEY-----..."}`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name ending of public key files, which [`TrustedKeys::from_path`] reads from a directory.
pub const PUBLIC_KEY_SUFFIX: &str = ".pub.json";
/// File name ending of private key files written by `gatectl keygen`.
pub const PRIVATE_KEY_SUFFIX: &str = ".key.pem";
/// The only signature algorithm of this format.
pub const ALGORITHM: &str = "ed25519";

/// Why a key could not be made, read or trusted. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    // The I/O error is part of the message, not a `source`, so that printing the error with its
    // chain does not repeat it.
    #[error("cannot read {path}: {error}; check that the path exists and is readable")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("the signing key is not an Ed25519 private key in PKCS#8 PEM form ({reason}); make one with `gatectl keygen`")]
    InvalidPrivateKey { reason: String },
    #[error("{path} is not a valid public key file: {reason}; make one with `gatectl keygen`")]
    InvalidPublicKeyFile { path: PathBuf, reason: String },
    #[error("invalid key id `{key_id}`: use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit")]
    InvalidKeyId { key_id: String },
    #[error("key id `{key_id}` is used by two different public keys ({first} and {second}); give each key its own id")]
    DuplicateKeyId { key_id: String, first: PathBuf, second: PathBuf },
    #[error("{path} contains no public key file (*{suffix}); copy the signers' public keys there", suffix = PUBLIC_KEY_SUFFIX)]
    NoTrustedKeys { path: PathBuf },
}

/// Checks that a key id is short and safe to use as a file name.
pub fn validate_key_id(key_id: &str) -> Result<(), KeyError> {
    let mut bytes = key_id.bytes();
    let first_ok = bytes.next().is_some_and(|byte| byte.is_ascii_alphanumeric());
    let rest_ok = key_id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && key_id.len() <= 64 { Ok(()) } else { Err(KeyError::InvalidKeyId { key_id: key_id.to_owned() }) }
}

/// Derives the default key id of a public key: `ed25519-` and the first 16 hex digits of the
/// SHA-256 of the 32 raw public key bytes.
pub fn default_key_id(public_key: &VerifyingKey) -> String {
    let digest = Sha256::digest(public_key.as_bytes());
    format!("{ALGORITHM}-{}", hex::encode(&digest[..8]))
}

/// A private key together with the key id that its signatures name.
pub struct SignerKey {
    key_id: String,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SignerKey").field("key_id", &self.key_id).field("key", &"<redacted>").finish()
    }
}

impl SignerKey {
    /// Generates a new key pair from the operating system's random source. Without `key_id` the
    /// id is derived from the public key.
    pub fn generate(key_id: Option<String>) -> Result<Self, KeyError> {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::with_id(key, key_id)
    }

    /// Reads a PKCS#8 PEM private key. Without `key_id` the id is derived from the public key.
    pub fn from_pem(pem: &str, key_id: Option<String>) -> Result<Self, KeyError> {
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|error| KeyError::InvalidPrivateKey { reason: error.to_string() })?;
        Self::with_id(key, key_id)
    }

    fn with_id(key: SigningKey, key_id: Option<String>) -> Result<Self, KeyError> {
        let key_id = key_id.unwrap_or_else(|| default_key_id(&key.verifying_key()));
        validate_key_id(&key_id)?;
        Ok(Self { key_id, key })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Encodes the private key as PKCS#8 PEM. The caller must keep the text secret. The key is
    /// written in the first PKCS#8 version, without the public key (RFC 8410 section 7).
    /// OpenSSL 3.0 and Python's `cryptography` read this version and reject the second.
    pub fn to_private_pem(&self) -> String {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes { secret_key: self.key.to_bytes(), public_key: None };
        let pem = bytes.to_pkcs8_pem(LineEnding::LF).expect("an Ed25519 key always encodes as PKCS#8");
        pem.as_str().to_owned()
    }

    /// Encodes the public key file: key id, algorithm and SubjectPublicKeyInfo PEM.
    pub fn to_public_key_file(&self) -> String {
        let public_key = self.verifying_key().to_public_key_pem(LineEnding::LF).expect("an Ed25519 key always encodes as SPKI");
        let file = PublicKeyFile { key_id: self.key_id.clone(), algorithm: ALGORITHM.to_owned(), public_key };
        let mut text = serde_json::to_string_pretty(&file).expect("a public key file serialises to JSON");
        text.push('\n');
        text
    }

    pub(crate) fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        self.key.sign(message)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublicKeyFile {
    key_id: String,
    algorithm: String,
    public_key: String,
}

/// Public keys a verifier accepts signatures from, by key id.
#[derive(Debug, Default, Clone)]
pub struct TrustedKeys {
    keys: BTreeMap<String, (VerifyingKey, PathBuf)>,
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one public key file, or every `*.pub.json` file directly inside a directory.
    pub fn from_path(path: &Path) -> Result<Self, KeyError> {
        let mut trusted = Self::new();
        trusted.add_path(path)?;
        Ok(trusted)
    }

    /// Adds one public key file, or every `*.pub.json` file directly inside a directory.
    pub fn add_path(&mut self, path: &Path) -> Result<(), KeyError> {
        let io_error = |source| KeyError::Io { path: path.to_owned(), error: source };
        if !std::fs::metadata(path).map_err(io_error)?.is_dir() {
            return self.add_file(path);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_error)? {
            let file = entry.map_err(io_error)?.path();
            let is_public_key = file.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.ends_with(PUBLIC_KEY_SUFFIX));
            if is_public_key && file.is_file() {
                files.push(file);
            }
        }
        if files.is_empty() {
            return Err(KeyError::NoTrustedKeys { path: path.to_owned() });
        }
        files.sort();
        for file in files {
            self.add_file(&file)?;
        }
        Ok(())
    }

    fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), error: source })?;
        let invalid = |reason: String| KeyError::InvalidPublicKeyFile { path: path.to_owned(), reason };
        let file: PublicKeyFile = serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if file.algorithm != ALGORITHM {
            return Err(invalid(format!("algorithm `{}` is not supported, only `{ALGORITHM}` is", file.algorithm)));
        }
        validate_key_id(&file.key_id)?;
        let key = VerifyingKey::from_public_key_pem(file.public_key.trim()).map_err(|error| invalid(error.to_string()))?;
        self.insert(file.key_id, key, path.to_owned())
    }

    /// Trusts `key` under `key_id`; `source` names where it came from in error messages.
    pub fn insert(&mut self, key_id: String, key: VerifyingKey, source: PathBuf) -> Result<(), KeyError> {
        validate_key_id(&key_id)?;
        if let Some((existing, first)) = self.keys.get(&key_id) {
            if *existing == key {
                return Ok(());
            }
            return Err(KeyError::DuplicateKeyId { key_id, first: first.clone(), second: source });
        }
        self.keys.insert(key_id, (key, source));
        Ok(())
    }

    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id).map(|(key, _)| key)
    }

    /// Trusted key ids in sorted order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_round_trips_through_pem() {
        let signer = SignerKey::generate(None).unwrap();
        let again = SignerKey::from_pem(&signer.to_private_pem(), None).unwrap();
        assert_eq!(again.verifying_key(), signer.verifying_key());
        assert_eq!(again.key_id(), signer.key_id());
    }

    #[test]
    fn private_key_is_written_as_pkcs8_version_one() {
        use base64::Engine;
        let signer = SignerKey::generate(None).unwrap();
        let pem = signer.to_private_pem();
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        // SEQUENCE, INTEGER 0 (version 1), the Ed25519 algorithm, and the 32-byte key as an OCTET
        // STRING inside an OCTET STRING, with no public key after it (RFC 8410 section 10.3).
        let prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        assert_eq!(der.len(), prefix.len() + 32);
        assert_eq!(der[..prefix.len()], prefix);
    }

    #[test]
    fn debug_output_hides_private_key() {
        let signer = SignerKey::generate(Some("ci".into())).unwrap();
        let pem = signer.to_private_pem();
        let body = pem.lines().nth(1).unwrap();
        assert!(!format!("{signer:?}").contains(body));
    }

    #[test]
    fn key_ids_validated() {
        for bad in ["", "-lead", "has space", "a/b", &"x".repeat(65)] {
            assert!(validate_key_id(bad).is_err(), "{bad:?} should be invalid");
        }
        assert!(validate_key_id("release-2026.1_a").is_ok());
    }

    #[test]
    fn default_key_id_is_stable_for_one_key() {
        let signer = SignerKey::generate(None).unwrap();
        assert_eq!(signer.key_id(), default_key_id(&signer.verifying_key()));
        assert_eq!(signer.key_id().len(), "ed25519-".len() + 16);
    }
}
