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
    let redis = RedisServer::start();
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
    let mut redis = RedisServer::start();
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
    let mut redis = RedisServer::start();
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

/// A gateway starts while Redis is down: the failure mode applies at once, and the counters
/// are shared as soon as Redis accepts connections, with no restart.
#[tokio::test]
async fn redis_down_at_start_connects_later() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}/");
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&spec(&key, "closed"), &url, clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(decision.rejection.map(|rejection| rejection.kind), Some(ProblemKind::LimitStoreUnavailable));

    let _redis = RedisServer::start_on(port);
    let mut connected = false;
    for _ in 0..100 {
        if enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed() {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "the store did not connect within 10 s of Redis starting");
    // A second node reads the count of the first, because the counter is in Redis.
    let other = redis_enforcer(&spec(&key, "closed"), &url, clock.clone()).await;
    let decision = other.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(decision.headers["x-ratelimit-remaining"], "1");
}

/// A wrong password is a setting to fix, not an outage, so the enforcer is not built.
#[tokio::test]
async fn wrong_redis_password_fails_the_build() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A user that may run PING but no script has no permission the store needs.
    let _redis =
        RedisServer::start_with(port, &["--requirepass", "right-password", "--user", "ping-only", "on", ">ping-password", "+ping"]);
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    for url in [
        format!("redis://:wrong-password@127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}/"),
        format!("redis://ping-only:ping-password@127.0.0.1:{port}/"),
    ] {
        let error = gatectl_enforce::check_redis_settings(&url, Duration::from_millis(300)).await.expect_err("the check must fail");
        assert!(error.to_string().contains("password and the user's permissions"), "{error}");
        let options = EnforcerOptions { clock: clock.clone(), redis_url: Some(url.clone()), redis_timeout: Duration::from_millis(300) };
        let error = Enforcer::new(&spec(&key, "open"), options).await.err().expect("the build must fail");
        assert!(!error.to_string().contains("password@"), "the password must not appear: {error}");
    }
    let options = EnforcerOptions {
        clock,
        redis_url: Some(format!("redis://:right-password@127.0.0.1:{port}/")),
        redis_timeout: Duration::from_millis(300),
    };
    assert!(Enforcer::new(&spec(&key, "open"), options).await.is_ok());
    // A Redis that is down is no setting to fix.
    let down = format!("redis://127.0.0.1:{}/", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    assert!(gatectl_enforce::check_redis_settings(&down, Duration::from_millis(300)).await.is_ok());
}

#[tokio::test]
async fn rejected_keys_stay_off_redis_until_reset() {
    let mut redis = RedisServer::start();
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

/// Builds a spec whose route has one limit of 1,000 requests a minute, leased `lease_percent`
/// at a time.
fn leasing_spec(key: &str, lease_percent: u8) -> gatectl_spec::Spec {
    spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "settings": {"rateLimiting": {"failureMode": "closed", "leasePercent": lease_percent}},
        "authProviders": [{"name": "key", "apiKey": {"in": "header", "name": "X-API-Key"}}],
        "rateLimitPolicies": [{"name": "thousand-per-minute", "limits": [{"requests": 1000, "window": "60s"}]}],
        "consumers": [{"id": "acme", "credentials": {"apiKeys": [{"hash": api_key::hash(key)}]}}],
        "routes": [{"name": "limited", "match": {"path": {"exact": "/l"}}, "upstream": "u", "security": [{"key": []}], "rateLimits": ["thousand-per-minute"]}]
    }))
}

