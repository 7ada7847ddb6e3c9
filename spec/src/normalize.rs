//! The normalised form of a spec: one canonical order, and no secret values.
//!
//! Deserialisation already fills every default, so two specs that mean the same thing differ
//! only in the order of lists and in duplicates. [`canonicalize`] fixes that order, [`redact`]
//! replaces values that may be credentials with [`REDACTED`], and [`normalize`] does both.
//! `normalize(&normalize(x)) == normalize(x)` holds for every spec.
//!
//! # Order, field by field
//!
//! Entities are sorted by name (consumers by `id`, listeners by `name`), because nothing depends
//! on their order: routes are picked by specificity, not by position.
//!
//! These lists are sets, so they are sorted and deduplicated: route `hosts` (also lowercased,
//! because hosts are compared without case), `methods`, `tags` and `rateLimits` (all policies
//! apply). The same holds for header `remove` lists, JWT `audiences`, `algorithms` and
//! `requiredClaims`, the scopes inside each `security` alternative, `trustedProxies`,
//! `healthyStatuses`, quota notification `thresholds`, certificate `hosts`, and a consumer's API
//! keys (by hash) and JWT identities. Header conditions of a match are sorted too, because all of
//! them must hold.
//!
//! These lists keep their written order, because their order can be visible at run time: upstream
//! `targets` (the round-robin sequence), split `backends`, listener `certificates` (the first one
//! serves clients without a matching SNI name) and JWT `keys`. Rate-limit `limits`, tier `quotas`
//! and `security` alternatives keep their order too, so a spec reads as its author wrote it, but
//! `diff` compares them by meaning.

use crate::model::{AuthProvider, Consumer, HeaderChanges, JwtProvider, Metadata, RateLimitPolicy, Route, Settings, Spec, Tier, Upstream};

/// The text that replaces a redacted value.
pub const REDACTED: &str = "<redacted>";

/// Returns the canonical order of `spec` and replaces every secret-looking value with
/// [`REDACTED`].
pub fn normalize(spec: &Spec) -> Spec {
    redact(&canonicalize(spec))
}

/// Returns `spec` in canonical order, with duplicates removed from sets. Values are unchanged
/// except route hosts, which are lowercased.
pub fn canonicalize(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    canonicalize_in_place(&mut spec);
    spec
}

/// Puts `spec` in canonical order in place: [`canonicalize`] without the copy, for callers that
/// own the spec.
pub fn canonicalize_in_place(spec: &mut Spec) {
    spec.settings.listeners.sort_by(|left, right| left.name.cmp(&right.name));
    for listener in &mut spec.settings.listeners {
        if let Some(tls) = &mut listener.tls {
            for certificate in &mut tls.certificates {
                sort_set(&mut certificate.hosts);
            }
        }
    }
    spec.settings.trusted_proxies.sort();
    spec.settings.trusted_proxies.dedup();

    spec.upstreams.sort_by(|left, right| left.name.cmp(&right.name));
    for upstream in &mut spec.upstreams {
        sort_set(&mut upstream.tags);
        if let Some(active) = &mut upstream.health_checks.active {
            sort_set(&mut active.healthy_statuses);
        }
    }

    spec.routes.sort_by(|left, right| left.name.cmp(&right.name));
    for route in &mut spec.routes {
        canonicalize_route(route);
    }

    spec.auth_providers.sort_by(|left, right| left.name.cmp(&right.name));
    for provider in &mut spec.auth_providers {
        if let Some(jwt) = &mut provider.jwt {
            canonicalize_jwt(jwt);
        }
    }

    spec.consumers.sort_by(|left, right| left.id.cmp(&right.id));
    for consumer in &mut spec.consumers {
        sort_set(&mut consumer.tags);
        consumer.credentials.api_keys.sort_by(|left, right| left.hash.cmp(&right.hash));
        consumer.credentials.api_keys.dedup();
        let identities = &mut consumer.credentials.jwt;
        identities.sort_by(|left, right| (&left.provider, &left.subject).cmp(&(&right.provider, &right.subject)));
        identities.dedup();
    }

    spec.rate_limit_policies.sort_by(|left, right| left.name.cmp(&right.name));

    spec.tiers.sort_by(|left, right| left.name.cmp(&right.name));
    for tier in &mut spec.tiers {
        if let Some(notifications) = &mut tier.quota_notifications {
            sort_set(&mut notifications.thresholds);
        }
    }
}

