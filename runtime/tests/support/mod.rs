//! Shared helpers for the runtime's integration tests: an echoing upstream server, raw HTTP
//! exchanges and an in-process gateway, all on 127.0.0.1 with ephemeral ports.

#![allow(dead_code, reason = "each test binary uses a different subset of these helpers")]

pub mod enforce;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gatectl_runtime::observe::access_log::AccessLogTarget;
use gatectl_runtime::{RunningRuntime, Runtime, RuntimeOptions};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// An upstream that returns a JSON echo of every request it receives.
///
/// Special paths:
/// - `/status/NNN` responds with that status.
/// - `/slow/MS` waits MS milliseconds before the response head.
/// - `/drip/MS` sends the body's last byte after MS milliseconds.
/// - `/hop` responds with hop-by-hop headers.
/// - `/trailers` ends the body with a `grpc-status` trailer.
/// - `/healthz` responds 200 or 503 per [`Upstream::set_healthy`], and is not counted.
///
/// Upgrade requests get 101, a `hello` WebSocket text frame, then an echo of each client frame.
#[derive(Clone)]
pub struct Upstream {
    pub name: String,
    pub address: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
}

impl Upstream {
    pub async fn start(name: &str) -> Self {
        Self::start_with_tls(name, None).await
    }

    /// Starts the upstream behind TLS when `tls` is given (HTTP/1.1 and h2 by ALPN).
    pub async fn start_with_tls(name: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Self {
            name: name.to_owned(),
            address: listener.local_addr().unwrap(),
            requests: Arc::default(),
            healthy: Arc::new(AtomicBool::new(true)),
        };
        let server = upstream.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let server = server.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.answer(request).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
                        }
                        Some(config) => {
                            let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(stream).await else { return };
                            let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        upstream
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    async fn answer(&self, mut request: Request<Incoming>) -> Response<TestBody> {
        let path = request.uri().path().to_owned();
        if path == "/healthz" {
            let status = if self.healthy.load(Ordering::SeqCst) { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            return Response::builder().status(status).body(full(Bytes::new())).unwrap();
        }

        self.requests.fetch_add(1, Ordering::SeqCst);
        if request.headers().contains_key(http::header::UPGRADE) {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(websocket_echo(upgrade));
            return Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
                .body(full(Bytes::new()))
                .unwrap();
        }

        if let Some(milliseconds) = path.strip_prefix("/slow/").and_then(|text| text.parse().ok()) {
            tokio::time::sleep(Duration::from_millis(milliseconds)).await;
        }

        // Responds at once and streams the request body back as it arrives.
        if path == "/stream" {
            let frames = http_body_util::BodyStream::new(request.into_body())
                .filter_map(|frame| std::future::ready(frame.ok().and_then(|frame| frame.into_data().ok())))
                .map(|data| Ok(Frame::data(data)));
            return Response::builder().body(BodyExt::boxed(StreamBody::new(frames))).unwrap();
        }

        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in request.headers() {
            headers.entry(name.to_string()).or_default().push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let version = format!("{:?}", request.version());
        let collected = request.into_body().collect().await.ok();
        let mut trailers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in collected.as_ref().and_then(|collected| collected.trailers()).into_iter().flatten() {
            trailers.insert(name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        let body = collected.map(|collected| collected.to_bytes()).unwrap_or_default();
        let echo = serde_json::json!({
            "server": self.name,
            "method": method,
            "uri": uri,
            "version": version,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "trailers": trailers,
        });

        let mut response = Response::builder().header("content-type", "application/json");
        if let Some(status) = path.strip_prefix("/status/").and_then(|text| text.parse::<u16>().ok()) {
            response = response.status(status);
        }
        if path == "/hop" {
            response = response
                .header("connection", "X-Upstream-Secret")
                .header("x-upstream-secret", "1")
                .header("keep-alive", "timeout=5")
                .header("proxy-authenticate", "Basic")
                .header("trailer", "X-Checksum")
                .header("x-upstream-kept", "1");
        }

        if let Some(milliseconds) = path.strip_prefix("/drip/").and_then(|text| text.parse().ok()) {
            let first = Bytes::from(echo.to_string());
            let chunks =
                futures_util::stream::iter([(first, 0u64), (Bytes::from_static(b" "), milliseconds)]).then(|(chunk, delay)| async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    Ok(Frame::data(chunk))
                });
            return response.body(BodyExt::boxed(StreamBody::new(chunks))).unwrap();
        }

        if path == "/trailers" {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = vec![Ok(Frame::data(Bytes::from(echo.to_string()))), Ok(Frame::trailers(trailers))];
            return response.body(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))).unwrap();
        }

        response.body(full(Bytes::from(echo.to_string()))).unwrap()
    }
}

/// The body type of the test upstream's responses.
pub type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(bytes: Bytes) -> TestBody {
    Full::new(bytes).boxed()
}

async fn websocket_echo(upgrade: hyper::upgrade::OnUpgrade) {
    let Ok(upgraded) = upgrade.await else { return };
    let mut stream = TokioIo::new(upgraded);
    if stream.write_all(&server_frame(b"hello")).await.is_err() {
        return;
    }
    while let Some(payload) = read_client_frame(&mut stream).await {
        let mut reply = b"echo: ".to_vec();
        reply.extend_from_slice(&payload);
        if stream.write_all(&server_frame(&reply)).await.is_err() {
            return;
        }
    }
}

/// Sends a WebSocket handshake for `path` with this `Connection` value and returns the stream
/// and the response head.
pub async fn open_websocket(address: std::net::SocketAddr, path: &str, connection: &str) -> (tokio::net::TcpStream, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let handshake = format!(
        "GET {path} HTTP/1.1\r\nHost: gw.test\r\nConnection: {connection}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    (stream, head)
}

/// Opens an HTTP/2 connection with prior knowledge (h2c) to `address` and returns its sender.
pub async fn http2_sender(address: SocketAddr) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Reads a response head byte by byte, up to and including its blank line, and leaves what
/// follows it unread.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Encodes an unmasked text frame, as a server sends it (payloads under 126 bytes).
pub fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// Encodes a masked text frame, as a client sends it (payloads under 126 bytes).
pub fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]));
    frame
}