fn remaining_of(decision: &gatectl_enforce::LimitDecision) -> u64 {
    decision.headers["x-ratelimit-remaining"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn leased_tokens_admit_without_asking_redis() {
    let mut redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    // 10% of 1,000: the first request takes 100 tokens, one for itself and 99 for the lease.
    let enforcer = redis_enforcer(&leasing_spec(&key, 10), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    assert_eq!(remaining_of(&enforcer.check_limits("limited", &identity, CLIENT_IP).await), 999);

    // Closed mode: any request that reached the dead Redis would get 503.
    redis.kill();
    for expected in (900..999).rev() {
        let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
        assert!(decision.is_allowed(), "leased request with {expected} left must pass");
        assert_eq!(remaining_of(&decision), expected);
    }
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(decision.rejection.map(|rejection| rejection.kind), Some(ProblemKind::LimitStoreUnavailable));
}

#[tokio::test]
async fn remaining_counts_down_by_one_across_lease_renewals() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&leasing_spec(&key, 10), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    let mut seen = Vec::new();
    for _ in 0..250 {
        seen.push(remaining_of(&enforcer.check_limits("limited", &identity, CLIENT_IP).await));
    }
    assert_eq!(seen, (750..1000).rev().collect::<Vec<u64>>());
}

#[tokio::test]
async fn leases_never_let_nodes_exceed_the_limit() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let spec = leasing_spec(&key, 10);
    let first = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let second = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let identity = identity(&first, &key).await;

    let mut allowed = 0;
    for _ in 0..600 {
        for node in [&first, &second] {
            allowed += usize::from(node.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
        }
    }
    // Both nodes used up every token they leased, so together they admitted exactly the limit.
    assert_eq!(allowed, 1000);
}

#[tokio::test]
async fn unused_lease_lost_until_window_ends() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let spec = leasing_spec(&key, 10);
    let idle = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let busy = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let identity = identity(&idle, &key).await;

    // One request on the idle node leases 99 tokens that it never uses.
    assert!(idle.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
    let mut allowed = 0;
    for _ in 0..1000 {
        allowed += usize::from(busy.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
    }
    assert_eq!(allowed, 900);

    // A new window: the busy node's lease is void and Redis refilled the counter.
    clock.advance(Duration::from_secs(60));
    let decision = busy.check_limits("limited", &identity, CLIENT_IP).await;
    assert!(decision.is_allowed());
    assert_eq!(remaining_of(&decision), 999);
}

#[tokio::test]
async fn zero_lease_percent_asks_redis_for_every_request() {
    let mut redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&leasing_spec(&key, 0), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    assert_eq!(remaining_of(&enforcer.check_limits("limited", &identity, CLIENT_IP).await), 999);

    redis.kill();
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(decision.rejection.map(|rejection| rejection.kind), Some(ProblemKind::LimitStoreUnavailable));
}

#[tokio::test]
async fn concurrent_requests_renew_one_lease() {
    let mut redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = Arc::new(redis_enforcer(&leasing_spec(&key, 10), &redis.url(), clock.clone()).await);
    let identity = identity(&enforcer, &key).await;

    // Fifty requests find the lease empty at once: one leases 100 tokens, the others take one.
    assert_eq!(concurrent_admitted(&enforcer, &identity, 50).await, 50);

    redis.kill();
    assert_eq!(admitted_until_rejected(&enforcer, &identity, 1000).await, 99);
}

/// Sends `count` checks at once and returns how many were admitted.
async fn concurrent_admitted(enforcer: &Arc<Enforcer>, identity: &Identity, count: usize) -> usize {
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (enforcer, identity) = (enforcer.clone(), identity.clone());
        requests.spawn(async move { enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed() });
    }
    requests.join_all().await.into_iter().filter(|allowed| *allowed).count()
}

/// Counts the checks admitted one after another until the first rejection, failing above `limit`.
async fn admitted_until_rejected(enforcer: &Enforcer, identity: &Identity, limit: usize) -> usize {
    let mut admitted = 0;
    while enforcer.check_limits("limited", identity, CLIENT_IP).await.is_allowed() {
        admitted += 1;
        assert!(admitted <= limit, "the node admitted more than the limit");
    }
    admitted
}

#[tokio::test]
async fn rejected_single_tokens_leave_the_lease_usable() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    // 25% of 2,000: leases of 500 tokens.
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "settings": {"rateLimiting": {"failureMode": "closed", "leasePercent": 25}},
        "authProviders": [{"name": "key", "apiKey": {"in": "header", "name": "X-API-Key"}}],
        "rateLimitPolicies": [{"name": "two-thousand", "limits": [{"requests": 2000, "window": "60s"}]}],
        "consumers": [{"id": "acme", "credentials": {"apiKeys": [{"hash": api_key::hash(&key)}]}}],
        "routes": [{"name": "limited", "match": {"path": {"exact": "/l"}}, "upstream": "u", "security": [{"key": []}], "rateLimits": ["two-thousand"]}]
    }));
    let other = redis_enforcer(&spec, &redis.url(), clock.clone()).await;
    let node = Arc::new(redis_enforcer(&spec, &redis.url(), clock.clone()).await);
    let identity = identity(&node, &key).await;

    // The other node leases 1,500 tokens, so 500 are left in Redis.
    for _ in 0..3 {
        let mut drain = 500;
        while drain > 0 {
            assert!(other.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
            drain -= 1;
        }
    }
    // A burst on this node: the first request leases the last 500 tokens, and the others, sent
    // while that lease is being taken, find Redis empty and are rejected.
    assert_eq!(concurrent_admitted(&node, &identity, 20).await, 1);

    // Redis is empty, but the 499 leased tokens are still this node's to hand out.
    assert_eq!(admitted_until_rejected(&node, &identity, 2000).await, 499);
}

#[tokio::test]
async fn rejected_counter_recovers_next_window() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let clock = Arc::new(ManualClock::starting_now());
    let enforcer = redis_enforcer(&spec(&key, "closed"), &redis.url(), clock.clone()).await;
    let identity = identity(&enforcer, &key).await;
    assert_eq!(admitted_until_rejected(&enforcer, &identity, 3).await, 3);

    // Well past the end of the window that rejected it, the counter is full again.
    clock.advance(Duration::from_secs(150));
    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert!(decision.is_allowed());
    assert_eq!(remaining_of(&decision), 2);
}
