//! Verification keys: static keys from the spec and keys parsed from a JWKS document.
//!
//! Each key carries the algorithms it may verify, and a token is checked only with keys whose
//! list holds the token's `alg`. This is what stops algorithm confusion: `jsonwebtoken`'s
//! `crypto::verify` would happily compute an HMAC with the DER bytes of an RSA public key.

use gatectl_spec::model::{JwtAlgorithm, StaticKey};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// A key and the algorithms it may verify.
#[derive(Clone)]
pub(crate) struct VerificationKey {
    /// `None` for a static key without `kid`, which is tried for every token.
    pub kid: Option<String>,
    pub algorithms: Vec<JwtAlgorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("VerificationKey").field("kid", &self.kid).field("algorithms", &self.algorithms).finish()
    }
}

/// Why a static key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key {kid}: algorithm {algorithm:?} is an HMAC algorithm; give `secret` (env:NAME or file:PATH) and no `publicKey`")]
    HmacNeedsSecret { kid: String, algorithm: JwtAlgorithm },
    #[error("key {kid}: algorithm {algorithm:?} needs `publicKey` (a PEM public key or file:PATH) and no `secret`")]
    AsymmetricNeedsPublicKey { kid: String, algorithm: JwtAlgorithm },
    #[error("key {kid}: could not read {what}: {source}; check that the file or environment variable exists")]
    Unreadable { kid: String, what: String, source: std::io::Error },
    #[error("key {kid}: the HMAC secret is shorter than 32 bytes; use a longer random secret")]
    ShortSecret { kid: String },
    #[error("key {kid}: `publicKey` is not a valid PEM public key for {algorithm:?}: {source}")]
    InvalidPem { kid: String, algorithm: JwtAlgorithm, source: jsonwebtoken::errors::Error },
}

/// Maps the spec's algorithm to `jsonwebtoken`'s.
pub(crate) fn to_jsonwebtoken(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// Parses a JOSE `alg` name; `none` and unknown names give `None`.
pub(crate) fn parse_algorithm(name: &str) -> Option<JwtAlgorithm> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

const RSA_ALGORITHMS: [JwtAlgorithm; 6] =
    [JwtAlgorithm::RS256, JwtAlgorithm::RS384, JwtAlgorithm::RS512, JwtAlgorithm::PS256, JwtAlgorithm::PS384, JwtAlgorithm::PS512];

/// Loads a key given in the spec, checking that its material fits its algorithm.
pub(crate) fn load_static_key(spec: &StaticKey) -> Result<VerificationKey, KeyError> {
    let kid = spec.kid.clone().unwrap_or_else(|| "without kid".to_owned());
    let algorithm = spec.algorithm;

    let key = if algorithm.is_hmac() {
        let (Some(secret), None) = (&spec.secret, &spec.public_key) else {
            return Err(KeyError::HmacNeedsSecret { kid, algorithm });
        };
        let bytes = secret.resolve().map_err(|source| KeyError::Unreadable { kid: kid.clone(), what: secret.to_string(), source })?;
        // RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
        if bytes.len() < 32 {
            return Err(KeyError::ShortSecret { kid });
        }
        DecodingKey::from_secret(&bytes)
    } else {
        let (Some(public_key), None) = (&spec.public_key, &spec.secret) else {
            return Err(KeyError::AsymmetricNeedsPublicKey { kid, algorithm });
        };
        let pem = match public_key.strip_prefix("file:") {
            Some(path) => std::fs::read(path).map_err(|source| KeyError::Unreadable { kid: kid.clone(), what: path.to_owned(), source })?,
            None => public_key.as_bytes().to_vec(),
        };
        let parsed = if RSA_ALGORITHMS.contains(&algorithm) {
            DecodingKey::from_rsa_pem(&pem)
        } else if algorithm == JwtAlgorithm::EdDSA {
            DecodingKey::from_ed_pem(&pem)
        } else {
            DecodingKey::from_ec_pem(&pem)
        };
        parsed.map_err(|source| KeyError::InvalidPem { kid: kid.clone(), algorithm, source })?
    };

    Ok(VerificationKey { kid: spec.kid.clone(), algorithms: vec![algorithm], key })
}

/// One entry of a JWKS document (RFC 7517), with only the members used here.
#[derive(Deserialize)]
struct JwkEntry {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWKS document. Entries that cannot be used (symmetric `oct` keys, encryption keys,
/// unknown types, an `alg` that does not fit the key type) are skipped and counted.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<(Vec<VerificationKey>, usize), serde_json::Error> {
    let document: JwkSetDocument = serde_json::from_slice(body)?;
    let mut keys = Vec::new();
    let mut skipped = 0;
    for value in document.keys {
        match serde_json::from_value::<JwkEntry>(value).ok().and_then(|entry| jwk_to_key(&entry)) {
            Some(key) => keys.push(key),
            None => skipped += 1,
        }
    }
    Ok((keys, skipped))
}

fn jwk_to_key(entry: &JwkEntry) -> Option<VerificationKey> {
    if entry.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return None;
    }
    // Symmetric keys are never taken from a JWKS: a published HMAC key would let anyone sign.
    let (fitting, key) = match (entry.kty.as_str(), entry.crv.as_deref()) {
        ("RSA", _) => (RSA_ALGORITHMS.to_vec(), DecodingKey::from_rsa_components(entry.n.as_deref()?, entry.e.as_deref()?).ok()?),
        ("EC", Some("P-256")) => {
            (vec![JwtAlgorithm::ES256], DecodingKey::from_ec_components(entry.x.as_deref()?, entry.y.as_deref()?).ok()?)
        }
        ("EC", Some("P-384")) => {
            (vec![JwtAlgorithm::ES384], DecodingKey::from_ec_components(entry.x.as_deref()?, entry.y.as_deref()?).ok()?)
        }
        ("OKP", Some("Ed25519")) => (vec![JwtAlgorithm::EdDSA], DecodingKey::from_ed_components(entry.x.as_deref()?).ok()?),
        _ => return None,
    };
    let algorithms = match entry.alg.as_deref() {
        Some(name) => {
            let algorithm = parse_algorithm(name)?;
            if !fitting.contains(&algorithm) {
                return None;
            }
            vec![algorithm]
        }
        None => fitting,
    };
    Some(VerificationKey { kid: entry.kid.clone(), algorithms, key })
}
