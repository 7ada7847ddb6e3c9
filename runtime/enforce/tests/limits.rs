//! Rate-limit headers and quotas with a webhook received by a local HTTP server.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use gatectl_enforce::{Identity, LimitDecision, ManualClock, ProblemKind};
use gatectl_spec::api_key;
use http::HeaderMap;
use serde_json::{Value, json};

fn header(decision: &LimitDecision, name: &str) -> String {
    decision.headers.get(name).unwrap_or_else(|| panic!("missing {name}")).to_str().unwrap().to_owned()
}

fn limit_spec(key: &str, webhook: &str) -> gatectl_spec::Spec {
    spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "key", "apiKey": {"in": "header", "name": "X-API-Key"}}],
        "rateLimitPolicies": [
            {"name": "two-per-minute", "scope": "consumer", "limits": [{"requests": 2, "window": "60s"}]},
            {"name": "per-ip", "scope": "client-ip", "limits": [{"requests": 1, "window": "10s"}]}
        ],
        "tiers": [{"name": "free", "quotas": [{"period": "day", "requests": 5}],
                   "quotaNotifications": {"webhook": webhook, "thresholds": [80, 100]}}],
        "consumers": [{"id": "acme", "tier": "free", "credentials": {"apiKeys": [{"hash": api_key::hash(key)}]}}],
        "routes": [
            {"name": "limited", "match": {"path": {"exact": "/l"}}, "upstream": "u", "security": [{"key": []}], "rateLimits": ["two-per-minute"]},
            {"name": "quota-only", "match": {"path": {"exact": "/q"}}, "upstream": "u", "security": [{"key": []}]},
            {"name": "anonymous", "match": {"path": {"exact": "/a"}}, "upstream": "u", "rateLimits": ["two-per-minute", "per-ip"]}
        ]
    }))
}

async fn identity(enforcer: &gatectl_enforce::Enforcer, route: &str, key: &str) -> Identity {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().unwrap());
    enforcer.authenticate(route, &headers, &uri("/")).await.unwrap()
}

#[tokio::test]
async fn rate_limit_headers_count_down() {
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = enforcer(&limit_spec(&key, "http://127.0.0.1:9/unused"), clock.clone()).await;
    let identity = identity(&enforcer, "limited", &key).await;

    let mut resets = Vec::new();
    for request in 1..=4 {
        let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
        assert_eq!(header(&decision, "x-ratelimit-limit"), "2", "request {request}");
        let remaining: u64 = header(&decision, "x-ratelimit-remaining").parse().unwrap();
        let reset: u64 = header(&decision, "x-ratelimit-reset").parse().unwrap();
        assert_eq!(header(&decision, "ratelimit-policy"), "\"two-per-minute\";q=2;w=60");
        assert_eq!(header(&decision, "ratelimit"), format!("\"two-per-minute\";r={remaining};t={reset}"));
        match request {
            1 | 2 => {
                assert!(decision.is_allowed(), "request {request}");
                assert_eq!(remaining, 2 - request, "request {request}");
                assert!(decision.headers.get("retry-after").is_none());
            }
            _ => {
                let rejection = decision.rejection.as_ref().expect("rejected");
                assert_eq!(rejection.kind, ProblemKind::RateLimited);
                assert_eq!(rejection.status(), http::StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(remaining, 0);
                assert_eq!(header(&decision, "retry-after"), reset.to_string());
                assert_eq!(rejection.response_headers().get("retry-after").unwrap(), &reset.to_string());
            }
        }
        resets.push(reset);
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(resets, vec![60, 59, 58, 57], "reset counts down from the window and never rises");

    clock.advance(Duration::from_secs(57));
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed(), "capacity back after reset");
}

#[tokio::test]
async fn anonymous_limits_use_client_ip_and_most_restrictive() {
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = enforcer(&limit_spec(&api_key::generate(), "http://127.0.0.1:9/unused"), clock.clone()).await;
    let identity = enforcer.authenticate("anonymous", &HeaderMap::new(), &uri("/a")).await.unwrap();
    let first = enforcer.check_limits("anonymous", &identity, CLIENT_IP).await;
    assert!(first.is_allowed());
    assert_eq!(header(&first, "x-ratelimit-limit"), "1", "per-ip limit has fewer left");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "0");
    let second = enforcer.check_limits("anonymous", &identity, CLIENT_IP).await;
    assert!(!second.is_allowed());
    assert_eq!(header(&second, "x-ratelimit-reset"), "10");
    let other_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    assert!(enforcer.check_limits("anonymous", &identity, other_ip).await.is_allowed());
}

