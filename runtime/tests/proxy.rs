//! Proxy semantics: hop-by-hop headers, forwarding headers, request framing, limits, timeouts,
//! WebSocket upgrades and the no-retry rule.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{
    Gateway, Upstream, client, client_frame, http2_sender, json_body_of, open_websocket, raw_exchange, read_head, read_response,
    read_server_frame, status_of,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn single_route_spec(upstream: &Upstream, settings: &str, route_extra: &str) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{settings}upstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n{route_extra}",
        upstream.port()
    )
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let request = "GET /hop HTTP/1.1\r\nHost: gw.test\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 200, "{response}");
    let echo = json_body_of(&response);
    let seen = echo["headers"].as_object().unwrap();
    for name in ["x-secret", "keep-alive", "te", "proxy-authorization", "proxy-connection", "upgrade", "transfer-encoding"] {
        assert!(!seen.contains_key(name), "the upstream received hop-by-hop header {name}");
    }
    assert_ne!(echo["headers"]["connection"][0], "close", "the client's Connection header must not reach the upstream");
    assert_eq!(echo["headers"]["x-kept"][0], "yes");

    let head = response.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    for name in ["x-upstream-secret", "keep-alive", "proxy-authenticate", "trailer"] {
        assert!(!head.contains(&format!("\n{name}:")), "the client received hop-by-hop header {name}: {head}");
    }
    assert!(head.contains("\nx-upstream-kept: 1"), "{head}");
}

#[tokio::test]
async fn forwarded_for_is_appended() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let echo: serde_json::Value = client()
        .get(gateway.url("/x"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("host", "shop.example.test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(echo["headers"]["x-forwarded-for"][0], "203.0.113.9, 127.0.0.1");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(echo["headers"]["x-forwarded-host"][0], "shop.example.test");
    assert_eq!(echo["headers"]["via"][0], "1.1 gatectl");
}

#[tokio::test]
async fn trusted_proxy_rule_picks_client_address() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  trustedProxies: [127.0.0.0/8, 10.0.0.0/8]\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;

    client().get(gateway.url("/x")).header("x-forwarded-for", "198.51.100.7, 10.1.2.3").send().await.unwrap();

    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines[0]["clientAddress"], "198.51.100.7");
}

#[tokio::test]
async fn chunked_with_length_never_sends_both() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let request = "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 200, "{response}");
    let echo = json_body_of(&response);
    assert_eq!(echo["body"], "hello");
    let has_length = echo["headers"].get("content-length").is_some();
    let has_chunked = echo["headers"].get("transfer-encoding").is_some();
    let both = has_length && has_chunked;
    assert!(!both, "the upstream must never receive both framing headers: {echo}");
}

#[tokio::test]
async fn conflicting_content_lengths_are_400() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let request = "POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 400);
    assert_eq!(upstream.request_count(), 0);
}

/// Control characters in most header values become spaces, but a framing header keeps them and
/// the request is rejected: `chunked` plus a control character must not turn into `chunked`
/// while a proxy in front counts the body by its `Content-Length`.
#[tokio::test]
async fn control_character_in_framing_header_is_400() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    for framing in ["Transfer-Encoding: chunked\x0b\r\nContent-Length: 5", "Content-Length: 5\x01"] {
        let request = format!("POST /x HTTP/1.1\r\nHost: gw.test\r\n{framing}\r\nConnection: close\r\n\r\n0\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 400, "{framing:?}: {response}");
    }
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn transfer_coding_rules() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let send = |coding: &'static str| {
        let request =
            format!("POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: {coding}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        async move { raw_exchange(gateway.address, request.as_bytes()).await }
    };

    // `chunked` is not the final coding: hyper rejects the message.
    assert_eq!(status_of(&send("chunked, gzip").await), 400);
    // Another coding before `chunked` would change the body's meaning once decoded: 501.
    let gzip_then_chunked = send("gzip, chunked").await;
    assert_eq!(status_of(&gzip_then_chunked), 501);
    assert!(gzip_then_chunked.contains("application/problem+json"));
    assert_eq!(upstream.request_count(), 0);
    // Trailing whitespace is not part of a field value (RFC 9110 section 5.5): plain chunked.
    let trailing_space = send("chunked ").await;
    assert_eq!(status_of(&trailing_space), 200);
    assert_eq!(json_body_of(&trailing_space)["body"], "hello");
}

