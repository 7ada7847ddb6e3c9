//! Request IDs, trace context, the access log, metrics and the admin listener.

mod support;

use support::{
    ADMIN_TOKEN, Gateway, Upstream, client, client_frame, json_body_of, open_websocket, raw_exchange, read_response, read_server_frame,
    runtime_binary, status_of,
};
use tokio::io::AsyncWriteExt;

fn spec_for(upstream: &Upstream) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: orders\n    match: {{path: {{prefix: /orders}}}}\n    upstream: app\n",
        upstream.port()
    )
}

#[tokio::test]
async fn valid_request_id_is_kept_and_logged() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    let id = "0f3c2a9e-4b1d-4c5e-9a77-2d1e8c6b5a40";

    let response = client().get(gateway.url("/orders/1")).header("x-request-id", id).send().await.unwrap();

    assert_eq!(response.headers()["x-request-id"], id);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["x-request-id"][0], id);
    let lines = gateway.access_log_lines(1).await;
    let line = &lines[0];
    assert_eq!(line["requestId"], id);
    assert_eq!(line["route"], "orders");
    assert_eq!(line["status"], 200);
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/orders/1");
    assert_eq!(line["upstreamTarget"], format!("127.0.0.1:{}", upstream.port()));
    assert_eq!(line["consumer"], "");
    assert!(line["bytesOut"].as_u64().unwrap() > 0);
    assert!(line["traceId"].as_str().unwrap().len() == 32);
    for latency in ["totalLatencyMs", "upstreamLatencyMs"] {
        let text = line[latency].to_string();
        let decimals = text.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        assert!(decimals <= 3, "{latency} {text} is finer than a microsecond");
    }
}

#[tokio::test]
async fn invalid_request_id_is_replaced() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    for incoming in ["a".repeat(600), "tab\tinside".to_owned()] {
        let response = client().get(gateway.url("/orders")).header("x-request-id", &incoming).send().await.unwrap();
        let returned = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(returned, incoming);
        assert!(uuid::Uuid::parse_str(&returned).is_ok(), "{returned} is not a UUID");
        let echo: serde_json::Value = response.json().await.unwrap();
        assert_eq!(echo["headers"]["x-request-id"][0], returned.as_str(), "the upstream sees the replacement");
    }
}

/// RFC 9110 section 5.5 lets a recipient replace control characters in a field value with
/// spaces instead of rejecting the request. The request ID then fails validation and is replaced,
/// and the client gets a response with an ID instead of a bare 400.
#[tokio::test]
async fn request_id_with_control_characters_is_replaced() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    let mut stream = tokio::net::TcpStream::connect(gateway.address).await.unwrap();

    // The first request is clean, so the second one's head is read after a keep-alive wait.
    stream.write_all(b"GET /orders HTTP/1.1\r\nHost: gw.test\r\n\r\n").await.unwrap();
    assert_eq!(status_of(&read_response(&mut stream).await), 200);
    let body = b"a\x01b:\x02\r\n";
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: gw.test\r\nX-Request-ID: 0f3c2a9e\x01\x7f4b1d\r\nX-Note: one\x00two\ttab\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(&[head.as_bytes(), body].concat()).await.unwrap();
    let response = read_response(&mut stream).await;

    assert_eq!(status_of(&response), 200, "{response}");
    let returned =
        response.lines().find_map(|line| line.strip_prefix("x-request-id: ")).unwrap_or_else(|| panic!("no request ID in {response:?}"));
    assert!(uuid::Uuid::parse_str(returned).is_ok(), "{returned} is not a generated UUID");
    let echo = json_body_of(&response);
    assert_eq!(echo["headers"]["x-request-id"][0], returned, "the upstream sees the replacement");
    assert_eq!(echo["headers"]["x-note"][0], "one two\ttab", "other values keep their text, with a space for the control character");
    assert_eq!(echo["body"], "a\u{1}b:\u{2}\r\n", "the body is not a header value and stays as sent");
    let lines = gateway.access_log_lines(2).await;
    assert_eq!(lines[1]["requestId"], returned);
}

