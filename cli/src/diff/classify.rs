//! Rules that give each field change its class and a one-line reason.
//!
//! Breaking: some request that worked before stops working (a route, method, host or listener
//! removed, a path changed, authentication added or tightened, a rate limit, quota or body
//! limit lowered, an upstream removed while routes use it). Risky: clients keep working but
//! traffic handling changes (targets, weights, timeouts lowered, health checks, TLS
//! verification, authentication loosened). Safe: everything else.

use std::collections::BTreeSet;
use std::str::FromStr;

use gatectl_spec::Duration;
use gatectl_spec::model::{Limit, PathMatch, Quota, Route, SecurityRequirement, Spec};
use gatectl_spec::path_template::PathTemplate;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::change::{Class, EntityKind};
use super::walk::FieldDifference;

/// The two canonical specs being compared and the names of the entity on each side.
pub struct Context<'a> {
    pub old: &'a Spec,
    pub new: &'a Spec,
    pub old_name: &'a str,
    pub new_name: &'a str,
}

pub type Verdict = (Class, String);

pub fn safe(reason: impl Into<String>) -> Verdict {
    (Class::Safe, reason.into())
}

pub fn risky(reason: impl Into<String>) -> Verdict {
    (Class::Risky, reason.into())
}

pub fn breaking(reason: impl Into<String>) -> Verdict {
    (Class::Breaking, reason.into())
}

/// Classifies one field change of an entity of `kind`.
pub fn classify_field(kind: EntityKind, difference: &FieldDifference, context: &Context<'_>) -> Verdict {
    if difference.is_hidden_secret() {
        return safe("secret value changed (redacted)");
    }
    if difference.is_reorder() {
        return risky("order changed; the order decides which element is used first");
    }
    let path = difference.path.as_str();
    if path == "tags" || path.starts_with("metadata") || path.starts_with("labels") {
        return safe("labels and notes only");
    }
    match kind {
        EntityKind::Metadata => safe("gateway metadata only"),
        EntityKind::Settings => super::classify_settings::classify(path, difference),
        EntityKind::Upstream => classify_upstream(path, difference),
        EntityKind::Route => classify_route(path, difference, context),
        EntityKind::AuthProvider => super::classify_auth::classify_provider(path, difference),
        EntityKind::Consumer => super::classify_auth::classify_consumer(path, difference),
        EntityKind::RateLimitPolicy => classify_policy(path, difference),
        EntityKind::Tier => classify_tier(path, difference),
    }
}

fn classify_route(path: &str, difference: &FieldDifference, context: &Context<'_>) -> Verdict {
    let old_route = context.old.routes.iter().find(|route| route.name == context.old_name);
    let new_route = context.new.routes.iter().find(|route| route.name == context.new_name);
    match path {
        "name" => safe("route renamed; it matches the same requests, and metrics and logs use the new name"),
        "match.path" => path_verdict(difference),
        "match.methods" => narrowing_verdict(&strings(&difference.old), &strings(&difference.new), "method"),
        "match.hosts" => narrowing_verdict(&strings(&difference.old), &strings(&difference.new), "host"),
        "match.headers" => {
            let old: BTreeSet<String> = values(&difference.old).iter().map(Value::to_string).collect();
            let new: BTreeSet<String> = values(&difference.new).iter().map(Value::to_string).collect();
            if new.is_subset(&old) {
                safe("header condition removed; the route matches more requests")
            } else {
                breaking("header condition added; requests without it no longer match")
            }
        }
        "match.version" => breaking("API version changed; requests for the old version no longer match"),
        "security" => security_verdict(
            &parse::<Vec<SecurityRequirement>>(&difference.old).unwrap_or_default(),
            &parse::<Vec<SecurityRequirement>>(&difference.new).unwrap_or_default(),
        ),
        "allowTokensWithoutExpiry" => {
            if difference.new == Some(Value::Bool(false)) {
                breaking("tokens without an exp claim are now rejected")
            } else {
                risky("tokens without an exp claim are now accepted")
            }
        }
        "rateLimits" => {
            let (old, new) = (strings(&difference.old), strings(&difference.new));
            let added: Vec<String> = new.difference(&old).cloned().collect();
            let removed: Vec<String> = old.difference(&new).cloned().collect();
            if !added.is_empty() {
                breaking(format!("rate limit added: policy {} now also applies", added.join(", ")))
            } else if !removed.is_empty() {
                risky(format!("rate limit removed: policy {} no longer limits the route's requests", removed.join(", ")))
            } else {
                safe("rate-limit policies reordered")
            }
        }
        "maxBodyBytes" => {
            let old = old_route.and_then(|route| route.max_body_bytes).unwrap_or(context.old.settings.limits.max_body_bytes);
            let new = new_route.and_then(|route| route.max_body_bytes).unwrap_or(context.new.settings.limits.max_body_bytes);
            lowered_verdict(old, new, Class::Breaking, "body limit")
        }
        "requestBuffering" => {
            if difference.new == Some(Value::Bool(false)) {
                risky("chunked request bodies are now streamed; one over the body limit reaches the upstream cut short")
            } else {
                risky("chunked request bodies are now read in full before the upstream gets them, which holds back streaming clients")
            }
        }
        "upstream" => risky("traffic goes to another upstream"),
        "stripPrefix" | "hostRewrite" => risky("the upstream receives a different path or Host header"),
        _ if path.starts_with("timeouts") => route_timeout_verdict(path, old_route, new_route, context),
        _ if path.starts_with("split") => risky("traffic split changed: backends, weights or stickiness"),
        _ if path.starts_with("requestHeaders") => safe("request headers sent upstream changed"),
        _ if path.starts_with("responseHeaders") => safe("response headers sent to clients changed"),
        _ if path.starts_with("deprecation") => safe("deprecation notice changed"),
        _ => safe("field changed"),
    }
}

