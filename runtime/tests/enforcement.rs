//! Authentication, consumers, rate limits and quotas through the proxy, over real sockets on
//! 127.0.0.1: RS256 tokens signed with keys generated at test time, API keys, and a real
//! `redis-server` for limits shared by two runtimes.

mod support;

use serde_json::{Value, json};
use support::enforce::{RedisServer, RsaKey, claims, serve_json, unsigned_token};
use support::{ADMIN_TOKEN, Gateway, Upstream, client, closed_port, parse_spec, raw_exchange, status_of};

/// A gateway with every enforcement feature configured, its upstreams and its credentials.
struct Fixture {
    gateway: Gateway,
    /// Upstream of every route except `private`.
    app: Upstream,
    /// Upstream of the `private` route.
    private: Upstream,
    key: RsaKey,
    /// The plain API key of consumer `acme`.
    api_key: String,
}

impl Fixture {
    async fn start() -> Self {
        let app = Upstream::start("app").await;
        let private = Upstream::start("private").await;
        let key = RsaKey::generate("test-key");
        let api_key = gatectl_spec::api_key::generate();
        let spec = spec(&app, &private, &key, &api_key);
        let gateway = Gateway::start(&spec.to_string()).await;
        Self { gateway, app, private, key, api_key }
    }

    /// Returns a valid token of consumer `acme` granting `scope`.
    fn token(&self, scope: &str) -> String {
        self.key.sign(&claims("user-1", scope))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token("orders:read"))
    }

    /// Sends a raw HTTP/1.1 GET with the given extra header lines and returns the response text.
    async fn raw_get(&self, path: &str, header_lines: &[String]) -> String {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
        for line in header_lines {
            request.push_str(line);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        raw_exchange(self.gateway.address, request.as_bytes()).await
    }
}

/// Builds the test spec as JSON text, which the YAML loader reads as flow style.
fn spec(app: &Upstream, private: &Upstream, key: &RsaKey, api_key: &str) -> Value {
    let target = |upstream: &Upstream| json!([{"host": "127.0.0.1", "port": upstream.port()}]);
    let route = |name: &str, prefix: &str, security: Value| json!({"name": name, "match": {"path": {"prefix": prefix}}, "upstream": "app", "security": security});
    let mut limited = route("limited", "/limited", json!([{"bearer": []}]));
    limited["rateLimits"] = json!(["two-per-minute"]);
    let mut private_route = route("private", "/private", json!([{"bearer": []}]));
    private_route["upstream"] = json!("private");
    json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "upstreams": [
            {"name": "app", "targets": target(app)},
            {"name": "private", "targets": target(private)},
        ],
        "authProviders": [
            {"name": "bearer", "jwt": {"keys": [key.static_key()], "forwardClaims": {"email": "X-User-Email"}}},
            {"name": "query-key", "apiKey": {"in": "query", "name": "api_key"}},
            {"name": "header-key", "apiKey": {"in": "header", "name": "X-API-Key"}},
        ],
        "tiers": [{"name": "gold", "quotas": [{"period": "day", "requests": 100}]}],
        "consumers": [{
            "id": "acme",
            "tier": "gold",
            "credentials": {
                "jwt": [{"provider": "bearer", "subject": "user-1"}],
                "apiKeys": [{"hash": gatectl_spec::api_key::hash(api_key)}],
            },
        }],
        "rateLimitPolicies": [{"name": "two-per-minute", "limits": [{"requests": 2, "window": "60s"}]}],
        "routes": [
            route("jwt", "/jwt", json!([{"bearer": []}])),
            route("keyed", "/keyed", json!([{"query-key": []}])),
            route("both", "/both", json!([{"bearer": [], "header-key": []}])),
            route("either", "/either", json!([{"bearer": []}, {"header-key": []}])),
            route("writes", "/writes", json!([{"bearer": ["orders:write"]}])),
            limited,
            route("info", "/info/", json!([])),
            private_route,
        ],
    })
}

/// Returns the value of a header in a raw HTTP/1.1 response, matching the name without case.
fn raw_header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (header, value) = line.split_once(':')?;
        header.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn jwt_route_without_token_gets_401() {
    let fixture = Fixture::start().await;

    let response = client().get(fixture.gateway.url("/jwt/orders")).header("x-request-id", "req-401").send().await.unwrap();

    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 401);
    assert_eq!(body["type"], "urn:gatectl:problem:missing-credentials");
    assert_eq!(body["requestId"], "req-401");
    assert_eq!(fixture.app.request_count(), 0, "the upstream must not be called");
}

