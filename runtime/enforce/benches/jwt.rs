//! Bearer-token authentication with RS256 (2048-bit), ES256 and EdDSA keys generated at start.
//!
//! Every measurement goes through `Enforcer::authenticate`, which reads the `Authorization`
//! header, verifies the token and builds the identity. Each JWT provider keeps a cache of
//! verified tokens keyed by the token's SHA-256 (at most 10,000 tokens, cleared when full of
//! live ones), so two cases are measured:
//!
//! - `cache_hit`: the same token on every request. The signature is checked once, then every
//!   request hashes the token, finds its claims and checks them again.
//! - `cache_miss`: a new token on every request, drawn in order from a pool larger than the
//!   cache. Because the cache is cleared every 10,000 insertions, no token is still cached
//!   when its turn comes again. This includes header parsing, key selection, the signature
//!   check, the claim checks and the insertion into the cache. One miss in 10,000 also pays for
//!   clearing the full cache.
//!
//! `RS256-jwks` is the RS256 miss with the key taken from a JWKS document. A server on
//! 127.0.0.1 serves it once at start, and the key set stays cached for the whole run.
//!
//! ```sh
//! CARGO_TARGET_DIR=target/bench cargo bench -p gatectl-enforce --bench jwt -- --warm-up-time 1 --measurement-time 3
//! ```

use std::cell::Cell;
use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatectl_enforce::{Enforcer, EnforcerOptions};
use http::{HeaderMap, Uri};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// Distinct tokens per algorithm for the miss case. It must exceed the verifier's cache
/// capacity of 10,000 tokens, or tokens would come back while still cached.
const MISS_POOL_SIZE: usize = 10_007;
const ISSUER: &str = "https://issuer.example.test/";
const AUDIENCE: &str = "bench-api";
const RSA_KID: &str = "rsa-1";

/// A private key for signing tokens, and the spec entry of its public half.
struct SigningKey {
    algorithm: Algorithm,
    kid: &'static str,
    encoding: EncodingKey,
    static_key: Value,
}

/// Generates a 2048-bit RSA key with the `openssl` command, because ring (under rcgen) cannot
/// generate RSA keys. Returns the key and its public JWK.
fn rsa_key() -> (SigningKey, Value) {
    let directory = tempfile::tempdir().expect("a temporary directory for the RSA key");
    let private_path = directory.path().join("private.pem");
    let private = private_path.to_str().expect("the temporary path is UTF-8");
    run_openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private]);
    let public_pem = String::from_utf8(run_openssl(&["pkey", "-in", private, "-pubout"])).expect("PEM is ASCII");
    let modulus_line = String::from_utf8(run_openssl(&["rsa", "-in", private, "-noout", "-modulus"])).expect("hex is ASCII");
    let modulus = hex::decode(modulus_line.trim().trim_start_matches("Modulus=")).expect("openssl prints the modulus in hex");
    let private_pem = std::fs::read(&private_path).expect("openssl wrote the private key");

    let jwk = json!({"kty": "RSA", "kid": RSA_KID, "use": "sig", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB"});
    let key = SigningKey {
        algorithm: Algorithm::RS256,
        kid: RSA_KID,
        encoding: EncodingKey::from_rsa_pem(&private_pem).expect("openssl writes a PKCS#8 RSA key"),
        static_key: json!({"kid": RSA_KID, "algorithm": "RS256", "publicKey": public_pem}),
    };
    (key, jwk)
}

fn run_openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl").args(args).output().expect("openssl must be installed to generate the RSA key");
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// Generates an ES256 (P-256) or EdDSA (Ed25519) key with rcgen.
fn rcgen_key(algorithm: Algorithm, kid: &'static str) -> SigningKey {
    let (rcgen_algorithm, name) = match algorithm {
        Algorithm::ES256 => (&rcgen::PKCS_ECDSA_P256_SHA256, "ES256"),
        Algorithm::EdDSA => (&rcgen::PKCS_ED25519, "EdDSA"),
        other => panic!("rcgen_key makes only ES256 and EdDSA keys, not {other:?}"),
    };
    let pair = rcgen::KeyPair::generate_for(rcgen_algorithm).expect("rcgen generates the key");
    let private_pem = pair.serialize_pem();
    let encoding = match algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(private_pem.as_bytes()),
    }
    .expect("rcgen writes a PKCS#8 key");
    SigningKey { algorithm, kid, encoding, static_key: json!({"kid": kid, "algorithm": name, "publicKey": pair.public_key_pem()}) }
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("signing with a generated key succeeds")
}

/// Returns claims that pass every check of the providers below for the next hour.
fn claims(subject: &str, token_id: usize) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 3600, "jti": token_id.to_string()})
}

fn bearer_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("a token is a valid header value"));
    headers
}

/// Serves one JWKS document on every path of a free 127.0.0.1 port, with a cache lifetime of
/// one day so the key set is not fetched again during the run.
async fn serve_jwks(document: Value) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free 127.0.0.1 port");
    let address = listener.local_addr().expect("a bound listener has an address");
    let body = Bytes::from(document.to_string());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let response = hyper::Response::builder()
                        .header("content-type", "application/json")
                        .header("cache-control", "max-age=86400")
                        .body(Full::new(body.clone()));
                    async move { Ok::<_, Infallible>(response.expect("static response parts are valid")) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    address
}

