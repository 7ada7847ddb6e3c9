//! Rate-limit and quota checks through `Enforcer::check_limits`, with the in-memory store and
//! with the Redis store against a `redis-server` that the benchmark starts on a free 127.0.0.1
//! port and stops at the end. Without `redis-server` the Redis group is skipped with a message.
//!
//! Cases, each on both stores:
//! - `hot_key`: one client IP against a per-IP token bucket too large to run out;
//! - `distinct_keys_10000`: the same bucket for 10,000 client IPs taken in turn;
//! - `hot_key_rejected`: one client IP whose bucket is empty, so every check is a 429. The
//!   Redis store remembers rejected counters locally until they refill, so this case shows
//!   what a rejected request costs when it does not reach Redis;
//! - `quota`: a consumer's daily quota (a separate key, window and header path), no rate limit.
//!
//! The Redis store runs with `failureMode: closed`, so a Redis error or timeout shows up as a
//! rejection, which stops the benchmark, instead of a silent fallback to local counters.
//!
//! ```sh
//! CARGO_TARGET_DIR=target/bench cargo bench -p gatectl-enforce --bench limits -- --warm-up-time 1 --measurement-time 3
//! ```

use std::cell::Cell;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use gatectl_enforce::{Enforcer, EnforcerOptions, Identity, ProblemKind, RedisLink};
use gatectl_spec::api_key;
use http::{HeaderMap, Uri};
use serde_json::json;
use tokio::runtime::Runtime;

const REDIS_SERVER: &str = "redis-server";
const DISTINCT_KEYS: usize = 10_000;
const HOT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// Builds a spec with a large per-IP limit, an exhausted per-IP limit and a tier with a large
/// daily quota, for the consumer that `api_key` belongs to.
fn spec_for(api_key: &str) -> gatectl_spec::Spec {
    let document = json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "settings": {"rateLimiting": {"failureMode": "closed"}},
        "authProviders": [{"name": "key", "apiKey": {"in": "header", "name": "X-API-Key"}}],
        "rateLimitPolicies": [
            {"name": "per-ip", "scope": "client-ip", "limits": [{"requests": 1_000_000_000_u64, "window": "1s"}]},
            {"name": "one-per-hour", "scope": "client-ip", "limits": [{"requests": 1, "window": "1h"}]}
        ],
        "tiers": [{"name": "metered", "quotas": [{"period": "day", "requests": 1_000_000_000_000_u64}]}],
        "consumers": [{"id": "acme", "tier": "metered", "credentials": {"apiKeys": [{"hash": api_key::hash(api_key)}]}}],
        "routes": [
            {"name": "rate-limited", "match": {"path": {"exact": "/r"}}, "upstream": "u", "rateLimits": ["per-ip"]},
            {"name": "exhausted", "match": {"path": {"exact": "/e"}}, "upstream": "u", "rateLimits": ["one-per-hour"]},
            {"name": "quota", "match": {"path": {"exact": "/q"}}, "upstream": "u", "security": [{"key": []}]}
        ]
    });
    serde_json::from_value(document).expect("the generated spec must deserialize")
}

/// A `redis-server` process on 127.0.0.1 without persistence, stopped when dropped.
struct RedisServer {
    port: u16,
    process: Child,
}