#[tokio::test]
async fn oversized_head_is_431_before_upstream() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {maxHeaderBytes: 1024}\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;

    let response = client().get(gateway.url("/x")).header("x-large", "a".repeat(2000)).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 431);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn body_over_limit_is_413_before_upstream() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    maxBodyBytes: 16\n")).await;

    let response = client().post(gateway.url("/x")).body("x".repeat(17)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(upstream.request_count(), 0);

    let within = client().post(gateway.url("/x")).body("x".repeat(16)).send().await.unwrap();
    assert_eq!(within.status().as_u16(), 200);
}

#[tokio::test]
async fn chunked_body_over_limit_is_413_before_upstream() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    maxBodyBytes: 16\n")).await;

    let request = "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 413, "{response}");
    assert!(response.contains("urn:gatectl:problem:body-too-large"), "{response}");
    assert_eq!(upstream.request_count(), 0, "a buffered body over the limit must not reach the upstream");
    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines[0]["upstreamTarget"], "", "no upstream was contacted");
}

#[tokio::test]
async fn buffered_chunked_body_goes_upstream_with_its_length() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    maxBodyBytes: 16\n")).await;

    let request = "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 200, "{response}");
    let echo = json_body_of(&response);
    assert_eq!(echo["body"], "hello world");
    assert_eq!(echo["headers"]["content-length"][0], "11");
    assert!(echo["headers"].get("transfer-encoding").is_none(), "{echo}");
}

#[tokio::test]
async fn chunked_body_keeps_its_trailers_buffered_or_streamed() {
    let upstream = Upstream::start("app").await;
    for (route_extra, announce) in [("", ""), ("    requestBuffering: false\n", "Trailer: X-Checksum\r\n")] {
        let gateway = Gateway::start(&single_route_spec(&upstream, "", route_extra)).await;
        let request = format!(
            "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n{announce}Connection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"
        );
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 200, "{response}");
        let echo = json_body_of(&response);
        assert_eq!(echo["body"], "hello");
        assert_eq!(echo["trailers"]["x-checksum"], "abc", "route settings {route_extra:?}: {echo}");
    }
}

/// `Trailer` is a hop-by-hop header: a body of known length has no trailers, so its announcement
/// does not go upstream.
#[tokio::test]
async fn trailer_announcement_without_chunks_is_dropped() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    requestBuffering: false\n")).await;

    for request in [
        "GET /tr HTTP/1.1\r\nHost: gw.test\r\nTrailer: X-T\r\nConnection: close\r\n\r\n",
        "POST /tr HTTP/1.1\r\nHost: gw.test\r\nTrailer: X-T\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    ] {
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 200, "{response}");
        let echo = json_body_of(&response);
        assert!(echo["headers"].get("trailer").is_none(), "{request:?}: {echo}");
    }
}

