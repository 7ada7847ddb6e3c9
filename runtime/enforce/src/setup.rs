//! Errors found while compiling a spec, and the consumer lookup tables.

use std::collections::HashMap;

use gatectl_spec::Spec;

use crate::auth::ConsumerIdentity;
use crate::jwt::JwtSetupError;

/// Why an [`Enforcer`](crate::Enforcer) could not be built from a spec.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("auth provider `{provider}`: {source}")]
    JwtProvider { provider: String, source: JwtSetupError },
    #[error("auth provider `{provider}` must have exactly one of `jwt` and `apiKey`")]
    ProviderKind { provider: String },
    #[error("route `{route}` requires auth provider `{provider}`, which is not defined; add it to authProviders or fix the name")]
    UnknownProvider { route: String, provider: String },
    #[error("route `{route}` requires scopes from API key provider `{provider}`, but API keys carry no scopes; remove the scopes")]
    ScopesOnApiKey { route: String, provider: String },
    #[error("route `{route}` uses rate-limit policy `{policy}`, which is not defined; add it to rateLimitPolicies or fix the name")]
    UnknownPolicy { route: String, policy: String },
    #[error(
        "consumer `{consumer}` has API key hash `{hash}`, which is not `sha256:` and 64 lowercase hex digits; create keys with `gatectl keys create`"
    )]
    InvalidKeyHash { consumer: String, hash: String },
    #[error("consumers `{first}` and `{second}` share an API key hash; give each key to one consumer only")]
    DuplicateKey { first: String, second: String },
    #[error("consumer `{consumer}` names JWT provider `{provider}`, which is not defined")]
    UnknownJwtProvider { consumer: String, provider: String },
    #[error("`{name}` is not a valid HTTP header name")]
    InvalidHeaderName { name: String },
    #[error("could not build the HTTP client for JWKS and webhooks: {0}")]
    HttpClient(reqwest::Error),
    #[error(
        "the rate-limit store URL {url} is invalid: {source}; write it as redis://[user:password@]host[:port][/db], rediss:// for TLS, or redis+unix:///path/to/socket?db=N&pass=PASSWORD"
    )]
    InvalidRedisUrl { url: String, source: redis::RedisError },
    #[error(
        "the rate-limit store at {url} rejected the gateway: {source}; check the password, the user's permissions and the database number in --redis-url (the user must run scripts that write keys under gatectl:rl: and gatectl:quota:)"
    )]
    RedisSettings { url: String, source: redis::RedisError },
}

struct KeyOwner {
    consumer: usize,
    /// Unix milliseconds after which the key no longer works.
    expires_at: Option<u64>,
}

/// Consumers and the maps from credentials to them.
pub(crate) struct Consumers {
    identities: Vec<ConsumerIdentity>,
    by_key_hash: HashMap<[u8; 32], KeyOwner>,
    by_subject: HashMap<(usize, String), usize>,
}

impl Consumers {
    pub fn new(spec: &Spec, provider_index: &HashMap<&str, usize>) -> Result<Self, BuildError> {
        let mut identities = Vec::new();
        let mut by_key_hash = HashMap::new();
        let mut by_subject = HashMap::new();
        for (index, consumer) in spec.consumers.iter().enumerate() {
            identities.push(ConsumerIdentity { id: consumer.id.clone(), tier: consumer.tier.clone() });
            for key in &consumer.credentials.api_keys {
                let Some(digest) = gatectl_spec::api_key::parse_hash(&key.hash) else {
                    return Err(BuildError::InvalidKeyHash { consumer: consumer.id.clone(), hash: key.hash.clone() });
                };
                let expires_at = key.expires_at.map(|time| time.timestamp_millis().max(0) as u64);
                if let Some(previous) = by_key_hash.insert(digest, KeyOwner { consumer: index, expires_at }) {
                    let first = spec.consumers[previous.consumer].id.clone();
                    return Err(BuildError::DuplicateKey { first, second: consumer.id.clone() });
                }
            }
            for identity in &consumer.credentials.jwt {
                let Some(&provider) = provider_index.get(identity.provider.as_str()) else {
                    return Err(BuildError::UnknownJwtProvider { consumer: consumer.id.clone(), provider: identity.provider.clone() });
                };
                by_subject.insert((provider, identity.subject.clone()), index);
            }
        }
        Ok(Self { identities, by_key_hash, by_subject })
    }

    /// Finds the consumer owning a presented API key: one SHA-256 and one map lookup.
    pub fn by_api_key(&self, key: &str, now_millis: u64) -> Option<usize> {
        let owner = self.by_key_hash.get(&gatectl_spec::api_key::digest(key))?;
        if owner.expires_at.is_some_and(|expires_at| now_millis >= expires_at) {
            return None;
        }
        Some(owner.consumer)
    }

    pub fn by_subject(&self, provider: usize, subject: &str) -> Option<usize> {
        self.by_subject.get(&(provider, subject.to_owned())).copied()
    }

    pub fn identity(&self, index: usize) -> ConsumerIdentity {
        self.identities[index].clone()
    }
}