/// A control character at either end of an ID becomes a space that hyper trims away, which
/// would leave a valid-looking ID. Such an ID is replaced all the same.
#[tokio::test]
async fn request_id_with_edge_control_is_replaced() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    for id in ["abcd\x01", "\x00abcd", "abcd\x7f"] {
        let request = format!("GET /orders HTTP/1.1\r\nHost: gw.test\r\nX-Request-ID: {id}\r\nConnection: close\r\n\r\n");
        let response = support::raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 200, "{response}");
        let returned = response.lines().find_map(|line| line.strip_prefix("x-request-id: ")).unwrap_or_default();
        assert!(uuid::Uuid::parse_str(returned).is_ok(), "{id:?} came back as {returned:?}");
    }
}

#[tokio::test]
async fn request_id_is_on_error_responses() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let response = client().get(gateway.url("/missing")).header("x-request-id", "abc-123").send().await.unwrap();

    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["requestId"], "abc-123");
    assert_eq!(problem["type"], "urn:gatectl:problem:no-route");
    assert_eq!(problem["title"], "Not Found");
    assert!(problem["detail"].is_string());
    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines[0]["status"], 404);
    assert_eq!(lines[0]["requestId"], "abc-123");
}

#[tokio::test]
async fn traceparent_is_propagated() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let echo: serde_json::Value =
        client().get(gateway.url("/orders")).header("traceparent", incoming).send().await.unwrap().json().await.unwrap();

    let forwarded = echo["headers"]["traceparent"][0].as_str().unwrap();
    assert!(forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{forwarded}");
    assert_ne!(forwarded, incoming, "the gateway adds its own span ID");
    let started: serde_json::Value = client().get(gateway.url("/orders")).send().await.unwrap().json().await.unwrap();
    assert_eq!(started["headers"]["traceparent"][0].as_str().unwrap().len(), 55);
}

