use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::secret::SecretRef;

/// A named credential check. Exactly one of `jwt` and `apiKey` is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthProvider {
    /// Name that routes use in `security`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), length(min = 1, max = 128))]
    pub name: String,
    /// Bearer JSON Web Tokens in the `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtProvider>,
    /// Opaque API keys in a header, query parameter or cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeyProvider>,
}

/// JWT validation settings (RFC 7519, validated as RFC 8725 recommends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtProvider {
    /// Required `iss` value; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted `aud` values: the token's `aud` (string or array) must contain one of them. Not
    /// checked when empty.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Signature algorithms accepted. `none` does not exist here and is always rejected.
    #[serde(default = "default_algorithms")]
    #[schemars(length(min = 1))]
    pub algorithms: Vec<JwtAlgorithm>,
    /// A JWKS endpoint to fetch verification keys from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksSource>,
    /// Keys given directly.
    #[serde(default)]
    pub keys: Vec<StaticKey>,
    /// Clock skew allowed when checking `exp`, `nbf` and `iat`.
    #[serde(default = "default_leeway")]
    pub leeway: Duration,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Required `typ` header value, for example `at+jwt`; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Claim whose value identifies the consumer, for example `sub` or `client_id`.
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
    /// Claims copied into request headers upstream: claim name to header name.
    #[serde(default)]
    pub forward_claims: BTreeMap<String, String>,
}

fn default_algorithms() -> Vec<JwtAlgorithm> {
    vec![JwtAlgorithm::RS256]
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_consumer_claim() -> String {
    "sub".to_owned()
}

/// A JWS signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl JwtAlgorithm {
    /// Returns whether the algorithm uses a shared secret rather than a key pair.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }
}

/// Where JWKS keys are fetched from and how long they are cached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwksSource {
    /// HTTPS (or, for local testing, HTTP) URL of the key set.
    #[schemars(regex(pattern = r"^https?://"))]
    pub url: String,
    /// Minimum time a fetched key set is kept, whatever its `Cache-Control` header allows.
    #[serde(default = "default_jwks_min_ttl")]
    pub min_cache_time: Duration,
    /// Maximum time a fetched key set is kept before it is fetched again.
    #[serde(default = "default_jwks_max_ttl")]
    pub max_cache_time: Duration,
    /// Minimum time between two fetches caused by tokens with an unknown `kid`.
    #[serde(default = "default_jwks_cooldown")]
    pub refetch_cooldown: Duration,
    /// Time allowed for one fetch.
    #[serde(default = "default_jwks_timeout")]
    pub timeout: Duration,
}

fn default_jwks_min_ttl() -> Duration {
    Duration::from_secs(60)
}

fn default_jwks_max_ttl() -> Duration {
    Duration::from_secs(86_400)
}

fn default_jwks_cooldown() -> Duration {
    Duration::from_secs(30)
}

fn default_jwks_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A verification key given in the spec. Give `publicKey` (PEM, or `file:PATH`) for RSA, EC and
/// Ed25519 algorithms, or `secret` for HMAC ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticKey {
    /// Key id matched against the token's `kid`; a key without one matches any token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm this key may verify.
    pub algorithm: JwtAlgorithm,
    /// PEM-encoded public key (SubjectPublicKeyInfo), inline or as `file:PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// HMAC secret, as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
}

/// Where an API key is read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyProvider {
    /// Part of the request that carries the key.
    #[serde(rename = "in")]
    pub location: ApiKeyLocation,
    /// Header, query parameter or cookie name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
}

/// Part of the request that carries an API key. A key given in the query is removed before the
/// request goes upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyLocation {
    Header,
    Query,
    Cookie,
}
