//! The live round trip of a spec that sets every field of the format. The spec is applied with
//! `gatectl apply` to a real runtime (in this process, on 127.0.0.1). Then `gatectl diff --live`
//! and `gatectl status` find no change against the same spec, and exactly one changed field
//! against a spec that differs in one field. A coverage check walks the committed JSON Schema, so
//! "every field" stays true when the format grows.

mod command_support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64_URL;
use command_support::{exit_code as code, gatectl, text};
use gatectl_runtime::admin::bundles::BundleOptions;
use gatectl_runtime::{RunningRuntime, Runtime, RuntimeOptions};
use gatectl_spec::bundle::TrustedKeys;
use serde_json::Value;

const TOKEN: &str = "live-round-trip-admin-token";
const TEMPLATE: &str = include_str!("fixtures/live/every-field.yaml");
const SCHEMA: &str = include_str!("../../schemas/gateway.v1.schema.json");
/// Inline secret of the template: a bearer token in a request header set upstream.
const HEADER_TOKEN: &str = "hdr-4f1c9e2a7b6d5c3e8f0a1b2c3d4e5f60";
/// Inline secret of the template: the token in the quota webhook's query.
const HOOK_TOKEN: &str = "hook-9a8b7c6d5e4f3a2b1c0d";
/// Content of the HMAC key file the spec refers to with `file:`.
const HMAC_SECRET: &str = "hmac-0123456789abcdef0123456789abcdef";

/// A runtime started with the every-field spec, the servers that spec points at, and the files it
/// reads.
struct Gateway {
    runtime: RunningRuntime,
    directory: tempfile::TempDir,
    /// The template with every placeholder replaced: the spec the test applies.
    spec: String,
    /// Number of requests the JWKS server received.
    jwks_fetches: Arc<AtomicUsize>,
    /// PEM of the certificate the TLS listener serves for `api.example.test`.
    api_certificate: String,
    /// Private-key PEMs that the spec refers to. No output may contain them.
    private_keys: Vec<String>,
    /// Shared rate-limit counters, so `settings.rateLimiting.failureMode` is in effect.
    _redis: RedisServer,
    /// Runs the runtime and the echo upstream. It is declared last, so it is dropped after them.
    _tokio: tokio::runtime::Runtime,
}

impl Gateway {
    fn start() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path();
        let output = gatectl(&["keygen", "--out", "keys", "--id", "release"], path);
        assert_eq!(code(&output), 0, "{}", text(&output.stderr));
        std::fs::write(path.join("token"), format!("{TOKEN}\n")).unwrap();
        let keys = TrustedKeys::from_path(&path.join("keys/release.pub.json")).unwrap();

        let api = write_certificate(path, "api", &["api.example.test", "www.example.test"]);
        let wildcard = write_certificate(path, "wildcard", &["*.example.test"]);
        let upstream_ca = write_certificate(path, "ca", &["orders.internal"]);
        std::fs::write(path.join("hmac.secret"), HMAC_SECRET).unwrap();
        let jwt_key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(path.join("jwt.pub.pem"), jwt_key.public_key_pem()).unwrap();

        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let jwks = serve_fixed_response(jwks_document(&jwt_key), jwks_fetches.clone());
        let hook = serve_fixed_response(String::new(), Arc::new(AtomicUsize::new(0)));
        let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

