//! JWT validation (RFC 7519) following the RFC 8725 best practices.
//!
//! `jsonwebtoken` is used only for signature verification (`crypto::verify`). Parsing, the
//! `alg` allow-list, key selection and every claim check are done here, because its `decode`
//! leaves gaps this gateway must close: its HMAC verification accepts any `DecodingKey`'s bytes
//! (including an RSA key's DER), and it is lenient with time claims of the wrong JSON type.
//!
//! Rules enforced here:
//! - at most [`MAX_TOKEN_BYTES`] bytes, exactly three parts in unpadded base64url;
//! - `alg` must be in the provider's `algorithms`; `none` is never accepted;
//! - a key is used only for the algorithms it was loaded for;
//! - `kid` is only a lookup key; `jku`, `x5u` and `jwk` headers are ignored, never fetched;
//! - a header with `crit` is rejected, because no JWS extensions are supported;
//! - `exp`, `nbf` and `iat` must be JSON numbers when present; `exp` is required unless the
//!   route allows tokens without it; all three are checked with the provider's leeway;
//! - `iss`, `aud` (string or array of strings), `typ` and required claims when configured.

mod jwks;
mod keys;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatectl_spec::model::{JwtAlgorithm, JwtProvider};
use http::HeaderName;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub(crate) use jwks::JwksCache;
pub use jwks::JwksError;
pub use keys::KeyError;
use keys::{VerificationKey, load_static_key, parse_algorithm, to_jsonwebtoken};

use crate::clock::Clock;

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Most verified tokens kept per provider.
const TOKEN_CACHE_CAPACITY: usize = 10_000;
/// Most keys tried for one token, which bounds the work a token without `kid` can cause.
const MAX_KEYS_TRIED: usize = 4;

/// The claims of a token whose signature has been verified.
pub(crate) type Claims = Map<String, Value>;

/// Why a token was rejected. Only logged at debug level; clients see `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token is not three base64url parts of JSON")]
    Malformed,
    #[error("algorithm `{0}` is not accepted by this provider")]
    AlgorithmNotAllowed(String),
    #[error("header has `crit`, and no JWS extensions are supported")]
    CriticalHeader,
    #[error("`typ` header does not match the required token type")]
    WrongType,
    #[error("no key matches the token's kid and algorithm")]
    NoMatchingKey,
    #[error("signature is invalid")]
    BadSignature,
    #[error("claim `{0}` is not a number")]
    NonNumericTime(&'static str),
    #[error("claim `exp` is missing")]
    MissingExpiry,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("issuer does not match")]
    WrongIssuer,
    #[error("audience does not match")]
    WrongAudience,
    #[error("required claim `{0}` is missing")]
    MissingClaim(String),
}

/// Why a JWT provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum JwtSetupError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Jwks(#[from] JwksError),
    #[error("has neither `jwks` nor `keys`; give one so tokens can be verified")]
    NoKeys,
    #[error("forwardClaims maps to `{0}`, which is not a valid header name")]
    InvalidHeaderName(String),
}

/// A verified token: its claims, checked against the provider's rules.
pub(crate) struct VerifiedToken {
    pub claims: Arc<Claims>,
}

struct CachedToken {
    claims: Arc<Claims>,
    /// `exp` in Unix milliseconds; tokens without `exp` are not cached.
    expires_at: u64,
}

/// One JWT provider, ready to verify tokens.
pub(crate) struct JwtVerifier {
    config: JwtProvider,
    static_keys: Vec<VerificationKey>,
    jwks: Option<Arc<JwksCache>>,
    pub forward_claims: Vec<(String, HeaderName)>,
    clock: Arc<dyn Clock>,
    /// Verified claims by SHA-256 of the token, so signatures are not checked again.
    cache: Mutex<HashMap<[u8; 32], CachedToken>>,
}

