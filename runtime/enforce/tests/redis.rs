//! The Redis counter store against a real `redis-server` on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gatectl_enforce::{Enforcer, EnforcerOptions, Identity, ManualClock, ProblemKind, RedisLink};
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

async fn open_link(url: &str) -> RedisLink {
    RedisLink::open(url, Duration::from_millis(300)).await.expect("the Redis link must open")
}

async fn redis_enforcer(spec: &gatectl_spec::Spec, url: &str, clock: Arc<ManualClock>) -> Enforcer {
    let options = EnforcerOptions { clock, redis: Some(open_link(url).await) };
    Enforcer::new(spec, options).await.expect("enforcer with Redis must build")
}

async fn identity(enforcer: &Enforcer, key: &str) -> Identity {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().unwrap());
    enforcer.authenticate("limited", &headers, &uri("/l")).await.unwrap()
}

/// Builds an enforcer on a link of its own to `url`, and returns both with the identity of the
/// consumer of `key`.
async fn linked_enforcer(url: &str, key: &str, failure_mode: &str, timeout: Duration) -> (RedisLink, Enforcer, Identity) {
    let link = RedisLink::open(url, timeout).await.expect("the Redis link must open");
    let options = EnforcerOptions { clock: Arc::new(ManualClock::starting_now()), redis: Some(link.clone()) };
    let enforcer = Enforcer::new(&spec(key, failure_mode), options).await.expect("enforcer with Redis must build");
    let identity = identity(&enforcer, key).await;
    (link, enforcer, identity)
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

/// A wrong password is a setting to fix, not an outage, so the link does not open.
#[tokio::test]
async fn wrong_redis_password_fails_the_open() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A user that may run PING but no script, and one that may run scripts but not write, lack
    // permissions the store needs.
    let _redis = RedisServer::start_with(
        port,
        &[
            "--requirepass",
            "right-password",
            "--user",
            "ping-only",
            "on",
            ">ping-password",
            "+ping",
            "--user",
            "read-only",
            "on",
            ">read-password",
            "~*",
            "+@read",
            "+ping",
            "+eval",
            "+evalsha",
            "+script|load",
            "--user",
            "own-keys",
            "on",
            ">own-password",
            "~gatectl:rl:*",
            "~gatectl:quota:*",
            "+@all",
            "--user",
            "rate-limit-keys",
            "on",
            ">rl-password",
            "~gatectl:rl:*",
            "+@all",
        ],
    );
    for url in [
        format!("redis://:wrong-password@127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}/"),
        format!("redis://ping-only:ping-password@127.0.0.1:{port}/"),
        format!("redis://read-only:read-password@127.0.0.1:{port}/"),
        format!("redis://:right-password@127.0.0.1:{port}/99"),
        // May write rate-limit counters but not quota counters.
        format!("redis://rate-limit-keys:rl-password@127.0.0.1:{port}/"),
    ] {
        let error = RedisLink::open(&url, Duration::from_millis(300)).await.expect_err("the open must fail");
        assert!(error.to_string().contains("the user's permissions and the database number"), "{url}: {error}");
        assert!(!error.to_string().contains("password@"), "the password must not appear: {error}");
    }
    let error = RedisLink::open("redis//:typo-secret@127.0.0.1:6379/0", Duration::from_millis(300)).await.expect_err("the URL is invalid");
    assert!(error.to_string().contains("is invalid"), "{error}");
    assert!(!error.to_string().contains("typo-secret"), "the password must not appear: {error}");
    // A user limited to the store's own keys has every permission the store needs.
    assert!(open_link(&format!("redis://own-keys:own-password@127.0.0.1:{port}/")).await.status().reachable);
    let link = open_link(&format!("redis://:right-password@127.0.0.1:{port}/")).await;
    assert!(link.status().reachable);
    assert_eq!(link.status().url, format!("redis://:***@127.0.0.1:{port}/"));

    // A Redis that is down is no setting to fix.
    let down = format!("redis://127.0.0.1:{}/", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    assert!(!open_link(&down).await.status().reachable);
}

/// The link's status follows Redis: checks decided by the failure mode are counted, and a
/// `PING` finds Redis back without any request.
#[tokio::test]
async fn link_status_follows_redis() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let key = api_key::generate();
    let (link, enforcer, identity) = linked_enforcer(&redis.url(), &key, "open", Duration::from_millis(300)).await;
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());
    assert_eq!(link.status().failure_mode_calls, 0);

    redis.kill();
    for _ in 0..2 {
        enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    }
    let status = link.status();
    assert!(!status.reachable);
    assert_eq!(status.failure_mode_calls, 2);

    let _redis = RedisServer::start_on(port);
    let mut reachable = false;
    for _ in 0..100 {
        link.refresh().await;
        if link.status().reachable {
            reachable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reachable, "PING did not reach Redis within 10 s of its restart");
}