        let redis = RedisServer::start();
        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (spec, runtime) = tokio.block_on(async {
            let (upstream, _task) = gatectl_e2e::echo::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let spec = render(&[
                ("__DIR__", &path.display().to_string()),
                ("__JWKS__", &jwks.to_string()),
                ("__HOOK__", &hook.to_string()),
                ("__UPSTREAM_PORT__", &upstream.port().to_string()),
                ("__DEAD_PORT__", &dead_port.to_string()),
            ]);
            // Listeners, their certificates and the access log are set up at start only, so the
            // runtime starts with the spec as well. The bundle applied later carries the same spec.
            let loaded = gatectl_spec::load::load_str("every-field.yaml", &spec);
            let typed = loaded.spec.unwrap_or_else(|| panic!("the every-field spec does not load: {:#?}", loaded.diagnostics));
            let options = RuntimeOptions {
                spec: Some(typed),
                listen: vec!["127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()],
                admin_listen: Some("127.0.0.1:0".parse().unwrap()),
                admin_token: Some(TOKEN.to_owned()),
                redis_url: Some(redis.url()),
                drain_timeout: Duration::from_secs(2),
                bundles: BundleOptions { trusted_keys: Some(keys), ..BundleOptions::default() },
                ..RuntimeOptions::default()
            };
            (spec, Runtime::start(options).await.unwrap())
        });
        std::fs::write(path.join("spec.yaml"), &spec).unwrap();
        let private_keys = vec![api.1, wildcard.1, upstream_ca.1, jwt_key.serialize_pem()];
        Self { runtime, directory, spec, jwks_fetches, api_certificate: api.0, private_keys, _redis: redis, _tokio: tokio }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn admin_url(&self) -> String {
        format!("http://{}", self.runtime.admin_address().unwrap())
    }

    fn run(&self, arguments: &[&str]) -> Output {
        let mut all: Vec<&str> = arguments.to_vec();
        all.extend(["--admin-token-file", "token"]);
        gatectl(&all, self.path())
    }

    /// Writes the applied spec with `from` replaced by `to`, which must occur exactly once.
    fn write_variant(&self, file: &str, from: &str, to: &str) -> PathBuf {
        assert_eq!(self.spec.matches(from).count(), 1, "`{from}` must occur once in the spec");
        let path = self.path().join(file);
        std::fs::write(&path, self.spec.replace(from, to)).unwrap();
        path
    }

    /// Texts that must never appear in any output: the spec's inline secrets and the contents of
    /// the secret files it refers to.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![HEADER_TOKEN, HOOK_TOKEN, HMAC_SECRET, TOKEN];
        secrets.extend(self.private_keys.iter().map(|pem| pem_body(pem)));
        secrets
    }

    fn assert_no_secret(&self, output: &Output) {
        for printed in [text(&output.stdout), text(&output.stderr)] {
            for secret in self.secrets() {
                assert!(!printed.contains(secret), "a secret value appears in the output:\n{printed}");
            }
        }
    }

    /// Runs `gatectl diff --live` against `spec` in JSON and in human form.
    fn diff_live(&self, spec: &str) -> (Output, Output) {
        let url = self.admin_url();
        let json = self.run(&["diff", spec, "--live", &url, "--format", "json"]);
        let human = self.run(&["diff", spec, "--live", &url]);
        self.assert_no_secret(&json);
        self.assert_no_secret(&human);
        (json, human)
    }
}

/// A `redis-server` process on a free 127.0.0.1 port without persistence, stopped when dropped.
struct RedisServer {
    port: u16,
    process: Child,
}

impl RedisServer {
    /// Starts the server and waits until it accepts connections. Panics when it cannot start, so
    /// a machine without Redis fails the test instead of skipping it.
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new("/usr/bin/redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start /usr/bin/redis-server: {error}; install it with `apt-get install -y redis-server`")
            });
        let server = Self { port, process };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not accept connections on 127.0.0.1:{port} within five seconds");
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

/// Replaces the template's placeholders: the given ones, then the inline secrets.
fn render(values: &[(&str, &str)]) -> String {
    let mut spec = TEMPLATE.replace("__HOOK_TOKEN__", HOOK_TOKEN).replace("__HEADER_TOKEN__", HEADER_TOKEN);
    for (placeholder, value) in values {
        spec = spec.replace(placeholder, value);
    }
    let unfilled = spec.lines().find(|line| !line.trim_start().starts_with('#') && line.contains("__"));
    assert!(unfilled.is_none(), "a placeholder of the template has no value: {unfilled:?}");
    spec
}

/// Generates a self-signed certificate for `hosts` and writes `NAME.crt` and `NAME.key`.
/// Returns the certificate and key PEMs.
fn write_certificate(directory: &Path, name: &str, hosts: &[&str]) -> (String, String) {
    let names: Vec<String> = hosts.iter().map(|host| (*host).to_owned()).collect();
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names).unwrap();
    let (certificate, key) = (cert.pem(), key_pair.serialize_pem());
    std::fs::write(directory.join(format!("{name}.crt")), &certificate).unwrap();
    std::fs::write(directory.join(format!("{name}.key")), &key).unwrap();
    (certificate, key)
}

