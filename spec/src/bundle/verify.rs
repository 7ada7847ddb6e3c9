//! Reading bundle files: the checks a runtime runs before it trusts a bundle.
//!
//! The checks run in this order, and the first failure is returned: size limit, envelope syntax
//! and shape, format version, hash, signatures (only in [`verify`]), then the payload's metadata
//! and the spec against the JSON Schema and the model.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::{
    BundleError, BundleMetadata, Envelope, FORMAT_VERSION, Payload, SignatureEntry, TrustedKeys, canonical_digest, hash_text,
    is_bundle_hash, signed_message,
};
use crate::diagnostic::Severity;
use crate::document::LocationIndex;
use crate::model::Spec;
use crate::rules::RuleConfig;

/// A bundle whose envelope, format version and hash were checked, but not its signatures.
#[derive(Clone, Debug)]
pub struct OpenedBundle {
    pub hash: String,
    pub metadata: BundleMetadata,
    pub spec: Spec,
    pub signatures: Vec<SignatureEntry>,
    /// Length of the payload's canonical bytes.
    pub payload_bytes: usize,
}

/// A bundle signed by a trusted key, with a valid spec: safe for a runtime to load.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    pub hash: String,
    pub metadata: BundleMetadata,
    pub spec: Spec,
    /// Key id of the trusted signature that verified.
    pub signer: String,
}

/// Verifies a bundle file against trusted keys, with the default size limit.
pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<VerifiedBundle, BundleError> {
    verify_with_limit(bytes, trusted, super::DEFAULT_MAX_BUNDLE_BYTES)
}

/// Verifies a bundle file against trusted keys, rejecting files larger than `max_bytes`.
pub fn verify_with_limit(bytes: &[u8], trusted: &TrustedKeys, max_bytes: usize) -> Result<VerifiedBundle, BundleError> {
    let (envelope, digest) = read_envelope(bytes, max_bytes)?;
    let signer = check_signatures(&envelope.signatures, &digest, trusted)?;
    let (metadata, spec) = decode_payload(envelope.payload)?;
    Ok(VerifiedBundle { hash: envelope.hash, metadata, spec, signer })
}

/// Reads a bundle file and checks everything except its signatures, with the default size
/// limit. For showing what a bundle contains, never for deciding to load it.
pub fn open(bytes: &[u8]) -> Result<OpenedBundle, BundleError> {
    open_with_limit(bytes, super::DEFAULT_MAX_BUNDLE_BYTES)
}

/// Like [`open`], rejecting files larger than `max_bytes`.
pub fn open_with_limit(bytes: &[u8], max_bytes: usize) -> Result<OpenedBundle, BundleError> {
    let (envelope, digest) = read_envelope(bytes, max_bytes)?;
    let Envelope { hash, payload, signatures } = envelope;
    let (metadata, spec) = decode_payload(payload)?;
    Ok(OpenedBundle { hash, metadata, spec, signatures, payload_bytes: digest.payload_bytes })
}

/// The digest of a payload whose hash matched the envelope.
struct PayloadDigest {
    digest: [u8; 32],
    payload_bytes: usize,
}

/// Runs the checks up to and including the hash.
fn read_envelope(bytes: &[u8], max_bytes: usize) -> Result<(Envelope, PayloadDigest), BundleError> {
    if bytes.len() > max_bytes {
        return Err(BundleError::TooLarge { size: bytes.len(), limit: max_bytes });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BundleError::Truncated { reason: "the file is empty".to_owned() });
    }

    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        if error.is_eof() {
            BundleError::Truncated { reason: format!("the JSON ends early at line {} column {}", error.line(), error.column()) }
        } else {
            BundleError::MalformedEnvelope { reason: error.to_string() }
        }
    })?;
    // `Value` keeps the last of two members with one name, so a second `payload` would be
    // stored and shown without being the one that was verified.
    reject_repeated_members(bytes).map_err(|reason| BundleError::MalformedEnvelope { reason })?;
    let envelope: Envelope = serde_json::from_value(value).map_err(|error| BundleError::MalformedEnvelope {
        reason: format!("{error}; an envelope has exactly the fields hash, payload and signatures"),
    })?;

    check_format_version(&envelope.payload)?;
    if !is_bundle_hash(&envelope.hash) {
        return Err(BundleError::MalformedEnvelope {
            reason: format!("the hash `{}` is not `sha256:` followed by 64 lowercase hex digits", envelope.hash),
        });
    }
    let (canonical, digest) = canonical_digest(&envelope.payload)?;
    let computed = hash_text(&digest);
    if computed != envelope.hash {
        return Err(BundleError::HashMismatch { recorded: envelope.hash, computed });
    }
    Ok((envelope, PayloadDigest { digest, payload_bytes: canonical.len() }))
}

/// Fails when an object anywhere in the JSON document has two members with one name.
fn reject_repeated_members(bytes: &[u8]) -> Result<(), String> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    UniqueMembers.deserialize(&mut deserializer).map_err(|error| error.to_string())
}

