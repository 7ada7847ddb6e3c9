//! Names that must be unique, and API key hashes that must not repeat.

use std::collections::HashMap;

use super::{Context, pointer};

pub(super) fn check(context: &mut Context<'_>) {
    let spec = context.spec;
    let lists: [(&str, &str, &str, Vec<&str>); 6] = [
        ("upstreams", "name", "upstream", spec.upstreams.iter().map(|item| item.name.as_str()).collect()),
        ("routes", "name", "route", spec.routes.iter().map(|item| item.name.as_str()).collect()),
        ("authProviders", "name", "auth provider", spec.auth_providers.iter().map(|item| item.name.as_str()).collect()),
        ("consumers", "id", "consumer id", spec.consumers.iter().map(|item| item.id.as_str()).collect()),
        ("rateLimitPolicies", "name", "rate-limit policy", spec.rate_limit_policies.iter().map(|item| item.name.as_str()).collect()),
        ("tiers", "name", "tier", spec.tiers.iter().map(|item| item.name.as_str()).collect()),
    ];
    for (list, field, kind, names) in &lists {
        report_duplicates(context, &[list], field, kind, names);
    }
    let listeners: Vec<&str> = spec.settings.listeners.iter().map(|listener| listener.name.as_str()).collect();
    report_duplicates(context, &["settings", "listeners"], "name", "listener", &listeners);

    let mut hashes: HashMap<&str, String> = HashMap::new();
    for (consumer_index, consumer) in spec.consumers.iter().enumerate() {
        for (key_index, key) in consumer.credentials.api_keys.iter().enumerate() {
            let at = pointer(&["consumers", &consumer_index.to_string(), "credentials", "apiKeys", &key_index.to_string(), "hash"]);
            match hashes.get(key.hash.as_str()) {
                None => {
                    hashes.insert(&key.hash, at);
                }
                Some(first) => {
                    let first_span = context.index.value(first);
                    let message = format!("consumer `{}` has an API key hash that another credential already uses", consumer.id);
                    context
                        .report("duplicate-api-key", message, &at)
                        .related
                        .extend(first_span.map(|span| (span, "first used here".to_owned())));
                }
            }
        }
    }
}

fn report_duplicates(context: &mut Context<'_>, list: &[&str], field: &str, kind: &str, names: &[&str]) {
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for (position, name) in names.iter().enumerate() {
        let Some(first) = first_seen.get(name).copied() else {
            first_seen.insert(name, position);
            continue;
        };
        let position_text = position.to_string();
        let first_text = first.to_string();
        let at = [list, &[position_text.as_str(), field]].concat();
        let first_at = [list, &[first_text.as_str(), field]].concat();
        let first_span = context.index.value(&pointer(&first_at));
        let message = format!("{kind} `{name}` is defined more than once");
        context
            .report("duplicate-name", message, &pointer(&at))
            .related
            .extend(first_span.map(|span| (span, "first defined here".to_owned())));
    }
}
