//! The Redis counter store against a real `redis-server` on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gatectl_enforce::{Enforcer, EnforcerOptions, Identity, ManualClock, ProblemKind};
use gatectl_spec::api_key;
use http::HeaderMap;
use serde_json::json;

fn spec(key: &str, failure_mode: &str) -> gatectl_spec::Spec {
    spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "settings": {"rateLimiting": {"failureMode": failure_mode}},
        "authProviders": [{"name": "key", "apiKey": {"in": "header", "name": "X-API-Key"}}],
        "rateLimitPolicies": [{"name": "three-per-minute", "limits": [{"requests": 3, "window": "60s"}]}],
        "consumers": [{"id": "acme", "credentials": {"apiKeys": [{"hash": api_key::hash(key)}]}}],
        "routes": [{"name": "limited", "match": {"path": {"exact": "/l"}}, "upstream": "u", "security": [{"key": []}], "rateLimits": ["three-per-minute"]}]
    }))
}

async fn redis_enforcer(spec: &gatectl_spec::Spec, url: &str, clock: Arc<ManualClock>) -> Enforcer {
    let options = EnforcerOptions { clock, redis_url: Some(url.to_owned()), redis_timeout: Duration::from_millis(300) };
    Enforcer::new(spec, options).await.expect("enforcer with Redis must build")
}

async fn identity(enforcer: &Enforcer, key: &str) -> Identity {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().unwrap());
    enforcer.authenticate("limited", &headers, &uri("/l")).await.unwrap()
}

#[tokio::test]
async fn two_enforcers_share_one_limit() {
    let Some(redis) = RedisServer::start() else { return };
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let spec = spec(&key, "open");
    let first = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let second = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let identity = identity(&first, &key).await;

    let remaining = |decision: &gatectl_enforce::LimitDecision| decision.headers["x-ratelimit-remaining"].to_str().unwrap().to_owned();
    let a = first.check_limits("limited", &identity, CLIENT_IP).await;
    let b = second.check_limits("limited", &identity, CLIENT_IP).await;
    let c = first.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!([remaining(&a), remaining(&b), remaining(&c)], ["2", "1", "0"]);
    let rejected = second.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(rejected.rejection.map(|rejection| rejection.kind), Some(ProblemKind::RateLimited));
    assert_eq!(rejected.headers["x-ratelimit-reset"], "60");

    clock.advance(Duration::from_secs(60));
    assert!(second.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
}

#[tokio::test]
async fn redis_down_fails_open_locally() {
    let Some(mut redis) = RedisServer::start() else { return };
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&spec(&key, "open"), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());

    redis.kill();
    // The local fallback still enforces the limit, counting from zero on this node.
    let mut allowed = Vec::new();
    for _ in 0..4 {
        allowed.push(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
    }
    assert_eq!(allowed, [true, true, true, false]);
}

#[tokio::test]
async fn redis_down_fails_closed_with_503() {
    let Some(mut redis) = RedisServer::start() else { return };
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&spec(&key, "closed"), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());

    redis.kill();
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    let rejection = decision.rejection.expect("closed mode rejects");
    assert_eq!(rejection.kind, ProblemKind::LimitStoreUnavailable);
    assert_eq!(rejection.status(), http::StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn rejected_keys_stay_off_redis_until_reset() {
    let Some(mut redis) = RedisServer::start() else { return };
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    // Closed mode: any call that reached the dead Redis would answer 503, not 429.
    let enforcer = redis_enforcer(&spec(&key, "closed"), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    for _ in 0..3 {
        assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
    }
    redis.kill();
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(decision.rejection.map(|rejection| rejection.kind), Some(ProblemKind::RateLimited));
    assert_eq!(decision.headers["retry-after"], "60");
}
