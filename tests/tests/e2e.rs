//! The whole chain over real processes and sockets, as `examples/quickstart.sh` runs it by hand.
//! The test imports the Blockfrost OpenAPI description, adds auth, rate limits and consumers
//! through overlays, validates, and applies a signed bundle to a running `gatectl-runtime`. Then
//! it sends traffic through the runtime, changes the spec, diffs it, and applies it under load.
//!
//! Needs the `gatectl`, `gatectl-runtime` and `echo-upstream` binaries in the test executable's
//! profile directory; `cargo test --workspace` builds them.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{JwtKey, RuntimeConfig, RuntimeProcess, find_access_log_line, requests_by_status_class, run_gatectl, status_class, unix_now};

/// Route of `/blocks/latest`, which the overlay opens to JWTs beside API keys and rate-limits.
const LIMITED_ROUTE: &str = "get-blocks-latest";
const LIMITED_PATH: &str = "/blocks/latest";
/// Requests per minute that the overlay's policy allows each consumer on `LIMITED_ROUTE`.
const LIMITED_REQUESTS_PER_MINUTE: u64 = 5;

/// Public route (`security: []` in the OpenAPI description) that the load loop uses.
const PUBLIC_ROUTE: &str = "get-health";
const PUBLIC_PATH: &str = "/health";

/// Tag the second version of the spec adds to `PUBLIC_ROUTE`.
const ADDED_TAG: &str = "e2e-canary";

const JWT_KEY_ID: &str = "e2e";
const JWT_ISSUER: &str = "https://e2e.gatectl.invalid/";
const JWT_AUDIENCE: &str = "gatectl-e2e";
const JWT_SUBJECT: &str = "acme-service";
const CONSUMER: &str = "acme";

/// Concurrent clients of the load loop that runs during the second apply.
const LOAD_CLIENTS: usize = 4;
/// Requests each load client sends after the apply returned, so that the loop also covers the
/// time right after the activation.
const LOAD_REQUESTS_AFTER_APPLY: usize = 50;
/// Upper bound of requests per load client, which keeps the loop bounded when the apply hangs.
const LOAD_MAX_REQUESTS_PER_CLIENT: usize = 20_000;

/// Files that the test writes into its temp dir.
struct TestFiles {
    dir: PathBuf,
    spec_v1: PathBuf,
    spec_v2: PathBuf,
    overlay: PathBuf,
    consumers_overlay: PathBuf,
    admin_token_file: PathBuf,
    keys_dir: PathBuf,
    signing_key: PathBuf,
}

impl TestFiles {
    fn new(dir: &Path) -> Self {
        let keys_dir = dir.join("keys");
        Self {
            dir: dir.to_owned(),
            spec_v1: dir.join("generated.yaml"),
            spec_v2: dir.join("generated-v2.yaml"),
            overlay: dir.join("overlay.yaml"),
            consumers_overlay: dir.join("consumers.yaml"),
            admin_token_file: dir.join("admin-token"),
            signing_key: keys_dir.join(format!("{JWT_KEY_ID}.key.pem")),
            keys_dir,
        }
    }

