//! Helpers for the enforcement tests: an RSA signing key generated at test time, signed and
//! unsigned tokens, and a `redis-server` on a free 127.0.0.1 port.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Path of the Redis server binary the tests start.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A 2048-bit RSA key pair for RS256 tokens.
pub struct RsaKey {
    pub kid: String,
    pub public_pem: String,
    /// The RSA modulus, big-endian.
    modulus: Vec<u8>,
    encoding: EncodingKey,
}

impl RsaKey {
    /// Generates a key with the `openssl` command, because ring (under rcgen) cannot generate
    /// RSA keys.
    pub fn generate(kid: &str) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let private_path = directory.path().join("private.pem");
        let private = private_path.to_str().unwrap();
        run_openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private]);
        let public_pem = String::from_utf8(run_openssl(&["pkey", "-in", private, "-pubout"])).unwrap();
        let modulus_line = String::from_utf8(run_openssl(&["rsa", "-in", private, "-noout", "-modulus"])).unwrap();
        let modulus = hex::decode(modulus_line.trim().trim_start_matches("Modulus=")).unwrap();
        let private_pem = std::fs::read(&private_path).unwrap();
        Self { kid: kid.to_owned(), public_pem, modulus, encoding: EncodingKey::from_rsa_pem(&private_pem).unwrap() }
    }

    /// Returns the public key as a JWK (RFC 7517), with the usual exponent 65537.
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(&self.modulus), "e": "AQAB"})
    }

    /// Returns the spec's `keys` entry for this key.
    pub fn static_key(&self) -> Value {
        json!({"kid": self.kid, "algorithm": "RS256", "publicKey": self.public_pem})
    }

    /// Signs `claims` with RS256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn run_openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl").args(args).output().expect("openssl must be installed to generate RSA test keys");
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// Returns claims for `subject` that expire in ten minutes, with the given `scope` claim.
pub fn claims(subject: &str, scope: &str) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({"sub": subject, "iat": now, "exp": now + 600, "scope": scope})
}

/// Builds a token with header `{"alg": "none"}` and an empty signature.
pub fn unsigned_token(claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    format!("{}.{}.", encode(&json!({"alg": "none", "typ": "JWT"})), encode(claims))
}

/// A `redis-server` process on 127.0.0.1 without persistence, stopped when dropped.
pub struct RedisServer {
    pub port: u16,
    process: Child,
}

impl RedisServer {
    /// Starts the server and waits until it accepts connections. Panics when it cannot start,
    /// so a machine without Redis fails the test instead of skipping it.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the server with more `redis-server` arguments.
    pub fn start_with(arguments: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new(REDIS_SERVER)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(arguments)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {REDIS_SERVER}: {error}; install it with `apt-get install -y redis-server`"));
        let server = Self { port, process };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not accept connections on 127.0.0.1:{port} within five seconds");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Serves one JSON document on every path of a 127.0.0.1 port, for example a JWKS.
pub async fn serve_json(document: Value) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    serve_json_on(listener, document);
    address
}

/// Serves one JSON document on `port` of 127.0.0.1 until the returned task is aborted.
pub async fn serve_json_at(port: u16, document: Value) -> tokio::task::JoinHandle<()> {
    serve_json_on(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap(), document)
}

fn serve_json_on(listener: tokio::net::TcpListener, document: Value) -> tokio::task::JoinHandle<()> {
    let body = Bytes::from(document.to_string());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let response = hyper::Response::builder().header("content-type", "application/json").body(Full::new(body.clone()));
                    async move { Ok::<_, Infallible>(response.unwrap()) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}
