//! Configuration activation and graceful shutdown.

mod support;

use std::time::Duration;

use support::{ADMIN_TOKEN, Gateway, Upstream, client, parse_spec, runtime_binary};
use tokio::io::AsyncBufReadExt;

fn spec_for(upstream: &Upstream, route_path: &str) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: main\n    match: {{path: {{prefix: {route_path}}}}}\n    upstream: app\n",
        upstream.port()
    )
}

#[tokio::test]
async fn bad_spec_keeps_running_config() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream, "/old")).await;
    let before: serde_json::Value =
        client().get(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();

    let broken = spec_for(&upstream, "/new").replace("upstream: app", "upstream: missing");
    let error = gateway.runtime.activate(&parse_spec(&broken)).await.unwrap_err();

    assert!(error.to_string().contains("`missing`"), "{error}");
    assert_eq!(client().get(gateway.url("/old")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(client().get(gateway.url("/new")).send().await.unwrap().status().as_u16(), 404);
    let after: serde_json::Value =
        client().get(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(after["config"]["hash"], before["config"]["hash"]);
    let activated_at = after["config"]["activatedAt"].as_str().unwrap();
    assert!(
        activated_at.len() == 20 && activated_at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(activated_at).is_ok(),
        "{activated_at} is not in the form of the other timestamps, 2026-12-05T12:21:00Z"
    );

    let activation = gateway.runtime.activate(&parse_spec(&spec_for(&upstream, "/new"))).await.unwrap();
    assert_ne!(activation.hash, before["config"]["hash"].as_str().unwrap());
    assert_eq!(client().get(gateway.url("/new")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(client().get(gateway.url("/old")).send().await.unwrap().status().as_u16(), 404);
}

#[tokio::test]
async fn start_without_config_serves_404() {
    let options = gatectl_runtime::RuntimeOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
        ..Default::default()
    };
    let runtime = gatectl_runtime::Runtime::start(options).await.unwrap();
    let address = runtime.proxy_addresses()[0];

    let response = client().get(format!("http://{address}/anything")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn in_flight_request_finishes_on_its_config() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream, "/")).await;
    let url = gateway.url("/slow/500");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.unwrap().status().as_u16() });
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    gateway.runtime.activate(&parse_spec(&spec_for(&upstream, "/elsewhere"))).await.unwrap();

    assert_eq!(in_flight.await.unwrap(), 200);
}

#[tokio::test]
async fn shutdown_drains_in_flight_request() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream, "/")).await;
    let address = gateway.address;
    let url = gateway.url("/slow/500");
    let in_flight = tokio::spawn(async move {
        let response = client().get(url).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let outcome = gateway.runtime.shutdown().await;

    assert_eq!(outcome.abandoned_connections, 0);
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"server\":\"app\""), "{body}");
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener must be closed after shutdown");
}

#[tokio::test]
async fn drain_timeout_logs_unfinished_requests() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start_with(&spec_for(&upstream, "/"), |options| options.drain_timeout = Duration::from_millis(300)).await;
    let access_log = gateway.access_log.clone();
    // One request waits for its response head, the other for the rest of its response body.
    let waiting = tokio::spawn(client().get(gateway.url("/slow/5000")).send());
    let streaming = client().get(gateway.url("/drip/5000")).send().await.unwrap();
    while upstream.request_count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let outcome = gateway.runtime.shutdown().await;
    // Read at once: the shutdown returns only after the access log is written.
    let text = std::fs::read_to_string(&access_log).unwrap();

    assert_eq!(outcome.abandoned_connections, 2);
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let status_of = |path: &str| lines.iter().find(|line| line["path"] == path).map(|line| line["status"].clone());
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(status_of("/slow/5000"), Some(serde_json::json!(503)));
    assert_eq!(status_of("/drip/5000"), Some(serde_json::json!(200)));
    assert!(waiting.await.unwrap().is_err(), "the waiting request must end with its closed connection");
    assert!(streaming.text().await.is_err(), "the streamed body must end with its closed connection");
}