/// The quota's `RateLimit-Policy` names the period's length as its window, while `RateLimit`
/// and `X-RateLimit-Reset` count down to the period's end.
#[tokio::test]
async fn quota_policy_window_is_the_period() {
    let webhook = TestServer::start(Canned { status: 204, headers: Vec::new(), body: String::new() }).await;
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::new(1_796_126_400_000)); // 2026-12-01T12:00:00Z
    let enforcer = enforcer(&limit_spec(&key, &webhook.url("/hook")), clock.clone()).await;
    let identity = identity(&enforcer, "quota-only", &key).await;

    let decision = enforcer.check_limits("quota-only", &identity, CLIENT_IP).await;

    assert_eq!(header(&decision, "ratelimit-policy"), "\"quota-day\";q=5;w=86400");
    assert_eq!(header(&decision, "x-ratelimit-reset"), "43200");
}

#[tokio::test]
async fn quota_exhaustion_notifies_webhook_once_per_threshold() {
    let webhook = TestServer::start(Canned { status: 204, headers: Vec::new(), body: String::new() }).await;
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::new(1_796_083_200_000)); // 2026-12-01T00:00:00Z
    let enforcer = enforcer(&limit_spec(&key, &webhook.url("/hook")), clock.clone()).await;
    let identity = identity(&enforcer, "quota-only", &key).await;

    for request in 1..=5 {
        assert!(enforcer.check_limits("quota-only", &identity, CLIENT_IP).await.is_allowed(), "request {request}");
    }
    let rejected = enforcer.check_limits("quota-only", &identity, CLIENT_IP).await;
    let rejection = rejected.rejection.expect("quota used up");
    assert_eq!(rejection.kind, ProblemKind::QuotaExceeded);
    assert_eq!(rejection.headers.get("retry-after").unwrap(), "86400");

    let usage = enforcer.quota_usage("acme", Some("free")).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].used, usage[0].limit, usage[0].window.as_str()), (5, 5, "2026-12-01"));

    for _ in 0..100 {
        if webhook.request_count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bodies: Vec<Value> =
        webhook.requests.lock().unwrap().iter().map(|request| serde_json::from_slice(&request.body).unwrap()).collect();
    assert_eq!(bodies.len(), 2, "one notification per threshold: {bodies:?}");
    assert_eq!(bodies[0]["threshold"], 80);
    assert_eq!(bodies[0]["used"], 4);
    assert_eq!(bodies[1]["threshold"], 100);
    assert_eq!(bodies[1]["consumer"], "acme");
    assert_eq!(bodies[1]["window"], "2026-12-01");
    assert!(webhook.requests.lock().unwrap().iter().all(|request| request.method == "POST"));

    // The next UTC day starts a new quota window.
    clock.advance(Duration::from_secs(86_400));
    assert!(enforcer.check_limits("quota-only", &identity, CLIENT_IP).await.is_allowed());
}

/// Only a public route without rate limits skips the enforcer, and the identity it gets is
/// the one authentication gives on such a route.
#[tokio::test]
async fn open_route_is_public_and_unlimited() {
    let clock = Arc::new(ManualClock::starting_now());
    let mut spec = limit_spec(&api_key::generate(), "http://127.0.0.1:9/unused");
    // A copy of the public route `anonymous`, without its rate limits.
    spec.routes.push(spec.routes[2].clone());
    spec.routes[3].name = "open".to_owned();
    spec.routes[3].rate_limits.clear();
    let enforcer = enforcer(&spec, clock).await;

    assert!(enforcer.is_open("open"));
    assert!(!enforcer.is_open("anonymous"), "a public route with rate limits counts its requests");
    assert!(!enforcer.is_open("limited"), "a route with security needs credentials");
    assert!(!enforcer.is_open("quota-only"), "a route with security needs credentials");
    assert!(!enforcer.is_open("unknown"));

    let authenticated = enforcer.authenticate("open", &HeaderMap::new(), &uri("/o")).await.unwrap();
    let anonymous = enforcer.anonymous();
    assert!(anonymous.consumer.is_none());
    assert_eq!(anonymous.strip_headers, authenticated.strip_headers);
    assert!(!anonymous.strip_headers.is_empty(), "the consumer headers are stripped from every request");
    assert!(enforcer.check_limits("open", &anonymous, CLIENT_IP).await.headers.is_empty());
}
