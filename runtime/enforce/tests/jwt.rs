//! JWT validation against real signed tokens and a JWKS served on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use gatectl_enforce::{Enforcer, ManualClock, ProblemKind};
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.test/";
const AUDIENCE: &str = "shop-api";
const HMAC_SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// A spec with one JWT provider `bearer` (static keys) and routes for the cases below.
fn static_key_spec(keys: Value, algorithms: &[&str], leeway: &str) -> gatectl_spec::Spec {
    spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "bearer", "jwt": {
            "issuer": ISSUER, "audiences": [AUDIENCE], "algorithms": algorithms, "keys": keys, "leeway": leeway,
            "forwardClaims": {"sub": "X-User-Subject"}
        }}],
        "routes": [
            {"name": "open", "match": {"path": {"exact": "/open"}}, "upstream": "u", "security": [{"bearer": []}]},
            {"name": "no-exp", "match": {"path": {"exact": "/no-exp"}}, "upstream": "u", "security": [{"bearer": []}], "allowTokensWithoutExpiry": true},
            {"name": "write", "match": {"path": {"exact": "/write"}}, "upstream": "u", "security": [{"bearer": ["orders:write"]}]}
        ]
    }))
}

fn claims(clock: &ManualClock, extra: Value) -> Value {
    let now = now_seconds(clock);
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300});
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

async fn rsa_setup(leeway: &str) -> (TestKey, Enforcer, Arc<ManualClock>) {
    let key = rsa_key(Algorithm::RS256, "rsa-1");
    let clock = Arc::new(ManualClock::starting_now());
    let spec = static_key_spec(json!([{"kid": "rsa-1", "algorithm": "RS256", "publicKey": key.public_pem}]), &["RS256"], leeway);
    let enforcer = enforcer(&spec, clock.clone()).await;
    (key, enforcer, clock)
}

async fn hmac_setup(leeway: &str) -> (TestKey, Enforcer, Arc<ManualClock>) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("secret");
    std::fs::write(&path, HMAC_SECRET).unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let keys = json!([{"algorithm": "HS256", "secret": format!("file:{}", path.display())}]);
    let enforcer = enforcer(&static_key_spec(keys, &["HS256"], leeway), clock.clone()).await;
    let key = TestKey {
        algorithm: Algorithm::HS256,
        encoding: EncodingKey::from_secret(HMAC_SECRET.as_bytes()),
        public_pem: String::new(),
        jwk: Value::Null,
        public_der: Vec::new(),
    };
    (key, enforcer, clock)
}

/// Asserts a 401 with `Bearer error="invalid_token"` and the standard problem body.
fn assert_invalid_token(result: Result<gatectl_enforce::Identity, gatectl_enforce::Rejection>, case: &str) {
    let rejection = result.err().unwrap_or_else(|| panic!("{case}: token should be rejected"));
    assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(rejection.challenge.as_deref(), Some("Bearer error=\"invalid_token\""), "{case}");
    let body: Value = serde_json::from_str(&rejection.body()).unwrap();
    assert_eq!(body["status"], 401, "{case}");
    assert_eq!(body["type"], "urn:gatectl:problem:invalid-credentials", "{case}");
    assert_eq!(body.as_object().unwrap().len(), 4, "{case}: body has exactly type, title, status, detail");
}

async fn check(enforcer: &Enforcer, route: &str, token: &str) -> Result<gatectl_enforce::Identity, gatectl_enforce::Rejection> {
    enforcer.authenticate(route, &bearer(token), &uri("/open")).await
}

#[tokio::test]
async fn valid_rs256_token_forwards_claims() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let identity = check(&enforcer, "open", &sign(&key, Some("rsa-1"), &claims(&clock, json!({})))).await.unwrap();
    assert_eq!(identity.providers, vec!["bearer".to_owned()]);
    assert_eq!(identity.consumer, None);
    assert_eq!(identity.subject.as_ref().map(|subject| subject.value.as_str()), Some("user-1"));
    assert!(identity.upstream_headers.iter().any(|(name, value)| name == "x-user-subject" && value == "user-1"));
    assert!(identity.strip_headers.iter().any(|name| name == "x-consumer-id"));
    assert!(identity.strip_headers.iter().any(|name| name == "x-user-subject"));
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let (_, enforcer, clock) = rsa_setup("30s").await;
    let claims = claims(&clock, json!({}));
    for alg in ["none", "None", "NONE"] {
        let token = unsigned_token(&json!({"alg": alg, "typ": "JWT"}), &claims, "");
        assert_invalid_token(check(&enforcer, "open", &token).await, alg);
        let with_signature = unsigned_token(&json!({"alg": alg}), &claims, "c2ln");
        assert_invalid_token(check(&enforcer, "open", &with_signature).await, alg);
    }
}

