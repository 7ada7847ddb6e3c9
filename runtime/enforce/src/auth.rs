//! Authentication: evaluating a route's security requirements and resolving the consumer.
//!
//! Requirements combine as in OpenAPI: the request must satisfy one entry of the route's
//! `security` list (OR), and every provider inside that entry (AND). An empty list makes the
//! route public. Each provider's credential is read and verified at most once per request.
//!
//! A valid token whose consumer claim matches no `consumers[].credentials.jwt` entry is still
//! authenticated. Its identity has no consumer (so no consumer header is sent upstream and no
//! tier applies) but carries the claim value as [`Identity::subject`], and per-consumer rate
//! limits count such tokens per provider and subject.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use gatectl_spec::Spec;
use gatectl_spec::model::ApiKeyProvider;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use crate::clock::Clock;
use crate::credentials::{self, BearerCredential, KeyCredential};
use crate::jwt::{JwtVerifier, claim_text, granted_scopes};
use crate::problem::{ProblemKind, Rejection};
use crate::setup::{BuildError, Consumers};

/// A consumer from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerIdentity {
    pub id: String,
    pub tier: Option<String>,
}

/// The consumer claim of a valid token that matches no consumer in the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSubject {
    pub provider: String,
    pub value: String,
}

/// The authenticated caller of a request, and the header changes the request needs before it
/// goes upstream.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The consumer, when the credential belongs to one in the spec.
    pub consumer: Option<ConsumerIdentity>,
    /// The token's consumer claim, when the token is valid but matches no consumer.
    pub subject: Option<TokenSubject>,
    /// Providers whose credentials satisfied the route; empty on public routes.
    pub providers: Vec<String>,
    /// Scopes granted by the verified tokens.
    pub scopes: Vec<String>,
    /// Headers to add to the upstream request: consumer id and tier, and forwarded claims.
    pub upstream_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers to remove from the client's request before adding `upstream_headers`, so a
    /// client cannot spoof them. The same on every route.
    pub strip_headers: Arc<[HeaderName]>,
    /// Query parameter that carried the API key and must be removed before forwarding.
    pub remove_query_parameter: Option<String>,
}

impl Identity {
    /// Appends the rate-limit subject to `key`: `consumer:<id>`, else `subject:<provider>:<hash>`
    /// for a token subject without consumer, else `ip:<client address>`.
    pub(crate) fn push_rate_limit_subject(&self, key: &mut String, client_ip: IpAddr) {
        if let Some(consumer) = &self.consumer {
            key.push_str("consumer:");
            key.push_str(&consumer.id);
        } else if let Some(subject) = &self.subject {
            // Token subjects are arbitrary text, so they are hashed into a stable, safe key.
            let digest = gatectl_spec::api_key::digest(&subject.value);
            key.push_str("subject:");
            key.push_str(&subject.provider);
            key.push(':');
            key.push_str(&hex::encode(&digest[..16]));
        } else {
            key.push_str("ip:");
            push_ip(key, client_ip);
        }
    }
}

/// Appends an IP address as `Display` writes it, IPv4 without the formatting machinery.
pub(crate) fn push_ip(output: &mut String, address: IpAddr) {
    match address {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    output.push('.');
                }
                output.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(output, "{v6}");
        }
    }
}

enum ProviderKind {
    Jwt(Box<JwtVerifier>),
    ApiKey(ApiKeyProvider),
}

struct Provider {
    name: String,
    kind: ProviderKind,
}

/// One provider's result for one request.
#[derive(Clone)]
enum Outcome {
    Absent,
    Invalid,
    Valid(Arc<Credential>),
}

/// The result of one provider's valid credential: the consumer, the token's subject, scopes,
/// claims to forward, and the query parameter that carried an API key.
pub(crate) struct Credential {
    consumer: Option<usize>,
    subject: Option<String>,
    scopes: Vec<String>,
    forwarded: Vec<(HeaderName, HeaderValue)>,
    query_parameter: Option<String>,
}

struct RouteAuth {
    /// Alternatives (OR) of provider indexes with required scopes (AND).
    alternatives: Vec<Vec<(usize, Vec<String>)>>,
    allow_without_expiry: bool,
    uses_jwt: bool,
    /// Some alternative needs API keys only, so an API key alone can satisfy the route.
    api_key_alone: bool,
}