impl JwtVerifier {
    pub async fn new(config: &JwtProvider, client: &reqwest::Client, clock: Arc<dyn Clock>) -> Result<Self, JwtSetupError> {
        let static_keys = config.keys.iter().map(load_static_key).collect::<Result<Vec<_>, _>>()?;
        let jwks = match &config.jwks {
            Some(source) => Some(Arc::new(JwksCache::fetch_initial(source.clone(), client.clone(), clock.clone()).await?)),
            None => None,
        };
        if static_keys.is_empty() && jwks.is_none() {
            return Err(JwtSetupError::NoKeys);
        }
        let forward_claims = config
            .forward_claims
            .iter()
            .map(|(claim, header)| {
                HeaderName::try_from(header.as_str())
                    .map(|name| (claim.clone(), name))
                    .map_err(|_| JwtSetupError::InvalidHeaderName(header.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { config: config.clone(), static_keys, jwks, forward_claims, clock, cache: Mutex::new(HashMap::new()) })
    }

    pub fn consumer_claim(&self) -> &str {
        &self.config.consumer_claim
    }

    /// Verifies a token's signature (or finds it in the cache) and checks its claims.
    pub async fn verify(&self, token: &str, allow_without_expiry: bool) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let now = self.clock.unix_millis();
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.cached_claims(&token_hash, now) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signature(token).await?);
                self.remember(token_hash, &claims, now);
                claims
            }
        };
        self.check_claims(&claims, now, allow_without_expiry)?;
        Ok(VerifiedToken { claims })
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload_part), Some(signature_part), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = decode_json_object(header_part)?;
        let algorithm = self.check_header(&header)?;
        // Decode the payload before the signature check so malformed payloads fail the same
        // way whether or not the signature is valid.
        let claims = decode_json_object(payload_part)?;
        if signature_part.is_empty() || URL_SAFE_NO_PAD.decode(signature_part).is_err() {
            return Err(TokenError::Malformed);
        }

        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        let message = &token[..header_part.len() + 1 + payload_part.len()];
        if self.verify_with_known_keys(kid, algorithm, message, signature_part).await? {
            return Ok(claims);
        }
        // An unknown kid may mean the provider rotated keys: fetch the set once more.
        if let (Some(jwks), Some(_)) = (&self.jwks, kid)
            && jwks.refetch_for_unknown_kid().await
            && self.verify_with_known_keys(kid, algorithm, message, signature_part).await?
        {
            return Ok(claims);
        }
        Err(TokenError::NoMatchingKey)
    }

    /// Returns `Ok(true)` when a key verifies the signature, `Ok(false)` when no key with that
    /// kid and algorithm exists, and an error when such keys exist but the signature is invalid.
    async fn verify_with_known_keys(
        &self,
        kid: Option<&str>,
        algorithm: JwtAlgorithm,
        message: &str,
        signature: &str,
    ) -> Result<bool, TokenError> {
        let jwks_keys = match &self.jwks {
            Some(jwks) => jwks.keys().await,
            None => Arc::new(Vec::new()),
        };
        let candidates: Vec<&VerificationKey> = self
            .static_keys
            .iter()
            .filter(|key| key.kid.is_none() || key.kid.as_deref() == kid)
            .chain(jwks_keys.iter().filter(|key| kid.is_none() || key.kid.as_deref() == kid))
            .filter(|key| key.algorithms.contains(&algorithm))
            .take(MAX_KEYS_TRIED)
            .collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        for candidate in candidates {
            if jsonwebtoken::crypto::verify(signature, message.as_bytes(), &candidate.key, to_jsonwebtoken(algorithm)).unwrap_or(false) {
                return Ok(true);
            }
        }
        Err(TokenError::BadSignature)
    }

    fn check_header(&self, header: &Claims) -> Result<JwtAlgorithm, TokenError> {
        let Some(Value::String(name)) = header.get("alg") else {
            return Err(TokenError::Malformed);
        };
        let algorithm = parse_algorithm(name)
            .filter(|algorithm| self.config.algorithms.contains(algorithm))
            .ok_or_else(|| TokenError::AlgorithmNotAllowed(name.clone()))?;
        if header.contains_key("crit") {
            return Err(TokenError::CriticalHeader);
        }
        if let Some(expected) = &self.config.token_type {
            let actual = match header.get("typ") {
                Some(Value::String(typ)) => typ.as_str(),
                _ => return Err(TokenError::WrongType),
            };
            // RFC 7515 section 4.1.9: the `application/` prefix may be left out.
            let strip = |text: &str| {
                let lowercase = text.to_ascii_lowercase();
                lowercase.strip_prefix("application/").map(str::to_owned).unwrap_or(lowercase)
            };
            if strip(actual) != strip(expected) {
                return Err(TokenError::WrongType);
            }
        }
        Ok(algorithm)
    }

    fn check_claims(&self, claims: &Claims, now_millis: u64, allow_without_expiry: bool) -> Result<(), TokenError> {
        let now = now_millis as f64 / 1000.0;
        let leeway = self.config.leeway.as_std().as_secs_f64();

        match numeric_claim(claims, "exp")? {
            Some(expiry) if now >= expiry + leeway => return Err(TokenError::Expired),
            Some(_) => {}
            None if allow_without_expiry => {}
            None => return Err(TokenError::MissingExpiry),
        }
        if numeric_claim(claims, "nbf")?.is_some_and(|not_before| now + leeway < not_before) {
            return Err(TokenError::NotYetValid);
        }
        if numeric_claim(claims, "iat")?.is_some_and(|issued_at| now + leeway < issued_at) {
            return Err(TokenError::IssuedInFuture);
        }

        if let Some(issuer) = &self.config.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(TokenError::WrongIssuer);
        }
        if !self.config.audiences.is_empty() {
            let matches = |audience: &str| self.config.audiences.iter().any(|accepted| accepted == audience);
            let accepted = match claims.get("aud") {
                Some(Value::String(audience)) => matches(audience),
                Some(Value::Array(audiences)) => {
                    audiences.iter().all(Value::is_string) && audiences.iter().filter_map(Value::as_str).any(matches)
                }
                _ => false,
            };
            if !accepted {
                return Err(TokenError::WrongAudience);
            }
        }
        for name in &self.config.required_claims {
            if !claims.contains_key(name) {
                return Err(TokenError::MissingClaim(name.clone()));
            }
        }
        Ok(())
    }

    fn cached_claims(&self, token_hash: &[u8; 32], now: u64) -> Option<Arc<Claims>> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = cache.get(token_hash)?;
        if now >= entry.expires_at {
            cache.remove(token_hash);
            return None;
        }
        Some(entry.claims.clone())
    }

    fn remember(&self, token_hash: [u8; 32], claims: &Arc<Claims>, now: u64) {
        // Only tokens with a numeric `exp` are cached, and never past it.
        let Some(Value::Number(expiry)) = claims.get("exp") else { return };
        let Some(expiry) = expiry.as_f64().filter(|expiry| expiry.is_finite() && *expiry > 0.0) else { return };
        let expires_at = (expiry * 1000.0) as u64;
        if expires_at <= now {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= TOKEN_CACHE_CAPACITY {
            cache.retain(|_, entry| entry.expires_at > now);
        }
        if cache.len() >= TOKEN_CACHE_CAPACITY {
            // Still full of live tokens: start over rather than grow without bound.
            cache.clear();
        }
        cache.insert(token_hash, CachedToken { claims: claims.clone(), expires_at });
    }
}

/// Decodes one base64url part into a JSON object. Padding, characters outside the base64url
/// alphabet and non-canonical trailing bits are all rejected.
fn decode_json_object(part: &str) -> Result<Claims, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed),
    }
}

/// Reads a NumericDate claim. A claim of any other JSON type is an error, never ignored.
fn numeric_claim(claims: &Claims, name: &'static str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number.as_f64().filter(|value| value.is_finite()).map(Some).ok_or(TokenError::NonNumericTime(name)),
        Some(_) => Err(TokenError::NonNumericTime(name)),
    }
}

/// Returns the scopes a token grants: `scope` (space-separated string) and `scp` (array of
/// strings, or a space-separated string as some providers send it).
pub(crate) fn granted_scopes(claims: &Claims) -> Vec<String> {
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(text)) => scopes.extend(text.split(' ').filter(|scope| !scope.is_empty()).map(str::to_owned)),
            Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
    }
    scopes
}

/// Renders a claim as a header value: strings as they are, other values as JSON.
pub(crate) fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