/// Returns the base64 lines of a PEM document, without its armour lines.
fn pem_body(pem: &str) -> &str {
    let start = pem.find('\n').map_or(0, |index| index + 1);
    let end = pem.rfind("-----END").unwrap_or(pem.len());
    pem[start..end].trim()
}

/// Builds a JWKS document (RFC 7517) with the public half of a P-256 key pair.
fn jwks_document(key: &rcgen::KeyPair) -> String {
    // An uncompressed P-256 point: 0x04, then the 32-byte x and y coordinates.
    let point = key.public_key_raw();
    assert_eq!(point.len(), 65, "rcgen generates P-256 key pairs by default");
    serde_json::json!({
        "keys": [{
            "kty": "EC",
            "crv": "P-256",
            "kid": "jwks-ec",
            "alg": "ES256",
            "use": "sig",
            "x": BASE64_URL.encode(&point[1..33]),
            "y": BASE64_URL.encode(&point[33..65]),
        }]
    })
    .to_string()
}

/// Serves `body` as a JSON 200 response to each request on an ephemeral 127.0.0.1 port, counting
/// requests, on a thread that lives as long as the test process.
fn serve_fixed_response(body: String, requests: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buffer = [0_u8; 1024];
            while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => head.extend_from_slice(&buffer[..read]),
                }
            }
            requests.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    address
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", text(&output.stdout)))
}

/// A field path as segments: property names, `[]` for any list element and `*` for any map key.
type FieldPath = Vec<String>;

fn display_path(path: &FieldPath) -> String {
    let mut joined = String::new();
    for segment in path {
        if segment != "[]" && !joined.is_empty() {
            joined.push('.');
        }
        joined.push_str(segment);
    }
    joined
}

/// Collects the path of every property the schema defines below `node`, following `$ref`s,
/// `anyOf`/`oneOf`/`allOf` branches, list `items` (as `[]`) and map values (as `*`). A list or
/// map gets a path for its elements too, so it counts as set only when it has one.
fn schema_paths(root: &Value, node: &Value, prefix: &FieldPath, paths: &mut BTreeSet<FieldPath>) {
    assert!(prefix.len() < 32, "the schema nests deeper than any spec field at {}", display_path(prefix));
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        schema_paths(root, &root["$defs"][name], prefix, paths);
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        for branch in node.get(keyword).and_then(Value::as_array).into_iter().flatten() {
            schema_paths(root, branch, prefix, paths);
        }
    }
    for (name, property) in node.get("properties").and_then(Value::as_object).into_iter().flatten() {
        let path = [prefix.clone(), vec![name.clone()]].concat();
        paths.insert(path.clone());
        schema_paths(root, property, &path, paths);
    }
    let nested = [("items", "[]"), ("additionalProperties", "*")];
    for (keyword, segment) in nested {
        if let Some(element) = node.get(keyword).filter(|element| element.is_object()) {
            let path = [prefix.clone(), vec![segment.to_owned()]].concat();
            paths.insert(path.clone());
            schema_paths(root, element, &path, paths);
        }
    }
}

/// Collects the path of every value written in a document, with `[]` for list elements.
fn document_paths(value: &Value, prefix: &FieldPath, paths: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Object(object) => {
            for (name, child) in object {
                let path = [prefix.clone(), vec![name.clone()]].concat();
                paths.insert(path.clone());
                document_paths(child, &path, paths);
            }
        }
        Value::Array(items) => {
            let path = [prefix.clone(), vec!["[]".to_owned()]].concat();
            for item in items {
                paths.insert(path.clone());
                document_paths(item, &path, paths);
            }
        }
        _ => {}
    }
}

/// Returns whether a schema path (where `*` matches any map key) is set in the document.
fn is_set(schema_path: &FieldPath, written: &BTreeSet<FieldPath>) -> bool {
    written.iter().any(|path| {
        path.len() == schema_path.len() && path.iter().zip(schema_path).all(|(segment, wanted)| wanted == "*" || segment == wanted)
    })
}