/// The compiled authentication part of a spec.
pub(crate) struct Authenticator {
    providers: Vec<Provider>,
    routes: HashMap<String, RouteAuth>,
    consumers: Consumers,
    strip_headers: Arc<[HeaderName]>,
    consumer_id_header: HeaderName,
    consumer_tier_header: HeaderName,
    clock: Arc<dyn Clock>,
}

impl Authenticator {
    pub async fn new(spec: &Spec, client: &reqwest::Client, clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        let mut providers = Vec::new();
        for provider in &spec.auth_providers {
            let kind = match (&provider.jwt, &provider.api_key) {
                (Some(jwt), None) => ProviderKind::Jwt(Box::new(
                    JwtVerifier::new(jwt, client, clock.clone())
                        .await
                        .map_err(|source| BuildError::JwtProvider { provider: provider.name.clone(), source })?,
                )),
                (None, Some(api_key)) => ProviderKind::ApiKey(api_key.clone()),
                _ => return Err(BuildError::ProviderKind { provider: provider.name.clone() }),
            };
            providers.push(Provider { name: provider.name.clone(), kind });
        }
        let provider_index: HashMap<&str, usize> =
            providers.iter().enumerate().map(|(index, provider)| (provider.name.as_str(), index)).collect();

        let mut routes = HashMap::new();
        for route in &spec.routes {
            let mut alternatives = Vec::new();
            let mut uses_jwt = false;
            let mut api_key_alone = false;
            for requirement in &route.security {
                let mut entry = Vec::new();
                let mut entry_uses_jwt = false;
                for (name, scopes) in requirement {
                    let Some(&index) = provider_index.get(name.as_str()) else {
                        return Err(BuildError::UnknownProvider { route: route.name.clone(), provider: name.clone() });
                    };
                    match providers[index].kind {
                        ProviderKind::Jwt(_) => entry_uses_jwt = true,
                        ProviderKind::ApiKey(_) if !scopes.is_empty() => {
                            return Err(BuildError::ScopesOnApiKey { route: route.name.clone(), provider: name.clone() });
                        }
                        ProviderKind::ApiKey(_) => {}
                    }
                    entry.push((index, scopes.clone()));
                }
                uses_jwt |= entry_uses_jwt;
                api_key_alone |= !entry_uses_jwt && !entry.is_empty();
                alternatives.push(entry);
            }
            let allow_without_expiry = route.allow_tokens_without_expiry;
            routes.insert(route.name.clone(), RouteAuth { alternatives, allow_without_expiry, uses_jwt, api_key_alone });
        }

        let consumers = Consumers::new(spec, &provider_index)?;
        let (strip_headers, consumer_id_header, consumer_tier_header) = identity_headers(spec, &providers)?;
        Ok(Self { providers, routes, consumers, strip_headers, consumer_id_header, consumer_tier_header, clock })
    }

    pub fn has_route(&self, route: &str) -> bool {
        self.routes.contains_key(route)
    }

    /// Tells whether `route` is known and requires no credential.
    pub fn is_public(&self, route: &str) -> bool {
        self.routes.get(route).is_some_and(|route| route.alternatives.is_empty())
    }

    /// Returns the identity of a request on a public route: no consumer, and the headers that
    /// every request must lose so that a client cannot spoof them.
    pub fn anonymous(&self) -> Identity {
        self.identity(None, &[], Vec::new())
    }

