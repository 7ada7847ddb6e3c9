//! Signed, content-addressed bundles: the form in which a whole gateway spec travels to runtimes.
//!
//! A bundle file is one JSON envelope, written in canonical form ([`canonical`]) and followed by
//! one newline:
//!
//! ```json
//! {"hash":"sha256:<hex>","payload":{...},"signatures":[{"keyId":"...","signature":"<base64>"}]}
//! ```
//!
//! `payload` contains the format version, the bundle's metadata and the normalised spec. `hash` is
//! the SHA-256 of the payload's canonical bytes, so it names the content. Each signature is an
//! Ed25519 signature over [`SIGNATURE_CONTEXT`] followed by the 32 raw bytes of that digest.
//! `docs/bundles.md` describes the format for readers outside this crate.

pub mod canonical;
pub mod keys;
mod verify;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Spec;

pub use keys::{KeyError, SignerKey, TrustedKeys};
pub use verify::{OpenedBundle, VerifiedBundle, open, open_with_limit, verify, verify_with_limit};

/// Version of the bundle format written by this build, and the only one it reads.
pub const FORMAT_VERSION: u64 = 1;
/// Largest bundle file read by default, in bytes (64 MiB).
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
/// Prefix of every bundle hash.
pub const HASH_PREFIX: &str = "sha256:";
/// Largest bundle version: 2^53 - 1, the largest integer that every JSON reader keeps exactly
/// (RFC 8259 section 6). A limit below `u64::MAX` also leaves room for a higher version.
pub const MAX_VERSION: u64 = (1 << 53) - 1;
/// Bytes put before the digest in every signed message, so a bundle signature cannot be taken
/// for a signature of anything else made with the same key.
pub const SIGNATURE_CONTEXT: &[u8] = b"gatectl-bundle-signature-v1\0";

/// Why a bundle could not be built, read or trusted. Each cause has its own variant.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is {size} bytes, more than the limit of {limit} bytes; raise the limit or split the spec")]
    TooLarge { size: usize, limit: usize },
    #[error("the bundle file is truncated ({reason}); copy or download it again")]
    Truncated { reason: String },
    #[error("the file is not a bundle envelope: {reason}; build bundles with `gatectl bundle build`")]
    MalformedEnvelope { reason: String },
    #[error(
        "the bundle has format version {found}, but this gatectl reads only format version {supported}; rebuild the bundle with this version of gatectl",
        supported = FORMAT_VERSION
    )]
    UnsupportedFormatVersion { found: String },
    #[error(
        "the bundle payload does not match its hash (recorded {recorded}, computed {computed}), so it was changed after it was built; rebuild it and do not edit bundle files"
    )]
    HashMismatch { recorded: String, computed: String },
    #[error("the bundle carries no signature; sign it with `gatectl bundle build --signing-key`")]
    Unsigned,
    #[error(
        "the bundle is signed only by unknown key ids ({}), none of which is trusted (trusted: {}); add the signer's public key to the trusted keys",
        found.join(", "),
        if trusted.is_empty() { "none".to_owned() } else { trusted.join(", ") }
    )]
    UnknownKey { found: Vec<String>, trusted: Vec<String> },
    #[error(
        "the signature by key `{key_id}` does not verify, so the bundle was signed by another key or altered; check that the trusted public key belongs to the signer"
    )]
    BadSignature { key_id: String },
    #[error("the bundle payload is invalid: {reason}")]
    InvalidPayload { reason: String },
    #[error("the spec in the bundle is invalid: {}; fix the spec and build the bundle again", problems.join("; "))]
    InvalidSpec { problems: Vec<String> },
}

/// Metadata of one bundle, in the payload beside the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleMetadata {
    /// Bundle version number; each rollout uses a higher one.
    pub version: u64,
    /// Hash of the bundle this one replaces, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// When the bundle was built, as RFC 3339 UTC with whole seconds (see [`format_timestamp`]).
    pub created_at: String,
    /// Git commit of the spec's repository, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

/// The signed content of a bundle: the format version, the fields of [`BundleMetadata`] and the
/// spec, side by side in one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Payload {
    pub format_version: u64,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    pub spec: Spec,
}

impl Payload {
    pub fn new(metadata: BundleMetadata, spec: Spec) -> Self {
        let BundleMetadata { version, parent, created_at, source_commit } = metadata;
        Self { format_version: FORMAT_VERSION, version, parent, created_at, source_commit, spec }
    }

    pub fn metadata(&self) -> BundleMetadata {
        BundleMetadata {
            version: self.version,
            parent: self.parent.clone(),
            created_at: self.created_at.clone(),
            source_commit: self.source_commit.clone(),
        }
    }
}

/// One detached signature in the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureEntry {
    pub key_id: String,
    /// Standard base64 (with padding) of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// The bundle file: payload, its hash and signatures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub hash: String,
    pub payload: serde_json::Value,
    pub signatures: Vec<SignatureEntry>,
}

/// A payload in canonical form, with its hash: everything of a bundle except signatures.
#[derive(Clone, Debug)]
pub struct CompiledBundle {
    pub payload: serde_json::Value,
    pub canonical: Vec<u8>,
    pub hash: String,
    digest: [u8; 32],
}