#[tokio::test]
async fn tracestate_follows_only_a_continued_trace() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let invalid = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
    let send_with_state = |traceparents: Vec<&'static str>, tracestate: &'static str| {
        let mut request = client().get(gateway.url("/orders")).header("tracestate", tracestate);
        for value in traceparents {
            request = request.header("traceparent", value);
        }
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let send = |traceparents| send_with_state(traceparents, "vendor=abc");

    let continued = send(vec![valid]).await;
    let empty_state = send_with_state(vec![valid], "").await;
    let blank_members = send_with_state(vec![valid], " , ,").await;
    let mixed_lines: serde_json::Value = client()
        .get(gateway.url("/orders"))
        .header("traceparent", valid)
        .header("tracestate", "")
        .header("tracestate", "a=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let restarted = send(vec![invalid]).await;
    let doubled = send(vec![valid, valid]).await;

    assert_eq!(continued["headers"]["tracestate"], serde_json::json!(["vendor=abc"]));
    assert!(restarted["headers"]["tracestate"].is_null(), "{restarted}");
    assert!(doubled["headers"]["tracestate"].is_null(), "{doubled}");
    assert!(empty_state["headers"]["tracestate"].is_null(), "an empty tracestate is not forwarded: {empty_state}");
    assert!(blank_members["headers"]["tracestate"].is_null(), "a tracestate without members is not forwarded: {blank_members}");
    assert_eq!(mixed_lines["headers"]["tracestate"], serde_json::json!(["a=1"]), "the empty line is dropped, the other kept");
    let doubled_parent = doubled["headers"]["traceparent"][0].as_str().unwrap();
    assert!(!doubled_parent.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "two traceparents start a new trace: {doubled_parent}");
}

#[tokio::test]
async fn admin_requires_bearer_token() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let anonymous = client().get(gateway.admin_url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = client().get(gateway.admin_url("/status")).bearer_auth("wrong-token").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let health = client().get(gateway.admin_url("/healthz")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// Probes that send `HEAD` get what `GET` gets, without the body: `/healthz` needs no token,
/// the other endpoints do.
#[tokio::test]
async fn admin_head_answers_like_get() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let health = client().head(gateway.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.bytes().await.unwrap().len(), 0);
    let anonymous = client().head(gateway.admin_url("/status")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let status = client().head(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(status.status().as_u16(), 200);
    let delete = client().delete(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(delete.status().as_u16(), 405);
    assert_eq!(delete.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn admin_listener_needs_a_token() {
    let options = gatectl_runtime::RuntimeOptions {
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_token: None,
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..Default::default()
    };

    let result = gatectl_runtime::Runtime::start(options).await;

    assert!(matches!(result, Err(gatectl_runtime::StartError::MissingAdminToken)));
}

#[tokio::test]
async fn empty_admin_token_file_is_named() {
    let directory = tempfile::tempdir().unwrap();
    let token_file = directory.path().join("token");
    std::fs::write(&token_file, "\n").unwrap();

    let output = runtime_binary()
        .env("GATECTL_ADMIN_TOKEN", "from-the-environment")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token-file"])
        .arg(&token_file)
        .output()
        .await
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is empty; write the token into it"), "{stderr}");
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    for _ in 0..3 {
        client().get(gateway.url("/orders")).send().await.unwrap().bytes().await.unwrap();
    }
    client().get(gateway.url("/nowhere")).send().await.unwrap().bytes().await.unwrap();
    gateway.access_log_lines(4).await;

    let metrics = client().get(gateway.admin_url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();

    assert!(metrics.contains("gatectl_requests_total{route=\"orders\",consumer=\"\",status_class=\"2xx\"} 3"), "{metrics}");
    assert!(metrics.contains("gatectl_requests_total{route=\"\",consumer=\"\",status_class=\"4xx\"} 1"), "{metrics}");
    assert!(metrics.contains("gatectl_request_duration_seconds_count{route=\"orders\"} 3"), "{metrics}");
    assert!(metrics.contains("gatectl_requests_in_flight 0"), "{metrics}");
    assert!(metrics.contains("gatectl_config_generation 1"), "{metrics}");
}

#[tokio::test]
async fn rejected_heads_are_logged_and_counted() {
    let upstream = Upstream::start("app").await;
    let spec = spec_for(&upstream).replace("upstreams:", "settings:\n  limits: {headerTimeout: 300ms}\nupstreams:");
    let gateway = Gateway::start(&spec).await;

    // Two lengths that disagree: hyper's parser rejects the head.
    let conflicting =
        raw_exchange(gateway.address, b"GET /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").await;
    assert_eq!(status_of(&conflicting), 400, "{conflicting}");
    // A request line over the parser's limit.
    let long_uri = format!("GET /orders/{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70_000));
    let long_uri = raw_exchange(gateway.address, long_uri.as_bytes()).await;
    assert_eq!(status_of(&long_uri), 414, "{long_uri}");
    // A head that stops halfway: 408 once the header timeout passes.
    let mut slow = tokio::net::TcpStream::connect(gateway.address).await.unwrap();
    slow.write_all(b"GET /orders HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let timed_out = read_response(&mut slow).await;
    assert_eq!(status_of(&timed_out), 408, "{timed_out}");
    let timeout_id = json_body_of(&timed_out)["requestId"].as_str().unwrap().to_owned();
    assert!(timed_out.to_ascii_lowercase().contains(&format!("x-request-id: {timeout_id}\r\n")), "{timed_out}");

    let mut lines = gateway.access_log_lines(3).await;
    lines.sort_by_key(|line| line["status"].as_u64());
    let statuses: Vec<_> = lines.iter().map(|line| line["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [400, 408, 414]);
    for line in &lines {
        assert_eq!((&line["method"], &line["path"], &line["route"]), (&"".into(), &"".into(), &"".into()), "{line}");
        assert_eq!(line["clientAddress"], "127.0.0.1", "{line}");
        assert!(line["requestId"].as_str().is_some_and(|id| id.len() == 36), "{line}");
        assert!(line["totalLatencyMs"].as_f64().is_some_and(|latency| latency >= 0.0), "{line}");
    }
    assert_eq!(lines[1]["requestId"], timeout_id.as_str(), "the 408's log line has the ID the client got");
    assert_eq!(lines[1]["bytesOut"], timed_out.len(), "the 408's log line counts the bytes sent");
    // The parser's rejections get problem+json bodies with the request ID of their log lines.
    for (response, line, kind) in [(&conflicting, &lines[0], "bad-request"), (&long_uri, &lines[2], "uri-too-long")] {
        let body = json_body_of(response);
        assert_eq!(body["type"], format!("urn:gatectl:problem:{kind}"), "{response}");
        assert_eq!(body["requestId"], line["requestId"], "{response}");
        assert!(response.contains(&format!("x-request-id: {}\r\n", line["requestId"].as_str().unwrap())), "{response}");
        assert_eq!(line["bytesOut"], response.len(), "{line}");
    }
    assert!(lines[1]["totalLatencyMs"].as_f64().unwrap() >= 250.0, "{}", lines[1]);

    let metrics = client().get(gateway.admin_url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatectl_requests_total{route=\"\",consumer=\"\",status_class=\"4xx\"} 3"), "{metrics}");
    assert_eq!(upstream.request_count(), 0);
}

/// hyper's parser rejects a `Content-Length` above its maximum with 431 or 400. The client gets
/// 413, the status of a body larger than the gateway accepts, and the access log records 413.
#[tokio::test]
async fn unholdable_content_length_gets_413() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let lengths = ["18446744073709551613", "18446744073709551614", "18446744073709551615", "99999999999999999999999"];
    for length in lengths {
        let request = format!("POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&response), 413, "{length}: {response}");
        assert_eq!(json_body_of(&response)["type"], "urn:gatectl:problem:body-too-large", "{length}: {response}");
    }

    let lines = gateway.access_log_lines(lengths.len()).await;
    for line in &lines {
        assert_eq!(line["status"], 413, "{line}");
    }
    // Lengths that disagree make the framing ambiguous, whatever their size or order.
    for lengths in ["Content-Length: 1, 18446744073709551615", "Content-Length: 18446744073709551615\r\nContent-Length: 1"] {
        let request = format!("POST /orders HTTP/1.1\r\nHost: a\r\n{lengths}\r\n\r\n");
        let conflicting = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&conflicting), 400, "{lengths}: {conflicting}");
    }
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn request_closed_by_client_is_logged_as_499() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream).replace("prefix: /orders", "prefix: /slow")).await;

    // The client sends its request and leaves while the upstream takes its time.
    let mut stream = tokio::net::TcpStream::connect(gateway.address).await.unwrap();
    stream.write_all(b"GET /slow/1500 HTTP/1.1\r\nHost: a\r\nX-Request-ID: left-early\r\n\r\n").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(stream);

    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["status"], 499, "{}", lines[0]);
    assert_eq!(lines[0]["requestId"], "left-early");
    assert_eq!(lines[0]["route"], "orders");
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["path"], "/slow/1500");
    assert_eq!(lines[0]["upstreamTarget"], format!("127.0.0.1:{}", upstream.port()));
    let metrics = client().get(gateway.admin_url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatectl_requests_total{route=\"orders\",consumer=\"\",status_class=\"4xx\"} 1"), "{metrics}");
    assert!(metrics.contains("gatectl_requests_in_flight 0"), "{metrics}");
    let status: serde_json::Value =
        client().get(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["upstreams"][0]["targets"][0]["inFlight"], 0, "the target still counts the request: {status}");
}

#[tokio::test]
async fn request_closed_right_after_its_head_is_logged() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream).replace("prefix: /orders", "prefix: /slow")).await;

    // hyper may drop such a request before its handling starts; it is logged all the same.
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(gateway.address).await.unwrap();
        stream.write_all(b"GET /slow/1000 HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
        drop(stream);
    }

    let lines = gateway.access_log_lines(20).await;
    assert_eq!(lines.len(), 20, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["status"], 499, "{line}");
        assert_eq!(line["path"], "/slow/1000", "{line}");
        assert_eq!(line["method"], "GET", "{line}");
    }
}

#[tokio::test]
async fn access_log_keeps_every_concurrent_line_whole() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let requests: Vec<_> = (0..200)
        .map(|number| {
            let request = client.get(gateway.url(&format!("/orders/{number}"))).send();
            tokio::spawn(async move { request.await.unwrap().status() })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }

    // Each line parses as JSON on its own, so none is cut or mixed with another.
    let lines = gateway.access_log_lines(200).await;
    assert_eq!(lines.len(), 200);
    let mut paths: Vec<&str> = lines.iter().map(|line| line["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), 200, "every request is logged once");
}

#[tokio::test]
async fn access_log_counts_body_bytes() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let response = client().post(gateway.url("/orders")).body("hello").send().await.unwrap();
    let body = response.bytes().await.unwrap();

    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines[0]["bytesIn"], 5);
    assert_eq!(lines[0]["bytesOut"], body.len());
    assert_eq!(lines[0]["method"], "POST");
    assert!(lines[0]["upstreamLatencyMs"].is_number());
}

/// A WebSocket's line is written when its tunnel closes, with the bytes the tunnel carried:
/// frames from the client as bytes in, frames to the client as bytes out.
#[tokio::test]
async fn websocket_line_counts_tunnel_bytes() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&spec_for(&upstream)).await;

    let (mut stream, head) = open_websocket(gateway.address, "/orders/chat", "Upgrade").await;
    assert_eq!(status_of(&head), 101, "{head}");
    assert_eq!(read_server_frame(&mut stream).await, b"hello");
    let ping = client_frame(b"ping");
    stream.write_all(&ping).await.unwrap();
    assert_eq!(read_server_frame(&mut stream).await, b"echo: ping");
    drop(stream);

    let lines = gateway.access_log_lines(1).await;
    let line = &lines[0];
    assert_eq!(line["status"], 101);
    assert_eq!(line["route"], "orders");
    assert_eq!(line["bytesIn"], ping.len());
    // Two frames: the greeting and the echo, each with a two-byte header.
    assert_eq!(line["bytesOut"], (2 + "hello".len()) + (2 + "echo: ping".len()));
}

