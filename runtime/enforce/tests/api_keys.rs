//! API keys in header, query and cookie, and OR/AND combinations of requirements.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gatectl_enforce::{Enforcer, ManualClock, ProblemKind};
use gatectl_spec::api_key;
use http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

const SECRET: &str = "0123456789abcdef0123456789abcdef-combo-secret";

struct Setup {
    enforcer: Enforcer,
    clock: Arc<ManualClock>,
    current_key: String,
    old_key: String,
    expiring_key: String,
    _secret_directory: tempfile::TempDir,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let (current_key, old_key, expiring_key) = (api_key::generate(), api_key::generate(), api_key::generate());
    let expiry = chrono::DateTime::from_timestamp(now_seconds(&clock) + 3600, 0).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let secret_path = directory.path().join("secret");
    std::fs::write(&secret_path, SECRET).unwrap();
    let spec = spec_from(json!({
        "apiVersion": "gatectl.dev/v1", "kind": "Gateway",
        "authProviders": [
            {"name": "bearer", "jwt": {"algorithms": ["HS256"], "keys": [{"algorithm": "HS256", "secret": format!("file:{}", secret_path.display())}]}},
            {"name": "header-key", "apiKey": {"in": "header", "name": "X-API-Key"}},
            {"name": "query-key", "apiKey": {"in": "query", "name": "api_key"}},
            {"name": "cookie-key", "apiKey": {"in": "cookie", "name": "session_key"}}
        ],
        "consumers": [
            {"id": "acme", "tier": "gold", "credentials": {
                "apiKeys": [
                    {"hash": api_key::hash(&current_key), "label": "current"},
                    {"hash": api_key::hash(&old_key), "label": "old"},
                    {"hash": api_key::hash(&expiring_key), "expiresAt": expiry}
                ],
                "jwt": [{"provider": "bearer", "subject": "acme-service"}]
            }},
            {"id": "globex", "credentials": {"jwt": [{"provider": "bearer", "subject": "globex-service"}]}}
        ],
        "routes": [
            {"name": "header", "match": {"path": {"exact": "/h"}}, "upstream": "u", "security": [{"header-key": []}]},
            {"name": "query", "match": {"path": {"exact": "/q"}}, "upstream": "u", "security": [{"query-key": []}]},
            {"name": "cookie", "match": {"path": {"exact": "/c"}}, "upstream": "u", "security": [{"cookie-key": []}]},
            {"name": "either", "match": {"path": {"exact": "/or"}}, "upstream": "u", "security": [{"bearer": []}, {"header-key": []}]},
            {"name": "both", "match": {"path": {"exact": "/and"}}, "upstream": "u", "security": [{"bearer": [], "header-key": []}]},
            {"name": "public", "match": {"path": {"exact": "/p"}}, "upstream": "u"}
        ]
    }));
    let enforcer = enforcer(&spec, clock.clone()).await;
    Setup { enforcer, clock, current_key, old_key, expiring_key, _secret_directory: directory }
}

fn hmac_token(clock: &ManualClock, subject: &str) -> String {
    let key = TestKey {
        algorithm: Algorithm::HS256,
        encoding: EncodingKey::from_secret(SECRET.as_bytes()),
        public_pem: String::new(),
        jwk: json!(null),
        public_der: Vec::new(),
    };
    sign(&key, None, &json!({"sub": subject, "exp": now_seconds(clock) + 300}))
}

fn with_header(mut headers: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    headers.append(name, value.parse().unwrap());
    headers
}

#[tokio::test]
async fn api_key_in_header_query_and_cookie() {
    let setup = setup().await;
    let key = &setup.current_key;

    let identity = setup.enforcer.authenticate("header", &with_header(HeaderMap::new(), "x-api-key", key), &uri("/h")).await.unwrap();
    assert_eq!(identity.consumer.as_ref().map(|consumer| consumer.id.as_str()), Some("acme"));
    assert!(identity.upstream_headers.iter().any(|(name, value)| name == "x-consumer-id" && value == "acme"));
    assert!(identity.upstream_headers.iter().any(|(name, value)| name == "x-consumer-tier" && value == "gold"));
    assert_eq!(identity.remove_query_parameter, None);

    let identity = setup.enforcer.authenticate("query", &HeaderMap::new(), &uri(&format!("/q?a=1&api_key={key}"))).await.unwrap();
    assert_eq!(identity.remove_query_parameter.as_deref(), Some("api_key"));

    let cookie = format!("theme=dark; session_key={key}");
    assert!(setup.enforcer.authenticate("cookie", &with_header(HeaderMap::new(), "cookie", &cookie), &uri("/c")).await.is_ok());
}

