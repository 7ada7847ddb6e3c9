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
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatectl_spec::model::{JwtAlgorithm, JwtProvider};
use http::HeaderName;
use serde_json::{Map, Value};

pub(crate) use jwks::JwksCache;
pub use jwks::JwksError;
pub use keys::KeyError;
use keys::{VerificationKey, load_static_key, parse_algorithm, to_jsonwebtoken};

use crate::auth::Credential;
use crate::clock::Clock;

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Most verified tokens kept per provider.
const TOKEN_CACHE_CAPACITY: usize = 10_000;
/// Most bytes of token text kept per provider: the cache keeps each token whole.
const TOKEN_CACHE_BYTES: usize = 16 * 1024 * 1024;
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

/// A token whose signature has been verified, with its claims read once for the checks that
/// every request with it repeats.
pub(crate) struct VerifiedToken {
    pub claims: Claims,
    /// `exp`, `nbf` and `iat`, or the error for a claim that is not a number.
    expiry: Result<Option<f64>, TokenError>,
    not_before: Result<Option<f64>, TokenError>,
    issued_at: Result<Option<f64>, TokenError>,
    /// The result of the checks that do not depend on the time: issuer, audience and required
    /// claims.
    fixed_checks: Result<(), TokenError>,
    /// The credential the authenticator derives from the claims, kept for the next request with
    /// this token. The token cache belongs to one configuration, so the derived credential
    /// never outlives the consumers it was looked up in.
    pub credential: OnceLock<Arc<Credential>>,
}

struct CachedToken {
    token: Arc<VerifiedToken>,
    /// `exp` in Unix milliseconds; tokens without `exp` are not cached.
    expires_at: u64,
    /// The number of the JWKS key set when the token was verified; 0 for static keys.
    key_generation: u64,
}