    pub async fn authenticate(&self, route_name: &str, headers: &HeaderMap, uri: &Uri) -> Result<Identity, Rejection> {
        let Some(route) = self.routes.get(route_name) else {
            tracing::warn!(route = route_name, "authenticate called for a route the enforcer does not know");
            return Err(Rejection::new(ProblemKind::UnknownRoute));
        };
        if route.alternatives.is_empty() {
            return Ok(self.identity(None, &[], Vec::new()));
        }

        let mut outcomes: Vec<Option<Outcome>> = vec![None; self.providers.len()];
        let mut saw_invalid_token = false;
        let mut saw_invalid = false;
        let mut insufficient_scopes: Option<Vec<String>> = None;

        for alternative in &route.alternatives {
            let mut satisfied = true;
            let mut scopes_missing = false;
            let mut credentials = Vec::new();
            for (index, required_scopes) in alternative {
                if outcomes[*index].is_none() {
                    outcomes[*index] = Some(self.evaluate(*index, headers, uri, route.allow_without_expiry).await);
                }
                match outcomes[*index].as_ref().unwrap_or(&Outcome::Absent) {
                    Outcome::Absent => satisfied = false,
                    Outcome::Invalid => {
                        satisfied = false;
                        saw_invalid = true;
                        saw_invalid_token |= matches!(self.providers[*index].kind, ProviderKind::Jwt(_));
                    }
                    Outcome::Valid(credential) => {
                        if !required_scopes.iter().all(|scope| credential.scopes.contains(scope)) {
                            scopes_missing = true;
                        }
                        credentials.push((*index, credential.clone()));
                    }
                }
            }
            if !satisfied {
                continue;
            }
            // Credentials of one entry that name two different consumers do not add up to one
            // identity, so the entry is not satisfied.
            let mut consumers = credentials.iter().filter_map(|(_, credential)| credential.consumer);
            let consumer = consumers.next();
            if consumers.any(|other| Some(other) != consumer) {
                saw_invalid = true;
                continue;
            }
            if scopes_missing {
                insufficient_scopes.get_or_insert_with(|| alternative.iter().flat_map(|(_, scopes)| scopes.clone()).collect());
                continue;
            }
            return Ok(self.identity(consumer, &credentials, route_providers(self, alternative)));
        }

        Err(self.rejection(route, insufficient_scopes, saw_invalid, saw_invalid_token))
    }

    fn rejection(
        &self,
        route: &RouteAuth,
        insufficient_scopes: Option<Vec<String>>,
        saw_invalid: bool,
        saw_invalid_token: bool,
    ) -> Rejection {
        if let Some(scopes) = insufficient_scopes {
            let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scopes.join(" "));
            return Rejection::with_challenge(ProblemKind::InsufficientScope, challenge);
        }
        let kind = if saw_invalid { ProblemKind::InvalidCredentials } else { ProblemKind::MissingCredentials };
        // RFC 6750 section 3: a request without a token gets a challenge without an error code.
        // A route that an API key alone also satisfies names that scheme as a second challenge
        // (RFC 9110 section 11.6.1), so that a client learns that a key would do.
        let challenge = match (route.uses_jwt, saw_invalid_token, route.api_key_alone) {
            (true, true, false) => "Bearer error=\"invalid_token\"",
            (true, true, true) => "Bearer error=\"invalid_token\", ApiKey",
            (true, false, false) => "Bearer",
            (true, false, true) => "Bearer, ApiKey",
            (false, ..) => "ApiKey",
        };
        Rejection::with_challenge(kind, challenge.to_owned())
    }

    async fn evaluate(&self, index: usize, headers: &HeaderMap, uri: &Uri, allow_without_expiry: bool) -> Outcome {
        let provider = &self.providers[index];
        match &provider.kind {
            ProviderKind::Jwt(verifier) => self.evaluate_token(index, verifier, headers, allow_without_expiry).await,
            ProviderKind::ApiKey(config) => self.evaluate_api_key(&provider.name, config, headers, uri),
        }
    }

    async fn evaluate_token(&self, index: usize, verifier: &JwtVerifier, headers: &HeaderMap, allow_without_expiry: bool) -> Outcome {
        let token = match credentials::bearer_token(headers) {
            BearerCredential::Absent => return Outcome::Absent,
            BearerCredential::Malformed => return Outcome::Invalid,
            BearerCredential::Token(token) => token,
        };
        let provider = &self.providers[index].name;
        let verified = match verifier.verify(token, allow_without_expiry).await {
            Ok(verified) => verified,
            Err(error) => {
                tracing::debug!(provider = %provider, %error, "bearer token rejected");
                return Outcome::Invalid;
            }
        };
        let credential = verified.credential.get_or_init(|| Arc::new(self.token_credential(index, verifier, &verified.claims)));
        Outcome::Valid(credential.clone())
    }

    /// Derives a valid token's credential from its claims: the consumer its subject names, the
    /// scopes it grants and the claims forwarded upstream.
    fn token_credential(&self, index: usize, verifier: &JwtVerifier, claims: &crate::jwt::Claims) -> Credential {
        let subject = claims.get(verifier.consumer_claim()).map(claim_text);
        let consumer = subject.as_deref().and_then(|subject| self.consumers.by_subject(index, subject));
        let forwarded = verifier
            .forward_claims
            .iter()
            .filter_map(|(claim, header)| {
                let value = HeaderValue::from_str(&claim_text(claims.get(claim)?)).ok()?;
                Some((header.clone(), value))
            })
            .collect();
        Credential { consumer, subject, scopes: granted_scopes(claims), forwarded, query_parameter: None }
    }

    fn evaluate_api_key(&self, provider: &str, config: &ApiKeyProvider, headers: &HeaderMap, uri: &Uri) -> Outcome {
        let key = match credentials::api_key(config, headers, uri) {
            KeyCredential::Absent => return Outcome::Absent,
            KeyCredential::Malformed => return Outcome::Invalid,
            KeyCredential::Key(key) => key,
        };
        let Some(consumer) = self.consumers.by_api_key(&key, self.clock.unix_millis()) else {
            tracing::debug!(provider, "API key unknown or expired");
            return Outcome::Invalid;
        };
        let query_parameter = (config.location == gatectl_spec::model::ApiKeyLocation::Query).then(|| config.name.clone());
        Outcome::Valid(Arc::new(Credential {
            consumer: Some(consumer),
            subject: None,
            scopes: Vec::new(),
            forwarded: Vec::new(),
            query_parameter,
        }))
    }

    fn identity(&self, consumer: Option<usize>, credentials: &[(usize, Arc<Credential>)], providers: Vec<String>) -> Identity {
        let mut upstream_headers = Vec::new();
        let consumer = consumer.map(|index| self.consumers.identity(index));
        if let Some(consumer) = &consumer {
            if let Ok(value) = HeaderValue::from_str(&consumer.id) {
                upstream_headers.push((self.consumer_id_header.clone(), value));
            }
            if let Some(tier) = consumer.tier.as_deref().and_then(|tier| HeaderValue::from_str(tier).ok()) {
                upstream_headers.push((self.consumer_tier_header.clone(), tier));
            }
        }
        let mut scopes = Vec::new();
        let mut subject = None;
        let mut remove_query_parameter = None;
        for (index, credential) in credentials {
            upstream_headers.extend(credential.forwarded.iter().cloned());
            scopes.extend(credential.scopes.iter().cloned());
            if consumer.is_none() && subject.is_none() {
                subject = credential.subject.clone().map(|value| TokenSubject { provider: self.providers[*index].name.clone(), value });
            }
            if credential.query_parameter.is_some() {
                remove_query_parameter = credential.query_parameter.clone();
            }
        }
        Identity {
            consumer,
            subject,
            providers,
            scopes,
            upstream_headers,
            strip_headers: self.strip_headers.clone(),
            remove_query_parameter,
        }
    }
}