/// Builds a spec with one provider and one route per entry of `providers`. Each route is named
/// after its provider and requires a token from it.
fn spec_with(providers: &[(&str, Value)]) -> gatectl_spec::Spec {
    let auth_providers: Vec<Value> = providers
        .iter()
        .map(|(name, source)| {
            let mut jwt = json!({
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": [source["algorithm"].clone()],
                "forwardClaims": {"sub": "X-User-Subject"},
            });
            let object = jwt.as_object_mut().expect("a JSON object");
            for field in ["keys", "jwks"] {
                if let Some(value) = source.get(field) {
                    object.insert(field.to_owned(), value.clone());
                }
            }
            json!({"name": name, "jwt": jwt})
        })
        .collect();
    let routes: Vec<Value> = providers
        .iter()
        .map(|(name, _)| json!({"name": name, "match": {"path": {"exact": "/orders"}}, "upstream": "orders", "security": [{name.to_string(): []}]}))
        .collect();
    let document = json!({"apiVersion": "gatectl.dev/v1", "kind": "Gateway", "authProviders": auth_providers, "routes": routes});
    serde_json::from_value(document).expect("the generated spec must deserialize")
}

/// Keys, tokens and the enforcer shared by every benchmark of this file.
struct Setup {
    runtime: Runtime,
    enforcer: Enforcer,
    /// Route (and provider) name, then the tokens signed for it: one for the hit case and a
    /// pool for the miss case.
    providers: Vec<(&'static str, HeaderMap, Vec<HeaderMap>)>,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime must start");
    let (rsa, rsa_jwk) = rsa_key();
    let es256 = rcgen_key(Algorithm::ES256, "ec-1");
    let eddsa = rcgen_key(Algorithm::EdDSA, "ed-1");
    let jwks_address = runtime.block_on(serve_jwks(json!({"keys": [rsa_jwk]})));

    let spec = spec_with(&[
        ("RS256", json!({"algorithm": "RS256", "keys": [rsa.static_key]})),
        ("ES256", json!({"algorithm": "ES256", "keys": [es256.static_key]})),
        ("EdDSA", json!({"algorithm": "EdDSA", "keys": [eddsa.static_key]})),
        ("RS256-jwks", json!({"algorithm": "RS256", "jwks": {"url": format!("http://{jwks_address}/jwks.json")}})),
    ]);
    let enforcer = runtime
        .block_on(Enforcer::new(&spec, EnforcerOptions::default()))
        .unwrap_or_else(|error| panic!("the enforcer must build from the generated spec: {error}"));

    let sign_all = |key: &SigningKey| -> (HeaderMap, Vec<HeaderMap>) {
        let hit = bearer_headers(&sign(key, &claims("user-hit", usize::MAX)));
        let pool = (0..MISS_POOL_SIZE).map(|token_id| bearer_headers(&sign(key, &claims("user-miss", token_id)))).collect();
        (hit, pool)
    };
    let (rsa_hit, rsa_pool) = sign_all(&rsa);
    let (es256_hit, es256_pool) = sign_all(&es256);
    let (eddsa_hit, eddsa_pool) = sign_all(&eddsa);
    // Each provider has its own cache, so the JWKS provider can take the same RS256 tokens.
    let providers = vec![
        ("RS256", rsa_hit.clone(), rsa_pool.clone()),
        ("ES256", es256_hit, es256_pool),
        ("EdDSA", eddsa_hit, eddsa_pool),
        ("RS256-jwks", rsa_hit, rsa_pool),
    ];
    Setup { runtime, enforcer, providers }
}

fn jwt_verification(criterion: &mut Criterion) {
    let setup = setup();
    let enforcer = &setup.enforcer;
    let uri = Uri::from_static("/orders");
    let uri = &uri;

    for (route, hit, _) in &setup.providers {
        let identity = setup.runtime.block_on(enforcer.authenticate(route, hit, uri));
        let subject = identity.unwrap_or_else(|rejection| panic!("{route}: the token must be accepted: {rejection:?}")).subject;
        assert_eq!(subject.map(|subject| subject.value).as_deref(), Some("user-hit"), "{route}: the identity carries the token's sub");
    }

    let mut group = criterion.benchmark_group("jwt_verify");
    for (route, hit, pool) in &setup.providers {
        let route: &str = route;
        if route != "RS256-jwks" {
            group.bench_function(BenchmarkId::new("cache_hit", route), |bencher| {
                bencher.to_async(&setup.runtime).iter(|| async move {
                    let identity = enforcer.authenticate(route, black_box(hit), uri).await;
                    assert!(identity.is_ok(), "{route}: a cached token was rejected");
                });
            });
        }

        // One position for all samples, so the pool is walked in order across the whole run.
        let next = Cell::new(0usize);
        let next = &next;
        let pool: &[HeaderMap] = pool;
        group.bench_function(BenchmarkId::new("cache_miss", route), |bencher| {
            bencher.to_async(&setup.runtime).iter(|| {
                let headers = &pool[next.get() % pool.len()];
                next.set(next.get() + 1);
                async move {
                    let identity = enforcer.authenticate(route, black_box(headers), uri).await;
                    assert!(identity.is_ok(), "{route}: a fresh token was rejected");
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, jwt_verification);
criterion_main!(benches);