/// One JWT provider, ready to verify tokens.
pub(crate) struct JwtVerifier {
    config: JwtProvider,
    static_keys: Vec<VerificationKey>,
    jwks: Option<Arc<JwksCache>>,
    pub forward_claims: Vec<(String, HeaderName)>,
    clock: Arc<dyn Clock>,
    /// Verified tokens, so signatures are not checked again.
    cache: Mutex<TokenCache>,
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
        Ok(Self { config: config.clone(), static_keys, jwks, forward_claims, clock, cache: Mutex::default() })
    }

    pub fn consumer_claim(&self) -> &str {
        &self.config.consumer_claim
    }

    /// Verifies a token's signature (or finds it in the cache) and checks its claims.
    pub async fn verify(&self, token: &str, allow_without_expiry: bool) -> Result<Arc<VerifiedToken>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let now = self.clock.unix_millis();
        // A JWKS refresh may have removed the key that verified a cached token, so tokens
        // cached with an earlier key set are verified again.
        let key_generation = match &self.jwks {
            Some(jwks) => jwks.generation().await,
            None => 0,
        };
        let cached = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token, now, key_generation);
        let verified = match cached {
            Some(verified) => verified,
            None => {
                let claims = self.verify_signature(token).await?;
                let verified = Arc::new(self.read_claims(claims));
                self.remember(token, &verified, now, key_generation);
                verified
            }
        };
        self.check_claims(&verified, now, allow_without_expiry)?;
        Ok(verified)
    }

    /// Reads the time claims and runs the checks that do not depend on the time, once per
    /// verified token.
    fn read_claims(&self, claims: Claims) -> VerifiedToken {
        VerifiedToken {
            expiry: numeric_claim(&claims, "exp"),
            not_before: numeric_claim(&claims, "nbf"),
            issued_at: numeric_claim(&claims, "iat"),
            fixed_checks: self.check_fixed_claims(&claims),
            claims,
            credential: OnceLock::new(),
        }
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

    fn check_claims(&self, token: &VerifiedToken, now_millis: u64, allow_without_expiry: bool) -> Result<(), TokenError> {
        let now = now_millis as f64 / 1000.0;
        let leeway = self.config.leeway.as_std().as_secs_f64();

        match token.expiry.clone()? {
            Some(expiry) if now >= expiry + leeway => return Err(TokenError::Expired),
            Some(_) => {}
            None if allow_without_expiry => {}
            None => return Err(TokenError::MissingExpiry),
        }
        if token.not_before.clone()?.is_some_and(|not_before| now + leeway < not_before) {
            return Err(TokenError::NotYetValid);
        }
        if token.issued_at.clone()?.is_some_and(|issued_at| now + leeway < issued_at) {
            return Err(TokenError::IssuedInFuture);
        }
        token.fixed_checks.clone()
    }

    /// Checks the issuer, the audience and the required claims.
    fn check_fixed_claims(&self, claims: &Claims) -> Result<(), TokenError> {
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

    fn remember(&self, token: &str, verified: &Arc<VerifiedToken>, now: u64, key_generation: u64) {
        // Only tokens with a numeric `exp` are cached, and never past it.
        let Ok(Some(expiry)) = verified.expiry else { return };
        if !(expiry.is_finite() && expiry > 0.0) {
            return;
        }
        let expires_at = (expiry * 1000.0) as u64;
        if expires_at <= now {
            return;
        }
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(token, verified.clone(), expires_at, key_generation, now);
    }
}

/// Verified tokens by their whole text. A hit compares the whole token, so no other token can
/// be taken for a cached one. Hashing with the standard library's keyed hasher costs less than
/// a cryptographic digest of the token would on processors without SHA instructions.
#[derive(Default)]
struct TokenCache {
    entries: HashMap<Box<str>, CachedToken>,
    /// Bytes of token text in `entries`.
    bytes: usize,
}

impl TokenCache {
    /// Returns the cached token, or `None` when it is not cached, has expired or was verified
    /// with another key set.
    fn get(&mut self, token: &str, now: u64, key_generation: u64) -> Option<Arc<VerifiedToken>> {
        let entry = self.entries.get(token)?;
        if now >= entry.expires_at || entry.key_generation != key_generation {
            self.entries.remove(token);
            self.bytes -= token.len();
            return None;
        }
        Some(entry.token.clone())
    }

    fn insert(&mut self, token: &str, verified: Arc<VerifiedToken>, expires_at: u64, key_generation: u64, now: u64) {
        let full = |cache: &Self| cache.entries.len() >= TOKEN_CACHE_CAPACITY || cache.bytes + token.len() > TOKEN_CACHE_BYTES;
        if full(self) {
            self.entries.retain(|_, entry| entry.expires_at > now);
            self.bytes = self.entries.keys().map(|key| key.len()).sum();
        }
        if full(self) {
            // Still full of live tokens: start over rather than grow without bound.
            self.entries.clear();
            self.bytes = 0;
        }
        // Two requests with one token may both verify it: its text is counted once.
        let replaced = self.entries.insert(token.into(), CachedToken { token: verified, expires_at, key_generation }).is_some();
        if !replaced {
            self.bytes += token.len();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verified() -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            claims: Claims::new(),
            expiry: Ok(None),
            not_before: Ok(None),
            issued_at: Ok(None),
            fixed_checks: Ok(()),
            credential: OnceLock::new(),
        })
    }

    #[test]
    fn cache_hit_needs_the_whole_token() {
        let mut cache = TokenCache::default();
        cache.insert("header.payload.signature", verified(), 2_000, 0, 1_000);
        assert!(cache.get("header.payload.signature", 1_500, 0).is_some());
        assert!(cache.get("header.payload.signature", 1_500, 1).is_none(), "verified with another key set");
        assert!(cache.get("header.payload.signatur", 1_500, 0).is_none());
        assert!(cache.get("other.payload.signature", 1_500, 0).is_none());
    }

    #[test]
    fn expired_entry_leaves_the_count() {
        let mut cache = TokenCache::default();
        cache.insert("a.b.c", verified(), 2_000, 0, 1_000);
        cache.insert("a.b.c", verified(), 2_000, 0, 1_000);
        assert_eq!(cache.bytes, 5, "a token verified twice is counted once");
        assert!(cache.get("a.b.c", 2_000, 0).is_none());
        assert_eq!((cache.entries.len(), cache.bytes), (0, 0));
    }

    /// Fills a cache to its byte budget with tokens of the largest size. Token `index` expires
    /// at `expiry(index)`, and each is inserted at 1,000.
    fn filled(expiry: impl Fn(usize) -> u64) -> (TokenCache, usize) {
        let mut cache = TokenCache::default();
        let large = "x".repeat(MAX_TOKEN_BYTES);
        let fit = TOKEN_CACHE_BYTES / MAX_TOKEN_BYTES;
        for index in 0..fit {
            cache.insert(&format!("{index:06}{}", &large[6..]), verified(), expiry(index), 0, 1_000);
        }
        assert_eq!(cache.bytes, TOKEN_CACHE_BYTES);
        (cache, fit)
    }

    #[test]
    fn byte_budget_bounds_the_cache() {
        let (mut cache, _) = filled(|_| 10_000);
        // One more live token does not fit, so the cache starts over with it alone.
        cache.insert("new.token.here", verified(), 10_000, 0, 1_000);
        assert_eq!((cache.entries.len(), cache.bytes), (1, "new.token.here".len()));
    }

    #[test]
    fn expired_tokens_make_room_first() {
        // Every other token expires at 1,500.
        let (mut cache, fit) = filled(|index| if index % 2 == 0 { 1_500 } else { 10_000 });
        cache.insert("new.token.here", verified(), 10_000, 0, 2_000);
        assert_eq!(cache.entries.len(), fit / 2 + 1);
        assert_eq!(cache.bytes, fit / 2 * MAX_TOKEN_BYTES + "new.token.here".len());
    }
}
