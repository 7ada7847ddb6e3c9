//! Classification of auth provider and consumer changes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::classify::{Verdict, breaking, duration_verdict, join, parse, risky, safe, strings};
use super::walk::FieldDifference;

/// Classifies a change inside an auth provider: tightened token checks break clients.
pub fn classify_provider(path: &str, difference: &FieldDifference) -> Verdict {
    let added: BTreeSet<String> = strings(&difference.new).difference(&strings(&difference.old)).cloned().collect();
    let removed: BTreeSet<String> = strings(&difference.old).difference(&strings(&difference.new)).cloned().collect();
    match path {
        "jwt" | "apiKey" => breaking("credential type changed; existing credentials are no longer accepted"),
        "jwt.audiences" if strings(&difference.old).is_empty() => breaking(format!("audience now checked: {}", join(&added))),
        "jwt.audiences" | "jwt.algorithms" if !removed.is_empty() => breaking(format!("no longer accepted: {}", join(&removed))),
        "jwt.audiences" | "jwt.algorithms" => safe(format!("now also accepted: {}", join(&added))),
        "jwt.requiredClaims" if !added.is_empty() => breaking(format!("claim now required: {}", join(&added))),
        "jwt.requiredClaims" => safe("fewer claims required"),
        "jwt.issuer" | "jwt.tokenType" if difference.new.is_some() => {
            breaking("tokens must carry another value; existing tokens are rejected")
        }
        "jwt.issuer" | "jwt.tokenType" => safe("check removed"),
        "jwt.consumerClaim" => breaking("consumers are identified by another claim; existing tokens map to other consumers"),
        "jwt.leeway" => duration_verdict(difference, "clock skew leeway"),
        _ if path.starts_with("jwt.jwks") || path.starts_with("jwt.keys") => risky("verification keys or their source changed"),
        _ if path.starts_with("apiKey") => breaking("clients must send the API key in another place"),
        _ => safe("field changed"),
    }
}

/// Classifies a change inside a consumer: a revoked credential breaks that client.
pub fn classify_consumer(path: &str, difference: &FieldDifference) -> Verdict {
    if path.starts_with("credentials.apiKeys[") {
        if path.ends_with(".expiresAt") {
            return expiry_verdict(difference);
        }
        if path.ends_with(".label") {
            return safe("API key label changed");
        }
        return match (&difference.old, &difference.new) {
            (Some(_), None) => breaking("API key revoked"),
            (None, Some(_)) => safe("API key added"),
            _ => risky("API key changed"),
        };
    }
    match path {
        "credentials.jwt" => {
            let old = parse::<Vec<Value>>(&difference.old).unwrap_or_default();
            let new = parse::<Vec<Value>>(&difference.new).unwrap_or_default();
            if old.iter().all(|identity| new.contains(identity)) {
                safe("JWT identity added")
            } else {
                breaking("JWT identity removed; its tokens no longer identify this consumer")
            }
        }
        "tier" => risky("tier changed; the consumer gets other limits and quotas"),
        _ => safe("field changed"),
    }
}

fn expiry_verdict(difference: &FieldDifference) -> Verdict {
    let read = |value: &Option<Value>| value.as_ref().and_then(Value::as_str).and_then(|text| text.parse::<DateTime<Utc>>().ok());
    match (read(&difference.old), read(&difference.new)) {
        (_, None) => safe("API key no longer expires"),
        (Some(old), Some(new)) if new > old => safe("API key expires later"),
        _ => risky("API key expires sooner"),
    }
}
