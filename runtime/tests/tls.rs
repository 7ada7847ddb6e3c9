//! HTTP/2 and TLS: h2c by prior knowledge, TLS with ALPN and SNI, and TLS towards upstreams.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Gateway, TestPki, Upstream};
use tokio::net::TcpStream;

/// Sends one request over a TLS connection to `address` with this SNI name and ALPN list, and
/// returns the HTTP version used and the upstream's JSON echo.
async fn tls_get(pki: &TestPki, address: SocketAddr, server_name: &str, alpn: &[&[u8]]) -> (Version, serde_json::Value) {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(pki.client_config(alpn)));
    let stream = TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let stream = connector.connect(name, stream).await.unwrap();
    let is_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let request = Request::get(format!("https://{server_name}/tls")).header("host", server_name).body(Empty::<Bytes>::new()).unwrap();
    let response = if is_h2 {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let mut request = request;
        request.headers_mut().remove("host");
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let (mut parts, body) = request.into_parts();
        parts.uri = "/tls".parse().unwrap();
        sender.send_request(Request::from_parts(parts, body)).await.unwrap()
    };
    let version = response.version();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (version, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn tls_listener_negotiates_alpn_and_sni() {
    let upstream = Upstream::start("app").await;
    let pki = TestPki::new();
    let directory = tempfile::tempdir().unwrap();
    let mut certificates = String::new();
    for (index, name) in ["api.example.test", "other.example.test"].iter().enumerate() {
        let (chain, key) = pki.issue(&[name]);
        let chain_path = directory.path().join(format!("{index}.crt"));
        let key_path = directory.path().join(format!("{index}.key"));
        std::fs::write(&chain_path, chain).unwrap();
        std::fs::write(&key_path, key).unwrap();
        certificates.push_str(&format!(
            "          - {{hosts: [{name}], certificate: {}, key: \"file:{}\"}}\n",
            chain_path.display(),
            key_path.display()
        ));
    }
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  listeners:\n    - name: secure\n      protocol: https\n      address: 127.0.0.1:0\n      tls:\n        certificates:\n{certificates}upstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;

    let (version, echo) = tls_get(&pki, gateway.address, "api.example.test", &[b"h2", b"http/1.1"]).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
    assert_eq!(echo["headers"]["host"][0], "api.example.test", "the HTTP/2 authority becomes the upstream Host");

    let (version, _) = tls_get(&pki, gateway.address, "api.example.test", &[b"http/1.1"]).await;
    assert_eq!(version, Version::HTTP_11);

    // Certificate verification fails unless the listener picked the certificate for this name.
    let (version, echo) = tls_get(&pki, gateway.address, "other.example.test", &[b"h2"]).await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(echo["server"], "app");
}

#[tokio::test]
async fn h2c_prior_knowledge_both_sides() {
    let upstream = Upstream::start("grpc").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: grpc\n    scheme: h2c\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: grpc\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();

    let request = Request::get(gateway.url("/pkg.Service/Method")).header("te", "trailers").body(Empty::new()).unwrap();
    let response = client.request(request).await.unwrap();

    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status().as_u16(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["headers"]["te"][0], "trailers", "gRPC needs `TE: trailers` on the HTTP/2 hop");

    let from_http1: serde_json::Value = support::client().get(gateway.url("/plain")).send().await.unwrap().json().await.unwrap();
    assert_eq!(from_http1["version"], "HTTP/2.0", "an HTTP/1.1 client request still reaches an h2c upstream over HTTP/2");
}

#[tokio::test]
async fn https_upstream_with_custom_ca_and_sni() {
    let pki = TestPki::new();
    let upstream = Upstream::start_with_tls("secure-app", Some(pki.server_config(&["backend.internal.test"]))).await;
    let directory = tempfile::tempdir().unwrap();
    let ca_path = directory.path().join("ca.pem");
    std::fs::write(&ca_path, &pki.ca_pem).unwrap();
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    scheme: https\n    targets: [{{host: 127.0.0.1, port: {}}}]\n    tls: {{ca: {}, sni: backend.internal.test}}\n  - name: wrong-name\n    scheme: https\n    targets: [{{host: 127.0.0.1, port: {}}}]\n    tls: {{ca: {}, sni: elsewhere.test}}\nroutes:\n  - name: good\n    match: {{path: {{prefix: /good}}}}\n    upstream: app\n  - name: bad\n    match: {{path: {{prefix: /bad}}}}\n    upstream: wrong-name\n",
        upstream.port(),
        ca_path.display(),
        upstream.port(),
        ca_path.display()
    );
    let gateway = Gateway::start(&spec).await;

    let good = support::client().get(gateway.url("/good")).send().await.unwrap();
    assert_eq!(good.status().as_u16(), 200);
    let echo: serde_json::Value = good.json().await.unwrap();
    assert_eq!(echo["server"], "secure-app");

    let bad = support::client().get(gateway.url("/bad")).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 502, "a certificate for another name must fail verification");
}