#[tokio::test]
async fn hs256_signed_with_rsa_public_key_is_rejected() {
    // The provider accepts both families, so only the per-key algorithm check stops the attack.
    let key = rsa_key(Algorithm::RS256, "rsa-1");
    let clock = Arc::new(ManualClock::starting_now());
    let spec = static_key_spec(json!([{"kid": "rsa-1", "algorithm": "RS256", "publicKey": key.public_pem}]), &["RS256", "HS256"], "0s");
    let enforcer = enforcer(&spec, clock.clone()).await;
    let claims = claims(&clock, json!({}));
    for (case, secret) in [("pem", key.public_pem.as_bytes().to_vec()), ("der", key.public_der.clone())] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_invalid_token(check(&enforcer, "open", &token).await, case);
    }
}

#[tokio::test]
async fn algorithm_outside_provider_list_is_rejected() {
    let (_, enforcer, clock) = rsa_setup("30s").await;
    let other = rcgen_key(Algorithm::ES256, "rsa-1");
    assert_invalid_token(check(&enforcer, "open", &sign(&other, Some("rsa-1"), &claims(&clock, json!({})))).await, "ES256");
}

#[tokio::test]
async fn leeway_cases_for_rsa_and_hmac() {
    for (family, kid) in [("rsa", Some("rsa-1")), ("hmac", None)] {
        for (leeway, lenient) in [("30s", true), ("0s", false)] {
            let (key, enforcer, clock) = if family == "rsa" { rsa_setup(leeway).await } else { hmac_setup(leeway).await };
            let now = now_seconds(&clock);
            let early = sign(&key, kid, &claims(&clock, json!({"nbf": now + 2, "iat": now + 2, "exp": now + 300})));
            let just_expired = sign(&key, kid, &claims(&clock, json!({"exp": now - 10})));
            let far_future = sign(&key, kid, &claims(&clock, json!({"nbf": now + 120})));
            for (case, token) in [("nbf/iat now+2s", &early), ("exp now-10s", &just_expired)] {
                let result = check(&enforcer, "open", token).await;
                if lenient {
                    assert!(result.is_ok(), "{family} {case} should pass with leeway {leeway}");
                } else {
                    assert_invalid_token(result, &format!("{family} {case} leeway {leeway}"));
                }
            }
            assert_invalid_token(check(&enforcer, "open", &far_future).await, &format!("{family} nbf now+120s leeway {leeway}"));
        }
    }
}

#[tokio::test]
async fn string_time_claims_are_rejected() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let now = now_seconds(&clock);
    for (case, extra) in [
        ("string exp", json!({"exp": "9999999999"})),
        ("string nbf", json!({"nbf": now.to_string()})),
        ("string iat", json!({"iat": now.to_string()})),
        ("boolean exp", json!({"exp": true})),
    ] {
        let token = sign(&key, Some("rsa-1"), &claims(&clock, extra));
        assert_invalid_token(check(&enforcer, "open", &token).await, case);
        assert_invalid_token(check(&enforcer, "no-exp", &token).await, case);
    }
}

#[tokio::test]
async fn missing_exp_needs_route_opt_in() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let token = sign(&key, Some("rsa-1"), &claims(&clock, json!({"exp": null})));
    assert_invalid_token(check(&enforcer, "open", &token).await, "no exp on default route");
    assert!(check(&enforcer, "no-exp", &token).await.is_ok());
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let accepted = [json!({"aud": ["other", AUDIENCE]}), json!({"aud": AUDIENCE})];
    for extra in accepted {
        assert!(check(&enforcer, "open", &sign(&key, Some("rsa-1"), &claims(&clock, extra.clone()))).await.is_ok(), "{extra}");
    }
    let rejected = [
        ("aud array without audience", json!({"aud": ["other", "another"]})),
        ("wrong aud", json!({"aud": "other"})),
        ("numeric aud", json!({"aud": 7})),
        ("missing aud", json!({"aud": null})),
        ("wrong iss", json!({"iss": "https://evil.test/"})),
        ("missing iss", json!({"iss": null})),
    ];
    for (case, extra) in rejected {
        let token = sign(&key, Some("rsa-1"), &claims(&clock, extra));
        assert_invalid_token(check(&enforcer, "open", &token).await, case);
        // The second use finds the token in the cache, and the claims fail again.
        assert_invalid_token(check(&enforcer, "open", &token).await, &format!("{case}, again"));
    }
}