/// Sends the head and first chunk of a chunked request to `/stream`, and reads the upstream's
/// echo of that chunk before the body is finished.
async fn echo_before_body_ends(gateway: &Gateway) -> String {
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    stream
        .write_all(b"POST /stream HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let read_echo = async {
        while !String::from_utf8_lossy(&received).contains("hello") {
            let count = stream.read(&mut buffer).await.unwrap();
            assert_ne!(count, 0, "the connection closed before the echo");
            received.extend_from_slice(&buffer[..count]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read_echo).await.expect("no echo while the request body was still open");
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn unbuffered_route_streams_the_request_body() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    requestBuffering: false\n")).await;

    let received = echo_before_body_ends(&gateway).await;

    assert_eq!(status_of(&received), 200, "{received}");
}

#[tokio::test]
async fn grpc_request_body_is_streamed() {
    use http_body_util::{BodyExt as _, StreamBody};
    use hyper::body::Frame;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let upstream = Upstream::start("grpc").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: grpc\n    scheme: h2c\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: grpc\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::convert::Infallible>>(4);
    let body = StreamBody::new(Box::pin(stream_from(receiver)));
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let request =
        http::Request::post(gateway.url("/stream")).header("content-type", "application/grpc").header("te", "trailers").body(body).unwrap();

    sender.send(Ok(Frame::data(bytes::Bytes::from_static(b"first")))).await.unwrap();
    let exchange = async {
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut body = response.into_body();
        let frame = body.frame().await.expect("a frame").unwrap();
        (frame.into_data().unwrap(), body)
    };
    let (first, body) =
        tokio::time::timeout(std::time::Duration::from_secs(10), exchange).await.expect("no echo while the gRPC request was still open");
    assert_eq!(&first[..], b"first");
    drop(sender);
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn http2_body_without_length_over_limit_is_413() {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    maxBodyBytes: 16\n")).await;
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::convert::Infallible>>(4);
    let request = http::Request::post(gateway.url("/x")).body(StreamBody::new(Box::pin(stream_from(receiver)))).unwrap();

    for _ in 0..2 {
        sender.send(Ok(Frame::data(bytes::Bytes::from_static(b"0123456789abcdef")))).await.unwrap();
    }
    drop(sender);
    let response = client.request(request).await.unwrap();

    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(upstream.request_count(), 0, "a buffered HTTP/2 body over the limit must not reach the upstream");
}

/// Turns a channel receiver into a stream.
fn stream_from<T: Send + 'static>(receiver: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) })
}

#[tokio::test]
async fn stalled_request_body_is_408() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {bodyTimeout: 300ms}\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;

    // Two of the ten announced bytes, then nothing: the rest never arrives.
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    stream.write_all(b"POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\n\r\nab").await.unwrap();
    let mut output = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut output)).await;
    assert!(read.is_ok(), "the gateway kept waiting for the body");
    let response = String::from_utf8_lossy(&output);

    assert_eq!(status_of(&response), 408, "{response}");
    assert_eq!(json_body_of(&response)["type"], "urn:gatectl:problem:request-timeout");

    let whole = client().post(gateway.url("/x")).body("complete body").send().await.unwrap();
    assert_eq!(whole.status().as_u16(), 200);
}

#[tokio::test]
async fn slow_request_head_is_408() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {headerTimeout: 200ms}\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;

    let response = raw_exchange(gateway.address, b"GET /x HTTP/1.1\r\nHost: gw.test\r\n").await;

    assert_eq!(status_of(&response), 408, "{response}");
    assert!(response.contains("application/problem+json"));
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn websocket_upgrade_relays_frames() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let (mut stream, head) = open_websocket(gateway.address, "/chat", "keep-alive, Upgrade").await;
    assert_eq!(status_of(&head), 101, "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");

    assert_eq!(read_server_frame(&mut stream).await, b"hello");
    stream.write_all(&client_frame(b"ping")).await.unwrap();
    assert_eq!(read_server_frame(&mut stream).await, b"echo: ping");
}

/// A client may send its first frame in the same write as the upgrade request, before the 101.
/// Those bytes belong to the WebSocket stream, so none of them is cleaned as a header value.
#[tokio::test]
async fn frame_sent_with_upgrade_request_is_unchanged() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    // Masked, this payload reads `\nX:\x01` on the wire: a line that looks like a header.
    let payload = [0x1b, 0x7a, 0x09, 0x45];

    let handshake = "GET /chat HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    stream.write_all(&[handshake.as_bytes(), &client_frame(&payload)].concat()).await.unwrap();
    let head = read_head(&mut stream).await;

    assert_eq!(status_of(&head), 101);
    assert_eq!(read_server_frame(&mut stream).await, b"hello");
    assert_eq!(read_server_frame(&mut stream).await, [&b"echo: "[..], &payload].concat());
}

