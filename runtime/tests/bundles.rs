//! The admin bundle endpoints against a real runtime and real upstreams on 127.0.0.1: uploads
//! that must be rejected while the old configuration keeps serving, swaps under load, the
//! history, rollback, the state directory and the traffic section of `/status`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatectl_runtime::admin::bundles::BundleOptions;
use gatectl_runtime::{RunningRuntime, Runtime, RuntimeOptions};
use gatectl_spec::bundle::{self, BundleMetadata, SignerKey, TrustedKeys};
use support::{ADMIN_TOKEN, Upstream, client, closed_port, parse_spec, raw_exchange};

/// Returns a spec that sends `/svc` to an upstream at `port`, plus `extra` routes `/r{n}` to
/// the same upstream.
fn spec_yaml(port: u16, extra: usize) -> String {
    let mut text = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: svc\n    match: {{path: {{prefix: /svc}}}}\n    upstream: app\n"
    );
    for number in 0..extra {
        text.push_str(&format!("  - name: r{number}\n    match: {{path: {{prefix: /r{number}/}}}}\n    upstream: app\n"));
    }
    text
}

fn signer(key_id: &str) -> SignerKey {
    SignerKey::generate(Some(key_id.to_owned())).unwrap()
}

fn trusted(signer: &SignerKey) -> TrustedKeys {
    let mut keys = TrustedKeys::new();
    keys.insert(signer.key_id().to_owned(), signer.verifying_key(), "test".into()).unwrap();
    keys
}

/// Builds and signs a bundle of `spec_text` with `version`.
fn bundle_bytes(spec_text: &str, version: u64, signer: &SignerKey) -> Vec<u8> {
    let metadata = BundleMetadata { version, parent: None, created_at: "2026-12-04T20:00:00Z".to_owned(), source_commit: None };
    bundle::build(&parse_spec(spec_text), metadata, signer).unwrap().to_bytes()
}

fn options(keys: &TrustedKeys, state_dir: Option<&Path>) -> RuntimeOptions {
    RuntimeOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
        drain_timeout: Duration::from_secs(5),
        bundles: BundleOptions {
            trusted_keys: Some(keys.clone()),
            state_dir: state_dir.map(Path::to_path_buf),
            ..BundleOptions::default()
        },
        ..RuntimeOptions::default()
    }
}

struct Admin {
    base: String,
    client: reqwest::Client,
}

impl Admin {
    fn of(runtime: &RunningRuntime) -> Self {
        Self { base: format!("http://{}", runtime.admin_address().unwrap()), client: client() }
    }