#[tokio::test]
async fn cached_token_same_identity() {
    let (key, enforcer, clock) = rsa_setup("0s").await;
    let token = sign(&key, Some("rsa-1"), &claims(&clock, json!({"scope": "orders:read orders:write"})));
    let first = check(&enforcer, "open", &token).await.unwrap();
    let second = check(&enforcer, "open", &token).await.unwrap();
    assert_eq!(second.subject, first.subject);
    assert_eq!(second.scopes, ["orders:read", "orders:write"]);
    assert_eq!(second.upstream_headers, first.upstream_headers);
}

#[tokio::test]
async fn token_valid_after_not_before() {
    let (key, enforcer, clock) = rsa_setup("0s").await;
    let token = sign(&key, Some("rsa-1"), &claims(&clock, json!({"nbf": now_seconds(&clock) + 30})));
    assert_invalid_token(check(&enforcer, "open", &token).await, "before nbf");
    assert_invalid_token(check(&enforcer, "open", &token).await, "before nbf, from the cache");
    clock.advance(Duration::from_secs(31));
    assert!(check(&enforcer, "open", &token).await.is_ok(), "after nbf, from the cache");
}

#[tokio::test]
async fn expired_token_fails_after_cache_hit() {
    let (key, enforcer, clock) = rsa_setup("0s").await;
    let token = sign(&key, Some("rsa-1"), &claims(&clock, json!({"exp": now_seconds(&clock) + 60})));
    assert!(check(&enforcer, "open", &token).await.is_ok());
    assert!(check(&enforcer, "open", &token).await.is_ok(), "second use is served from the token cache");
    clock.advance(Duration::from_secs(61));
    assert_invalid_token(check(&enforcer, "open", &token).await, "expired after cache");
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_rejected() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let padding = "x".repeat(9000);
    let big = sign(&key, Some("rsa-1"), &claims(&clock, json!({"padding": padding})));
    assert_invalid_token(check(&enforcer, "open", &big).await, "oversized");

    let good = sign(&key, Some("rsa-1"), &claims(&clock, json!({})));
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{good}.x")),
        ("padding", format!("{}=.{}.{}", parts[0], parts[1], parts[2])),
        ("standard alphabet", format!("{}.{}.{}", parts[0], parts[1], parts[2].replace('-', "+").replace('_', "/") + "+/")),
        ("not json", format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("not json"), parts[1], parts[2])),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
    ];
    for (case, token) in cases {
        assert_invalid_token(check(&enforcer, "open", &token).await, case);
    }
}

#[tokio::test]
async fn authorization_header_forms() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let token = sign(&key, Some("rsa-1"), &claims(&clock, json!({})));
    for value in [format!("Bearer {token}"), format!("bearer {token}"), format!("BEARER {token}"), format!("Bearer  {token}")] {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        assert!(enforcer.authenticate("open", &headers, &uri("/open")).await.is_ok(), "{value:.12} should pass");
    }

    let none_token = unsigned_token(&json!({"alg": "none"}), &claims(&clock, json!({})), "");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no header", vec![]),
        ("scheme only", vec!["Bearer".into()]),
        ("basic scheme", vec!["Basic xyz".into()]),
        ("two headers", vec![format!("Bearer {token}"), format!("Bearer {token}")]),
        ("alg none", vec![format!("Bearer {none_token}")]),
    ];
    for (case, values) in cases {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        let rejection = enforcer.authenticate("open", &headers, &uri("/open")).await.expect_err(case);
        assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED, "{case}");
        let challenge = rejection.response_headers().get(http::header::WWW_AUTHENTICATE).unwrap().to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer"), "{case}: challenge {challenge}");
    }
}