/// The `gatectl-runtime` binary started on a spec file, with its JSON log read line by line.
struct RuntimeProcess {
    child: tokio::process::Child,
    log: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    proxy: std::net::SocketAddr,
    /// The log lines written before the proxy listener was bound.
    startup_lines: Vec<serde_json::Value>,
    _directory: tempfile::TempDir,
}

impl RuntimeProcess {
    async fn start(spec: &str, access_log: &std::path::Path, directory: tempfile::TempDir) -> Self {
        Self::start_with_overlay(spec, None, access_log, directory).await
    }

    async fn start_with_overlay(spec: &str, overlay: Option<&str>, access_log: &std::path::Path, directory: tempfile::TempDir) -> Self {
        use tokio::io::AsyncBufReadExt;
        let spec_path = directory.path().join("gateway.yaml");
        std::fs::write(&spec_path, spec).unwrap();
        let mut command = runtime_binary();
        command.arg("--config").arg(&spec_path);
        if let Some(overlay) = overlay {
            let overlay_path = directory.path().join("overlay.yaml");
            std::fs::write(&overlay_path, overlay).unwrap();
            command.arg("--overlay").arg(&overlay_path);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--workers", "1"])
            .arg("--access-log")
            .arg(access_log)
            .spawn()
            .unwrap();
        let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut runtime = None;
        let mut startup_lines = Vec::new();
        while runtime.is_none() {
            let line = next_log_line(&mut log).await.expect("gatectl-runtime exited before it bound its listener");
            if line["fields"]["message"] == "proxy listener bound" {
                runtime = Some(line["fields"]["address"].as_str().unwrap().parse().unwrap());
            }
            startup_lines.push(line);
        }
        Self { child, log, proxy: runtime.unwrap(), startup_lines, _directory: directory }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    /// Reads log lines until one has `message`, or fails after ten seconds.
    async fn line_with_message(&mut self, message: &str) -> serde_json::Value {
        let search = async {
            while let Some(line) = next_log_line(&mut self.log).await {
                if line["fields"]["message"] == message {
                    return line;
                }
            }
            panic!("gatectl-runtime exited without logging {message:?}");
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), search).await.unwrap_or_else(|_| panic!("no log line {message:?}"))
    }
}

async fn next_log_line(log: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>) -> Option<serde_json::Value> {
    while let Some(line) = log.next_line().await.unwrap() {
        if let Ok(entry) = serde_json::from_str(&line) {
            return Some(entry);
        }
    }
    None
}

/// Builds a spec whose only upstream is a port where nothing listens.
fn spec_with_dead_upstream(access_log_enabled: bool) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  accessLog: {{enabled: {access_log_enabled}}}\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: orders\n    match: {{path: {{prefix: /orders}}}}\n    upstream: app\n"
    )
}