#[tokio::test]
async fn shutdown_waits_for_open_websocket() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let (mut stream, head) = open_websocket(gateway.address, "/chat", "Upgrade").await;
    assert_eq!(status_of(&head), 101, "{head}");
    assert_eq!(read_server_frame(&mut stream).await, b"hello");

    let shutdown = tokio::spawn(gateway.runtime.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!shutdown.is_finished(), "the drain ended while a WebSocket tunnel was open");
    stream.write_all(&client_frame(b"still here")).await.unwrap();
    assert_eq!(read_server_frame(&mut stream).await, b"echo: still here");

    drop(stream);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), shutdown).await.unwrap().unwrap();
    assert_eq!(outcome.abandoned_connections, 0);
    // The tunnel's line was queued before the drain ended, so the final flush wrote it.
    let log = std::fs::read_to_string(&gateway.access_log).unwrap();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().expect("no access-log line after the drain")).unwrap();
    assert_eq!(line["status"], 101);
    assert_eq!(line["bytesIn"], client_frame(b"still here").len());
}

#[tokio::test]
async fn post_reset_after_body_is_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n"
    );
    let gateway = Gateway::start(&spec).await;

    let response = client().post(gateway.url("/orders")).body("{\"item\":1}").send().await.unwrap();

    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "the POST must reach the upstream exactly once");
}

#[tokio::test]
async fn upstream_errors_map_to_502_and_504() {
    let upstream = Upstream::start("app").await;
    let closed = support::closed_port().await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\n  - name: gone\n    targets: [{{host: 127.0.0.1, port: {closed}}}]\nroutes:\n  - name: slow\n    match: {{path: {{prefix: /slow}}}}\n    upstream: app\n    timeouts: {{response: 100ms}}\n  - name: gone\n    match: {{path: {{prefix: /gone}}}}\n    upstream: gone\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;

    let timed_out = client().get(gateway.url("/slow/2000")).send().await.unwrap();
    assert_eq!(timed_out.status().as_u16(), 504);
    let body: serde_json::Value = timed_out.json().await.unwrap();
    assert_eq!(body["title"], "Gateway Timeout");

    let connection_refused = client().get(gateway.url("/gone")).send().await.unwrap();
    assert_eq!(connection_refused.status().as_u16(), 502);
    let body: serde_json::Value = connection_refused.json().await.unwrap();
    assert_eq!(body["status"], 502);
    let detail = body["detail"].as_str().unwrap();
    assert!(!detail.contains("127.0.0.1"), "problem details must not expose upstream addresses: {detail}");
}

#[tokio::test]
async fn keep_alive_then_idle_close() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {headerTimeout: 5s, idleTimeout: 200ms}\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();

    for path in ["/first", "/second"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut stream).await;
        assert_eq!(status_of(&response), 200, "{response}");
        assert_eq!(json_body_of(&response)["uri"], path);
    }

    // An empty line between requests is ignored, so the connection stays idle, and an idle
    // connection is closed without a response once the idle timeout passes.
    stream.write_all(b"\r\n").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the idle connection was not closed");
    assert!(rest.is_empty(), "an idle close must not send bytes: {:?}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn response_timeout_starts_after_request_body() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {bodyTimeout: 1s}\n";
    let spec = single_route_spec(&upstream, settings, "    timeouts: {response: 200ms, total: 5s}\n")
        .replace("    targets:", "    healthChecks:\n      passive: {consecutiveFailures: 1, ejectionTime: 1h}\n    targets:");
    let gateway = Gateway::start(&spec).await;

    // A body that keeps arriving for longer than the response timeout: the upstream responds
    // once it has all of it.
    let mut steady = TcpStream::connect(gateway.address).await.unwrap();
    steady.write_all(b"POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 6\r\n\r\nab").await.unwrap();
    for part in [&b"cd"[..], b"ef"] {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        steady.write_all(part).await.unwrap();
    }
    let response = read_response(&mut steady).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(json_body_of(&response)["body"], "abcdef");

    // A body that stalls is the client's fault: 408, and the target is not ejected.
    let mut stalled = TcpStream::connect(gateway.address).await.unwrap();
    stalled.write_all(b"POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\n\r\nab").await.unwrap();
    let mut output = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stalled.read_to_end(&mut output)).await;
    assert!(read.is_ok(), "the gateway kept waiting for the body");
    let response = String::from_utf8_lossy(&output);
    assert_eq!(status_of(&response), 408, "{response}");
    let after = client().get(gateway.url("/x")).send().await.unwrap();
    assert_eq!(after.status().as_u16(), 200, "the stalled client got the target ejected");
}