#[tokio::test]
async fn jwt_route_with_token_forwards_identity() {
    let fixture = Fixture::start().await;
    let token = fixture.key.sign(&json!({"sub": "user-1", "exp": claims("", "")["exp"], "email": "dev@acme.test"}));

    let response = client()
        .get(fixture.gateway.url("/jwt/orders"))
        .bearer_auth(&token)
        .header("x-consumer-id", "spoofed")
        .header("x-consumer-tier", "platinum")
        .header("x-user-email", "spoofed@evil.test")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["x-consumer-id"], json!(["acme"]));
    assert_eq!(echo["headers"]["x-consumer-tier"], json!(["gold"]));
    assert_eq!(echo["headers"]["x-user-email"], json!(["dev@acme.test"]));
}

#[tokio::test]
async fn spoofed_consumer_header_stripped_on_public_route() {
    let fixture = Fixture::start().await;

    let response = client().get(fixture.gateway.url("/info/about")).header("x-consumer-id", "acme").send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let echo: Value = response.json().await.unwrap();
    assert!(echo["headers"].get("x-consumer-id").is_none(), "the client's copy must not reach the upstream: {echo}");
}

#[tokio::test]
async fn query_api_key_removed_before_forwarding() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url(&format!("/keyed/items?page=2&api_key={}&sort=name", fixture.api_key));

    let response = client().get(url).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let echo: Value = response.json().await.unwrap();
    let uri = echo["uri"].as_str().unwrap();
    assert_eq!(uri, "/keyed/items?page=2&sort=name");
    assert!(!uri.contains(&fixture.api_key));
    assert_eq!(echo["headers"]["x-consumer-id"], json!(["acme"]));

    let lines = fixture.gateway.access_log_lines(1).await;
    assert!(!lines[0].to_string().contains(&fixture.api_key), "the access log must not contain the key");
}

#[tokio::test]
async fn query_api_key_alone_leaves_no_query() {
    let fixture = Fixture::start().await;

    let response = client().get(fixture.gateway.url(&format!("/keyed?api_key={}", fixture.api_key))).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["uri"], "/keyed");
}

#[tokio::test]
async fn bearer_and_key_both_required() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url("/both");

    let token_only = client().get(&url).header("authorization", fixture.bearer()).send().await.unwrap();
    let key_only = client().get(&url).header("x-api-key", &fixture.api_key).send().await.unwrap();
    let both = client().get(&url).header("authorization", fixture.bearer()).header("x-api-key", &fixture.api_key).send().await.unwrap();

    assert_eq!(token_only.status().as_u16(), 401);
    assert_eq!(key_only.status().as_u16(), 401);
    assert_eq!(both.status().as_u16(), 200);
    assert_eq!(fixture.app.request_count(), 1);
}

#[tokio::test]
async fn bearer_or_key_either_accepted() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url("/either");

    let token_only = client().get(&url).header("authorization", fixture.bearer()).send().await.unwrap();
    let key_only = client().get(&url).header("x-api-key", &fixture.api_key).send().await.unwrap();
    let neither = client().get(&url).send().await.unwrap();
    let wrong_key = client().get(&url).header("x-api-key", "not-a-key").send().await.unwrap();

    assert_eq!(token_only.status().as_u16(), 200);
    assert_eq!(key_only.status().as_u16(), 200);
    assert_eq!(neither.status().as_u16(), 401);
    assert_eq!(wrong_key.status().as_u16(), 401);
    assert_eq!(fixture.app.request_count(), 2);
}

#[tokio::test]
async fn missing_scope_gets_403() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url("/writes/orders");

    let reader = client().get(&url).bearer_auth(fixture.token("orders:read")).send().await.unwrap();
    let writer = client().get(&url).bearer_auth(fixture.token("orders:read orders:write")).send().await.unwrap();

    assert_eq!(reader.status().as_u16(), 403);
    let challenge = reader.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("orders:write"), "{challenge}");
    let body: Value = reader.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatectl:problem:insufficient-scope");
    assert_eq!(writer.status().as_u16(), 200);
    assert_eq!(fixture.app.request_count(), 1);
}