#[tokio::test]
async fn missing_scope_gives_403() {
    let (key, enforcer, clock) = rsa_setup("30s").await;
    let read_only = sign(&key, Some("rsa-1"), &claims(&clock, json!({"scope": "orders:read"})));
    let rejection = check(&enforcer, "write", &read_only).await.unwrap_err();
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
    assert_eq!(rejection.kind, ProblemKind::InsufficientScope);
    assert_eq!(rejection.challenge.as_deref(), Some("Bearer error=\"insufficient_scope\", scope=\"orders:write\""));

    let by_scope = sign(&key, Some("rsa-1"), &claims(&clock, json!({"scope": "orders:read orders:write"})));
    assert_eq!(check(&enforcer, "write", &by_scope).await.unwrap().scopes, vec!["orders:read", "orders:write"]);
    let by_scp = sign(&key, Some("rsa-1"), &claims(&clock, json!({"scp": ["orders:write"]})));
    assert!(check(&enforcer, "write", &by_scp).await.is_ok());
}

#[tokio::test]
async fn every_algorithm_family_verifies_through_jwks() {
    let rsa = rsa_key(Algorithm::RS256, "rsa");
    let mut pss = rsa_key(Algorithm::PS256, "pss");
    pss.jwk["alg"] = json!("PS256");
    let p256 = rcgen_key(Algorithm::ES256, "p256");
    let p384 = rcgen_key(Algorithm::ES384, "p384");
    let ed = rcgen_key(Algorithm::EdDSA, "ed");
    let server = jwks_server(&[&rsa, &pss, &p256, &p384, &ed], "max-age=300").await;
    let clock = Arc::new(ManualClock::starting_now());
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "bearer", "jwt": {"algorithms": ["RS256", "PS256", "ES256", "ES384", "EdDSA"], "jwks": {"url": server.url("/jwks")}}}],
        "routes": [{"name": "open", "match": {"path": {"exact": "/open"}}, "upstream": "u", "security": [{"bearer": []}]}]
    }));
    let enforcer = enforcer(&spec, clock.clone()).await;
    for (kid, key) in [("rsa", &rsa), ("pss", &pss), ("p256", &p256), ("p384", &p384), ("ed", &ed)] {
        let token = sign(key, Some(kid), &claims(&clock, json!({})));
        assert!(check(&enforcer, "open", &token).await.is_ok(), "{kid} should verify");
    }
    // A key published for PS256 must not verify RS256 signatures from the same RSA key pair.
    let mut wrong_alg = rsa_key(Algorithm::RS256, "pss");
    wrong_alg.encoding = pss.encoding.clone();
    assert_invalid_token(
        check(&enforcer, "open", &sign(&wrong_alg, Some("pss"), &claims(&clock, json!({})))).await,
        "RS256 with PS256 key",
    );
    // The P-256 key must not verify a token claiming ES384.
    let forged = sign(&p384, Some("p256"), &claims(&clock, json!({})));
    assert_invalid_token(check(&enforcer, "open", &forged).await, "ES384 with P-256 kid");
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_cooldown() {
    let first = rsa_key(Algorithm::RS256, "k1");
    let second = rsa_key(Algorithm::RS256, "k2");
    let server = jwks_server(&[&first], "max-age=3600").await;
    let clock = Arc::new(ManualClock::starting_now());
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "bearer", "jwt": {"jwks": {"url": server.url("/jwks"), "refetchCooldown": "30s", "minCacheTime": "60s"}}}],
        "routes": [{"name": "open", "match": {"path": {"exact": "/open"}}, "upstream": "u", "security": [{"bearer": []}]}]
    }));
    let enforcer = enforcer(&spec, clock.clone()).await;
    assert_eq!(server.request_count(), 1, "key set fetched before serving");

    // The provider rotates in k2; the first k2 token arrives after the cooldown.
    server.set_body(jwks_body(&[&first, &second]));
    clock.advance(Duration::from_secs(31));
    assert!(check(&enforcer, "open", &sign(&second, Some("k2"), &claims(&clock, json!({})))).await.is_ok());
    assert_eq!(server.request_count(), 2, "one refetch for the unknown kid");

    // A flood of unknown kids inside the cooldown causes no fetch.
    for index in 0..20 {
        let kid = format!("made-up-{index}");
        assert_invalid_token(check(&enforcer, "open", &sign(&second, Some(&kid), &claims(&clock, json!({})))).await, &kid);
    }
    assert_eq!(server.request_count(), 2, "no refetch inside the cooldown");

    clock.advance(Duration::from_secs(31));
    assert_invalid_token(check(&enforcer, "open", &sign(&second, Some("k3"), &claims(&clock, json!({})))).await, "k3");
    assert_eq!(server.request_count(), 3, "one more refetch after the cooldown");

    // When the endpoint fails, the last good key set stays in use.
    server.response.lock().unwrap().status = 500;
    clock.advance(Duration::from_secs(7200));
    assert!(check(&enforcer, "open", &sign(&first, Some("k1"), &claims(&clock, json!({})))).await.is_ok());
    assert_eq!(server.request_count(), 4, "expired set refetched once");
}