#[tokio::test]
async fn upstream_that_stops_reading_body_is_504() {
    // An upstream that reads the request head, then neither reads the body nor responds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut open_connections = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = [0u8; 512];
            let _ = stream.read(&mut head).await;
            open_connections.push(stream);
        }
    });
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n    maxBodyBytes: 20000000\n    timeouts: {{response: 300ms, total: 5s}}\n"
    );
    let gateway = Gateway::start(&spec).await;

    // Far more than the socket buffers hold, sent at once.
    let body = vec![b'x'; 9_000_000];
    let response = client().post(gateway.url("/upload")).body(body).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 504, "the client sent everything it could; the upstream stopped reading");
}

#[tokio::test]
async fn silent_new_connection_closes_without_response() {
    let upstream = Upstream::start("app").await;
    let settings = "settings:\n  limits: {headerTimeout: 200ms}\n";
    let gateway = Gateway::start(&single_route_spec(&upstream, settings, "")).await;

    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut received)).await;

    assert!(read.is_ok(), "the silent connection was not closed");
    assert!(received.is_empty(), "a connection that sent nothing got bytes: {:?}", String::from_utf8_lossy(&received));
}

#[tokio::test]
async fn total_timeout_cuts_slow_response_body() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    timeouts: {response: 5s, total: 200ms}\n")).await;

    let response = client().get(gateway.url("/drip/3000")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "the response head arrived within the total timeout");
    let body = response.bytes().await;

    assert!(body.is_err(), "the body must be cut off at the total timeout");
    let finished = client().get(gateway.url("/drip/0")).send().await.unwrap().bytes().await;
    assert!(finished.is_ok(), "a body that finishes in time is complete");
}

#[tokio::test]
async fn aborted_upload_is_not_an_upstream_failure() {
    let upstream = Upstream::start("app").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\n    healthChecks:\n      passive: {{consecutiveFailures: 1, ejectionTime: 1h}}\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n    requestBuffering: false\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;

    for _ in 0..3 {
        let mut stream = TcpStream::connect(gateway.address).await.unwrap();
        stream.write_all(b"POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel").await.unwrap();
        // Let the request reach the upstream before the client goes away.
        while upstream.request_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(stream);
    }

    let lines = gateway.access_log_lines(3).await;
    for line in &lines {
        assert_eq!(line["status"], 400, "an aborted upload is the client's failure: {line}");
    }
    let after = client().get(gateway.url("/after")).send().await.unwrap();
    assert_eq!(after.status().as_u16(), 200, "the target must not be ejected for a client's abort");
}