    /// Returns the `--overlay` arguments that every command gets, in order.
    fn overlay_args(&self) -> Vec<String> {
        vec!["--overlay".into(), path_arg(&self.overlay), "--overlay".into(), path_arg(&self.consumers_overlay)]
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("temp dir paths are UTF-8").to_owned()
}

/// Writes the overlay that points both imported upstreams at the echo server, adds a JWT
/// provider beside the imported API-key provider, and rate-limits `LIMITED_ROUTE`.
fn write_overlay(path: &Path, echo: SocketAddr, jwt_public_key: &Path) {
    let public_key_reference = serde_json::to_string(&format!("file:{}", jwt_public_key.display())).unwrap();
    let port = echo.port();
    let overlay = format!(
        "apiVersion: gatectl.dev/v1
kind: Gateway
upstreams:
  - name: cardano-mainnet.blockfrost.io-api-v0
    scheme: http
    targets: [{{ host: 127.0.0.1, port: {port} }}]
  - name: ipfs.blockfrost.io-api-v0
    scheme: http
    targets: [{{ host: 127.0.0.1, port: {port} }}]
authProviders:
  - name: bearer
    jwt:
      issuer: {JWT_ISSUER}
      audiences: [{JWT_AUDIENCE}]
      algorithms: [EdDSA]
      keys:
        - kid: {JWT_KEY_ID}
          algorithm: EdDSA
          publicKey: {public_key_reference}
      consumerClaim: sub
rateLimitPolicies:
  - name: e2e-per-consumer
    scope: consumer
    limits:
      - {{ requests: {LIMITED_REQUESTS_PER_MINUTE}, window: 1m }}
routes:
  - name: {LIMITED_ROUTE}
    security:
      - project_id: []
      - bearer: []
    rateLimits: [e2e-per-consumer]
"
    );
    std::fs::write(path, overlay).expect("the overlay can be written to the temp dir");
}

/// Writes the overlay with consumer `CONSUMER`, who owns the API key with `api_key_hash` and the
/// JWT subject `JWT_SUBJECT`.
fn write_consumers_overlay(path: &Path, api_key_hash: &str) {
    let overlay = format!(
        "apiVersion: gatectl.dev/v1
kind: Gateway
consumers:
  - id: {CONSUMER}
    credentials:
      apiKeys:
        - hash: {api_key_hash}
          label: e2e
      jwt:
        - {{ provider: bearer, subject: {JWT_SUBJECT} }}
"
    );
    std::fs::write(path, overlay).expect("the consumers overlay can be written to the temp dir");
}

/// Writes version 2 of the spec: the imported spec with `ADDED_TAG` added to `PUBLIC_ROUTE`.
fn write_spec_with_added_tag(v1: &Path, v2: &Path) {
    let text = std::fs::read_to_string(v1).expect("the imported spec is readable");
    let route_start = text.find(&format!("  - name: {PUBLIC_ROUTE}\n")).expect("the imported spec has route get-health");
    let tags_offset = text[route_start..].find("    tags:\n").expect("route get-health has tags in the imported spec");
    let insert_at = route_start + tags_offset + "    tags:\n".len();
    let changed = format!("{}      - {ADDED_TAG}\n{}", &text[..insert_at], &text[insert_at..]);
    std::fs::write(v2, changed).expect("the changed spec can be written to the temp dir");
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("the HTTP client builds")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

/// Counts the responses that the test received from `LIMITED_ROUTE`, by status class.
#[derive(Default)]
struct SentRequests {
    by_status_class: BTreeMap<String, u64>,
}

impl SentRequests {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.send().await.expect("the gateway responds to the request");
        *self.by_status_class.entry(status_class(response.status())).or_insert(0) += 1;
        response
    }
}

/// Runs `gatectl plan` of `spec` against the runtime, asserts it exits 0, and returns the plan file.
async fn plan(files: &TestFiles, spec: &Path, runtime: &RuntimeProcess, plan_name: &str) -> PathBuf {
    let plan = files.dir.join(plan_name);
    let mut plan_args = vec!["plan".to_owned(), path_arg(spec)];
    plan_args.extend(files.overlay_args());
    plan_args.extend([
        "--target".into(),
        runtime.admin_url.clone(),
        "--signing-key".into(),
        path_arg(&files.signing_key),
        "--admin-token-file".into(),
        path_arg(&files.admin_token_file),
        "-o".into(),
        path_arg(&plan),
    ]);
    let planned = run_gatectl(&files.dir, &as_strs(&plan_args)).await;
    assert_eq!(planned.code(), 0, "gatectl plan of {} against {} failed: {}", spec.display(), runtime.admin_url, planned.describe());
    plan
}

/// Runs `gatectl apply` of `plan` with a one-second observation window and asserts it exits 0.
async fn apply(files: &TestFiles, plan: &Path) {
    let applied = run_gatectl(
        &files.dir,
        &[
            "apply",
            &path_arg(plan),
            "--yes",
            "--observation-window",
            "1s",
            "--min-requests",
            "0",
            "--admin-token-file",
            &path_arg(&files.admin_token_file),
        ],
    )
    .await;
    assert_eq!(applied.code(), 0, "gatectl apply of {} failed: {}", plan.display(), applied.describe());
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

async fn admin_get(client: &reqwest::Client, runtime: &RuntimeProcess, token: &str, path: &str) -> reqwest::Response {
    let response = client
        .get(format!("{}{path}", runtime.admin_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|error| panic!("admin GET {path} failed: {error}"));
    assert_eq!(response.status().as_u16(), 200, "admin GET {path} returned {}", response.status());
    response
}

async fn active_bundle_version(client: &reqwest::Client, runtime: &RuntimeProcess, token: &str) -> Value {
    let status: Value = admin_get(client, runtime, token, "/status").await.json().await.expect("/status returns JSON");
    status["version"].clone()
}

/// Progress of the load loop, shared by its clients.
#[derive(Default)]
struct LoadProgress {
    completed: AtomicUsize,
    apply_returned: AtomicBool,
}

/// Sends requests to `url` until `LOAD_REQUESTS_AFTER_APPLY` of them were sent after the apply
/// returned, or `LOAD_MAX_REQUESTS_PER_CLIENT` in all. Returns the number of requests sent and a
/// description of every failed one: connection errors and 5xx responses.
async fn run_load_client(client: reqwest::Client, url: String, progress: Arc<LoadProgress>) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut sent = 0;
    let mut sent_after_apply = 0;
    while sent < LOAD_MAX_REQUESTS_PER_CLIENT && sent_after_apply < LOAD_REQUESTS_AFTER_APPLY {
        if progress.apply_returned.load(Ordering::Acquire) {
            sent_after_apply += 1;
        }
        match client.get(&url).send().await {
            Ok(response) if response.status().is_server_error() => {
                failures.push(format!("status {}", response.status()));
            }
            Ok(response) => {
                if let Err(error) = response.bytes().await {
                    failures.push(format!("body read failed: {error}"));
                }
            }
            Err(error) => failures.push(format!("request failed: {error}")),
        }
        sent += 1;
        progress.completed.fetch_add(1, Ordering::Relaxed);
    }
    (sent, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quickstart_chain_end_to_end() {
    let temp_dir = tempfile::Builder::new().prefix("gatectl-e2e-").tempdir().expect("a temp dir can be created");
    let files = TestFiles::new(temp_dir.path());
    let client = http_client();
    let repository_root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the e2e crate is inside the workspace");
    let openapi = repository_root.join("examples/openapi/blockfrost.yaml");

    let (echo_address, echo_task) =
        gatectl_e2e::echo::spawn("127.0.0.1:0".parse().unwrap()).await.expect("the echo upstream binds an ephemeral port");
    let _echo_guard = AbortOnDrop(echo_task);

    // Step 1: import the OpenAPI description, write the overlays, validate.
    let imported = run_gatectl(&files.dir, &["import", &path_arg(&openapi), "-o", &path_arg(&files.spec_v1)]).await;
    assert_eq!(imported.code(), 0, "gatectl import of {} failed: {}", openapi.display(), imported.describe());

    let jwt_key = JwtKey::generate();
    let jwt_public_key = files.dir.join("jwt-public.pem");
    std::fs::write(&jwt_public_key, &jwt_key.public_key_pem).expect("the JWT public key can be written");
    write_overlay(&files.overlay, echo_address, &jwt_public_key);

    let created_key = run_gatectl(&files.dir, &["keys", "create", "--consumer", CONSUMER, "--label", "e2e"]).await;
    assert_eq!(created_key.code(), 0, "gatectl keys create failed: {}", created_key.describe());
    let api_key = created_key.stdout.trim().to_owned();
    assert!(!api_key.is_empty(), "gatectl keys create printed no key on stdout: {}", created_key.describe());
    let api_key_hash = created_key
        .stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("- hash: "))
        .unwrap_or_else(|| panic!("gatectl keys create printed no `- hash:` entry on stderr: {}", created_key.describe()))
        .to_owned();
    write_consumers_overlay(&files.consumers_overlay, &api_key_hash);

    let mut validate_args = vec!["validate".to_owned(), path_arg(&files.spec_v1)];
    validate_args.extend(files.overlay_args());
    let validated = run_gatectl(&files.dir, &as_strs(&validate_args)).await;
    assert_eq!(validated.code(), 0, "gatectl validate with the overlays failed: {}", validated.describe());

    // Step 2: signing keys, runtime, plan and apply.
    let keygen = run_gatectl(&files.dir, &["keygen", "--out", &path_arg(&files.keys_dir), "--id", JWT_KEY_ID]).await;
    assert_eq!(keygen.code(), 0, "gatectl keygen failed: {}", keygen.describe());
    assert!(files.signing_key.is_file(), "gatectl keygen wrote no {}: {}", files.signing_key.display(), keygen.describe());

    let admin_token = format!("e2e-admin-{}", unix_now());
    std::fs::write(&files.admin_token_file, &admin_token).expect("the admin token file can be written");
    let access_log = files.dir.join("access.log");
    let runtime = RuntimeProcess::start(
        &RuntimeConfig {
            work_dir: &files.dir,
            admin_token_file: &files.admin_token_file,
            trusted_keys: &files.keys_dir,
            state_dir: &files.dir.join("state"),
            access_log: &access_log,
        },
        &client,
    )
    .await;

    let plan_v1 = plan(&files, &files.spec_v1, &runtime, "plan-v1.json").await;
    apply(&files, &plan_v1).await;
    assert_eq!(active_bundle_version(&client, &runtime, &admin_token).await, json!(1), "the runtime runs bundle 1 after the first apply");

    // Step 3: authentication over real sockets.
    let limited_url = format!("{}{LIMITED_PATH}", runtime.proxy_url);
    let mut sent = SentRequests::default();

    let anonymous = sent.send(client.get(&limited_url)).await;
    assert_eq!(anonymous.status().as_u16(), 401, "a request without credentials is rejected");
    let challenges: Vec<&str> = anonymous.headers().get_all("www-authenticate").iter().filter_map(|value| value.to_str().ok()).collect();
    assert!(
        challenges.iter().any(|challenge| challenge.starts_with("Bearer")),
        "the 401 without credentials carries `WWW-Authenticate: Bearer`, got {challenges:?}"
    );

    let now = unix_now();
    let claims = json!({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": JWT_SUBJECT, "iat": now, "exp": now + 600});
    let forged_token = JwtKey::generate().sign(JWT_KEY_ID, &claims);
    let forged = sent.send(client.get(&limited_url).bearer_auth(&forged_token)).await;
    assert_eq!(forged.status().as_u16(), 401, "a JWT signed by another key (bad signature) is rejected");

    let token = jwt_key.sign(JWT_KEY_ID, &claims);
    let with_jwt = sent.send(client.get(&limited_url).bearer_auth(&token)).await;
    assert_eq!(with_jwt.status().as_u16(), 200, "a valid JWT is accepted");
    let jwt_request_id = header(&with_jwt, "x-request-id").expect("the response carries x-request-id").to_owned();
    let jwt_echo: Value = with_jwt.json().await.expect("the echo upstream returns JSON");
    assert_eq!(jwt_echo["headers"]["x-consumer-id"][0], CONSUMER, "the upstream sees the JWT's consumer: {jwt_echo}");
    assert_eq!(jwt_echo["headers"]["x-request-id"][0], jwt_request_id.as_str(), "the upstream sees the client's request ID: {jwt_echo}");

    let wrong_key = sent.send(client.get(&limited_url).header("project_id", "not-a-valid-key")).await;
    assert_eq!(wrong_key.status().as_u16(), 401, "a wrong API key is rejected");

    let with_key = sent.send(client.get(&limited_url).header("project_id", &api_key)).await;
    assert_eq!(with_key.status().as_u16(), 200, "the valid API key is accepted");
    let request_id = header(&with_key, "x-request-id").expect("the response carries x-request-id").to_owned();
    let echo: Value = with_key.json().await.expect("the echo upstream returns JSON");
    assert_eq!(echo["headers"]["x-consumer-id"][0], CONSUMER, "the upstream sees the API key's consumer: {echo}");
    assert_eq!(echo["headers"]["x-request-id"][0], request_id.as_str(), "the upstream sees the client's request ID: {echo}");
    assert_eq!(echo["path"], "/api/v0/blocks/latest", "the upstream gets the path under its base path: {echo}");

    // Step 4: the rate limit.
    let mut limited = None;
    for _ in 0..=LIMITED_REQUESTS_PER_MINUTE {
        let response = sent.send(client.get(&limited_url).header("project_id", &api_key)).await;
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status().as_u16(), 200, "requests under the rate limit are accepted");
    }
    let limited =
        limited.unwrap_or_else(|| panic!("no 429 after more than {LIMITED_REQUESTS_PER_MINUTE} requests per minute on {LIMITED_ROUTE}"));
    assert_eq!(
        header(&limited, "x-ratelimit-limit"),
        Some(LIMITED_REQUESTS_PER_MINUTE.to_string().as_str()),
        "the 429 carries X-RateLimit-Limit"
    );
    assert_eq!(header(&limited, "x-ratelimit-remaining"), Some("0"), "the 429 carries X-RateLimit-Remaining: 0");
    assert!(header(&limited, "x-ratelimit-reset").is_some(), "the 429 carries X-RateLimit-Reset");
    assert!(header(&limited, "retry-after").is_some(), "the 429 carries Retry-After");

    // Step 5: the access log.
    let log_line = find_access_log_line(&access_log, &request_id)
        .await
        .unwrap_or_else(|| panic!("the access log {} has no line with request ID {request_id}", access_log.display()));
    assert_eq!(log_line["route"], LIMITED_ROUTE, "the access-log line names the route: {log_line}");
    assert_eq!(log_line["consumer"], CONSUMER, "the access-log line names the consumer: {log_line}");
    assert_eq!(log_line["status"], 200, "the access-log line has the status: {log_line}");

    // Step 6: the metrics count every request the test sent to the rate-limited route.
    let metrics = wait_for_metrics(&client, &runtime, &admin_token, &sent.by_status_class).await;
    assert_eq!(
        requests_by_status_class(&metrics, LIMITED_ROUTE),
        sent.by_status_class,
        "gatectl_requests_total of route {LIMITED_ROUTE} by status class matches the requests sent; metrics:\n{metrics}"
    );

    // Step 7: change the spec, diff it, apply it under load.
    write_spec_with_added_tag(&files.spec_v1, &files.spec_v2);
    let mut diff_args = vec!["diff".to_owned(), path_arg(&files.spec_v1), path_arg(&files.spec_v2)];
    diff_args.extend(files.overlay_args());
    diff_args.extend(["--format".into(), "json".into()]);
    let diffed = run_gatectl(&files.dir, &as_strs(&diff_args)).await;
    assert_eq!(diffed.code(), 1, "gatectl diff exits 1 when the specs differ: {}", diffed.describe());
    let report: Value = serde_json::from_str(&diffed.stdout)
        .unwrap_or_else(|error| panic!("gatectl diff --format json printed invalid JSON: {error}: {}", diffed.describe()));
    assert_eq!(
        report["summary"],
        json!({"added": 0, "changed": 1, "removed": 0, "breaking": 0, "risky": 0}),
        "the diff summary shows one changed entity: {report:#}"
    );
    let changes = report["changes"].as_array().expect("the diff report has a changes list");
    assert_eq!(changes.len(), 1, "the diff has exactly one change: {report:#}");
    let change = &changes[0];
    assert_eq!(change["kind"], "route", "the change is on a route: {change:#}");
    assert_eq!(change["name"], PUBLIC_ROUTE, "the change is on route {PUBLIC_ROUTE}: {change:#}");
    assert_eq!(change["operation"], "changed", "the route is changed: {change:#}");
    assert_eq!(change["class"], "safe", "adding a tag is a safe change: {change:#}");
    let fields = change["fields"].as_array().expect("the change has a fields list");
    assert_eq!(fields.len(), 1, "only one field of the route changed: {change:#}");
    assert_eq!(fields[0]["path"], "tags", "the changed field is tags: {change:#}");
    assert_eq!(fields[0]["old"], json!(["Health"]), "the old tags: {change:#}");
    assert_eq!(fields[0]["new"], json!(["Health", ADDED_TAG]), "the new tags: {change:#}");

    let plan_v2 = plan(&files, &files.spec_v2, &runtime, "plan-v2.json").await;
    let public_url = format!("{}{PUBLIC_PATH}", runtime.proxy_url);
    let progress = Arc::new(LoadProgress::default());
    let load_clients: Vec<_> =
        (0..LOAD_CLIENTS).map(|_| tokio::spawn(run_load_client(http_client(), public_url.clone(), Arc::clone(&progress)))).collect();
    wait_until_load_started(&progress.completed).await;
    apply(&files, &plan_v2).await;
    progress.apply_returned.store(true, Ordering::Release);
    let mut load_requests = 0;
    let mut failures = Vec::new();
    for load_client in load_clients {
        let (sent, client_failures) = load_client.await.expect("a load client task panicked");
        load_requests += sent;
        failures.extend(client_failures);
    }
    eprintln!("load loop: {load_requests} requests to {PUBLIC_PATH} during and after the second apply");
    assert!(
        failures.is_empty(),
        "{} of {load_requests} requests to {PUBLIC_PATH} failed during the second apply, for example: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(active_bundle_version(&client, &runtime, &admin_token).await, json!(2), "the runtime runs bundle 2 after the second apply");

    // Step 8: the live spec equals version 2.
    let mut live_args = vec!["diff".to_owned(), "--live".into(), runtime.admin_url.clone(), path_arg(&files.spec_v2)];
    live_args.extend(files.overlay_args());
    live_args.extend(["--admin-token-file".into(), path_arg(&files.admin_token_file), "--format".into(), "json".into()]);
    let live = run_gatectl(&files.dir, &as_strs(&live_args)).await;
    assert_eq!(live.code(), 0, "gatectl diff --live shows no change after the second apply: {}", live.describe());
    let live_report: Value = serde_json::from_str(&live.stdout)
        .unwrap_or_else(|error| panic!("gatectl diff --live --format json printed invalid JSON: {error}: {}", live.describe()));
    assert_eq!(live_report["changes"], json!([]), "gatectl diff --live lists no change: {live_report:#}");
}

/// Aborts the echo upstream's task when the test ends, also on a failed assertion.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls `/metrics` until the counters of `LIMITED_ROUTE` reach `expected` or five seconds pass,
/// because the runtime may count a request only after the client got its response. Returns the
/// last metrics text.
async fn wait_for_metrics(client: &reqwest::Client, runtime: &RuntimeProcess, token: &str, expected: &BTreeMap<String, u64>) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = admin_get(client, runtime, token, "/metrics").await.text().await.expect("/metrics returns text");
        if &requests_by_status_class(&metrics, LIMITED_ROUTE) == expected || tokio::time::Instant::now() >= deadline {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the load clients completed some requests, so that the apply runs under load.
async fn wait_until_load_started(completed: &AtomicUsize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while completed.load(Ordering::Relaxed) < 20 {
        assert!(tokio::time::Instant::now() < deadline, "the load clients did not complete 20 requests within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