async fn read_client_frame<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    let length = usize::from(head[1] & 0x7f);
    let mut mask = [0u8; 4];
    stream.read_exact(&mut mask).await.ok()?;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]).collect())
}

/// Reads one unmasked server frame's payload.
pub async fn read_server_frame<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.unwrap();
    let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
    stream.read_exact(&mut payload).await.unwrap();
    payload
}

/// A gateway started in-process, with its access log in a temporary file.
pub struct Gateway {
    pub runtime: RunningRuntime,
    pub address: SocketAddr,
    pub access_log: PathBuf,
    _directory: tempfile::TempDir,
}

impl Gateway {
    pub async fn start(spec_yaml: &str) -> Self {
        Self::start_with(spec_yaml, |_| {}).await
    }

    pub async fn start_with(spec_yaml: &str, adjust: impl FnOnce(&mut RuntimeOptions)) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let access_log = directory.path().join("access.log");
        let mut options = RuntimeOptions {
            spec: Some(parse_spec(spec_yaml)),
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            admin_tls: None,
            access_log: Some(AccessLogTarget::File(access_log.clone())),
            drain_timeout: Duration::from_secs(5),
            admin_header_timeout: Duration::from_secs(10),
            redis_url: None,
            bundles: Default::default(),
        };
        adjust(&mut options);
        let runtime = Runtime::start(options).await.unwrap();
        let address = runtime.proxy_addresses()[0];
        Self { runtime, address, access_log, _directory: directory }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.runtime.admin_address().unwrap())
    }

    /// Reads the access log, waiting up to five seconds for `count` lines to be written.
    pub async fn access_log_lines(&self, count: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let text = tokio::fs::read_to_string(&self.access_log).await.unwrap_or_default();
            // The writer may be in the middle of a batch: a line counts once its newline is there.
            let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            let lines: Vec<serde_json::Value> = whole.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
            if lines.len() >= count {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the access log did not reach {count} lines");
    }
}

pub fn parse_spec(yaml: &str) -> gatectl_spec::Spec {
    let loaded = gatectl_spec::load::load_str("spec.yaml", yaml);
    loaded.spec.unwrap_or_else(|| panic!("test spec is invalid: {:?}", loaded.diagnostics))
}

/// Builds a plain HTTP client that does not pool connections, so every request opens a new one.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build().unwrap()
}

/// Sends raw bytes and returns everything the server sent until it closed the connection.
pub async fn raw_exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut output = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut output)).await;
    String::from_utf8_lossy(&output).into_owned()
}

/// Reads one HTTP/1.1 response with a Content-Length body from a kept-alive connection.
pub async fn read_response(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|value| value.trim().parse().unwrap()))
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    format!("{head}{}", String::from_utf8(body).unwrap())
}

/// Returns the status code of a raw HTTP/1.1 response.
pub fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Returns the JSON body of a raw HTTP/1.1 response with a Content-Length.
pub fn json_body_of(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|error| panic!("body is not JSON ({error}): {response:?}"))
}

/// Returns a command for the `gatectl-runtime` binary of this build, with the environment's admin token and Redis
/// URL removed, `RUST_LOG=info`, its JSON log piped from standard error, and killed on drop.
pub fn runtime_binary() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatectl-runtime"));
    command
        .env_remove("GATECTL_ADMIN_TOKEN")
        .env_remove("GATECTL_REDIS_URL")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Returns a port where nothing listens, because it was bound once and then released.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A certificate authority generated at test time, which issues server certificates.
pub struct TestPki {
    pub ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl TestPki {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "gatectl test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Self { ca_pem: ca.pem(), ca, ca_key }
    }

    /// Issues a certificate for `names`; returns the PEM chain and the PEM private key.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let params = rcgen::CertificateParams::new(names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    /// Builds a rustls server configuration for `names` that offers h2 and HTTP/1.1.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let (chain, key) = self.issue(names);
        let chain = rustls_pemfile::certs(&mut chain.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
        let key = rustls_pemfile::private_key(&mut key.as_bytes()).unwrap().unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Builds a rustls client configuration that trusts only this CA.
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_pemfile::certs(&mut self.ca_pem.as_bytes()) {
            roots.add(certificate.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        config
    }
}