#[tokio::test]
async fn http1_grpc_content_type_is_still_buffered() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "    maxBodyBytes: 16\n")).await;

    let request = "POST /x HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    assert_eq!(status_of(&response), 413, "{response}");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn client_trailers_cannot_set_gateway_headers() {
    let upstream = Upstream::start("app").await;
    for (route_extra, announce) in
        [("", ""), ("    requestBuffering: false\n", "Trailer: X-Checksum, X-Consumer-ID, X-Forwarded-For, X-Request-ID, X-Named\r\n")]
    {
        let gateway = Gateway::start(&single_route_spec(&upstream, "", route_extra)).await;
        // `X-Named` is a header the request's `Connection` names: it describes this hop only.
        let request = format!(
            "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n{announce}Connection: close, X-Named\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Consumer-ID: admin\r\nX-Forwarded-For: 10.0.0.1\r\nX-Request-ID: forged\r\nX-Named: 1\r\n\r\n"
        );
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 200, "{response}");
        let echo = json_body_of(&response);
        assert_eq!(echo["trailers"], serde_json::json!({"x-checksum": "abc"}), "route settings {route_extra:?}: {echo}");
    }
}

/// Starts an upstream that responds to every request with a chunked `hello` whose trailers mix a
/// plain field with connection-specific ones, and returns its port.
async fn trailer_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut received = Vec::new();
                let mut buffer = [0u8; 4096];
                while let Ok(read) = socket.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    received.extend_from_slice(&buffer[..read]);
                    if received.windows(4).any(|window| window == b"\r\n\r\n") {
                        received.clear();
                        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Resp-Secret\r\nTrailer: X-T, X-Resp-Secret, Keep-Alive\r\n\r\n5\r\nhello\r\n0\r\nX-T: t\r\nX-Resp-Secret: 1\r\nKeep-Alive: timeout=5\r\n\r\n";
                        socket.write_all(response.as_bytes()).await.unwrap();
                    }
                }
            });
        }
    });
    port
}

fn trailer_spec(port: u16) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n"
    )
}

/// Response trailers lose hop-by-hop fields and those the response's `Connection` named. Over
/// HTTP/2, a connection-specific trailer would make the client's stream fail.
#[tokio::test]
async fn response_trailers_lose_connection_fields() {
    let gateway = Gateway::start(&trailer_spec(trailer_upstream().await)).await;
    let stream = TcpStream::connect(gateway.address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);

    let request =
        http::Request::get(gateway.url("/t")).header("te", "trailers").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let collected = http_body_util::BodyExt::collect(response.into_body()).await.expect("the response body must end cleanly");
    let trailers = collected.trailers().cloned().expect("the plain trailer must reach the client");
    assert_eq!(collected.to_bytes(), "hello");
    assert_eq!(trailers["x-t"], "t");
    assert!(trailers.get("x-resp-secret").is_none(), "{trailers:?}");
    assert!(trailers.get("keep-alive").is_none(), "{trailers:?}");
}

/// An HTTP/2 client may send each cookie as a field of its own. An HTTP/1.1 upstream gets them
/// joined into one `Cookie` line.
#[tokio::test]
async fn http2_cookies_reach_upstream_as_one_line() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let mut sender = http2_sender(gateway.address).await;

    let request = http::Request::get(gateway.url("/c"))
        .header("cookie", "session=abc")
        .header("cookie", "theme=dark")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["headers"]["cookie"], serde_json::json!(["session=abc; theme=dark"]));
}

/// RFC 9113 section 8.2.1 makes an HTTP/2 request malformed when a value starts or ends with a
/// blank, because HTTP/1.1 would read the value without them.
#[tokio::test]
async fn http2_padded_value_is_400() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let mut sender = http2_sender(gateway.address).await;

    for value in [" leading", "trailing\t"] {
        let request = http::Request::get(gateway.url("/p"))
            .header("x-note", http::HeaderValue::from_str(value).unwrap())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        assert_eq!(sender.send_request(request).await.unwrap().status().as_u16(), 400, "{value:?}");
    }
    assert_eq!(upstream.request_count(), 0);
}