fn canonicalize_route(route: &mut Route) {
    for host in &mut route.matcher.hosts {
        host.make_ascii_lowercase();
    }
    sort_set(&mut route.matcher.hosts);
    sort_set(&mut route.matcher.methods);
    let headers = &mut route.matcher.headers;
    headers.sort_by(|left, right| {
        let left_key = (left.name.to_ascii_lowercase(), &left.value, left.invert);
        let right_key = (right.name.to_ascii_lowercase(), &right.value, right.invert);
        left_key.cmp(&right_key)
    });
    headers.dedup();
    sort_set(&mut route.rate_limits);
    sort_set(&mut route.tags);
    sort_set(&mut route.request_headers.remove);
    sort_set(&mut route.response_headers.remove);
    for alternative in &mut route.security {
        for scopes in alternative.values_mut() {
            sort_set(scopes);
        }
    }
}

fn canonicalize_jwt(jwt: &mut JwtProvider) {
    sort_set(&mut jwt.audiences);
    sort_set(&mut jwt.algorithms);
    sort_set(&mut jwt.required_claims);
}

fn sort_set<T: Ord>(values: &mut Vec<T>) {
    values.sort();
    values.dedup();
}

/// Returns `spec` with every value that may be a credential replaced by [`REDACTED`]. These are
/// values of sensitive headers ([`is_sensitive_header`]) in header changes and match conditions,
/// header and metadata values that look like keys ([`looks_like_secret`]), and passwords and
/// sensitive query parameters in URLs. Secret references (`env:`, `file:`) and API key hashes are
/// not secret and are kept.
pub fn redact(spec: &Spec) -> Spec {
    let mut spec = spec.clone();

    spec.metadata.redact();
    spec.settings.redact();
    spec.upstreams.iter_mut().for_each(Redact::redact);
    spec.routes.iter_mut().for_each(Redact::redact);
    spec.auth_providers.iter_mut().for_each(Redact::redact);
    spec.consumers.iter_mut().for_each(Redact::redact);
    spec.rate_limit_policies.iter_mut().for_each(Redact::redact);
    spec.tiers.iter_mut().for_each(Redact::redact);

    spec
}

/// Redaction of one part of a spec, as [`redact`] applies it, so that a caller can redact only
/// the entities it shows.
pub trait Redact {
    /// Replaces every value that may be a credential with [`REDACTED`].
    fn redact(&mut self);
}

impl Redact for Metadata {
    fn redact(&mut self) {
        redact_labels(&mut self.labels);
    }
}

/// Settings contain no credentials: TLS keys are secret references, which are kept.
impl Redact for Settings {
    fn redact(&mut self) {}
}

impl Redact for Upstream {
    fn redact(&mut self) {
        redact_labels(&mut self.metadata);
    }
}

impl Redact for Route {
    fn redact(&mut self) {
        for condition in &mut self.matcher.headers {
            if let Some(value) = &mut condition.value
                && (is_sensitive_header(&condition.name) || looks_like_secret(value))
            {
                *value = REDACTED.to_owned();
            }
        }
        redact_headers(&mut self.request_headers);
        redact_headers(&mut self.response_headers);
        redact_labels(&mut self.metadata);
        if let Some(deprecation) = &mut self.deprecation
            && let Some(link) = &mut deprecation.link
        {
            *link = redact_url(link);
        }
    }
}

impl Redact for AuthProvider {
    fn redact(&mut self) {
        if let Some(jwks) = self.jwt.as_mut().and_then(|jwt| jwt.jwks.as_mut()) {
            jwks.url = redact_url(&jwks.url);
        }
    }
}

impl Redact for Consumer {
    fn redact(&mut self) {
        redact_labels(&mut self.metadata);
    }
}

/// Rate-limit policies contain names and numbers only.
impl Redact for RateLimitPolicy {
    fn redact(&mut self) {}
}

impl Redact for Tier {
    fn redact(&mut self) {
        if let Some(notifications) = &mut self.quota_notifications {
            notifications.webhook = redact_url(&notifications.webhook);
        }
    }
}

fn redact_headers(changes: &mut HeaderChanges) {
    for (name, value) in changes.set.iter_mut().chain(changes.add.iter_mut()) {
        if is_sensitive_header(name) || looks_like_secret(value) {
            *value = REDACTED.to_owned();
        }
    }
}

