//! TLS and mutual TLS on the admin listener, with a CA, a server certificate for 127.0.0.1 and
//! client certificates generated at test time.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gatectl_runtime::admin::tls::AdminTlsOptions;
use gatectl_runtime::{Runtime, RuntimeOptions, StartError};
use rustls::pki_types::ServerName;
use support::{ADMIN_TOKEN, Gateway, TestPki, Upstream, json_body_of, raw_exchange, runtime_binary, status_of};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on any single exchange, so that a broken listener fails the test instead of hanging it.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

/// PEM files of one test: the CA that issues server and client certificates, the admin
/// listener's certificate for 127.0.0.1, and a client certificate issued by the same CA.
struct Files {
    pki: TestPki,
    directory: tempfile::TempDir,
    ca: PathBuf,
    server_certificate: PathBuf,
    server_key: PathBuf,
    client_certificate: String,
    client_key: String,
}

impl Files {
    fn new() -> Self {
        let pki = TestPki::new();
        let directory = tempfile::tempdir().unwrap();
        let ca = write(directory.path(), "ca.pem", &pki.ca_pem);
        let (chain, key) = pki.issue(&["127.0.0.1"]);
        let server_certificate = write(directory.path(), "admin.crt", &chain);
        let server_key = write(directory.path(), "admin.key", &key);
        let (client_certificate, client_key) = pki.issue(&["operator.example.test"]);
        Self { pki, directory, ca, server_certificate, server_key, client_certificate, client_key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// Admin TLS options with this CA as the client CA.
    fn mutual(&self) -> AdminTlsOptions {
        let mut options = AdminTlsOptions::new(&self.server_certificate, &self.server_key);
        options.client_ca = Some(self.ca.clone());
        options
    }

    /// Builds a client configuration that trusts this CA and presents `identity` when given.
    fn client(&self, identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
        let config = self.pki.client_config(&[b"http/1.1"]);
        let Some((chain, key)) = identity else { return Arc::new(config) };
        let chain = rustls_pemfile::certs(&mut chain.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
        let key = rustls_pemfile::private_key(&mut key.as_bytes()).unwrap().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_pemfile::certs(&mut self.pki.ca_pem.as_bytes()) {
            roots.add(certificate.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Builds a client configuration that presents the client certificate of this test's CA.
    fn good_client(&self) -> Arc<rustls::ClientConfig> {
        self.client(Some((&self.client_certificate, &self.client_key)))
    }
}

fn write(directory: &Path, name: &str, contents: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn spec(upstream: &Upstream) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n",
        upstream.port()
    )
}

async fn gateway_with(upstream: &Upstream, tls: AdminTlsOptions) -> Gateway {
    Gateway::start_with(&spec(upstream), |options| options.admin_tls = Some(tls)).await
}

fn admin_address(gateway: &Gateway) -> SocketAddr {
    gateway.runtime.admin_address().unwrap()
}

fn localhost() -> ServerName<'static> {
    ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into())
}

/// Sends `GET path` over TLS with the token when given, and returns the raw HTTP/1.1 response.
/// Any TLS or I/O error, the handshake's included, is returned as the error.
async fn tls_get(address: SocketAddr, client: Arc<rustls::ClientConfig>, path: &str, token: Option<&str>) -> std::io::Result<String> {
    let exchange = async {
        let stream = TcpStream::connect(address).await?;
        let mut stream = tokio_rustls::TlsConnector::from(client).connect(localhost(), stream).await?;
        let authorization = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut output = Vec::new();
        match stream.read_to_end(&mut output).await {
            Ok(_) => {}
            // A server that closes without close_notify after a complete response is still a response.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !output.is_empty() => {}
            Err(error) => return Err(error),
        }
        Ok(String::from_utf8_lossy(&output).into_owned())
    };
    tokio::time::timeout(EXCHANGE_LIMIT, exchange).await.expect("the admin listener neither responded nor closed the connection")
}

/// Completes the client side of a TLS handshake and waits for the server's first bytes. In TLS
/// 1.3 the server checks the client certificate after the client has finished, so a rejection
/// arrives as an alert on this read. Returns the error, or panics when the server accepts.
async fn rejected_handshake(address: SocketAddr, client: Arc<rustls::ClientConfig>) -> std::io::Error {
    let exchange = async {
        let stream = TcpStream::connect(address).await?;
        let mut stream = tokio_rustls::TlsConnector::from(client).connect(localhost(), stream).await?;
        let mut byte = [0u8; 1];
        stream.read(&mut byte).await
    };
    match tokio::time::timeout(EXCHANGE_LIMIT, exchange).await {
        Ok(Err(error)) => error,
        Ok(Ok(read)) => panic!("the admin listener accepted the handshake and sent {read} bytes"),
        Err(_) => panic!("the admin listener accepted the handshake and waited for a request"),
    }
}

#[tokio::test]
async fn mtls_client_with_certificate_and_token_gets_status() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let response = tls_get(admin_address(&gateway), files.good_client(), "/status", Some(ADMIN_TOKEN)).await.unwrap();

    assert_eq!(status_of(&response), 200, "{response}");
    assert!(json_body_of(&response)["config"]["routes"].is_number(), "{response}");
}

#[tokio::test]
async fn mtls_client_without_certificate_fails_handshake() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let error = rejected_handshake(admin_address(&gateway), files.client(None)).await;

    assert!(error.to_string().contains("CertificateRequired"), "{error}");
}

/// Issues a client certificate from a new CA named `ca_name`; returns the PEM chain and key.
fn foreign_client_certificate(ca_name: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["operator.example.test".to_owned()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    (certificate.pem(), key.serialize_pem())
}

#[tokio::test]
async fn mtls_certificate_from_other_ca_fails_handshake() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;
    let (chain, key) = foreign_client_certificate("another CA");

    let error = rejected_handshake(admin_address(&gateway), files.client(Some((&chain, &key)))).await;

    assert!(error.to_string().contains("UnknownCA"), "{error}");
}

#[tokio::test]
async fn mtls_same_name_ca_fails_handshake() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;
    // Every TestPki CA has the same subject, so the server finds its trusted CA by the issuer
    // name and then rejects the signature, which rustls reports with a decrypt_error alert.
    let (chain, key) = TestPki::new().issue(&["operator.example.test"]);