fn route_providers(authenticator: &Authenticator, alternative: &[(usize, Vec<String>)]) -> Vec<String> {
    alternative.iter().map(|(index, _)| authenticator.providers[*index].name.clone()).collect()
}

/// Returns the headers removed from every client request, and the consumer id and tier headers.
fn identity_headers(spec: &Spec, providers: &[Provider]) -> Result<(Arc<[HeaderName]>, HeaderName, HeaderName), BuildError> {
    let parse = |name: &str| HeaderName::try_from(name).map_err(|_| BuildError::InvalidHeaderName { name: name.to_owned() });
    let id_header = parse(&spec.settings.consumer_headers.id)?;
    let tier_header = parse(&spec.settings.consumer_headers.tier)?;
    let mut strip = vec![id_header.clone(), tier_header.clone()];
    for provider in providers {
        if let ProviderKind::Jwt(verifier) = &provider.kind {
            strip.extend(verifier.forward_claims.iter().map(|(_, header)| header.clone()));
        }
    }
    strip.sort_by(|left, right| left.as_str().cmp(right.as_str()));
    strip.dedup();
    Ok((strip.into(), id_header, tier_header))
}

#[cfg(test)]
mod tests {
    use super::push_ip;

    #[test]
    fn ip_text_matches_display() {
        for address in ["0.0.0.0", "127.0.0.1", "10.200.3.255", "::1", "2001:db8::7", "::ffff:192.0.2.1"] {
            let address: std::net::IpAddr = address.parse().unwrap();
            let mut text = String::new();
            push_ip(&mut text, address);
            assert_eq!(text, address.to_string());
        }
    }
}
