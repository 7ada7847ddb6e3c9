//! API keys: generating them and the `sha256:<hex>` hash that specs store in place of the key.
//!
//! A key is `gk_` followed by 32 random bytes in URL-safe base64 without padding (43
//! characters). The prefix makes leaked keys easy to find with secret scanners. Only the hash
//! goes into a spec, so the plaintext exists once: in the output of `gatectl keys create`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every generated key.
pub const KEY_PREFIX: &str = "gk_";
/// Prefix of a stored key hash.
pub const HASH_PREFIX: &str = "sha256:";

/// Generates a new API key from 32 bytes of the operating system's random number generator.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Returns the SHA-256 digest of a key as presented by a client.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Returns the value stored in `consumers[].credentials.apiKeys[].hash` for a key.
pub fn hash(key: &str) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(digest(key)))
}

/// Parses a stored `sha256:<64 lowercase hex digits>` hash into its digest.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex_digits = text.strip_prefix(HASH_PREFIX)?;
    if hex_digits.len() != 64 || hex_digits.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return None;
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut digest).ok()?;
    Some(digest)
}

/// Parses an RFC 3339 expiry time such as `2027-01-31T00:00:00Z`.
pub fn parse_expiry(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc))
}

/// Formats an expiry time as the spec writes it, for example `2027-01-31T00:00:00Z`.
pub fn format_expiry(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_prefix_and_length() {
        let key = generate();
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), KEY_PREFIX.len() + 43);
        assert_ne!(key, generate());
    }

    #[test]
    fn hash_round_trips_through_parse() {
        let key = generate();
        let stored = hash(&key);
        assert!(stored.starts_with("sha256:"));
        assert_eq!(parse_hash(&stored), Some(digest(&key)));
    }

    #[test]
    fn parse_hash_rejects_malformed_values() {
        for text in ["", "sha256:", "sha256:abc", "md5:00", &format!("sha256:{}", "A".repeat(64))] {
            assert_eq!(parse_hash(text), None, "{text} should be invalid");
        }
    }
}