    let error = rejected_handshake(admin_address(&gateway), files.client(Some((&chain, &key)))).await;

    assert!(error.to_string().contains("DecryptError"), "{error}");
}

#[tokio::test]
async fn mtls_client_without_token_gets_401() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let response = tls_get(admin_address(&gateway), files.good_client(), "/status", None).await.unwrap();

    assert_eq!(status_of(&response), 401, "{response}");
    assert!(response.to_ascii_lowercase().contains("www-authenticate: bearer"), "{response}");
}

#[tokio::test]
async fn mtls_client_with_wrong_token_gets_401() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let response = tls_get(admin_address(&gateway), files.good_client(), "/metrics", Some("not-the-token")).await.unwrap();

    assert_eq!(status_of(&response), 401, "{response}");
}

#[tokio::test]
async fn mtls_healthz_needs_certificate_but_no_token() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let response = tls_get(admin_address(&gateway), files.good_client(), "/healthz", None).await.unwrap();
    let error = rejected_handshake(admin_address(&gateway), files.client(None)).await;

    assert_eq!(status_of(&response), 200, "{response}");
    assert!(error.to_string().contains("CertificateRequired"), "{error}");
}

#[tokio::test]
async fn admin_tls_rejects_plain_http() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let request = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n");
    let response = raw_exchange(admin_address(&gateway), request.as_bytes()).await;

    assert!(!response.starts_with("HTTP/"), "plain HTTP got an HTTP response: {response:?}");
    assert!(!response.contains("\"config\""), "plain HTTP got the status body: {response:?}");
}

#[tokio::test]
async fn proxy_port_stays_plain_http_with_admin_mtls() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let gateway = gateway_with(&upstream, files.mutual()).await;

    let response = support::client().get(gateway.url("/orders")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["server"], "app");
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn admin_tls_without_client_ca_accepts_any_client() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let tls = AdminTlsOptions::new(&files.server_certificate, &files.server_key);
    let gateway = gateway_with(&upstream, tls).await;

    let response = tls_get(admin_address(&gateway), files.client(None), "/status", Some(ADMIN_TOKEN)).await.unwrap();

    assert_eq!(status_of(&response), 200, "{response}");
}

#[tokio::test]
async fn admin_tls_closes_silent_client_after_handshake_timeout() {
    let upstream = Upstream::start("app").await;
    let files = Files::new();
    let mut tls = files.mutual();
    tls.handshake_timeout = Duration::from_millis(200);
    let gateway = gateway_with(&upstream, tls).await;

    let mut stream = TcpStream::connect(admin_address(&gateway)).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(EXCHANGE_LIMIT, stream.read(&mut buffer)).await;

    let read = read.expect("the admin listener kept a silent connection open");
    assert_eq!(read.unwrap(), 0, "the admin listener sent bytes to a client that never started a handshake");
}