/// Compares a route timeout with the upstream's value filled in where the route gives none.
fn route_timeout_verdict(path: &str, old_route: Option<&Route>, new_route: Option<&Route>, context: &Context<'_>) -> Verdict {
    let field = path.trim_start_matches("timeouts").trim_start_matches('.');
    let effective = |spec: &Spec, route: Option<&Route>, field: &str| -> Option<Duration> {
        let route = route?;
        let own = route.timeouts.as_ref().and_then(|timeouts| match field {
            "connect" => timeouts.connect,
            "response" => timeouts.response,
            _ => timeouts.total,
        });
        let upstream = route.upstream.as_deref().and_then(|name| spec.upstream(name)).map(|upstream| match field {
            "connect" => upstream.timeouts.connect,
            "response" => upstream.timeouts.response,
            _ => upstream.timeouts.total,
        });
        own.or(upstream)
    };
    let fields: Vec<&str> = if field.is_empty() { vec!["connect", "response", "total"] } else { vec![field] };
    for field in fields {
        let (Some(old), Some(new)) = (effective(context.old, old_route, field), effective(context.new, new_route, field)) else {
            return risky("route timeouts changed");
        };
        if new < old {
            return risky(format!("{field} timeout lowered from {old} to {new}"));
        }
    }
    safe("timeouts raised or unchanged in effect")
}

fn path_verdict(difference: &FieldDifference) -> Verdict {
    let old = parse::<PathMatch>(&difference.old);
    let new = parse::<PathMatch>(&difference.new);
    if let (Some(PathMatch::Template(old)), Some(PathMatch::Template(new))) = (&old, &new)
        && let (Ok(old), Ok(new)) = (PathTemplate::parse(old), PathTemplate::parse(new))
        && old.shape() == new.shape()
    {
        return safe("path parameter renamed; the route matches the same requests");
    }
    let old = old.map(|path| path.value().to_owned()).unwrap_or_default();
    breaking(format!("path changed; requests to {old} no longer match"))
}

/// Verdict for a set where empty means "any": methods and hosts.
fn narrowing_verdict(old: &BTreeSet<String>, new: &BTreeSet<String>, noun: &str) -> Verdict {
    if new.is_empty() {
        return safe(format!("every {noun} is accepted now"));
    }
    if old.is_empty() {
        return breaking(format!("the route accepted any {noun}, now only {}", join(new)));
    }
    let removed: BTreeSet<String> = old.difference(new).cloned().collect();
    if removed.is_empty() { safe(format!("{noun} added")) } else { breaking(format!("{noun} removed: {}", join(&removed))) }
}