/// An HTTP/1.1 client that accepts trailers gets the ones the upstream announced, with the
/// announcement cut to them.
#[tokio::test]
async fn http1_client_gets_announced_trailers() {
    let gateway = Gateway::start(&trailer_spec(trailer_upstream().await)).await;

    let response = raw_exchange(gateway.address, b"GET /t HTTP/1.1\r\nHost: gw.test\r\nTE: trailers\r\nConnection: close\r\n\r\n").await;

    assert_eq!(status_of(&response), 200, "{response}");
    let lower = response.to_ascii_lowercase();
    let (head, body) = lower.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("\r\ntrailer: x-t\r\n"), "{head}");
    assert!(body.contains("\r\n0\r\nx-t: t\r\n"), "the trailer must follow the last chunk: {body:?}");
    assert!(!body.contains("x-resp-secret"), "{body:?}");
    assert!(!body.contains("keep-alive"), "{body:?}");
}

#[tokio::test]
async fn empty_chunked_body_goes_upstream_with_zero_length() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    let request =
        "POST /x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n0\r\n\r\n";
    let response = raw_exchange(gateway.address, request.as_bytes()).await;

    let final_response = response.strip_prefix("HTTP/1.1 100 Continue\r\n\r\n").unwrap_or(&response);
    assert_eq!(status_of(final_response), 200, "{response}");
    let echo = json_body_of(final_response);
    assert_eq!(echo["headers"]["content-length"][0], "0", "{echo}");
    assert!(echo["headers"].get("expect").is_none(), "a buffered body needs no 100-continue upstream: {echo}");
}

/// An upstream may respond before it has read the whole request body. The rest of the body still
/// goes through the connection, and it is body, not a next request head: nothing in it is
/// cleaned, and no head timer runs while it arrives.
#[tokio::test]
async fn body_after_early_response_arrives_unchanged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|window| window == b"\r\n\r\n") {
            let count = socket.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..count]);
        }
        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        let head_end = received.windows(4).position(|window| window == b"\r\n\r\n").unwrap() + 4;
        let mut body = received.split_off(head_end);
        while body.len() < 13 {
            let count = socket.read(&mut buffer).await.unwrap();
            assert!(count > 0, "the upstream connection closed after {} body bytes", body.len());
            body.extend_from_slice(&buffer[..count]);
        }
        body
    });
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  limits: {{headerTimeout: 200ms}}\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n"
    );
    let gateway = Gateway::start(&spec).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();

    stream.write_all(b"POST /up HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 13\r\n\r\nab").await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(status_of(&response), 200, "{response}");
    // Longer than the head timeout, so a timer that took the body for a next head would fire.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stream.write_all(b"\r\nX: \x01\x02\r\n\r\n").await.unwrap();

    let body = tokio::time::timeout(std::time::Duration::from_secs(10), upstream).await.unwrap().unwrap();
    assert_eq!(body, b"ab\r\nX: \x01\x02\r\n\r\n");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_millis(300), stream.read_to_end(&mut rest)).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("408"), "the client got a second response: {rest}");
}

/// A pipelined head can arrive while the request before it is served, and its body in the same
/// read as the blank line that ends it. The gateway separates the body from a head by its
/// `Content-Length`, so it reaches the upstream as sent.
#[tokio::test]
async fn pipelined_body_after_split_head_is_unchanged() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    let body = b"data\nk: \x01\x02\x03\x7f\n";

    stream.write_all(b"GET /slow/300 HTTP/1.1\r\nHost: gw.test\r\n\r\n").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let head = format!("POST /second HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {}\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    let first = read_response(&mut stream).await;
    stream.write_all(&[&b"\r\n"[..], body].concat()).await.unwrap();
    let second = read_response(&mut stream).await;

    assert_eq!(status_of(&first), 200, "{first}");
    assert_eq!(status_of(&second), 200, "{second}");
    assert_eq!(json_body_of(&second)["body"], String::from_utf8_lossy(body).as_ref());
}

/// hyper trims the blanks around a value before the gateway reads it, so the head size limit also
/// counts the head as received.
#[tokio::test]
async fn blank_padded_head_over_limit_is_431() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "settings:\n  limits: {maxHeaderBytes: 8192}\n", "")).await;

    for padding in [" ".repeat(10_000), "\x01".repeat(10_000)] {
        let request = format!("GET / HTTP/1.1\r\nHost: gw.test\r\nX-Pad: {padding}a\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 431, "{response}");
    }
    assert_eq!(upstream.request_count(), 0);
}

