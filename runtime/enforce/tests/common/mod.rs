//! Test helpers: keys generated at test time, signed tokens, local HTTP servers and Redis.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use gatectl_enforce::{Enforcer, EnforcerOptions, ManualClock};
use gatectl_spec::Spec;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// A signing key with its public half as PEM and as a JWK.
pub struct TestKey {
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub public_pem: String,
    pub jwk: Value,
    /// The DER bytes of the public key, for algorithm-confusion attacks.
    pub public_der: Vec<u8>,
}

/// Generates a 2048-bit RSA key with the `openssl` command.
pub fn rsa_key(algorithm: Algorithm, kid: &str) -> TestKey {
    let directory = tempfile::tempdir().unwrap();
    let private_path = directory.path().join("key.pem");
    let run = |args: &[&str]| {
        let output = Command::new("openssl").args(args).output().expect("openssl must be installed to generate RSA test keys");
        assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let private = private_path.to_str().unwrap();
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private]);
    let public_pem = String::from_utf8(run(&["pkey", "-in", private, "-pubout"])).unwrap();
    let public_der = run(&["pkey", "-in", private, "-pubout", "-outform", "DER"]);
    let modulus_line = String::from_utf8(run(&["rsa", "-in", private, "-noout", "-modulus"])).unwrap();
    let modulus = hex::decode(modulus_line.trim().trim_start_matches("Modulus=")).unwrap();
    let private_pem = std::fs::read(&private_path).unwrap();
    TestKey {
        algorithm,
        encoding: EncodingKey::from_rsa_pem(&private_pem).unwrap(),
        public_pem,
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB"}),
        public_der,
    }
}

/// Generates an EC (P-256 or P-384) or Ed25519 key with rcgen.
pub fn rcgen_key(algorithm: Algorithm, kid: &str) -> TestKey {
    let (rcgen_algorithm, curve) = match algorithm {
        Algorithm::ES256 => (&rcgen::PKCS_ECDSA_P256_SHA256, "P-256"),
        Algorithm::ES384 => (&rcgen::PKCS_ECDSA_P384_SHA384, "P-384"),
        Algorithm::EdDSA => (&rcgen::PKCS_ED25519, "Ed25519"),
        other => panic!("rcgen_key does not make {other:?} keys"),
    };
    let pair = rcgen::KeyPair::generate_for(rcgen_algorithm).unwrap();
    let private_pem = pair.serialize_pem();
    let raw = pair.public_key_raw().to_vec();
    let (encoding, jwk) = if algorithm == Algorithm::EdDSA {
        (
            EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
            json!({"kty": "OKP", "crv": curve, "kid": kid, "x": URL_SAFE_NO_PAD.encode(&raw)}),
        )
    } else {
        let coordinate = (raw.len() - 1) / 2;
        let x = URL_SAFE_NO_PAD.encode(&raw[1..1 + coordinate]);
        let y = URL_SAFE_NO_PAD.encode(&raw[1 + coordinate..]);
        (EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(), json!({"kty": "EC", "crv": curve, "kid": kid, "x": x, "y": y}))
    };
    TestKey { algorithm, encoding, public_pem: pair.public_key_pem(), jwk, public_der: pair.public_key_der() }
}

/// Signs claims with a key, setting `kid` when given.
pub fn sign(key: &TestKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Builds a token from raw header and claims JSON with the given signature part.
pub fn unsigned_token(header: &Value, claims: &Value, signature: &str) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    format!("{}.{}.{signature}", encode(header), encode(claims))
}

pub fn now_seconds(clock: &ManualClock) -> i64 {
    use gatectl_enforce::Clock;
    clock.unix_seconds() as i64
}

pub fn spec_from(value: Value) -> Spec {
    serde_json::from_value(value).expect("test spec must deserialize")
}

pub async fn enforcer(spec: &Spec, clock: Arc<ManualClock>) -> Enforcer {
    Enforcer::new(spec, EnforcerOptions { clock, ..EnforcerOptions::default() }).await.expect("enforcer must build")
}

pub fn bearer(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    headers
}

pub fn uri(text: &str) -> http::Uri {
    text.parse().unwrap()
}

/// A recorded request to a [`TestServer`].
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub body: Bytes,
}

/// A response a [`TestServer`] gives: status, headers and body.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A local HTTP/1.1 server on 127.0.0.1 that records requests and returns a canned response
/// that tests may change.
pub struct TestServer {
    pub address: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub response: Arc<Mutex<Canned>>,
}

impl TestServer {
    pub async fn start(response: Canned) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let response = Arc::new(Mutex::new(response));
        let (task_requests, task_response) = (requests.clone(), response.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (requests, response) = (task_requests.clone(), task_response.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (requests, response) = (requests.clone(), response.clone());
                        async move {
                            let method = request.method().to_string();
                            let body = request.into_body().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
                            requests.lock().unwrap().push(Recorded { method, body });
                            let canned = response.lock().unwrap().clone();
                            let mut builder = hyper::Response::builder().status(canned.status);
                            for (name, value) in &canned.headers {
                                builder = builder.header(name, value);
                            }
                            Ok::<_, Infallible>(builder.body(Full::new(Bytes::from(canned.body))).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { address, requests, response }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn set_body(&self, body: String) {
        self.response.lock().unwrap().body = body;
    }
}

/// Serves a JWKS document with the given keys.
pub async fn jwks_server(keys: &[&TestKey], cache_control: &str) -> TestServer {
    TestServer::start(Canned {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into()), ("cache-control".into(), cache_control.into())],
        body: jwks_body(keys),
    })
    .await
}

pub fn jwks_body(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// A `redis-server` on a free 127.0.0.1 port, without persistence, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts Redis. Panics with an install hint when `redis-server` is missing: these tests
    /// need the real server, and `scripts/test.sh` installs it.
    pub fn start() -> Self {
        // The probe listener must be closed before Redis starts: as a temporary in the call
        // below, it would stay open during the call and take Redis's connections.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    /// Starts Redis on `port` of 127.0.0.1.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts Redis on `port` of 127.0.0.1 with more `redis-server` arguments.
    pub fn start_with(port: u16, arguments: &[&str]) -> Self {
        if Command::new("redis-server").arg("--version").output().is_err() {
            panic!("redis-server is not installed; install it with `apt-get install -y redis-server` or run scripts/test.sh");
        }
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(arguments)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must start");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, child };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not accept connections on 127.0.0.1:{port} within 5 s");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server with SIGSTOP: connections stay open and nothing replies.
    pub fn pause(&self) {
        let status = Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status().expect("kill must run");
        assert!(status.success(), "SIGSTOP failed");
    }

    /// Lets a paused server go on with SIGCONT.
    pub fn resume(&self) {
        let status = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status().expect("kill must run");
        assert!(status.success(), "SIGCONT failed");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