/// Compares OR-lists of security alternatives. Old alternatives that no new alternative
/// satisfies with the same or fewer providers and scopes break clients.
pub fn security_verdict(old: &[SecurityRequirement], new: &[SecurityRequirement]) -> Verdict {
    if old.is_empty() {
        return breaking("authentication added; the route was public");
    }
    if new.is_empty() {
        return risky("authentication removed; the route becomes public");
    }
    for alternative in old {
        if new.iter().any(|candidate| is_no_stricter(candidate, alternative)) {
            continue;
        }
        let providers = describe_alternative(alternative);
        let same_providers = new.iter().find(|candidate| candidate.keys().eq(alternative.keys()));
        return match same_providers {
            Some(tighter) => breaking(format!("authentication tightened: {providers} now requires {}", describe_alternative(tighter))),
            None => breaking(format!("authentication tightened: alternative {providers} removed")),
        };
    }
    let loosened = new.iter().find(|candidate| !old.iter().any(|alternative| is_no_stricter(alternative, candidate)));
    match loosened {
        Some(alternative) => risky(format!("authentication loosened: alternative {} added", describe_alternative(alternative))),
        None => safe("security alternatives reordered"),
    }
}

/// Returns whether every request that satisfies `stricter` also satisfies `candidate`.
fn is_no_stricter(candidate: &SecurityRequirement, stricter: &SecurityRequirement) -> bool {
    candidate
        .iter()
        .all(|(provider, scopes)| stricter.get(provider).is_some_and(|granted| scopes.iter().all(|scope| granted.contains(scope))))
}

fn describe_alternative(alternative: &SecurityRequirement) -> String {
    let parts: Vec<String> = alternative
        .iter()
        .map(|(provider, scopes)| if scopes.is_empty() { provider.clone() } else { format!("{provider}[{}]", scopes.join(" ")) })
        .collect();
    parts.join(" + ")
}

fn classify_upstream(path: &str, difference: &FieldDifference) -> Verdict {
    match path {
        "tls.verify" if difference.new == Some(Value::Bool(false)) => risky("TLS verification turned off"),
        "tls.verify" => risky("TLS verification turned on; targets with invalid certificates start failing"),
        _ if path.starts_with("targets") && path.ends_with(".weight") => risky("target weight changed"),
        _ if path.starts_with("targets") => risky("targets changed; traffic goes to different servers"),
        _ if path.starts_with("timeouts.") => duration_verdict(difference, "timeout"),
        _ if path.starts_with("healthChecks") => risky("health checks changed"),
        _ if path.starts_with("tls") => risky("TLS settings towards the targets changed"),
        _ if path.starts_with("loadBalancing") => risky("load balancing changed"),
        "scheme" | "basePath" | "preserveHost" => risky("requests sent to the targets change"),
        _ => safe("field changed"),
    }
}

fn classify_policy(path: &str, difference: &FieldDifference) -> Verdict {
    if path == "scope" {
        return risky("rate-limit counters are shared differently");
    }
    if path == "limits" || path.starts_with("tiers.") {
        let (Some(old), Some(new)) = (parse::<Vec<Limit>>(&difference.old), parse::<Vec<Limit>>(&difference.new)) else {
            return risky("tier limits added or removed; the tier's consumers get other limits");
        };
        return limits_verdict(&old, &new);
    }
    safe("field changed")
}

/// Compares rate limits window by window: a lower count, a lower burst or a new window breaks.
pub fn limits_verdict(old: &[Limit], new: &[Limit]) -> Verdict {
    for limit in new {
        let Some(previous) = old.iter().find(|previous| previous.window == limit.window) else {
            return breaking(format!("rate limit added: {} requests per {}", limit.requests, limit.window));
        };
        if limit.requests < previous.requests {
            return breaking(format!("rate limit lowered from {} to {} requests per {}", previous.requests, limit.requests, limit.window));
        }
        let old_burst = previous.burst.unwrap_or(previous.requests);
        let new_burst = limit.burst.unwrap_or(limit.requests);
        if new_burst < old_burst {
            return breaking(format!("burst lowered from {old_burst} to {new_burst} per {}", limit.window));
        }
    }
    safe("rate limits raised, removed or reordered")
}