impl RedisServer {
    /// Starts the server and waits until it accepts connections. Returns `None` when the binary
    /// cannot be started.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let process = Command::new(REDIS_SERVER)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .inspect_err(|error| eprintln!("cannot start {REDIS_SERVER}: {error}"))
            .ok()?;
        let server = Self { port, process };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{REDIS_SERVER} did not accept connections on 127.0.0.1:{port} within five seconds");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// An enforcer and the identities its routes need.
struct Subject {
    enforcer: Enforcer,
    anonymous: Identity,
    consumer: Identity,
}

fn subject(runtime: &Runtime, redis_url: Option<String>) -> Subject {
    let key = api_key::generate();
    let spec = spec_for(&key);
    // A generous timeout, because a timeout would reject with 503 and stop the benchmark.
    runtime.block_on(async {
        let redis = match redis_url {
            Some(url) => {
                Some(RedisLink::open(&url, Duration::from_secs(2)).await.unwrap_or_else(|error| panic!("Redis must be reachable: {error}")))
            }
            None => None,
        };
        let options = EnforcerOptions { redis, ..EnforcerOptions::default() };
        let enforcer = Enforcer::new(&spec, options).await.unwrap_or_else(|error| panic!("the enforcer must build: {error}"));
        let uri = Uri::from_static("/q");
        let anonymous = enforcer.authenticate("rate-limited", &HeaderMap::new(), &uri).await.expect("the route is public");
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key.parse().expect("a generated key is a valid header value"));
        let consumer = enforcer.authenticate("quota", &headers, &uri).await.expect("the consumer's key is accepted");
        assert_eq!(consumer.consumer.as_ref().map(|consumer| consumer.id.as_str()), Some("acme"));
        Subject { enforcer, anonymous, consumer }
    })
}

fn client_ips() -> Vec<IpAddr> {
    (0..DISTINCT_KEYS).map(|index| IpAddr::V4(Ipv4Addr::new(10, 1, (index / 256) as u8, (index % 256) as u8))).collect()
}

fn bench_store(group: &mut BenchmarkGroup<'_, WallTime>, runtime: &Runtime, subject: &Subject) {
    let enforcer = &subject.enforcer;
    let anonymous = &subject.anonymous;
    let consumer = &subject.consumer;

    group.bench_function("hot_key", |bencher| {
        bencher.to_async(runtime).iter(|| async move {
            let decision = enforcer.check_limits("rate-limited", anonymous, black_box(HOT_IP)).await;
            assert!(decision.is_allowed(), "hot key rejected: {:?}", decision.rejection);
        });
    });

    let ips = client_ips();
    let ips: &[IpAddr] = &ips;
    // One position for all samples, so every key is used in turn across the whole run.
    let next = Cell::new(0usize);
    let next = &next;
    group.bench_function("distinct_keys_10000", |bencher| {
        bencher.to_async(runtime).iter(|| {
            let ip = ips[next.get() % ips.len()];
            next.set(next.get() + 1);
            async move {
                let decision = enforcer.check_limits("rate-limited", anonymous, black_box(ip)).await;
                assert!(decision.is_allowed(), "key of {ip} rejected: {:?}", decision.rejection);
            }
        });
    });

    let first = runtime.block_on(enforcer.check_limits("exhausted", anonymous, HOT_IP));
    assert!(first.is_allowed(), "the first request of the hour must pass: {:?}", first.rejection);
    group.bench_function("hot_key_rejected", |bencher| {
        bencher.to_async(runtime).iter(|| async move {
            let decision = enforcer.check_limits("exhausted", anonymous, black_box(HOT_IP)).await;
            let kind = decision.rejection.map(|rejection| rejection.kind);
            assert_eq!(kind, Some(ProblemKind::RateLimited), "an empty bucket must reject with 429");
        });
    });

    group.bench_function("quota", |bencher| {
        bencher.to_async(runtime).iter(|| async move {
            let decision = enforcer.check_limits("quota", consumer, black_box(HOT_IP)).await;
            assert!(decision.is_allowed(), "quota rejected: {:?}", decision.rejection);
            assert!(decision.headers.contains_key("ratelimit-policy"), "a quota check writes rate-limit headers");
        });
    });
}

fn limiter_checks(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime must start");

    let memory = subject(&runtime, None);
    let mut group = criterion.benchmark_group("limits_memory");
    bench_store(&mut group, &runtime, &memory);
    group.finish();

    let Some(redis) = RedisServer::start() else {
        eprintln!("skipping the limits_redis group: `{REDIS_SERVER}` cannot be started; install it with `apt-get install -y redis-server`");
        return;
    };
    let shared = subject(&runtime, Some(redis.url()));
    let mut group = criterion.benchmark_group("limits_redis");
    bench_store(&mut group, &runtime, &shared);
    group.finish();
    drop(shared);
    drop(redis);
}

criterion_group!(benches, limiter_checks);
criterion_main!(benches);