#[tokio::test]
async fn unknown_duplicate_and_missing_keys_are_rejected() {
    let setup = setup().await;
    let unknown = with_header(HeaderMap::new(), "x-api-key", &api_key::generate());
    let rejection = setup.enforcer.authenticate("header", &unknown, &uri("/h")).await.unwrap_err();
    assert_eq!(rejection.kind, ProblemKind::InvalidCredentials);
    assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);

    let duplicate = with_header(with_header(HeaderMap::new(), "x-api-key", &setup.current_key), "x-api-key", &setup.current_key);
    assert_eq!(setup.enforcer.authenticate("header", &duplicate, &uri("/h")).await.unwrap_err().kind, ProblemKind::InvalidCredentials);

    let missing = setup.enforcer.authenticate("header", &HeaderMap::new(), &uri("/h")).await.unwrap_err();
    assert_eq!(missing.kind, ProblemKind::MissingCredentials);
    assert!(missing.challenge.is_some());
}

#[tokio::test]
async fn rotated_keys_work_until_expiry() {
    let setup = setup().await;
    for key in [&setup.current_key, &setup.old_key, &setup.expiring_key] {
        assert!(setup.enforcer.authenticate("header", &with_header(HeaderMap::new(), "x-api-key", key), &uri("/h")).await.is_ok());
    }
    setup.clock.advance(Duration::from_secs(3600));
    let expired = with_header(HeaderMap::new(), "x-api-key", &setup.expiring_key);
    assert_eq!(setup.enforcer.authenticate("header", &expired, &uri("/h")).await.unwrap_err().kind, ProblemKind::InvalidCredentials);
    assert!(
        setup.enforcer.authenticate("header", &with_header(HeaderMap::new(), "x-api-key", &setup.current_key), &uri("/h")).await.is_ok()
    );
}

#[tokio::test]
async fn bearer_or_key_accepts_either() {
    let setup = setup().await;
    let token = hmac_token(&setup.clock, "acme-service");
    let by_token = setup.enforcer.authenticate("either", &bearer(&token), &uri("/or")).await.unwrap();
    assert_eq!(by_token.providers, vec!["bearer".to_owned()]);
    assert_eq!(by_token.consumer.map(|consumer| consumer.id), Some("acme".to_owned()));
    let by_key =
        setup.enforcer.authenticate("either", &with_header(HeaderMap::new(), "x-api-key", &setup.current_key), &uri("/or")).await.unwrap();
    assert_eq!(by_key.providers, vec!["header-key".to_owned()]);
    // An API key alone satisfies the route, so its scheme is challenged too.
    let neither = setup.enforcer.authenticate("either", &HeaderMap::new(), &uri("/or")).await.unwrap_err();
    assert_eq!(neither.challenge.as_deref(), Some("Bearer, ApiKey"));
    let bad_token = setup.enforcer.authenticate("either", &bearer("not-a-token"), &uri("/or")).await.unwrap_err();
    assert_eq!(bad_token.challenge.as_deref(), Some("Bearer error=\"invalid_token\", ApiKey"));
}

#[tokio::test]
async fn bearer_and_key_needs_both() {
    let setup = setup().await;
    let token = hmac_token(&setup.clock, "acme-service");
    let both = with_header(bearer(&token), "x-api-key", &setup.current_key);
    let identity = setup.enforcer.authenticate("both", &both, &uri("/and")).await.unwrap();
    assert_eq!(identity.providers, vec!["bearer".to_owned(), "header-key".to_owned()]);

    // The key is needed with the token, never alone, so only Bearer is challenged.
    let token_only = setup.enforcer.authenticate("both", &bearer(&token), &uri("/and")).await.unwrap_err();
    assert_eq!(token_only.challenge.as_deref(), Some("Bearer"));
    assert!(
        setup.enforcer.authenticate("both", &with_header(HeaderMap::new(), "x-api-key", &setup.current_key), &uri("/and")).await.is_err()
    );

    // A token of one consumer with a key of another does not make one identity.
    let mixed = with_header(bearer(&hmac_token(&setup.clock, "globex-service")), "x-api-key", &setup.current_key);
    assert_eq!(setup.enforcer.authenticate("both", &mixed, &uri("/and")).await.unwrap_err().kind, ProblemKind::InvalidCredentials);
}

#[tokio::test]
async fn public_route_needs_nothing() {
    let setup = setup().await;
    let identity = setup.enforcer.authenticate("public", &HeaderMap::new(), &uri("/p")).await.unwrap();
    assert!(identity.providers.is_empty());
    assert!(identity.consumer.is_none());
    assert!(identity.strip_headers.iter().any(|name| name == "x-consumer-id"));
}