#[test]
fn spec_sets_every_schema_field() {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let mut defined = BTreeSet::new();
    schema_paths(&schema, &schema, &Vec::new(), &mut defined);
    assert!(defined.len() > 150, "the schema walk found only {} paths; it no longer follows the schema's structure", defined.len());
    // The spec is checked as written, so a field counts only when the spec gives it a value and
    // never because a default fills it in.
    let spec = render(&[
        ("__DIR__", "/srv"),
        ("__JWKS__", "127.0.0.1:1"),
        ("__HOOK__", "127.0.0.1:2"),
        ("__UPSTREAM_PORT__", "3"),
        ("__DEAD_PORT__", "4"),
    ]);
    let loaded = gatectl_spec::load::load_str("every-field.yaml", &spec);
    assert!(loaded.spec.is_some(), "the every-field spec does not load: {:#?}", loaded.diagnostics);
    let document = loaded.index.root().expect("a loaded spec has a document").to_json();
    let mut written = BTreeSet::new();
    document_paths(&document, &Vec::new(), &mut written);

    let missing: Vec<String> = defined.iter().filter(|path| !is_set(path, &written)).map(display_path).collect();

    assert!(missing.is_empty(), "fixtures/live/every-field.yaml does not set these schema fields:\n{}", missing.join("\n"));
}

#[test]
fn live_diff_after_apply_is_empty() {
    let gateway = Gateway::start();
    let fetches_at_start = gateway.jwks_fetches.load(Ordering::SeqCst);
    assert!(fetches_at_start >= 1, "the runtime did not fetch the JWKS when it activated the spec");
    let url = gateway.admin_url();

    let applied = gateway.run(&[
        "apply",
        "spec.yaml",
        "--target",
        &url,
        "--signing-key",
        "keys/release.key.pem",
        "--observation-window",
        "100ms",
        "--yes",
    ]);

    assert_eq!(code(&applied), 0, "{}{}", text(&applied.stdout), text(&applied.stderr));
    gateway.assert_no_secret(&applied);
    assert!(gateway.jwks_fetches.load(Ordering::SeqCst) > fetches_at_start, "activating the bundle did not fetch the JWKS");
    let (diff, human) = gateway.diff_live("spec.yaml");
    assert_eq!(code(&diff), 0, "{}{}", text(&diff.stdout), text(&diff.stderr));
    let diff = json(&diff);
    assert_eq!(diff["changes"], serde_json::json!([]), "{diff:#}");
    assert_eq!(diff["summary"], serde_json::json!({"added": 0, "changed": 0, "removed": 0, "breaking": 0, "risky": 0}));
    assert_eq!(code(&human), 0, "{}{}", text(&human.stdout), text(&human.stderr));
    let status = gateway.run(&["status", "--target", &url, "--spec", "spec.yaml", "--output", "json"]);
    assert_eq!(code(&status), 0, "{}{}", text(&status.stdout), text(&status.stderr));
    gateway.assert_no_secret(&status);
    assert_eq!(json(&status)[0]["drift"]["drifted"], false);
    assert_eq!(json(&status)[0]["rateLimitStore"]["kind"], "redis");
    assert_eq!(json(&status)[0]["rateLimitStore"]["reachable"], true);
    let status = gateway.run(&["status", "--target", &url, "--spec", "spec.yaml"]);
    assert_eq!(code(&status), 0, "{}{}", text(&status.stdout), text(&status.stderr));
    gateway.assert_no_secret(&status);
    assert!(text(&status.stdout).contains("  rate-limit store: redis at redis://127.0.0.1:"), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains(", reachable; 0 checks decided by failureMode since start"), "{}", text(&status.stdout));

    // The TLS listener of the spec serves the generated certificate for its host name.
    let tls_address = gateway.runtime.proxy_addresses()[1];
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(gateway.api_certificate.as_bytes()).unwrap())
        .resolve("api.example.test", tls_address)
        .build()
        .unwrap();
    let response = client.get(format!("https://api.example.test:{}/catalog", tls_address.port())).send();
    assert!(response.is_ok(), "the TLS listener did not complete a handshake with the spec's certificate: {response:?}");
}

