//! Classification of gateway-wide settings changes.

use serde_json::Value;

use super::change::Class;
use super::classify::{Verdict, breaking, duration_verdict, lowered_verdict, risky, safe};
use super::walk::FieldDifference;

/// Classifies a change inside `settings`.
pub fn classify(path: &str, difference: &FieldDifference) -> Verdict {
    if let Some(rest) = path.strip_prefix("listeners[") {
        return listener_verdict(rest, difference);
    }
    let numbers = (difference.old.as_ref().and_then(Value::as_u64), difference.new.as_ref().and_then(Value::as_u64));
    match (path, numbers) {
        ("limits.maxBodyBytes", (Some(old), Some(new))) => lowered_verdict(old, new, Class::Breaking, "body limit"),
        ("limits.maxHeaderBytes", (Some(old), Some(new))) => lowered_verdict(old, new, Class::Breaking, "header size limit"),
        _ if path.starts_with("limits.") => duration_verdict(difference, "client timeout"),
        ("trustedProxies", _) => risky("the client address is read from other proxies"),
        _ if path.starts_with("versioning") => risky("API version selection changed"),
        _ if path.starts_with("consumerHeaders") || path == "requestIdHeader" => {
            risky("upstreams receive identity or request IDs in other headers")
        }
        _ if path.starts_with("rateLimiting") => risky("behaviour when the rate-limit store is down changed"),
        _ => safe("field changed"),
    }
}

fn listener_verdict(rest: &str, difference: &FieldDifference) -> Verdict {
    let field = rest.split_once("].").map(|(_, field)| field).unwrap_or("");
    match (field, &difference.old, &difference.new) {
        ("", Some(_), None) => breaking("listener removed; its clients can no longer connect"),
        ("", None, Some(_)) => safe("listener added"),
        ("address" | "protocol", _, _) => breaking("listener address or protocol changed; its clients can no longer connect"),
        _ => risky("listener TLS settings changed"),
    }
}