/// A Redis that stops replying delays only the calls of the first moment. Later calls go to
/// the failure mode without waiting, and after a failed call one call at a time tests
/// whether Redis is back.
#[tokio::test]
async fn stalled_redis_delays_few_calls() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    // A long timeout leaves room for the steps below on a slow machine: pending calls stop
    // others from joining them after a quarter of it, 500 ms.
    let (link, enforcer, identity) = linked_enforcer(&redis.url(), &key, "open", Duration::from_secs(2)).await;
    let enforcer = Arc::new(enforcer);
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());

    redis.pause();
    let spawn_check = || {
        let (enforcer, identity) = (enforcer.clone(), identity.clone());
        tokio::spawn(async move {
            enforcer.check_limits("limited", &identity, CLIENT_IP).await;
        })
    };
    let waiting = spawn_check();
    tokio::time::sleep(Duration::from_millis(700)).await;
    for _ in 0..10 {
        spawn_check().await.unwrap();
    }
    assert!(!waiting.is_finished(), "the first call waits for its timeout");
    assert_eq!(link.status().failure_mode_calls, 10, "the later calls did not wait for Redis");

    // The first call times out and starts a suspension.
    waiting.await.unwrap();
    assert_eq!(link.status().failure_mode_calls, 11);
    assert!(!link.status().reachable);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let probe = spawn_check();
    tokio::time::sleep(Duration::from_millis(100)).await;
    spawn_check().await.unwrap();
    assert!(!probe.is_finished(), "one call at a time tests whether Redis is back");
    assert_eq!(link.status().failure_mode_calls, 12);

    // Redis replies to the waiting call once it runs again, and calls reach it from then on.
    redis.resume();
    probe.await.unwrap();
    assert!(link.status().reachable);
    enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert_eq!(link.status().failure_mode_calls, 12);
}

/// With `failureMode: closed`, a slow Redis is waited for up to the timeout: skipping its calls
/// would reject requests that it still admits.
#[tokio::test]
async fn slow_redis_is_waited_for_when_closed() {
    let redis = RedisServer::start();
    let key = api_key::generate();
    let (link, enforcer, identity) = linked_enforcer(&redis.url(), &key, "closed", Duration::from_secs(2)).await;
    let enforcer = Arc::new(enforcer);

    redis.pause();
    let spawn_check = || {
        let (enforcer, identity) = (enforcer.clone(), identity.clone());
        tokio::spawn(async move { enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed() })
    };
    let first = spawn_check();
    // Longer than a quarter of the timeout, after which `open` would count locally.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = spawn_check();
    tokio::time::sleep(Duration::from_millis(100)).await;
    redis.resume();

    assert!(first.await.unwrap());
    assert!(second.await.unwrap());
    assert_eq!(link.status().failure_mode_calls, 0);
}

/// An error that Redis returns for every call, such as a missing permission on the counters'
/// keys, stays in the status after a `PING` succeeds.
#[tokio::test]
async fn call_error_survives_successful_ping() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // May write the keys of the start check, and no counter.
    let _redis = RedisServer::start_with(
        port,
        &["--user", "check-only", "on", ">check-password", "~gatectl:rl:settings-check", "~gatectl:quota:settings-check", "+@all"],
    );
    let key = api_key::generate();
    let url = format!("redis://check-only:check-password@127.0.0.1:{port}/");
    let (link, enforcer, identity) = linked_enforcer(&url, &key, "open", Duration::from_millis(300)).await;

    enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    link.refresh().await;

    let status = link.status();
    assert_eq!(status.failure_mode_calls, 1);
    assert!(status.reachable, "Redis responded, with an error");
    let last_error = status.last_error.expect("the call's error is kept");
    assert!(last_error.contains("NOPERM") || last_error.contains("permissions"), "{last_error}");
}

/// A Redis that comes back is used from the first call after the suspension: the connection
/// that failed while it was down is made again within that call.
#[tokio::test]
async fn first_call_after_restart_reaches_redis() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let key = api_key::generate();
    let (link, enforcer, identity) = linked_enforcer(&redis.url(), &key, "closed", Duration::from_millis(300)).await;
    assert!(enforcer.check_limits("limited", &identity, CLIENT_IP).await.is_allowed());

    redis.kill();
    // Calls during the outage, one per suspension, leave the connection in a failed state.
    for _ in 0..2 {
        let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
        assert_eq!(decision.rejection.map(|rejection| rejection.kind), Some(ProblemKind::LimitStoreUnavailable));
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let _redis = RedisServer::start_on(port);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let decision = enforcer.check_limits("limited", &identity, CLIENT_IP).await;
    assert!(decision.is_allowed(), "{:?}", decision.rejection.map(|rejection| rejection.kind));
    // The restarted Redis has no counter yet, so this is its first request of three.
    assert_eq!(decision.headers["x-ratelimit-remaining"], "2");
    assert!(link.status().reachable);
    assert_eq!(link.status().last_error, None);
}

/// A Redis that is down at start and then comes up with a password the gateway lacks is a
/// setting to fix: the link reports the rejection at once instead of an outage.
#[tokio::test]
async fn password_rejected_after_late_start_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let key = api_key::generate();
    let url = format!("redis://:wrong-password@127.0.0.1:{port}/");
    let (link, enforcer, identity) = linked_enforcer(&url, &key, "closed", Duration::from_millis(300)).await;

    let _redis = RedisServer::start_with(port, &["--requirepass", "right-password"]);
    let mut last_error = None;
    for _ in 0..100 {
        enforcer.check_limits("limited", &identity, CLIENT_IP).await;
        last_error = link.status().last_error;
        if last_error.as_deref().is_some_and(|error| error.contains("WRONGPASS") || error.contains("assword")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_error = last_error.expect("the link reports an error");
    assert!(last_error.contains("WRONGPASS") || last_error.contains("assword"), "{last_error}");
    assert!(link.status().reachable, "Redis responded, with a rejection");
    assert!(!last_error.contains("wrong-password"), "the password must not appear: {last_error}");
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