fn classify_tier(path: &str, difference: &FieldDifference) -> Verdict {
    if path != "quotas" {
        return safe("quota notifications changed");
    }
    let old = parse::<Vec<Quota>>(&difference.old).unwrap_or_default();
    let new = parse::<Vec<Quota>>(&difference.new).unwrap_or_default();
    for quota in &new {
        let previous = old.iter().filter(|previous| previous.period == quota.period).map(|previous| previous.requests).min();
        let period = serde_json::to_value(quota.period).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default();
        match previous {
            None => return breaking(format!("quota added: {} requests per {period}", quota.requests)),
            Some(previous) if quota.requests < previous => {
                return breaking(format!("quota lowered from {previous} to {} requests per {period}", quota.requests));
            }
            Some(_) => {}
        }
    }
    safe("quotas raised or removed")
}

/// Verdict for a duration: lower is risky, higher is safe.
pub fn duration_verdict(difference: &FieldDifference, noun: &str) -> Verdict {
    let old = difference.old.as_ref().and_then(Value::as_str).and_then(|text| Duration::from_str(text).ok());
    let new = difference.new.as_ref().and_then(Value::as_str).and_then(|text| Duration::from_str(text).ok());
    match (old, new) {
        (Some(old), Some(new)) if new < old => risky(format!("{noun} lowered from {old} to {new}")),
        (Some(old), Some(new)) => safe(format!("{noun} raised from {old} to {new}")),
        _ => risky(format!("{noun} changed")),
    }
}

/// Verdict for a byte or count limit: lower gets `class_when_lower`.
pub fn lowered_verdict(old: u64, new: u64, class_when_lower: Class, noun: &str) -> Verdict {
    if new < old {
        (class_when_lower, format!("{noun} lowered from {old} to {new}"))
    } else {
        safe(format!("{noun} raised from {old} to {new}"))
    }
}

pub fn parse<T: DeserializeOwned>(value: &Option<Value>) -> Option<T> {
    value.clone().and_then(|value| serde_json::from_value(value).ok())
}

pub fn values(value: &Option<Value>) -> Vec<Value> {
    value.as_ref().and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Collects the strings of a JSON array into a set.
pub fn strings(value: &Option<Value>) -> BTreeSet<String> {
    values(value).iter().filter_map(|item| item.as_str().map(str::to_owned)).collect()
}

pub fn join(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternative(entries: &[(&str, &[&str])]) -> SecurityRequirement {
        entries
            .iter()
            .map(|(provider, scopes)| ((*provider).to_owned(), scopes.iter().map(|scope| (*scope).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn security_more_scopes_breaks() {
        let old = [alternative(&[("bearer", &["read"])])];
        let new = [alternative(&[("bearer", &["read", "write"])])];
        assert_eq!(security_verdict(&old, &new).0, Class::Breaking);
    }

    #[test]
    fn security_removed_alternative_breaks() {
        let old = [alternative(&[("bearer", &[])]), alternative(&[("key", &[])])];
        let new = [alternative(&[("bearer", &[])])];
        assert_eq!(security_verdict(&old, &new).0, Class::Breaking);
    }

    #[test]
    fn security_added_alternative_is_risky() {
        let old = [alternative(&[("bearer", &[])])];
        let new = [alternative(&[("bearer", &[])]), alternative(&[("key", &[])])];
        assert_eq!(security_verdict(&old, &new).0, Class::Risky);
    }

    #[test]
    fn security_reorder_is_safe() {
        let old = [alternative(&[("bearer", &[])]), alternative(&[("key", &[])])];
        let new = [alternative(&[("key", &[])]), alternative(&[("bearer", &[])])];
        assert_eq!(security_verdict(&old, &new).0, Class::Safe);
    }

    #[test]
    fn limits_new_window_breaks() {
        let old: Vec<Limit> = serde_json::from_str(r#"[{"requests": 10, "window": "1s"}]"#).unwrap();
        let new: Vec<Limit> = serde_json::from_str(r#"[{"requests": 10, "window": "1s"}, {"requests": 100, "window": "1h"}]"#).unwrap();
        assert_eq!(limits_verdict(&old, &new).0, Class::Breaking);
        assert_eq!(limits_verdict(&new, &old).0, Class::Safe);
    }
}
