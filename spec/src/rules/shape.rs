//! Combinations of fields that cannot work together: destinations, auth providers, keys,
//! weights, TLS and deprecation dates.

use crate::model::{ListenerProtocol, LoadBalancingAlgorithm};

use super::{Context, pointer};

pub(super) fn check(context: &mut Context<'_>) {
    check_routes(context);
    check_auth_providers(context);
    check_upstreams(context);
    check_listeners(context);
}

fn check_routes(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, route) in spec.routes.iter().enumerate() {
        let index = index.to_string();
        let route_pointer = pointer(&["routes", &index]);
        match (&route.upstream, &route.split) {
            (Some(_), Some(_)) => {
                let message = format!("route `{}` gives both `upstream` and `split`", route.name);
                let split_span = context.index.key(&pointer(&["routes", &index, "split"]));
                let finding = context.report_key("route-destination", message, &pointer(&["routes", &index, "upstream"]));
                finding.related.extend(split_span.map(|span| (span, "`split` given here".to_owned())));
            }
            (None, None) => {
                let message = format!("route `{}` gives neither `upstream` nor `split`, so it has nowhere to send traffic", route.name);
                context.report("route-destination", message, &route_pointer);
            }
            _ => {}
        }
        if let Some(split) = &route.split
            && split.backends.iter().all(|backend| backend.weight == 0)
        {
            let message = format!("every backend of the split of route `{}` has weight 0", route.name);
            context.report("zero-weight", message, &pointer(&["routes", &index, "split", "backends"]));
        }
        if let Some(deprecation) = &route.deprecation {
            if let (Some(since), Some(sunset)) = (deprecation.since, deprecation.sunset)
                && since > sunset
            {
                let message = format!("route `{}` is deprecated on {since}, after its sunset on {sunset}", route.name);
                let sunset_span = context.index.value(&pointer(&["routes", &index, "deprecation", "sunset"]));
                let finding = context.report("deprecation-order", message, &pointer(&["routes", &index, "deprecation", "since"]));
                finding.related.extend(sunset_span.map(|span| (span, "sunset set here".to_owned())));
            }
            if let Some(sunset) = deprecation.sunset
                && sunset < context.now
            {
                let message = format!("the sunset date of route `{}` ({sunset}) has passed", route.name);
                context.report("sunset-in-past", message, &pointer(&["routes", &index, "deprecation", "sunset"]));
            }
        }
    }
}

fn check_auth_providers(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, provider) in spec.auth_providers.iter().enumerate() {
        let index = index.to_string();
        match (&provider.jwt, &provider.api_key) {
            (Some(_), Some(_)) => {
                let message = format!("auth provider `{}` gives both `jwt` and `apiKey`", provider.name);
                context.report_key("auth-provider-kind", message, &pointer(&["authProviders", &index, "apiKey"]));
            }
            (None, None) => {
                let message = format!("auth provider `{}` gives neither `jwt` nor `apiKey`", provider.name);
                context.report("auth-provider-kind", message, &pointer(&["authProviders", &index]));
            }
            _ => {}
        }
        let Some(jwt) = &provider.jwt else { continue };
        if jwt.jwks.is_none() && jwt.keys.is_empty() {
            let message = format!("JWT provider `{}` has neither `jwks` nor `keys`, so it cannot verify any token", provider.name);
            context.report_key("jwt-no-keys", message, &pointer(&["authProviders", &index, "jwt"]));
        }
        let has_hmac = jwt.algorithms.iter().any(|algorithm| algorithm.is_hmac());
        let has_public_key = jwt.algorithms.iter().any(|algorithm| !algorithm.is_hmac());
        if has_hmac && has_public_key {
            let message = format!(
                "JWT provider `{}` accepts both HMAC and public-key algorithms, so a public key could be misused as an HMAC secret",
                provider.name
            );
            context.report("jwt-mixed-algorithms", message, &pointer(&["authProviders", &index, "jwt", "algorithms"]));
        }
        for (key_index, key) in jwt.keys.iter().enumerate() {
            let key_pointer = pointer(&["authProviders", &index, "jwt", "keys", &key_index.to_string()]);
            let algorithm = format!("{:?}", key.algorithm);
            if key.algorithm.is_hmac() && key.secret.is_none() {
                let message = format!("key {key_index} of JWT provider `{}` uses {algorithm} but has no `secret`", provider.name);
                context.report("jwt-key-material", message, &key_pointer);
            } else if !key.algorithm.is_hmac() && key.public_key.is_none() {
                let message = format!("key {key_index} of JWT provider `{}` uses {algorithm} but has no `publicKey`", provider.name);
                context.report("jwt-key-material", message, &key_pointer);
            }
        }
    }
}

fn check_upstreams(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, upstream) in spec.upstreams.iter().enumerate() {
        let index = index.to_string();
        let balancing = &upstream.load_balancing;
        if balancing.algorithm == LoadBalancingAlgorithm::Weighted
            && !upstream.targets.is_empty()
            && upstream.targets.iter().all(|target| target.weight == 0)
        {
            let message = format!("upstream `{}` uses weighted balancing but every target has weight 0", upstream.name);
            context.report("zero-weight", message, &pointer(&["upstreams", &index, "targets"]));
        }
        if balancing.algorithm == LoadBalancingAlgorithm::ConsistentHash && balancing.hash_on.is_none() {
            let message = format!("upstream `{}` uses consistent-hash balancing without `hashOn`", upstream.name);
            context.report("missing-hash-on", message, &pointer(&["upstreams", &index, "loadBalancing", "algorithm"]));
        }
        if !upstream.tls.verify {
            let message = format!("upstream `{}` does not verify its targets' TLS certificates", upstream.name);
            context.report("tls-verify-disabled", message, &pointer(&["upstreams", &index, "tls", "verify"]));
        }
    }
}

fn check_listeners(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, listener) in spec.settings.listeners.iter().enumerate() {
        if listener.protocol == ListenerProtocol::Https && listener.tls.is_none() {
            let message = format!("listener `{}` serves https but has no `tls` certificates", listener.name);
            context.report("https-without-tls", message, &pointer(&["settings", "listeners", &index.to_string(), "protocol"]));
        }
    }
}