#[tokio::test]
async fn h2c_response_trailers_pass_through() {
    let upstream = Upstream::start("grpc").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: grpc\n    scheme: h2c\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: grpc\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();

    let request = Request::post(gateway.url("/trailers")).header("te", "trailers").body(Empty::new()).unwrap();
    let response = client.request(request).await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("the upstream's trailers must reach the client");
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test]
async fn idle_http2_connection_is_closed() {
    let upstream = Upstream::start("app").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  limits: {{idleTimeout: 300ms}}\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;
    let stream = TcpStream::connect(gateway.address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    let connection = tokio::spawn(connection);

    let request = Request::get(gateway.url("/first")).body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.into_body().collect().await.unwrap();

    // With no request in progress, the gateway ends the connection after the idle timeout.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection was still open after 10 s");
    assert!(sender.is_closed());
}

#[tokio::test]
async fn http2_connection_without_request_is_closed() {
    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&short_header_timeout_spec(&upstream)).await;
    let stream = TcpStream::connect(gateway.address).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    let connection = tokio::spawn(connection);

    // No request within the header timeout: the gateway ends the connection long before the
    // 60 s idle timeout.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "the HTTP/2 connection without a request was still open after 10 s");
    assert!(sender.is_closed());
}

#[tokio::test]
async fn silent_http2_client_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&short_header_timeout_spec(&upstream)).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    // The connection preface and an empty SETTINGS frame, then nothing: no SETTINGS or PING
    // acknowledgement ever comes back.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();

    let drained = async {
        let mut buffer = [0u8; 1024];
        while stream.read(&mut buffer).await.is_ok_and(|count| count > 0) {}
    };
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), drained).await;
    assert!(closed.is_ok(), "the gateway kept a silent HTTP/2 connection open for 10 s");
}

/// hyper waits for the whole HTTP/2 preface before it picks the protocol, so a preface that
/// arrives in parts must not be timed or cleaned as an HTTP/1.1 head.
#[tokio::test]
async fn split_http2_preface_gets_no_http1_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let upstream = Upstream::start("app").await;
    let gateway = Gateway::start(&short_header_timeout_spec(&upstream)).await;
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();

    stream.write_all(b"PRI * HT").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stream.write_all(b"TP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut received)).await;

    assert!(received.len() >= 9, "no HTTP/2 frame came back: {received:?}");
    assert_eq!(received[3], 0x04, "the first frame is not SETTINGS: {received:?}");
    assert!(
        !received.windows(8).any(|window| window == b"HTTP/1.1"),
        "an HTTP/1.1 response was written: {}",
        String::from_utf8_lossy(&received)
    );
}

/// Returns a spec with a 300 ms header timeout and a long idle timeout, routing everything to
/// `upstream`.
fn short_header_timeout_spec(upstream: &Upstream) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  limits: {{headerTimeout: 300ms, idleTimeout: 60s}}\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n",
        upstream.port()
    )
}