    async fn upload(&self, bytes: Vec<u8>) -> (u16, serde_json::Value) {
        let response = self.client.post(format!("{}/bundles", self.base)).bearer_auth(ADMIN_TOKEN).body(bytes).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn activate(&self, hash: &str) -> (u16, serde_json::Value) {
        let response = self.client.post(format!("{}/bundles/{hash}/activate", self.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// Sends `GET /svc` through the proxy and returns the status and the name of the upstream
/// that responded.
async fn proxied(runtime: &RunningRuntime) -> (u16, String) {
    let response = client().get(format!("http://{}/svc", runtime.proxy_addresses()[0])).send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["server"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn invalid_uploads_keep_old_config_serving() {
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let admin = Admin::of(&runtime);
    let good = bundle_bytes(&spec_yaml(blue.port(), 0), 2, &release);
    let (status, body) = admin.upload(good.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(proxied(&runtime).await, (200, "blue".to_owned()));

    let green_spec = spec_yaml(green.port(), 0);
    let green_bundle = String::from_utf8(bundle_bytes(&green_spec, 3, &release)).unwrap();
    let tampered = green_bundle.replacen(&green.port().to_string(), &blue.port().to_string(), 1).into_bytes();
    // Same key id, different key: the signature does not verify.
    let wrong_key = bundle_bytes(&green_spec, 3, &signer("release"));
    let truncated = green_bundle.as_bytes()[..green_bundle.len() / 2].to_vec();
    let older = bundle_bytes(&green_spec, 1, &release);
    let invalid = bundle_bytes(&green_spec.replace("upstream: app", "upstream: missing"), 3, &release);
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("tampered", tampered, 422),
        ("wrong key", wrong_key, 422),
        ("truncated", truncated, 400),
        ("older", older, 409),
        ("invalid", invalid, 422),
    ];

    for (name, bytes, expected) in cases {
        let (status, body) = admin.upload(bytes).await;

        assert_eq!(status, expected, "{name}: {body}");
        assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{name}: {body}");
        assert_eq!(proxied(&runtime).await, (200, "blue".to_owned()), "{name}");
        let (_, status_body) = admin.get("/status").await;
        assert_eq!(status_body["version"], 2, "{name}");
    }
    let (_, active) = admin.get("/bundles").await;
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
}

#[tokio::test]
async fn invalid_content_returns_diagnostics() {
    let blue = Upstream::start("blue").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let admin = Admin::of(&runtime);
    let invalid = bundle_bytes(&spec_yaml(blue.port(), 0).replace("upstream: app", "upstream: missing"), 1, &release);

    let (status, body) = admin.upload(invalid).await;

    assert_eq!(status, 422, "{body}");
    let diagnostics = body["diagnostics"].as_array().unwrap_or_else(|| panic!("no diagnostics: {body}"));
    assert!(!diagnostics.is_empty(), "{body}");
    assert!(diagnostics.iter().all(|diagnostic| diagnostic["rule"].is_string() && diagnostic["message"].is_string()), "{body}");
    assert!(diagnostics.iter().any(|diagnostic| diagnostic["message"].as_str().unwrap().contains("missing")), "{body}");
    assert_eq!(admin.get("/bundles/active").await.0, 404);
}

#[tokio::test]
async fn fifty_swaps_under_load_lose_no_request() {
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;
    let release = signer("release");
    let runtime = Arc::new(Runtime::start(options(&trusted(&release), None)).await.unwrap());
    let admin = Admin::of(&runtime);
    assert_eq!(admin.upload(bundle_bytes(&spec_yaml(blue.port(), 0), 1, &release)).await.0, 201);
    let bundles: Vec<Vec<u8>> = (2..=51)
        .map(|version| {
            let port = if version % 2 == 0 { green.port() } else { blue.port() };
            bundle_bytes(&spec_yaml(port, 0), version, &release)
        })
        .collect();

    let failures = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let runtime = runtime.clone();
        let failures = failures.clone();
        clients.push(tokio::spawn(async move {
            for _ in 0..150 {
                let (status, _) = proxied(&runtime).await;
                if status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for bytes in bundles {
        let (status, body) = admin.upload(bytes).await;
        assert_eq!(status, 201, "{body}");
    }
    for task in clients {
        task.await.unwrap();
    }

    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert_eq!(admin.get("/status").await.1["version"], 51);
    assert!(blue.request_count() > 0);
    assert!(green.request_count() > 0);
}

#[tokio::test]
async fn restart_resumes_bundle_from_state_dir() {
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;
    let release = signer("release");
    let keys = trusted(&release);
    let state = tempfile::tempdir().unwrap();
    let first = Runtime::start(options(&keys, Some(state.path()))).await.unwrap();
    let admin = Admin::of(&first);
    let blue_bundle = bundle_bytes(&spec_yaml(blue.port(), 0), 1, &release);
    let (_, blue_activation) = admin.upload(blue_bundle.clone()).await;
    assert_eq!(admin.upload(bundle_bytes(&spec_yaml(green.port(), 0), 2, &release)).await.0, 201);
    let (status, body) = admin.activate(blue_activation["hash"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    first.shutdown().await;

    let second = Runtime::start(options(&keys, Some(state.path()))).await.unwrap();
    let admin = Admin::of(&second);

    assert_eq!(proxied(&second).await, (200, "blue".to_owned()));
    let (_, status_body) = admin.get("/status").await;
    assert_eq!(status_body["version"], 1, "{status_body}");
    let active = client().get(format!("{}/bundles/active", admin.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(active.bytes().await.unwrap().to_vec(), blue_bundle);
    let (_, history) = admin.get("/bundles").await;
    let versions: Vec<u64> = history.as_array().unwrap().iter().map(|entry| entry["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, vec![2, 1]);
}

/// A restart while a dependency of the active bundle is down (here its JWKS endpoint) starts
/// with no bundle and reports none as active. It does not fall back to an older bundle, which
/// may be less strict, and it rejects an older upload meanwhile. It activates the bundle once
/// the dependency is back.
#[tokio::test]
async fn failed_resume_retried_later() {
    let blue = Upstream::start("blue").await;
    let green = Upstream::start("green").await;
    let release = signer("release");
    let keys = trusted(&release);
    let state = tempfile::tempdir().unwrap();
    let jwks_port = closed_port().await;
    let jwks = serde_json::json!({"keys": [support::enforce::RsaKey::generate("k").jwk()]});
    let with_jwks = format!(
        "{}authProviders:\n  - name: bearer\n    jwt: {{jwks: {{url: \"http://127.0.0.1:{jwks_port}/jwks.json\"}}}}\n",
        spec_yaml(green.port(), 0)
    );
    let older = bundle_bytes(&spec_yaml(blue.port(), 0), 1, &release);
    let jwks_server = support::enforce::serve_json_at(jwks_port, jwks.clone()).await;
    let first = Runtime::start(options(&keys, Some(state.path()))).await.unwrap();
    assert_eq!(Admin::of(&first).upload(older.clone()).await.0, 201);
    let (status, body) = Admin::of(&first).upload(bundle_bytes(&with_jwks, 2, &release)).await;
    assert_eq!(status, 201, "{body}");
    first.shutdown().await;
    jwks_server.abort();

    let second = Runtime::start(options(&keys, Some(state.path()))).await.unwrap();
    let admin = Admin::of(&second);
    assert_eq!(proxied(&second).await.0, 404, "neither the bundle to resume nor the older one is active");
    let (_, status_body) = admin.get("/status").await;
    assert!(status_body["version"].is_null(), "no bundle is active: {status_body}");
    let (_, history) = admin.get("/bundles").await;
    assert!(history.as_array().unwrap().iter().all(|entry| entry["active"] == false), "{history}");
    let (status, body) = admin.upload(older).await;
    assert_eq!(status, 409, "an older upload must not replace the bundle being resumed: {body}");

    let _jwks_server = support::enforce::serve_json_at(jwks_port, jwks).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxied(&second).await != (200, "green".to_owned()) {
        assert!(Instant::now() < deadline, "the stored bundle was not activated after the JWKS endpoint came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, status_body) = admin.get("/status").await;
    assert_eq!(status_body["version"], 2, "{status_body}");
}

/// A wrong Redis password stops the start, also when a stored bundle rather than a spec would
/// be activated: waiting would not fix it.
#[tokio::test]
async fn wrong_redis_password_stops_the_start() {
    let redis = support::enforce::RedisServer::start_with(&["--requirepass", "right-password"]);
    let release = signer("release");
    let state = tempfile::tempdir().unwrap();
    let mut options = options(&trusted(&release), Some(state.path()));
    options.redis_url = Some(redis.url().replace("redis://", "redis://:wrong-password@"));

    let error = Runtime::start(options).await.err().expect("the start must fail");

    assert!(error.to_string().contains("check the password"), "{error}");
}

#[tokio::test]
async fn stalled_upload_gets_408() {
    let signer = signer("ci");
    let mut options = options(&trusted(&signer), None);
    options.bundles.upload_stall_timeout = Duration::from_millis(300);
    let runtime = Runtime::start(options).await.unwrap();
    let head = format!("POST /bundles HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 1000\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&[b'x'; 100]);

    // The client sends 100 of its 1,000 bytes and then waits, reading until the connection closes.
    let response = raw_exchange(runtime.admin_address().unwrap(), &request).await;

    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(response.contains("after 100 bytes"), "{response}");
}

/// An upload whose `Content-Length` is over the limit gets 413 before its body is read. The
/// stall timeout is long here, so a 413 that waited for the body would fail the test.
#[tokio::test]
async fn declared_oversized_upload_gets_413_at_once() {
    let signer = signer("ci");
    let runtime = Runtime::start(options(&trusted(&signer), None)).await.unwrap();
    let head =
        format!("POST /bundles HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 99999999999\r\n\r\nx");

    let exchange = raw_exchange(runtime.admin_address().unwrap(), head.as_bytes());
    let response = tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("no response before the body arrived");

    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
}

#[tokio::test]
async fn admin_closes_connections_without_a_head() {
    let signer = signer("ci");
    let mut options = options(&trusted(&signer), None);
    options.admin_header_timeout = Duration::from_millis(300);
    let runtime = Runtime::start(options).await.unwrap();
    let address = runtime.admin_address().unwrap();

    for sent in [&b""[..], b"POST /bundles HTTP/1.1\r\nHost: a\r\n", b"GET /status HTTP/1.1\r\nAuthoriz"] {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, sent).await.unwrap();
        let mut received = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received)).await;

        assert!(closed.is_ok(), "the admin listener kept a connection open after {:?}", String::from_utf8_lossy(sent));
    }
    // HTTP/2 is not served: its streams could hold their headers open past any head timer.
    let response = raw_exchange(address, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await;
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 "), "an HTTP/2 response: {response:?}");
}

#[tokio::test]
async fn rollback_needs_bundle_in_history() {
    let blue = Upstream::start("blue").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let admin = Admin::of(&runtime);
    assert_eq!(admin.upload(bundle_bytes(&spec_yaml(blue.port(), 0), 1, &release)).await.0, 201);

    let unknown = format!("sha256:{}", "0".repeat(64));
    let (status, body) = admin.activate(&unknown).await;

    assert_eq!(status, 404, "{body}");
    assert_eq!(proxied(&runtime).await, (200, "blue".to_owned()));
}

#[tokio::test]
async fn admin_rejects_missing_or_wrong_token() {
    let blue = Upstream::start("blue").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let base = format!("http://{}", runtime.admin_address().unwrap());
    let bytes = bundle_bytes(&spec_yaml(blue.port(), 0), 1, &release);

    for token in [None, Some("wrong-token")] {
        for (method, path) in [("GET", "/bundles"), ("GET", "/bundles/active"), ("POST", "/bundles"), ("GET", "/status")] {
            let mut request = client().request(method.parse().unwrap(), format!("{base}{path}")).body(bytes.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();

            assert_eq!(response.status().as_u16(), 401, "{method} {path} with {token:?}");
        }
    }
    let health = client().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "liveness needs no token");
    assert_eq!(proxied(&runtime).await.0, 404);
}

#[tokio::test]
async fn status_traffic_counts_server_errors() {
    let blue = Upstream::start("blue").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let admin = Admin::of(&runtime);
    let dead = closed_port().await;
    let text = format!(
        "{}  - name: dead\n    match: {{path: {{prefix: /dead}}}}\n    upstream: gone\n",
        spec_yaml(blue.port(), 0)
            .replace("routes:\n", &format!("  - name: gone\n    targets: [{{host: 127.0.0.1, port: {dead}}}]\nroutes:\n"))
    );
    assert_eq!(admin.upload(bundle_bytes(&text, 1, &release)).await.0, 201);

    for _ in 0..3 {
        assert_eq!(proxied(&runtime).await.0, 200);
    }
    for _ in 0..2 {
        let response = client().get(format!("http://{}/dead", runtime.proxy_addresses()[0])).send().await.unwrap();
        assert!(response.status().is_server_error());
    }

    let (_, status) = admin.get("/status").await;
    let traffic = &status["traffic"];
    assert_eq!(traffic["windowSeconds"], 60, "{status}");
    assert_eq!(traffic["requests"], 5, "{status}");
    assert_eq!(traffic["errors"], 2, "{status}");
    assert!((traffic["errorRate"].as_f64().unwrap() - 0.4).abs() < 1e-9, "{status}");
}

/// Prints how long the upload of a 10,000-route bundle takes, from the request to the swap.
/// Run in release mode: `cargo test --release -p gatectl-runtime --test bundles -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for release builds, not a check"]
async fn activation_time_of_ten_thousand_routes() {
    let blue = Upstream::start("blue").await;
    let release = signer("release");
    let runtime = Runtime::start(options(&trusted(&release), None)).await.unwrap();
    let admin = Admin::of(&runtime);
    let bytes = bundle_bytes(&spec_yaml(blue.port(), 9_999), 1, &release);

    let started = Instant::now();
    let (status, body) = admin.upload(bytes.clone()).await;
    let elapsed = started.elapsed();

    assert_eq!(status, 201, "{body}");
    println!("activation of a 10,000-route bundle ({} bytes): {} ms", bytes.len(), elapsed.as_millis());
}
