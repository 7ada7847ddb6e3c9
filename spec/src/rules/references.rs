//! Names that refer to other entities, and upstreams that nothing refers to.

use std::collections::{HashMap, HashSet};

use super::{Context, closest, pointer};

pub(super) fn check(context: &mut Context<'_>) {
    let spec = context.spec;
    let upstreams: HashSet<&str> = spec.upstreams.iter().map(|upstream| upstream.name.as_str()).collect();
    let policies: HashSet<&str> = spec.rate_limit_policies.iter().map(|policy| policy.name.as_str()).collect();
    let tiers: HashSet<&str> = spec.tiers.iter().map(|tier| tier.name.as_str()).collect();
    let providers: HashMap<&str, bool> =
        spec.auth_providers.iter().map(|provider| (provider.name.as_str(), provider.jwt.is_some())).collect();
    let mut used_upstreams: HashSet<&str> = HashSet::new();

    for (route_index, route) in spec.routes.iter().enumerate() {
        let route_index = route_index.to_string();
        if let Some(name) = &route.upstream {
            used_upstreams.insert(name);
            if !upstreams.contains(name.as_str()) {
                let at = pointer(&["routes", &route_index, "upstream"]);
                report_unknown(context, "unknown-upstream", "upstream", name, &upstreams, &at);
            }
        }
        for (backend_index, backend) in route.split.iter().flat_map(|split| split.backends.iter()).enumerate() {
            used_upstreams.insert(&backend.upstream);
            if !upstreams.contains(backend.upstream.as_str()) {
                let at = pointer(&["routes", &route_index, "split", "backends", &backend_index.to_string(), "upstream"]);
                report_unknown(context, "unknown-upstream", "upstream", &backend.upstream, &upstreams, &at);
            }
        }
        for (policy_index, name) in route.rate_limits.iter().enumerate() {
            if !policies.contains(name.as_str()) {
                let at = pointer(&["routes", &route_index, "rateLimits", &policy_index.to_string()]);
                report_unknown(context, "unknown-policy", "rate-limit policy", name, &policies, &at);
            }
        }
        for (requirement_index, requirement) in route.security.iter().enumerate() {
            for name in requirement.keys() {
                if !providers.contains_key(name.as_str()) {
                    let at = pointer(&["routes", &route_index, "security", &requirement_index.to_string(), name]);
                    let names: HashSet<&str> = providers.keys().copied().collect();
                    let message = format!("auth provider `{name}` is not defined");
                    let help = unknown_help("authProviders", name, &names);
                    context.report_key("unknown-auth-provider", message, &at).help = Some(help);
                }
            }
        }
    }

    for (consumer_index, consumer) in spec.consumers.iter().enumerate() {
        let consumer_index = consumer_index.to_string();
        if let Some(tier) = &consumer.tier
            && !tiers.contains(tier.as_str())
        {
            let at = pointer(&["consumers", &consumer_index, "tier"]);
            report_unknown(context, "unknown-tier", "tier", tier, &tiers, &at);
        }
        for (identity_index, identity) in consumer.credentials.jwt.iter().enumerate() {
            let at = pointer(&["consumers", &consumer_index, "credentials", "jwt", &identity_index.to_string(), "provider"]);
            match providers.get(identity.provider.as_str()) {
                Some(true) => {}
                Some(false) => {
                    let message = format!("auth provider `{}` is an API key provider, not a JWT provider", identity.provider);
                    context.report("unknown-auth-provider", message, &at).help =
                        Some("name a provider that has a `jwt` section; API keys go under `credentials.apiKeys`".to_owned());
                }
                None => {
                    let names: HashSet<&str> = providers.iter().filter(|(_, is_jwt)| **is_jwt).map(|(name, _)| *name).collect();
                    report_unknown(context, "unknown-auth-provider", "auth provider", &identity.provider, &names, &at);
                }
            }
        }
    }

    for (policy_index, policy) in spec.rate_limit_policies.iter().enumerate() {
        for tier in policy.tiers.keys() {
            if !tiers.contains(tier.as_str()) {
                let at = pointer(&["rateLimitPolicies", &policy_index.to_string(), "tiers", tier]);
                let message = format!("tier `{tier}` is not defined");
                let help = unknown_help("tiers", tier, &tiers);
                context.report_key("unknown-tier", message, &at).help = Some(help);
            }
        }
    }

    for (upstream_index, upstream) in spec.upstreams.iter().enumerate() {
        if !used_upstreams.contains(upstream.name.as_str()) {
            let at = pointer(&["upstreams", &upstream_index.to_string(), "name"]);
            context.report("unused-upstream", format!("no route sends traffic to upstream `{}`", upstream.name), &at);
        }
    }
}

fn report_unknown(context: &mut Context<'_>, rule: &'static str, kind: &str, name: &str, known: &HashSet<&str>, at: &str) {
    let list = match kind {
        "upstream" => "upstreams",
        "rate-limit policy" => "rateLimitPolicies",
        "tier" => "tiers",
        _ => "authProviders",
    };
    let help = unknown_help(list, name, known);
    context.report(rule, format!("{kind} `{name}` is not defined"), at).help = Some(help);
}

fn unknown_help(list: &str, name: &str, known: &HashSet<&str>) -> String {
    let mut candidates: Vec<&str> = known.iter().copied().collect();
    candidates.sort_unstable();
    match closest(name, candidates) {
        Some(candidate) => format!("did you mean `{candidate}`? Otherwise define `{name}` under `{list}`"),
        None => format!("define `{name}` under `{list}`, or fix the name"),
    }
}