impl CompiledBundle {
    /// Normalises the spec and puts it into a canonical payload with `metadata`.
    pub fn new(spec: &Spec, metadata: BundleMetadata) -> Result<Self, BundleError> {
        verify::check_version(metadata.version)?;
        let payload = Payload::new(metadata, normalize_spec(spec));
        let value = serde_json::to_value(&payload).map_err(|error| BundleError::InvalidPayload { reason: error.to_string() })?;
        Self::from_value(value)
    }

    /// Canonicalises and hashes a payload given as JSON, without checking its content. Tests use
    /// it to make bundles that this build would not write.
    pub fn from_value(payload: serde_json::Value) -> Result<Self, BundleError> {
        let (canonical, digest) = canonical_digest(&payload)?;
        Ok(Self { payload, hash: hash_text(&digest), canonical, digest })
    }

    /// Signs the hash and returns the envelope.
    pub fn sign(self, signer: &SignerKey) -> Envelope {
        let signature = signer.sign(&signed_message(&self.digest));
        let entry = SignatureEntry { key_id: signer.key_id().to_owned(), signature: BASE64.encode(signature.to_bytes()) };
        Envelope { hash: self.hash, payload: self.payload, signatures: vec![entry] }
    }
}

impl Envelope {
    /// Writes the envelope in canonical form followed by a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("an envelope serialises to JSON");
        let mut bytes = canonical::to_canonical_bytes(&value).expect("an envelope holds only canonical values");
        bytes.push(b'\n');
        bytes
    }
}

/// Builds and signs a bundle of `spec`.
pub fn build(spec: &Spec, metadata: BundleMetadata, signer: &SignerKey) -> Result<Envelope, BundleError> {
    Ok(CompiledBundle::new(spec, metadata)?.sign(signer))
}

/// Returns the canonical bytes of a payload and their SHA-256 digest.
pub(crate) fn canonical_digest(payload: &serde_json::Value) -> Result<(Vec<u8>, [u8; 32]), BundleError> {
    let canonical = canonical::to_canonical_bytes(payload).map_err(|error| BundleError::InvalidPayload { reason: error.to_string() })?;
    let digest: [u8; 32] = Sha256::digest(&canonical).into();
    Ok((canonical, digest))
}

/// Formats a digest as a bundle hash.
pub(crate) fn hash_text(digest: &[u8; 32]) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(digest))
}

/// Returns the message that a bundle signature covers.
pub(crate) fn signed_message(digest: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + digest.len());
    message.extend_from_slice(SIGNATURE_CONTEXT);
    message.extend_from_slice(digest);
    message
}

/// Puts a spec in the order bundles store it: [`crate::normalize::canonicalize`]. Values are not
/// redacted, because the runtime needs them. A spec contains secrets only as `env:` and `file:`
/// references, and `inspect` and `plan` never print spec values.
pub fn normalize_spec(spec: &Spec) -> Spec {
    crate::normalize::canonicalize(spec)
}

/// Returns the spec hash of `spec`: `sha256:` and the hex SHA-256 of the normalised spec's
/// canonical JSON. Unlike a bundle hash it covers neither the version nor the build time, so
/// every build of one spec has the same spec hash, and a runtime started on the spec file too.
pub fn spec_hash(spec: &Spec) -> Result<String, BundleError> {
    let value = serde_json::to_value(normalize_spec(spec)).map_err(|error| BundleError::InvalidPayload { reason: error.to_string() })?;
    let (_, digest) = canonical_digest(&value)?;
    Ok(hash_text(&digest))
}

/// Checks that `text` is a bundle hash: `sha256:` and 64 lowercase hex digits.
pub fn is_bundle_hash(text: &str) -> bool {
    text.strip_prefix(HASH_PREFIX)
        .is_some_and(|digits| digits.len() == 64 && digits.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)))
}

/// Formats a time as bundles record it: RFC 3339 in UTC with whole seconds, for example
/// `2026-12-04T20:01:43Z`.
pub fn format_timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Returns the creation time for a new bundle: `SOURCE_DATE_EPOCH` (Unix seconds) when that
/// variable is set, as reproducible builds expect, else the current time.
pub fn creation_timestamp() -> Result<String, BundleError> {
    let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") else {
        return Ok(format_timestamp(chrono::Utc::now()));
    };
    let seconds: i64 = text.trim().parse().map_err(|_| BundleError::InvalidPayload {
        reason: format!("SOURCE_DATE_EPOCH is `{text}`, not a whole number of seconds since 1970-01-01; unset it or fix it"),
    })?;
    let time = chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| BundleError::InvalidPayload { reason: format!("SOURCE_DATE_EPOCH `{text}` is out of range; unset it or fix it") })?;
    Ok(format_timestamp(time))
}

/// Number of entities of each kind in a spec, as `inspect` and `plan` report them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCounts {
    pub upstreams: usize,
    pub routes: usize,
    pub auth_providers: usize,
    pub consumers: usize,
    pub rate_limit_policies: usize,
    pub tiers: usize,
}

impl EntityCounts {
    pub fn of(spec: &Spec) -> Self {
        Self {
            upstreams: spec.upstreams.len(),
            routes: spec.routes.len(),
            auth_providers: spec.auth_providers.len(),
            consumers: spec.consumers.len(),
            rate_limit_policies: spec.rate_limit_policies.len(),
            tiers: spec.tiers.len(),
        }
    }
}