/// Starts a runtime whose admin TLS is `tls` and returns the start error's message.
async fn start_error(tls: AdminTlsOptions) -> String {
    let options = RuntimeOptions {
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        admin_tls: Some(tls),
        access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
        ..RuntimeOptions::default()
    };
    match Runtime::start(options).await {
        Ok(_) => panic!("the runtime started with invalid admin TLS files"),
        Err(error @ StartError::AdminTls(_)) => error.to_string(),
        Err(other) => panic!("expected an admin TLS error, got: {other}"),
    }
}

#[tokio::test]
async fn admin_tls_start_errors_name_flag_and_file() {
    let files = Files::new();
    let missing = files.path("missing.crt");
    let not_pem = write(files.directory.path(), "notes.txt", "not a certificate\n");
    let (_, other_key) = files.pki.issue(&["127.0.0.1"]);
    let other_key = write(files.directory.path(), "other.key", &other_key);

    let cases = [
        (AdminTlsOptions::new(&missing, &files.server_key), "--admin-tls-cert", missing.clone(), "cannot read the file"),
        (AdminTlsOptions::new(&not_pem, &files.server_key), "--admin-tls-cert", not_pem.clone(), "contains no PEM certificate"),
        (AdminTlsOptions::new(&files.server_certificate, &missing), "--admin-tls-key", missing.clone(), "cannot read the file"),
        (
            AdminTlsOptions::new(&files.server_certificate, &files.server_certificate),
            "--admin-tls-key",
            files.server_certificate.clone(),
            "contains no PEM private key",
        ),
        (
            AdminTlsOptions::new(&files.server_certificate, &other_key),
            "--admin-tls-key",
            other_key.clone(),
            "does not match the certificate",
        ),
        (
            AdminTlsOptions { client_ca: Some(not_pem.clone()), ..files.mutual() },
            "--admin-client-ca",
            not_pem.clone(),
            "contains no PEM certificate",
        ),
        (
            AdminTlsOptions { client_ca: Some(missing.clone()), ..files.mutual() },
            "--admin-client-ca",
            missing.clone(),
            "cannot read the file",
        ),
    ];

    for (options, flag, path, problem) in cases {
        let message = start_error(options).await;
        assert!(message.contains(flag), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(problem), "{message}");
    }
}

/// Reads the runtime binary's JSON log on standard error until the start line, and returns the
/// admin address it reports.
async fn started_admin_address(stderr: tokio::process::ChildStderr) -> SocketAddr {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let started = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if entry["fields"]["message"] == "gatectl-runtime started" {
                return entry["fields"]["admin"].as_str().unwrap().parse().unwrap();
            }
        }
        panic!("gatectl-runtime exited before it started");
    };
    tokio::time::timeout(EXCHANGE_LIMIT, started).await.expect("gatectl-runtime did not log its start")
}

#[tokio::test]
async fn runtime_binary_serves_admin_over_mtls() {
    let files = Files::new();
    let mut child = runtime_binary()
        .args(["--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--admin-tls-cert")
        .arg(&files.server_certificate)
        .arg("--admin-tls-key")
        .arg(&files.server_key)
        .arg("--admin-client-ca")
        .arg(&files.ca)
        .spawn()
        .unwrap();
    let address = started_admin_address(child.stderr.take().unwrap()).await;

    let response = tls_get(address, files.good_client(), "/status", Some(ADMIN_TOKEN)).await.unwrap();
    let error = rejected_handshake(address, files.client(None)).await;
    child.kill().await.unwrap();

    assert_eq!(status_of(&response), 200, "{response}");
    assert!(error.to_string().contains("CertificateRequired"), "{error}");
}

#[tokio::test]
async fn runtime_binary_rejects_client_ca_without_certificate() {
    let files = Files::new();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatectl-runtime"))
        .args(["--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--admin-client-ca")
        .arg(&files.ca)
        .output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--admin-tls-cert"), "{stderr}");
}

#[tokio::test]
async fn runtime_binary_reports_mismatched_key() {
    let files = Files::new();
    let (_, other_key) = files.pki.issue(&["127.0.0.1"]);
    let other_key = write(files.directory.path(), "other.key", &other_key);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatectl-runtime"))
        .args(["--admin-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--admin-tls-cert")
        .arg(&files.server_certificate)
        .arg("--admin-tls-key")
        .arg(&other_key)
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--admin-tls-key"), "{stderr}");
    assert!(stderr.contains(&other_key.display().to_string()), "{stderr}");
    assert!(stderr.contains("does not match the certificate"), "{stderr}");
}