#[tokio::test]
async fn rate_limit_third_request_gets_429() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url("/limited");
    let bearer = fixture.bearer();

    let mut responses = Vec::new();
    for _ in 0..3 {
        responses.push(client().get(&url).header("authorization", &bearer).send().await.unwrap());
    }

    let statuses: Vec<u16> = responses.iter().map(|response| response.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let header = |index: usize, name: &str| responses[index].headers().get(name).map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(header(0, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(0, "x-ratelimit-remaining").as_deref(), Some("1"));
    assert_eq!(header(1, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header(2, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(2, "x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header(2, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset), "reset {reset} must be seconds left in the window");
    assert_eq!(header(2, "retry-after"), Some(reset.to_string()));
    assert!(header(0, "ratelimit").is_some());
    assert!(header(2, "ratelimit").unwrap().contains("r=0"));
    assert!(header(2, "ratelimit-policy").unwrap().contains("q=2"));
    assert!(header(0, "retry-after").is_none());
    assert_eq!(fixture.app.request_count(), 2, "the upstream must not be called on 429");

    let rejected = responses.pop().unwrap();
    assert_eq!(rejected.headers()["content-type"], "application/problem+json");
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatectl:problem:rate-limited");
    assert!(body["requestId"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn consumer_in_access_log_and_metrics() {
    let fixture = Fixture::start().await;
    let url = fixture.gateway.url("/limited");
    let bearer = fixture.bearer();
    for _ in 0..3 {
        client().get(&url).header("authorization", &bearer).send().await.unwrap().bytes().await.unwrap();
    }
    client().get(fixture.gateway.url("/info/x")).send().await.unwrap().bytes().await.unwrap();

    let lines = fixture.gateway.access_log_lines(4).await;
    let limited: Vec<&Value> = lines.iter().filter(|line| line["route"] == "limited").collect();
    assert_eq!(limited.len(), 3);
    for line in &limited {
        assert_eq!(line["consumer"], "acme");
    }
    let statuses: Vec<&Value> = limited.iter().map(|line| &line["status"]).collect();
    assert!(statuses.contains(&&json!(429)));
    let anonymous = lines.iter().find(|line| line["route"] == "info").unwrap();
    assert_eq!(anonymous["consumer"], "");

    let metrics = client().get(fixture.gateway.admin_url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    let count = |status_class: &str| {
        let labels = format!("route=\"limited\",consumer=\"acme\",status_class=\"{status_class}\"");
        metrics.lines().find(|line| line.starts_with("gatectl_requests_total") && line.contains(&labels)).map(|line| line.to_owned())
    };
    assert!(count("2xx").is_some_and(|line| line.ends_with(" 2")), "{metrics}");
    assert!(count("4xx").is_some_and(|line| line.ends_with(" 1")), "{metrics}");
}

#[tokio::test]
async fn quotas_endpoint_reports_use() {
    let fixture = Fixture::start().await;
    for _ in 0..3 {
        let response = client().get(fixture.gateway.url("/jwt")).header("authorization", fixture.bearer()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    let admin = |path: &str| client().get(fixture.gateway.admin_url(path)).bearer_auth(ADMIN_TOKEN);
    let response = admin("/quotas/acme").send().await.unwrap();
    let unknown = admin("/quotas/nobody").send().await.unwrap();
    let without_token = client().get(fixture.gateway.admin_url("/quotas/acme")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["consumer"], "acme");
    assert_eq!(body["tier"], "gold");
    let quota = &body["quotas"][0];
    assert_eq!(quota["period"], "day");
    assert_eq!(quota["used"], 3);
    assert_eq!(quota["limit"], 100);
    assert_eq!(quota["remaining"], 97);
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(without_token.status().as_u16(), 401);
}

#[tokio::test]
async fn redis_limit_shared_by_two_runtimes() {
    let redis = RedisServer::start();
    let app = Upstream::start("app").await;
    let private = Upstream::start("private").await;
    let key = RsaKey::generate("shared-key");
    let spec = spec(&app, &private, &key, &gatectl_spec::api_key::generate()).to_string();
    let with_redis = |options: &mut gatectl_runtime::RuntimeOptions| options.redis_url = Some(redis.url());
    let first = Gateway::start_with(&spec, with_redis).await;
    let second = Gateway::start_with(&spec, with_redis).await;
    let bearer = format!("Bearer {}", key.sign(&claims("user-1", "")));

    let mut statuses = Vec::new();
    for gateway in [&first, &second, &first, &second] {
        let response = client().get(gateway.url("/limited")).header("authorization", &bearer).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }

    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(app.request_count(), 2);
}

/// Reads a counter of `INFO stats` over a raw connection that stays open, so that reading it
/// opens no connection of its own.
async fn redis_stat(connection: &mut tokio::net::TcpStream, name: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    connection.write_all(b"INFO stats\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut buffer = [0_u8; 4096];
    // The reply is a bulk string whose last line ends with CRLF twice (its own and the bulk's).
    while !reply.ends_with(b"\r\n\r\n") {
        let read = connection.read(&mut buffer).await.unwrap();
        assert!(read > 0, "Redis closed the connection");
        reply.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&reply);
    let line = text.lines().find_map(|line| line.strip_prefix(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name} in {text}"));
    line.trim().parse().unwrap()
}

/// `/status` and `/metrics` tell whether Redis responds and count the checks that the failure
/// mode decided. One connection serves every configuration the runtime activates.
#[tokio::test]
async fn admin_reports_redis_state() {
    let redis = RedisServer::start_with(&["--requirepass", "store-secret"]);
    let app = Upstream::start("app").await;
    let private = Upstream::start("private").await;
    let key = RsaKey::generate("store-key");
    let spec = spec(&app, &private, &key, &gatectl_spec::api_key::generate()).to_string();
    let url = redis.url().replace("redis://", "redis://:store-secret@");
    let gateway = Gateway::start_with(&spec, |options| options.redis_url = Some(url)).await;
    // Consumer `acme` has a daily quota, so each of its requests calls Redis.
    let bearer = format!("Bearer {}", key.sign(&claims("user-1", "")));
    let admin = |path: &str| client().get(gateway.admin_url(path)).bearer_auth(ADMIN_TOKEN).send();

    let mut watcher = tokio::net::TcpStream::connect(("127.0.0.1", redis.port)).await.unwrap();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        watcher.write_all(b"AUTH store-secret\r\n").await.unwrap();
        let mut reply = [0_u8; 5];
        watcher.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"+OK\r\n");
    }
    let connections_before = redis_stat(&mut watcher, "total_connections_received").await;
    for _ in 0..3 {
        gateway.runtime.store().activate(&parse_spec(&spec)).await.unwrap();
        let response = client().get(gateway.url("/jwt")).header("authorization", &bearer).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let connections_after = redis_stat(&mut watcher, "total_connections_received").await;
    assert_eq!(connections_after, connections_before, "activations must reuse the runtime's Redis connection");

    let status: Value = admin("/status").await.unwrap().json().await.unwrap();
    let store = &status["rateLimitStore"];
    assert_eq!(store["kind"], "redis");
    assert_eq!(store["url"], format!("redis://:***@127.0.0.1:{}/0", redis.port));
    assert_eq!(store["reachable"], true);
    assert_eq!(store["failureModeChecks"], 0);
    assert_eq!(store["lastError"], Value::Null);
    let metrics = admin("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatectl_rate_limit_store_up 1\n"), "{metrics}");
    assert!(!metrics.contains("store-secret"), "the password must not appear in the metrics");

    drop(redis);
    // `failureMode` is `open` by default, so the request is served and counted locally.
    let response = client().get(gateway.url("/jwt")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let status: Value = admin("/status").await.unwrap().json().await.unwrap();
    assert_eq!(status["rateLimitStore"]["reachable"], false);
    assert_eq!(status["rateLimitStore"]["failureModeChecks"], 1);
    assert!(status["rateLimitStore"]["lastError"].is_string(), "{status}");
    assert!(!status.to_string().contains("store-secret"), "the password must not appear in /status");
    let metrics = admin("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatectl_rate_limit_store_up 0\n"), "{metrics}");
    assert!(metrics.contains("gatectl_rate_limit_store_failure_mode_checks_total 1\n"), "{metrics}");
}

#[tokio::test]
async fn admin_reports_memory_store() {
    let fixture = Fixture::start().await;
    let admin = |path: &str| client().get(fixture.gateway.admin_url(path)).bearer_auth(ADMIN_TOKEN).send();

    let status: Value = admin("/status").await.unwrap().json().await.unwrap();
    let metrics = admin("/metrics").await.unwrap().text().await.unwrap();

    assert_eq!(status["rateLimitStore"], json!({"kind": "memory"}));
    assert!(!metrics.contains("rate_limit_store"), "{metrics}");
}

#[tokio::test]
async fn dot_segments_never_reach_private_without_token() {
    let fixture = Fixture::start().await;
    let attempts = ["/info/../private", "/info/%2e%2e/private", "/info/..%2fprivate", "/info/.%2e/private", "/info/%2E%2E/private/x"];

    for path in attempts {
        let response = fixture.raw_get(path, &[]).await;
        let status = status_of(&response);
        assert!(status == 401 || status == 400, "{path} got {status}: {response}");
    }

    assert_eq!(fixture.private.request_count(), 0, "no attempt may reach the private upstream");
    assert_eq!(fixture.app.request_count(), 0, "no attempt may reach the public upstream either");
}

#[tokio::test]
async fn dot_segments_forward_the_authorized_path() {
    let fixture = Fixture::start().await;

    let response = fixture.raw_get("/info/%2E%2E/private/x", &[format!("Authorization: {}", fixture.bearer())]).await;

    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.contains("\"server\":\"private\""), "{response}");
    assert!(response.contains("\"uri\":\"/private/x\""), "{response}");
}

#[tokio::test]
async fn authorization_scheme_matched_without_case() {
    let fixture = Fixture::start().await;
    let token = fixture.token("");

    for line in
        [format!("Authorization: Bearer {token}"), format!("authorization: bearer {token}"), format!("Authorization: BEARER {token}")]
    {
        let response = fixture.raw_get("/jwt", std::slice::from_ref(&line)).await;
        assert_eq!(status_of(&response), 200, "{line}");
    }
}

#[tokio::test]
async fn authorization_extra_spaces_accepted() {
    let fixture = Fixture::start().await;

    let response = fixture.raw_get("/jwt", &[format!("Authorization: Bearer  {}", fixture.token(""))]).await;

    assert_eq!(status_of(&response), 200, "{response}");
}

#[tokio::test]
async fn authorization_bad_forms_get_401() {
    let fixture = Fixture::start().await;
    let token = fixture.token("");
    let none_token = unsigned_token(&claims("user-1", ""));
    let cases: [(&str, Vec<String>); 4] = [
        ("scheme without token", vec!["Authorization: Bearer".to_owned()]),
        ("another scheme", vec!["Authorization: Basic eHl6".to_owned()]),
        ("two headers", vec![format!("Authorization: Bearer {token}"), format!("Authorization: Bearer {token}")]),
        ("alg none", vec![format!("Authorization: Bearer {none_token}")]),
    ];

    for (case, lines) in &cases {
        let response = fixture.raw_get("/jwt", lines).await;
        assert_eq!(status_of(&response), 401, "{case}: {response}");
        let challenge = raw_header(&response, "www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{case}: challenge {challenge:?}");
    }
    assert_eq!(fixture.app.request_count(), 0);
}

#[tokio::test]
async fn consistent_hash_uses_consumer() {
    let first = Upstream::start("first").await;
    let second = Upstream::start("second").await;
    let key = RsaKey::generate("hash-key");
    let spec = json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "upstreams": [{
            "name": "pool",
            "loadBalancing": {"algorithm": "consistent-hash", "hashOn": "consumer"},
            "targets": [{"host": "127.0.0.1", "port": first.port()}, {"host": "127.0.0.1", "port": second.port()}],
        }],
        "authProviders": [{"name": "bearer", "jwt": {"keys": [key.static_key()]}}],
        "consumers": [{"id": "acme", "credentials": {"jwt": [{"provider": "bearer", "subject": "user-1"}]}}],
        "routes": [{"name": "hashed", "match": {"path": {"prefix": "/"}}, "upstream": "pool", "security": [{"bearer": []}]}],
    });
    let gateway = Gateway::start(&spec.to_string()).await;
    let bearer = format!("Bearer {}", key.sign(&claims("user-1", "")));

    for _ in 0..8 {
        let response = client().get(gateway.url("/x")).header("authorization", &bearer).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    let counts = [first.request_count(), second.request_count()];
    assert!(counts == [8, 0] || counts == [0, 8], "one consumer must stay on one target: {counts:?}");
}

/// Builds a spec with one JWT route whose provider reads keys from `jwks_url`, or from `key`
/// directly when `jwks_url` is `None`.
fn jwks_spec(upstream: &Upstream, key: &RsaKey, jwks_url: Option<String>) -> String {
    let provider = match jwks_url {
        Some(url) => json!({"jwks": {"url": url}}),
        None => json!({"keys": [key.static_key()]}),
    };
    json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "upstreams": [{"name": "app", "targets": [{"host": "127.0.0.1", "port": upstream.port()}]}],
        "authProviders": [{"name": "bearer", "jwt": provider}],
        "routes": [{"name": "jwt", "match": {"path": {"prefix": "/jwt"}}, "upstream": "app", "security": [{"bearer": []}]}],
    })
    .to_string()
}

#[tokio::test]
async fn local_jwks_token_accepted() {
    let upstream = Upstream::start("app").await;
    let key = RsaKey::generate("jwks-key");
    let jwks = serve_json(json!({"keys": [key.jwk()]})).await;
    let gateway = Gateway::start(&jwks_spec(&upstream, &key, Some(format!("http://{jwks}/jwks.json")))).await;

    let valid = client().get(gateway.url("/jwt")).bearer_auth(key.sign(&claims("someone", ""))).send().await.unwrap();
    let other_key = RsaKey::generate("jwks-key");
    let forged = client().get(gateway.url("/jwt")).bearer_auth(other_key.sign(&claims("someone", ""))).send().await.unwrap();

    assert_eq!(valid.status().as_u16(), 200);
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(forged.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn unreachable_jwks_keeps_old_config() {
    let upstream = Upstream::start("app").await;
    let key = RsaKey::generate("static-key");
    let gateway = Gateway::start(&jwks_spec(&upstream, &key, None)).await;
    let unreachable = format!("http://127.0.0.1:{}/jwks.json", closed_port().await);

    let error = gateway.runtime.activate(&parse_spec(&jwks_spec(&upstream, &key, Some(unreachable)))).await.unwrap_err();

    let message = error.to_string();
    assert!(message.contains("JWKS"), "{message}");
    let response = client().get(gateway.url("/jwt")).bearer_auth(key.sign(&claims("someone", ""))).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "the previous configuration must keep serving");
    assert_eq!(gateway.runtime.store().current().generation, 1);
}

#[tokio::test]
async fn sticky_split_uses_consumer() {
    let first = Upstream::start("first").await;
    let second = Upstream::start("second").await;
    let key = RsaKey::generate("split-key");
    let spec = json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "settings": {"trustedProxies": ["127.0.0.1/32"]},
        "upstreams": [
            {"name": "first", "targets": [{"host": "127.0.0.1", "port": first.port()}]},
            {"name": "second", "targets": [{"host": "127.0.0.1", "port": second.port()}]},
        ],
        "authProviders": [{"name": "bearer", "jwt": {"keys": [key.static_key()]}}],
        "consumers": [{"id": "acme", "credentials": {"jwt": [{"provider": "bearer", "subject": "user-1"}]}}],
        "routes": [{
            "name": "split",
            "match": {"path": {"prefix": "/"}},
            "split": {"sticky": true, "backends": [{"upstream": "first", "weight": 50}, {"upstream": "second", "weight": 50}]},
            "security": [{"bearer": []}],
        }],
    });
    let gateway = Gateway::start(&spec.to_string()).await;
    let bearer = format!("Bearer {}", key.sign(&claims("user-1", "")));

    // Each request claims another client address, so only the consumer keeps them together.
    for index in 0..16 {
        let response = client()
            .get(gateway.url("/x"))
            .header("authorization", &bearer)
            .header("x-forwarded-for", format!("198.51.100.{index}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    let counts = [first.request_count(), second.request_count()];
    assert!(counts == [16, 0] || counts == [0, 16], "one consumer must stay on one backend: {counts:?}");
}