/// Walks a JSON value and fails on the first object with a repeated member name.
struct UniqueMembers;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueMembers {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueMembers {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(UniqueMembers)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        let mut names = std::collections::HashSet::new();
        while let Some(name) = members.next_key::<String>()? {
            if !names.insert(name.clone()) {
                return Err(serde::de::Error::custom(format!("the member `{name}` appears twice in one object")));
            }
            members.next_value_seed(UniqueMembers)?;
        }
        Ok(())
    }
}

fn check_format_version(payload: &Value) -> Result<(), BundleError> {
    let Some(object) = payload.as_object() else {
        return Err(BundleError::MalformedEnvelope { reason: "the payload is not a JSON object".to_owned() });
    };
    match object.get("formatVersion") {
        Some(found) if found.as_u64() == Some(FORMAT_VERSION) => Ok(()),
        Some(found) => Err(BundleError::UnsupportedFormatVersion { found: found.to_string() }),
        None => Err(BundleError::UnsupportedFormatVersion { found: "(none)".to_owned() }),
    }
}

/// Returns the key id of the first trusted signature. Every signature by a trusted key must
/// verify; signatures by other keys are ignored when a trusted one verifies.
fn check_signatures(signatures: &[SignatureEntry], digest: &PayloadDigest, trusted: &TrustedKeys) -> Result<String, BundleError> {
    if signatures.is_empty() {
        return Err(BundleError::Unsigned);
    }
    let message = signed_message(&digest.digest);
    let mut verified_by = None;
    for entry in signatures {
        let Some(key) = trusted.get(&entry.key_id) else { continue };
        let bad_signature = || BundleError::BadSignature { key_id: entry.key_id.clone() };
        let raw = BASE64.decode(entry.signature.as_bytes()).map_err(|_| bad_signature())?;
        let signature = ed25519_dalek::Signature::from_slice(&raw).map_err(|_| bad_signature())?;
        key.verify_strict(&message, &signature).map_err(|_| bad_signature())?;
        verified_by.get_or_insert_with(|| entry.key_id.clone());
    }
    verified_by.ok_or_else(|| BundleError::UnknownKey {
        found: signatures.iter().map(|entry| entry.key_id.clone()).collect(),
        trusted: trusted.key_ids().map(str::to_owned).collect(),
    })
}

/// Checks the spec against the JSON Schema, decodes the payload into typed values, and runs the
/// semantic rules on the spec.
fn decode_payload(payload: Value) -> Result<(BundleMetadata, Spec), BundleError> {
    let Some(spec) = payload.get("spec") else {
        return Err(BundleError::InvalidPayload { reason: "the payload has no `spec` field".to_owned() });
    };
    let findings = crate::schema::check_value(spec);
    if !findings.is_empty() {
        return Err(BundleError::InvalidSpec { problems: findings.into_iter().map(|finding| finding.message).collect() });
    }
    let payload: Payload = serde_path_to_error::deserialize(payload).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        if path.starts_with("spec") {
            BundleError::InvalidSpec { problems: vec![format!("{path}: {message}")] }
        } else {
            BundleError::InvalidPayload { reason: format!("{path}: {message}") }
        }
    })?;
    let metadata = payload.metadata();
    check_metadata(&metadata)?;

    // Only errors reject the bundle, because warnings of `gatectl validate` do not stop a runtime.
    let rule_errors: Vec<String> = crate::rules::check(&payload.spec, &LocationIndex::default(), &RuleConfig::default())
        .into_iter()
        .filter(|finding| finding.severity == Severity::Error)
        .map(|finding| format!("[{}] {}", finding.rule, finding.message))
        .collect();
    if !rule_errors.is_empty() {
        return Err(BundleError::InvalidSpec { problems: rule_errors });
    }
    Ok((metadata, payload.spec))
}

/// Rejects a version above [`super::MAX_VERSION`], after which no bundle could replace this one.
pub(crate) fn check_version(version: u64) -> Result<(), BundleError> {
    if version > super::MAX_VERSION {
        return Err(BundleError::InvalidPayload {
            reason: format!(
                "version {version} is above {}, the largest bundle version, and would leave no higher version for the next bundle",
                super::MAX_VERSION
            ),
        });
    }
    Ok(())
}

fn check_metadata(metadata: &BundleMetadata) -> Result<(), BundleError> {
    check_version(metadata.version)?;
    if let Some(parent) = &metadata.parent
        && !is_bundle_hash(parent)
    {
        return Err(BundleError::InvalidPayload {
            reason: format!("parent `{parent}` is not `sha256:` followed by 64 lowercase hex digits"),
        });
    }
    if chrono::DateTime::parse_from_rfc3339(&metadata.created_at).is_err() {
        return Err(BundleError::InvalidPayload {
            reason: format!("createdAt `{}` is not an RFC 3339 time such as 2026-12-04T20:01:43Z", metadata.created_at),
        });
    }
    Ok(())
}