/// Applies the every-field spec, then diffs a variant that differs in one field against the
/// live runtime. Returns the entity's kind and name, the one field change reported, and the
/// whole output of both diff formats.
fn single_live_change(gateway: &Gateway, from: &str, to: &str) -> (String, String, Value, String) {
    gateway.write_variant("variant.yaml", from, to);
    let (diff, human) = gateway.diff_live("variant.yaml");
    assert_eq!(code(&diff), 1, "{}{}", text(&diff.stdout), text(&diff.stderr));
    assert_eq!(code(&human), 1, "{}{}", text(&human.stdout), text(&human.stderr));
    let diff = json(&diff);
    let changes = diff["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{diff:#}");
    let fields = changes[0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{diff:#}");
    assert_eq!(changes[0]["operation"], "changed", "{diff:#}");
    let kind = changes[0]["kind"].as_str().unwrap().to_owned();
    let name = changes[0]["name"].as_str().unwrap().to_owned();
    (kind, name, fields[0].clone(), format!("{diff}\n{}", text(&human.stdout)))
}

#[test]
fn live_diff_reports_only_changed_field() {
    let gateway = Gateway::start();
    let url = gateway.admin_url();
    let applied = gateway.run(&[
        "apply",
        "spec.yaml",
        "--target",
        &url,
        "--signing-key",
        "keys/release.key.pem",
        "--observation-window",
        "100ms",
        "--yes",
    ]);
    assert_eq!(code(&applied), 0, "{}{}", text(&applied.stdout), text(&applied.stderr));

    let (kind, name, field, _) = single_live_change(&gateway, "path: { exact: /orders }", "path: { exact: /orders/all }");
    assert_eq!((kind.as_str(), name.as_str()), ("route", "list-orders"), "{field:#}");
    assert_eq!(field["path"], "match.path", "{field:#}");
    assert_eq!(field["old"], serde_json::json!({"exact": "/orders"}), "{field:#}");
    assert_eq!(field["new"], serde_json::json!({"exact": "/orders/all"}), "{field:#}");

    let (kind, name, field, _) = single_live_change(&gateway, "weight: 50 }", "weight: 60 }");
    assert_eq!((kind.as_str(), name.as_str()), ("upstream", "orders"), "{field:#}");
    assert!(field["path"].as_str().unwrap().ends_with(".weight"), "{field:#}");
    assert_eq!((&field["old"], &field["new"]), (&Value::from(50), &Value::from(60)), "{field:#}");

    let (kind, name, field, _) =
        single_live_change(&gateway, "{ requests: 10, window: 1s, burst: 20 }", "{ requests: 12, window: 1s, burst: 20 }");
    assert_eq!((kind.as_str(), name.as_str()), ("rateLimitPolicy", "per-consumer"), "{field:#}");
    // Limits are compared as one list, because they apply together.
    assert_eq!(field["path"], "limits", "{field:#}");
    assert_eq!((&field["old"][0]["requests"], &field["new"][0]["requests"]), (&Value::from(10), &Value::from(12)), "{field:#}");
    assert_eq!(field["old"][1], field["new"][1], "{field:#}");

    // A changed secret shows as a change, but neither value is printed.
    let (kind, name, field, printed) = single_live_change(&gateway, HEADER_TOKEN, "hdr-rotated-0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    assert_eq!((kind.as_str(), name.as_str()), ("route", "list-orders"), "{field:#}");
    assert_eq!(field["path"], "requestHeaders.set.Authorization", "{field:#}");
    assert!(!printed.contains("hdr-rotated"), "{printed}");

    gateway.write_variant("variant.yaml", "weight: 50 }", "weight: 60 }");
    let drift = gateway.run(&["status", "--target", &url, "--spec", "variant.yaml", "--output", "json"]);
    assert_eq!(code(&drift), 1, "{}{}", text(&drift.stdout), text(&drift.stderr));
    gateway.assert_no_secret(&drift);
    let drift = json(&drift);
    assert_eq!(drift[0]["drift"]["drifted"], true, "{drift:#}");
    assert_eq!(drift[0]["drift"]["summary"]["changed"], 1, "{drift:#}");
}