#[tokio::test]
async fn second_signal_ends_drain_at_once() {
    let upstream = Upstream::start("app").await;
    let directory = tempfile::tempdir().unwrap();
    let spec = directory.path().join("spec.yaml");
    let access_log = directory.path().join("access.log");
    std::fs::write(&spec, spec_for(&upstream, "/")).unwrap();
    let mut child = runtime_binary()
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--drain-timeout", "60s"])
        .arg("--config")
        .arg(&spec)
        .arg("--access-log")
        .arg(&access_log)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let proxy = started_proxy_address(&mut log).await;
    let waiting = tokio::spawn(client().get(format!("http://{proxy}/slow/30000")).send());
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let pid = child.id().unwrap().to_string();
    send_terminate(&pid);
    // The second signal must come after the first is handled, which its log line shows.
    wait_for_log_message(&mut log, "shutdown started; draining connections").await;
    send_terminate(&pid);
    let status =
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("the runtime exits well before its drain timeout");

    assert_eq!(status.unwrap().code(), Some(0));
    let stopped = wait_for_log_message(&mut log, "gatectl-runtime stopped").await;
    assert_eq!(stopped["level"], "INFO");
    let text = std::fs::read_to_string(&access_log).unwrap();
    assert!(text.contains("\"path\":\"/slow/30000\",\"status\":503"), "{text}");
    assert!(waiting.await.unwrap().is_err(), "the waiting request ends with its closed connection");
}

fn send_terminate(pid: &str) {
    let status = std::process::Command::new("kill").args(["-TERM", pid]).status().unwrap();
    assert!(status.success(), "kill -TERM {pid} failed");
}

type LogLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Reads the runtime's JSON log until the start line, and returns the proxy address it reports.
async fn started_proxy_address(log: &mut LogLines) -> std::net::SocketAddr {
    let line = wait_for_log_message(log, "gatectl-runtime started").await;
    line["fields"]["proxy"].as_str().unwrap().parse().unwrap()
}

/// Reads the runtime's JSON log until a line with `message`, for at most ten seconds.
async fn wait_for_log_message(log: &mut LogLines, message: &str) -> serde_json::Value {
    let found = async {
        while let Some(line) = log.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if entry["fields"]["message"] == message {
                return entry;
            }
        }
        panic!("the runtime exited before it logged `{message}`");
    };
    tokio::time::timeout(Duration::from_secs(10), found).await.expect("the runtime logs the message within ten seconds")
}

#[tokio::test]
async fn config_with_rule_error_stops_start() {
    let upstream = Upstream::start("app").await;
    let directory = tempfile::tempdir().unwrap();
    let spec = directory.path().join("spec.yaml");
    std::fs::write(&spec, spec_for(&upstream, "/api//admin")).unwrap();

    let output = runtime_binary()
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--config")
        .arg(&spec)
        .output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is invalid"), "{stderr}");
    assert!(stderr.contains("can never match"), "{stderr}");
    assert!(stderr.contains("spec.yaml:"), "the error names the file and line: {stderr}");
}

#[tokio::test]
async fn taken_port_is_reported_once_with_advice() {
    let occupied = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = occupied.local_addr().unwrap().to_string();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatectl-runtime"))
        .args(["--listen", &address, "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {address}")), "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "the OS error must appear once: {stderr}");
    assert!(stderr.contains("choose another address"), "{stderr}");
}

/// `--redis-url-file` keeps the Redis password out of the process's command line, and the log
/// shows the URL without it.
#[tokio::test]
async fn redis_url_file_keeps_password_off_command_line() {
    let redis = support::enforce::RedisServer::start_with(&["--requirepass", "file-secret"]);
    let upstream = Upstream::start("app").await;
    let directory = tempfile::tempdir().unwrap();
    let spec = directory.path().join("spec.yaml");
    std::fs::write(&spec, spec_for(&upstream, "/")).unwrap();
    let url_file = directory.path().join("redis-url");
    std::fs::write(&url_file, format!("{}\n", redis.url().replace("redis://", "redis://:file-secret@"))).unwrap();

    let mut child = runtime_binary()
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--config"])
        .arg(&spec)
        .arg("--redis-url-file")
        .arg(&url_file)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let connected = wait_for_log_message(&mut log, "rate-limit store connected").await;
    started_proxy_address(&mut log).await;

    assert_eq!(connected["fields"]["url"], format!("redis://:***@127.0.0.1:{}/0", redis.port));
    let command_line = std::fs::read(format!("/proc/{}/cmdline", child.id().unwrap())).unwrap();
    assert!(!String::from_utf8_lossy(&command_line).contains("file-secret"));

    std::fs::write(&url_file, "\n").unwrap();
    let output = runtime_binary()
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--redis-url-file"])
        .arg(&url_file)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is empty; write the URL into it"), "{stderr}");
}