#[tokio::test]
async fn cached_token_fails_once_its_key_is_removed() {
    let retired = rsa_key(Algorithm::RS256, "old");
    let current = rsa_key(Algorithm::RS256, "new");
    let server = jwks_server(&[&retired, &current], "max-age=60").await;
    let clock = Arc::new(ManualClock::starting_now());
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "bearer", "jwt": {"jwks": {"url": server.url("/jwks"), "minCacheTime": "60s", "maxCacheTime": "60s"}}}],
        "routes": [{"name": "open", "match": {"path": {"exact": "/open"}}, "upstream": "u", "security": [{"bearer": []}]}]
    }));
    let enforcer = enforcer(&spec, clock.clone()).await;
    let old_token = sign(&retired, Some("old"), &claims(&clock, json!({})));
    let new_token = sign(&current, Some("new"), &claims(&clock, json!({})));
    assert!(check(&enforcer, "open", &old_token).await.is_ok());
    assert!(check(&enforcer, "open", &old_token).await.is_ok(), "second use, from the token cache");

    // The provider retires the old key; once the cached set expires, the set is fetched again.
    server.set_body(jwks_body(&[&current]));
    clock.advance(Duration::from_secs(61));
    assert_invalid_token(check(&enforcer, "open", &old_token).await, "token of the removed key, seen before");
    assert!(check(&enforcer, "open", &new_token).await.is_ok(), "token of the key still published");
}

/// Serves `body` as a JWKS document on 127.0.0.1, responding to each request after `delay`.
async fn slow_jwks_server(body: Arc<std::sync::Mutex<String>>, delay: Duration) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                let mut line = String::new();
                while stream.read_line(&mut line).await.is_ok_and(|read| read > 2) {
                    line.clear();
                }
                tokio::time::sleep(delay).await;
                let body = body.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.get_mut().write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{address}/jwks")
}

#[tokio::test]
async fn refetch_finishes_after_its_client_leaves() {
    let first = rsa_key(Algorithm::RS256, "k1");
    let second = rsa_key(Algorithm::RS256, "k2");
    let body = Arc::new(std::sync::Mutex::new(jwks_body(&[&first])));
    let url = slow_jwks_server(body.clone(), Duration::from_millis(300)).await;
    let clock = Arc::new(ManualClock::starting_now());
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [{"name": "bearer", "jwt": {"jwks": {"url": url, "refetchCooldown": "30s", "minCacheTime": "60s"}}}],
        "routes": [{"name": "open", "match": {"path": {"exact": "/open"}}, "upstream": "u", "security": [{"bearer": []}]}]
    }));
    let enforcer = enforcer(&spec, clock.clone()).await;
    *body.lock().unwrap() = jwks_body(&[&first, &second]);
    clock.advance(Duration::from_secs(31));
    let token = sign(&second, Some("k2"), &claims(&clock, json!({})));

    // The first k2 token's client leaves while the refetch it started is running.
    let abandoned = tokio::time::timeout(Duration::from_millis(50), check(&enforcer, "open", &token)).await;
    assert!(abandoned.is_err(), "the check ended before the slow JWKS answered");
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The refetch went on without it, so k2 verifies though the cooldown has not passed.
    assert!(check(&enforcer, "open", &token).await.is_ok());
}

#[tokio::test]
async fn jwk_headers_are_never_used() {
    let (_, enforcer, clock) = rsa_setup("30s").await;
    let attacker = rsa_key(Algorithm::RS256, "rsa-1");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    header.jku = Some("http://127.0.0.1:9/jwks".into());
    header.jwk = serde_json::from_value(attacker.jwk.clone()).ok();
    let token = jsonwebtoken::encode(&header, &claims(&clock, json!({})), &attacker.encoding).unwrap();
    assert_invalid_token(check(&enforcer, "open", &token).await, "self-signed with embedded jwk");
}