#[tokio::test]
async fn request_log_lines_carry_ids() {
    let directory = tempfile::tempdir().unwrap();
    let access_log = directory.path().join("access.log");
    let mut runtime = RuntimeProcess::start(&spec_with_dead_upstream(true), &access_log, directory).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client()
        .get(runtime.url("/orders/7"))
        .header("x-request-id", "log-line-request")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);

    let line = runtime.line_with_message("upstream request failed").await;
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["span"]["request.id"], "log-line-request", "{line}");
    assert_eq!(line["span"]["trace.id"], trace_id, "{line}");
    assert_eq!(line["fields"]["route"], "orders", "{line}");

    // The access log went to the file that --access-log named.
    let mut written = String::new();
    for _ in 0..100 {
        written = std::fs::read_to_string(&access_log).unwrap_or_default();
        if written.contains("log-line-request") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(written.contains("\"requestId\":\"log-line-request\""), "{written}");
    runtime.child.kill().await.unwrap();
}

#[tokio::test]
async fn access_log_flag_keeps_disabled_log_off() {
    let directory = tempfile::tempdir().unwrap();
    let access_log = directory.path().join("access.log");
    let mut runtime = RuntimeProcess::start(&spec_with_dead_upstream(false), &access_log, directory).await;

    let response = client().get(runtime.url("/orders/7")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    response.bytes().await.unwrap();
    runtime.line_with_message("upstream request failed").await;
    runtime.child.kill().await.unwrap();
    // An enabled access log opens its file at start, before the listener is bound.
    assert!(!access_log.exists(), "settings.accessLog.enabled is false, yet {} was opened", access_log.display());
}

#[tokio::test]
async fn config_overlay_adds_a_route() {
    let upstream = Upstream::start("app").await;
    let directory = tempfile::tempdir().unwrap();
    let access_log = directory.path().join("access.log");
    let overlay = "routes:\n  - name: extra\n    match: {path: {prefix: /extra}}\n    upstream: app\n";
    let mut runtime = RuntimeProcess::start_with_overlay(&spec_for(&upstream), Some(overlay), &access_log, directory).await;

    let extra = client().get(runtime.url("/extra/1")).send().await.unwrap().status();
    let orders = client().get(runtime.url("/orders/1")).send().await.unwrap().status();
    runtime.child.kill().await.unwrap();

    assert_eq!(extra, 200, "the overlay's route is served");
    assert_eq!(orders, 200, "the spec's own route stays");
}

#[tokio::test]
async fn config_findings_are_logged_at_start() {
    let upstream = Upstream::start("app").await;
    let directory = tempfile::tempdir().unwrap();
    let access_log = directory.path().join("access.log");
    // The overlay misnames the upstream it means to replace, so `app-typo` is never used.
    let overlay = format!("upstreams:\n  - name: app-typo\n    targets: [{{host: 127.0.0.1, port: {}}}]\n", upstream.port());
    let mut runtime = RuntimeProcess::start_with_overlay(&spec_for(&upstream), Some(&overlay), &access_log, directory).await;
    runtime.child.kill().await.unwrap();

    let finding = runtime.startup_lines.iter().find(|line| line["fields"]["rule"] == "unused-upstream");
    let finding = finding.unwrap_or_else(|| panic!("no unused-upstream finding in {:#?}", runtime.startup_lines));
    assert_eq!(finding["level"], "WARN");
    assert!(finding["fields"]["message"].as_str().unwrap().contains("app-typo"), "{finding}");
    assert!(finding["fields"]["place"].as_str().unwrap().contains("overlay.yaml:2:"), "{finding}");
}