/// Only WebSocket is passed through as a protocol switch. After a switch to anything else, such
/// as `h2c`, the tunnel's requests would reach the upstream without routing, auth or logging.
#[tokio::test]
async fn non_websocket_upgrade_is_not_passed_through() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&single_route_spec(&upstream, "", "")).await;

    for protocol in ["h2c", "foo/1", "TLS/1.2"] {
        let request = format!(
            "GET /pub HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: {protocol}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        );
        let response = raw_exchange(gateway.address, request.as_bytes()).await;

        assert_eq!(status_of(&response), 200, "{protocol}: {response}");
        let echo = json_body_of(&response);
        assert!(echo["headers"].get("upgrade").is_none(), "{protocol}: the upstream got an Upgrade header: {echo}");
        assert!(echo["headers"].get("http2-settings").is_none(), "{protocol}: {echo}");
    }
}

/// A client that offers WebSocket beside another protocol must not get a tunnel to that other
/// protocol: the upstream is offered WebSocket alone, and a 101 to anything else is a 502 with no
/// tunnel, so later bytes on the connection cannot reach the upstream past routing and auth.
#[tokio::test]
async fn switch_to_other_protocol_opens_no_tunnel() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (heads_sender, mut heads) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let heads_sender = heads_sender.clone();
            tokio::spawn(async move {
                // Records each chunk it reads: the request head, then any bytes of a tunnel.
                let mut buffer = vec![0u8; 8192];
                let mut answered = false;
                while let Ok(read) = socket.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    heads_sender.send(String::from_utf8_lossy(&buffer[..read]).into_owned()).unwrap();
                    if !answered {
                        answered = true;
                        let switch = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
                        socket.write_all(switch.as_bytes()).await.unwrap();
                    }
                }
            });
        }
    });
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: chat\n    match: {{path: {{exact: /chat}}}}\n    upstream: app\n"
    );
    let gateway = Gateway::start(&spec).await;

    // Only `/chat` is routed: a `/private` request that reaches the upstream came through a tunnel.
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    let handshake = "GET /chat HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let response = read_head(&mut stream).await;
    let smuggled = stream.write_all(b"GET /private HTTP/1.1\r\nHost: gw.test\r\n\r\n").await;

    let offered = heads.recv().await.unwrap().to_ascii_lowercase();
    assert!(offered.contains("\r\nupgrade: websocket\r\n"), "the upstream was offered more than WebSocket: {offered}");
    assert_eq!(status_of(&response), 502, "{response}");
    if smuggled.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(heads.try_recv().is_err(), "bytes after the switch reached the upstream");
}

/// An upstream that responds early and then stops reading would hold the upload, and the client
/// connection, for as long as it liked. When the body moves no byte for the body timeout after
/// the response, the gateway closes the client connection.
#[tokio::test]
async fn upload_stalled_after_early_response_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await.unwrap();
        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        // Holds the connection without reading another byte.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(socket);
    });
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  limits: {{bodyTimeout: 300ms, maxBodyBytes: 268435456}}\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n"
    );
    let gateway = Gateway::start(&spec).await;
    let stream = TcpStream::connect(gateway.address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();

    let length: usize = 200 * 1024 * 1024;
    let sender = tokio::spawn(async move {
        writer.write_all(format!("POST /up HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {length}\r\n\r\n").as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        // Stops when the socket fails: the gateway closed it.
        while sent < length && writer.write_all(&chunk).await.is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let mut received = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), reader.read_to_end(&mut received)).await;

    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&received));
    assert!(closed.is_ok(), "the client connection stayed open for 20 s with its upload stalled");
    let sent = tokio::time::timeout(std::time::Duration::from_secs(10), sender).await.unwrap().unwrap();
    assert!(sent < length, "the whole upload went through, so nothing stalled");
    upstream.abort();
}