fn redact_labels(labels: &mut std::collections::BTreeMap<String, String>) {
    for value in labels.values_mut() {
        if looks_like_secret(value) {
            *value = REDACTED.to_owned();
        }
    }
}

/// Header names whose values are credentials wherever they appear.
const SENSITIVE_HEADERS: [&str; 8] =
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "apikey", "x-amz-security-token"];

/// Parts of header and query parameter names that mark their values as credentials.
const SENSITIVE_NAME_PARTS: [&str; 10] =
    ["token", "secret", "password", "passwd", "api-key", "api_key", "apikey", "session", "signature", "credential"];

/// Returns whether values of the header `name` are credentials: `Authorization`, `Cookie`, `X-API-Key`
/// and similar, or any name containing `token`, `secret`, `password`, `session`, `signature`
/// or `credential`. Names are compared without case.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SENSITIVE_HEADERS.contains(&name.as_str()) || SENSITIVE_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// Prefixes of well-known token formats (GitHub, GitLab, Slack, Stripe, AWS, Google).
const TOKEN_PREFIXES: [&str; 10] = ["ghp_", "gho_", "ghs_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "sk_live_", "AKIA", "AIza"];

/// Shortest run of letters and digits, without separators, that counts as a generated key.
const MIN_KEY_RUN: usize = 16;

/// Returns whether `value` looks like a credential. Credentials are HTTP authorization values
/// (`Bearer …`, `Basic …`), JWTs, tokens with a well-known prefix, and base64 or hex words with a
/// run of at least 16 letters and digits that mixes both. Separators (`/`, `.`, `-`, `_`, `~`)
/// end a run, so file paths, host names and UUIDs are not taken for keys.
pub fn looks_like_secret(value: &str) -> bool {
    let value = value.trim();
    let lowercase = value.to_ascii_lowercase();
    let schemes = ["bearer ", "basic ", "token ", "digest ", "apikey "];
    if schemes.iter().any(|scheme| lowercase.starts_with(scheme)) {
        return true;
    }
    if TOKEN_PREFIXES.iter().any(|prefix| value.starts_with(prefix)) {
        return true;
    }
    if value.starts_with("eyJ") && value.split('.').count() == 3 {
        return true;
    }
    let is_key_character = |character: char| character.is_ascii_alphanumeric() || "+/=_-.~".contains(character);
    if !value.chars().all(is_key_character) {
        return false;
    }
    value.split(['/', '.', '-', '_', '~']).any(|run| {
        let run = run.trim_end_matches('=');
        run.len() >= MIN_KEY_RUN
            && run.chars().any(|character| character.is_ascii_alphabetic())
            && run.chars().any(|character| character.is_ascii_digit())
    })
}

/// Replaces the password of a URL's user information and the values of sensitive or key-like
/// query parameters with [`REDACTED`].
pub(crate) fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_userinfo(before_query);
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, value)) if is_sensitive_header(name) || looks_like_secret(value) => format!("{name}={REDACTED}"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    if user == userinfo {
        return url.to_owned();
    }
    format!("{scheme}://{user}:{REDACTED}@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, load, load_str};

    fn example() -> Spec {
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spec/gateway.yaml"));
        let loaded = load(&[path], &LoadOptions::default()).unwrap();
        loaded.spec.unwrap()
    }

    #[test]
    fn normalize_is_idempotent_on_example() {
        let once = normalize(&example());
        assert_eq!(normalize(&once), once);
    }

    #[test]
    fn example_order_is_canonical() {
        let spec = normalize(&example());
        let names: Vec<&str> = spec.routes.iter().map(|route| route.name.as_str()).collect();
        assert_eq!(names, ["create-order", "get-product", "legacy-orders", "list-products"]);
        let tiers: Vec<&str> = spec.tiers.iter().map(|tier| tier.name.as_str()).collect();
        assert_eq!(tiers, ["free", "gold"]);
    }

    #[test]
    fn sets_are_sorted_and_deduplicated() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes:\n  - name: r\n    match:\n      hosts: [B.example, a.example, b.example]\n      path: {exact: /}\n      methods: [POST, GET, POST]\n    upstream: u\n    tags: [z, a, z]\nupstreams:\n  - name: u\n    targets: [{host: b, port: 1}, {host: a, port: 1}]\n";
        let spec = normalize(&load_str("spec.yaml", text).spec.unwrap());
        let route = &spec.routes[0];
        assert_eq!(route.matcher.hosts, ["a.example", "b.example"]);
        assert_eq!(route.matcher.methods, [crate::model::Method::Get, crate::model::Method::Post]);
        assert_eq!(route.tags, ["a", "z"]);
        let hosts: Vec<&str> = spec.upstreams[0].targets.iter().map(|target| target.host.as_str()).collect();
        assert_eq!(hosts, ["b", "a"], "targets keep their order");
    }

    #[test]
    fn sensitive_headers_are_redacted() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes:\n  - name: r\n    match: {path: {exact: /}}\n    upstream: u\n    requestHeaders:\n      set:\n        Authorization: Bearer abc\n        X-Trace: on\n        X-Other: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n";
        let spec = normalize(&load_str("spec.yaml", text).spec.unwrap());
        let set = &spec.routes[0].request_headers.set;
        assert_eq!(set["Authorization"], REDACTED);
        assert_eq!(set["X-Other"], REDACTED);
        assert_eq!(set["X-Trace"], "on");
    }

    #[test]
    fn entity_redaction_matches_spec_redaction() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nmetadata:\n  labels: {owner: team, key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0}\nroutes:\n  - name: r\n    match:\n      path: {exact: /}\n      headers: [{name: Authorization, value: Bearer abc}]\n    upstream: u\n    requestHeaders:\n      set: {X-Api-Key: abc, X-Trace: on}\n    deprecation: {link: 'https://user:pw@docs.example/?token=abc'}\n";
        let mut spec = example();
        spec.routes.extend(load_str("spec.yaml", text).spec.unwrap().routes);
        let whole = redact(&spec);

        let mut by_entity = spec.clone();
        by_entity.metadata.redact();
        by_entity.settings.redact();
        by_entity.upstreams.iter_mut().for_each(Redact::redact);
        by_entity.routes.iter_mut().for_each(Redact::redact);
        by_entity.auth_providers.iter_mut().for_each(Redact::redact);
        by_entity.consumers.iter_mut().for_each(Redact::redact);
        by_entity.rate_limit_policies.iter_mut().for_each(Redact::redact);
        by_entity.tiers.iter_mut().for_each(Redact::redact);

        assert_eq!(by_entity, whole);
        assert_ne!(whole, spec, "the spec has values to redact");
        let route = whole.routes.iter().find(|route| route.name == "r").unwrap();
        assert_eq!(route.request_headers.set["X-Api-Key"], REDACTED);
        assert_eq!(route.deprecation.as_ref().unwrap().link.as_deref(), Some("https://user:<redacted>@docs.example/?token=<redacted>"));
    }

    #[test]
    fn canonicalize_in_place_matches_copy() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes:\n  - name: b\n    match: {hosts: [B.example, a.example], path: {exact: /}}\n    upstream: u\n  - name: a\n    match: {path: {exact: /a}}\n    upstream: u\n";
        let mut spec = load_str("spec.yaml", text).spec.unwrap();
        let copy = canonicalize(&spec);
        canonicalize_in_place(&mut spec);
        assert_eq!(spec, copy);
        assert_eq!(spec.routes[0].name, "a");
        assert_eq!(spec.routes[1].matcher.hosts, ["a.example", "b.example"]);
    }

    #[test]
    fn secret_detection() {
        for secret in
            ["Bearer x", "ghp_abcdef", "eyJhbGciOi.eyJzdWIiOi.c2ln", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "dGhpcyBpcyBhIHNlY3JldCBrZXk="]
        {
            assert!(looks_like_secret(secret), "{secret}");
        }
        for plain in ["max-age=60", "application/json", "on", "gatectl team contact address", "package/generated/ghes-3.17.json"] {
            assert!(!looks_like_secret(plain), "{plain}");
        }
        assert!(is_sensitive_header("X-Auth-Token"));
        assert!(is_sensitive_header("cookie"));
        assert!(!is_sensitive_header("Cache-Control"));
    }

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example/x?token=abc&a=1"),
            "https://user:<redacted>@hooks.example/x?token=<redacted>&a=1"
        );
        assert_eq!(redact_url("https://auth.example/.well-known/jwks.json"), "https://auth.example/.well-known/jwks.json");
        assert_eq!(redact_url("https://user@host/p"), "https://user@host/p");
    }
}
