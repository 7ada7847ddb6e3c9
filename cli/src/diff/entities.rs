//! Splitting a spec into named entities, and the verdict on a removed entity.

use gatectl_spec::Spec;
use gatectl_spec::model::{AuthProvider, Consumer, Metadata, RateLimitPolicy, Route, Settings, Tier, Upstream};
use gatectl_spec::normalize::Redact;
use serde::Serialize;
use serde_json::Value;

use super::change::{Class, EntityKind};
use super::classify::Verdict;
use super::walk::shorten_hashes;

/// Kinds in output order.
pub const KINDS: [EntityKind; 8] = [
    EntityKind::Metadata,
    EntityKind::Settings,
    EntityKind::Upstream,
    EntityKind::Route,
    EntityKind::AuthProvider,
    EntityKind::Consumer,
    EntityKind::RateLimitPolicy,
    EntityKind::Tier,
];

/// Name of the one `metadata` entity and the one `settings` entity of a spec.
const GATEWAY_NAME: &str = "gateway";

/// One entity of a canonical spec, borrowed from it.
pub struct Entity<'a> {
    pub kind: EntityKind,
    pub name: &'a str,
    pub tags: &'a [String],
    pub body: Body<'a>,
}

/// The typed value of an entity. Two equal bodies serialise to equal JSON, so the diff compares
/// bodies first and serialises only the entities that differ.
#[derive(Clone, Copy, PartialEq)]
pub enum Body<'a> {
    Metadata(&'a Metadata),
    Settings(&'a Settings),
    Upstream(&'a Upstream),
    Route(&'a Route),
    AuthProvider(&'a AuthProvider),
    Consumer(&'a Consumer),
    RateLimitPolicy(&'a RateLimitPolicy),
    Tier(&'a Tier),
}

impl Body<'_> {
    /// Serialises the entity to JSON as the canonical spec writes it.
    pub fn canonical(&self) -> Value {
        match self {
            Body::Metadata(entity) => to_json(entity),
            Body::Settings(entity) => to_json(entity),
            Body::Upstream(entity) => to_json(entity),
            Body::Route(entity) => to_json(entity),
            Body::AuthProvider(entity) => to_json(entity),
            Body::Consumer(entity) => to_json(entity),
            Body::RateLimitPolicy(entity) => to_json(entity),
            Body::Tier(entity) => to_json(entity),
        }
    }

    /// Serialises a redacted copy of the entity to JSON for output, with API key hashes shortened.
    pub fn shown(&self) -> Value {
        match self {
            Body::Metadata(entity) => redacted_json(*entity),
            Body::Settings(entity) => redacted_json(*entity),
            Body::Upstream(entity) => redacted_json(*entity),
            Body::Route(entity) => redacted_json(*entity),
            Body::AuthProvider(entity) => redacted_json(*entity),
            Body::Consumer(entity) => {
                let mut shown = redacted_json(*entity);
                shorten_hashes(&mut shown);
                shown
            }
            Body::RateLimitPolicy(entity) => redacted_json(*entity),
            Body::Tier(entity) => redacted_json(*entity),
        }
    }
}

/// Returns every entity of a canonical spec, in the order of its lists.
pub fn collect(spec: &Spec) -> Vec<Entity<'_>> {
    let mut entities = vec![
        Entity { kind: EntityKind::Metadata, name: GATEWAY_NAME, tags: &[], body: Body::Metadata(&spec.metadata) },
        Entity { kind: EntityKind::Settings, name: GATEWAY_NAME, tags: &[], body: Body::Settings(&spec.settings) },
    ];
    for entity in &spec.upstreams {
        entities.push(Entity { kind: EntityKind::Upstream, name: &entity.name, tags: &entity.tags, body: Body::Upstream(entity) });
    }
    for entity in &spec.routes {
        entities.push(Entity { kind: EntityKind::Route, name: &entity.name, tags: &entity.tags, body: Body::Route(entity) });
    }
    for entity in &spec.auth_providers {
        entities.push(Entity { kind: EntityKind::AuthProvider, name: &entity.name, tags: &[], body: Body::AuthProvider(entity) });
    }
    for entity in &spec.consumers {
        entities.push(Entity { kind: EntityKind::Consumer, name: &entity.id, tags: &entity.tags, body: Body::Consumer(entity) });
    }
    for entity in &spec.rate_limit_policies {
        entities.push(Entity { kind: EntityKind::RateLimitPolicy, name: &entity.name, tags: &[], body: Body::RateLimitPolicy(entity) });
    }
    for entity in &spec.tiers {
        entities.push(Entity { kind: EntityKind::Tier, name: &entity.name, tags: &[], body: Body::Tier(entity) });
    }
    entities
}

fn to_json<T: Serialize>(entity: &T) -> Value {
    // `serde_json::to_value` fails only on maps with non-string keys or failing custom
    // serialisers, and the model has neither, so the `Null` fallback is not reached.
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

fn redacted_json<T: Clone + Redact + Serialize>(entity: &T) -> Value {
    let mut redacted = entity.clone();
    redacted.redact();
    to_json(&redacted)
}

/// Classifies the removal of the entity `name` from `old`.
pub fn removed_verdict(kind: EntityKind, name: &str, old: &Spec, new: &Spec) -> Verdict {
    match kind {
        EntityKind::Route => {
            let route = old.routes.iter().find(|route| route.name == name);
            let target = route.map(describe_match).unwrap_or_default();
            (Class::Breaking, format!("route removed; {target} no longer matches"))
        }
        EntityKind::Upstream => {
            let users: Vec<&str> = new.routes.iter().filter(|route| uses_upstream(route, name)).map(|route| route.name.as_str()).collect();
            if users.is_empty() {
                (Class::Safe, "upstream removed; no route uses it".to_owned())
            } else {
                (Class::Breaking, format!("upstream removed while route {} still sends traffic to it", users.join(", ")))
            }
        }
        EntityKind::AuthProvider => {
            let users = old.routes.iter().filter(|route| route.security.iter().any(|alternative| alternative.contains_key(name)));
            if users.count() == 0 {
                (Class::Safe, "auth provider removed; no route used it".to_owned())
            } else {
                (Class::Breaking, "auth provider removed; credentials it checked are no longer accepted".to_owned())
            }
        }
        EntityKind::Consumer => (Class::Breaking, "consumer removed; its credentials stop working".to_owned()),
        EntityKind::RateLimitPolicy => (Class::Safe, "rate-limit policy removed".to_owned()),
        EntityKind::Tier => (Class::Risky, "tier removed; its consumers lose the tier's limits and quotas".to_owned()),
        EntityKind::Metadata | EntityKind::Settings => (Class::Safe, "removed".to_owned()),
    }
}

fn uses_upstream(route: &Route, upstream: &str) -> bool {
    route.upstream.as_deref() == Some(upstream)
        || route.split.as_ref().is_some_and(|split| split.backends.iter().any(|backend| backend.upstream == upstream))
}

/// Describes what a route matches, for example `GET, POST /orders/{id}`.
fn describe_match(route: &Route) -> String {
    let methods: Vec<&str> = route.matcher.methods.iter().map(|method| method.as_str()).collect();
    let methods = if methods.is_empty() { "any method".to_owned() } else { methods.join(", ") };
    format!("{methods} {}", route.matcher.path.value())
}
