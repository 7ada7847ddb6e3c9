//! Splitting a spec into named entities, and the verdict on a removed entity.

use gatectl_spec::Spec;
use gatectl_spec::model::Route;
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

/// One entity of a spec, serialised in canonical and in shown form.
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    pub tags: Vec<String>,
    pub canonical: Value,
    /// The redacted form, with API key hashes shortened.
    pub shown: Value,
}

/// Returns every entity of a spec. `canonical` and `redacted` are the same spec before and after
/// redaction, so their entities line up one to one.
pub fn collect(canonical: &Spec, redacted: &Spec) -> Vec<Entity> {
    let mut entities = Vec::new();
    let mut push = |kind: EntityKind, name: &str, tags: &[String], canonical: &dyn ErasedSerialize, shown: &dyn ErasedSerialize| {
        let mut shown = shown.to_json();
        if kind == EntityKind::Consumer {
            shorten_hashes(&mut shown);
        }
        entities.push(Entity { kind, name: name.to_owned(), tags: tags.to_vec(), canonical: canonical.to_json(), shown });
    };

    push(EntityKind::Metadata, GATEWAY_NAME, &[], &canonical.metadata, &redacted.metadata);
    push(EntityKind::Settings, GATEWAY_NAME, &[], &canonical.settings, &redacted.settings);
    for (entity, shown) in canonical.upstreams.iter().zip(&redacted.upstreams) {
        push(EntityKind::Upstream, &entity.name, &entity.tags, entity, shown);
    }
    for (entity, shown) in canonical.routes.iter().zip(&redacted.routes) {
        push(EntityKind::Route, &entity.name, &entity.tags, entity, shown);
    }
    for (entity, shown) in canonical.auth_providers.iter().zip(&redacted.auth_providers) {
        push(EntityKind::AuthProvider, &entity.name, &[], entity, shown);
    }
    for (entity, shown) in canonical.consumers.iter().zip(&redacted.consumers) {
        push(EntityKind::Consumer, &entity.id, &entity.tags, entity, shown);
    }
    for (entity, shown) in canonical.rate_limit_policies.iter().zip(&redacted.rate_limit_policies) {
        push(EntityKind::RateLimitPolicy, &entity.name, &[], entity, shown);
    }
    for (entity, shown) in canonical.tiers.iter().zip(&redacted.tiers) {
        push(EntityKind::Tier, &entity.name, &[], entity, shown);
    }
    entities
}

/// Serialisation to a JSON tree through a trait object, so one closure takes every entity type.
trait ErasedSerialize {
    fn to_json(&self) -> Value;
}

impl<T: Serialize> ErasedSerialize for T {
    fn to_json(&self) -> Value {
        // NOTE: serialising the model cannot fail (string keys, no custom failing serialisers),
        // so `Null` is never produced in practice.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
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
