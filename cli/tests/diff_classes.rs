//! `gatectl diff` classification: one test per change class and per kind of breaking change,
//! each checked through the JSON output of the real binary.

mod diff_support;

use diff_support::{diff_base, diff_json, entity, field, read_fixture};
use serde_json::Value;

fn assert_class(change: &Value, class: &str) {
    assert_eq!(change["class"], class, "{change:#}");
    assert!(!change["reason"].as_str().unwrap().is_empty(), "{change:#}");
}

/// The base fixture without the `list-products` route, the last one in the file.
fn base_without_list_products() -> String {
    let base = read_fixture("base.yaml");
    let start = base.find("  - name: list-products").unwrap();
    base[..start].to_owned()
}

#[test]
fn route_removed_is_breaking() {
    let base = read_fixture("base.yaml");
    let (code, document) = diff_json(&base, &base_without_list_products(), &[]);
    assert_eq!(code, 1);
    let change = entity(&document, "route", "list-products");
    assert_eq!(change["operation"], "removed");
    assert_class(change, "breaking");
    assert_eq!(document["summary"]["removed"], 1);
    assert_eq!(document["summary"]["breaking"], 1);
}

#[test]
fn method_removed_is_breaking() {
    let document = diff_base("methods: [GET, DELETE]", "methods: [GET]");
    let change = field(&document, "route", "get-order", "match.methods");
    assert_class(change, "breaking");
    assert!(change["reason"].as_str().unwrap().contains("DELETE"));
}

#[test]
fn method_added_is_safe() {
    let document = diff_base("methods: [GET, DELETE]", "methods: [GET, DELETE, HEAD]");
    assert_class(field(&document, "route", "get-order", "match.methods"), "safe");
}

#[test]
fn host_removed_is_breaking() {
    let document = diff_base("hosts: [shop.example.test, api.example.test]", "hosts: [shop.example.test]");
    let change = field(&document, "route", "get-order", "match.hosts");
    assert_class(change, "breaking");
    assert!(change["reason"].as_str().unwrap().contains("api.example.test"));
}

#[test]
fn path_changed_is_breaking() {
    let document = diff_base("path: { exact: /orders }", "path: { exact: /order }");
    assert_class(field(&document, "route", "create-order", "match.path"), "breaking");
}

#[test]
fn parameter_rename_is_safe_change() {
    let document = diff_base(r#"path: { template: "/orders/{id}" }"#, r#"path: { template: "/orders/{orderId}" }"#);
    let change = entity(&document, "route", "get-order");
    assert_eq!(change["operation"], "changed");
    assert_class(change, "safe");
    let path = field(&document, "route", "get-order", "match.path");
    assert_eq!(path["old"]["template"], "/orders/{id}");
    assert_eq!(path["new"]["template"], "/orders/{orderId}");
    assert!(path["reason"].as_str().unwrap().contains("parameter renamed"));
    assert_eq!(document["summary"]["added"], 0);
    assert_eq!(document["summary"]["removed"], 0);
}

#[test]
fn auth_added_is_breaking() {
    let document = diff_base(
        "    upstream: catalog\n    tags: [team-catalog]",
        "    upstream: catalog\n    security: [{bearer: []}]\n    tags: [team-catalog]",
    );
    assert_class(field(&document, "route", "list-products", "security"), "breaking");
}

#[test]
fn auth_more_scopes_is_breaking() {
    let document = diff_base("bearer: [orders:read]", "bearer: [orders:read, orders:write]");
    assert_class(field(&document, "route", "get-order", "security"), "breaking");
}

#[test]
fn auth_alternative_removed_is_breaking() {
    let document = diff_base("      - key: []\n", "");
    assert_class(field(&document, "route", "get-order", "security"), "breaking");
}

#[test]
fn auth_fewer_scopes_is_risky() {
    let document = diff_base("bearer: [orders:read]", "bearer: []");
    assert_class(field(&document, "route", "get-order", "security"), "risky");
}

#[test]
fn rate_limit_lowered_is_breaking() {
    let document = diff_base("{ requests: 10, window: 1s }", "{ requests: 5, window: 1s }");
    assert_class(field(&document, "rateLimitPolicy", "standard", "limits"), "breaking");
}

#[test]
fn rate_limit_raised_is_safe() {
    let document = diff_base("{ requests: 10, window: 1s }", "{ requests: 20, window: 1s }");
    assert_class(field(&document, "rateLimitPolicy", "standard", "limits"), "safe");
}

#[test]
fn rate_limit_added_to_route_is_breaking() {
    let document = diff_base("    upstream: catalog\n", "    upstream: catalog\n    rateLimits: [standard]\n");
    assert_class(field(&document, "route", "list-products", "rateLimits"), "breaking");
}

#[test]
fn rate_limit_removed_from_route_is_risky() {
    let document = diff_base("    rateLimits: [standard]\n    requestHeaders:", "    requestHeaders:");
    assert_class(field(&document, "route", "get-order", "rateLimits"), "risky");
}

#[test]
fn quota_lowered_is_breaking() {
    let document = diff_base("{ period: day, requests: 1000 }", "{ period: day, requests: 500 }");
    assert_class(field(&document, "tier", "free", "quotas"), "breaking");
}

#[test]
fn route_body_limit_lowered_is_breaking() {
    let document = diff_base("maxBodyBytes: 65536", "maxBodyBytes: 1024");
    assert_class(field(&document, "route", "create-order", "maxBodyBytes"), "breaking");
}

#[test]
fn request_buffering_turned_off_is_risky() {
    let document = diff_base("maxBodyBytes: 65536", "maxBodyBytes: 65536\n    requestBuffering: false");
    let change = field(&document, "route", "create-order", "requestBuffering");
    assert_class(change, "risky");
    assert!(change["reason"].as_str().unwrap().contains("streamed"), "{change:#}");
}

#[test]
fn global_body_limit_lowered_is_breaking() {
    let document = diff_base("    maxBodyBytes: 1048576", "    maxBodyBytes: 4096");
    assert_class(field(&document, "settings", "gateway", "limits.maxBodyBytes"), "breaking");
}

#[test]
fn upstream_removed_in_use_is_breaking() {
    let document = diff_base("  - name: orders-canary\n    targets: [{ host: 127.0.0.1, port: 9203 }]\n    tags: [team-orders]\n", "");
    let change = entity(&document, "upstream", "orders-canary");
    assert_eq!(change["operation"], "removed");
    assert_class(change, "breaking");
    assert!(change["reason"].as_str().unwrap().contains("create-order"));
}

#[test]
fn unused_upstream_removed_is_safe() {
    let base = read_fixture("base.yaml");
    let new = base
        .replace("  - name: orders-canary\n    targets: [{ host: 127.0.0.1, port: 9203 }]\n    tags: [team-orders]\n", "")
        .replace("        - { upstream: orders-canary, weight: 5 }\n", "");
    let (_, document) = diff_json(&base, &new, &[]);
    assert_class(entity(&document, "upstream", "orders-canary"), "safe");
}

#[test]
fn target_weight_changed_is_risky() {
    let document = diff_base("port: 9202, weight: 100", "port: 9202, weight: 10");
    assert_class(field(&document, "upstream", "orders", "targets[127.0.0.1:9202].weight"), "risky");
}

#[test]
fn target_added_is_risky() {
    let document = diff_base("[{ host: 127.0.0.1, port: 9101 }]", "[{ host: 127.0.0.1, port: 9101 }, { host: 127.0.0.1, port: 9102 }]");
    assert_class(field(&document, "upstream", "catalog", "targets[127.0.0.1:9102]"), "risky");
}

#[test]
fn timeout_lowered_is_risky() {
    let document = diff_base("connect: 2s", "connect: 500ms");
    assert_class(field(&document, "upstream", "orders", "timeouts.connect"), "risky");
}

#[test]
fn timeout_raised_is_safe() {
    let document = diff_base("connect: 2s", "connect: 3s");
    assert_class(field(&document, "upstream", "orders", "timeouts.connect"), "safe");
}

#[test]
fn health_check_changed_is_risky() {
    let document = diff_base("interval: 5s", "interval: 30s");
    assert_class(field(&document, "upstream", "orders", "healthChecks.active.interval"), "risky");
}

#[test]
fn split_weights_changed_is_risky() {
    let document = diff_base("{ upstream: orders-canary, weight: 5 }", "{ upstream: orders-canary, weight: 50 }");
    assert_class(field(&document, "route", "create-order", "split.backends[orders-canary].weight"), "risky");
}

#[test]
fn tls_verification_off_is_risky() {
    let document = diff_base("port: 9203 }]\n", "port: 9203 }]\n    tls: { verify: false }\n");
    let change = field(&document, "upstream", "orders-canary", "tls.verify");
    assert_class(change, "risky");
    assert!(change["reason"].as_str().unwrap().contains("turned off"));
}

#[test]
fn route_added_is_safe() {
    let base = base_without_list_products();
    let (_, document) = diff_json(&base, &read_fixture("base.yaml"), &[]);
    let change = entity(&document, "route", "list-products");
    assert_eq!(change["operation"], "added");
    assert_class(change, "safe");
}

#[test]
fn tags_and_metadata_are_safe() {
    let document = diff_base("    tags: [team-catalog]\n    metadata:", "    tags: [team-catalog, public]\n    metadata:");
    assert_class(field(&document, "route", "list-products", "tags"), "safe");
    let document = diff_base("newest first", "oldest first");
    assert_class(field(&document, "route", "list-products", "metadata.description"), "safe");
}

#[test]
fn route_rename_with_same_match() {
    let document = diff_base("  - name: list-products", "  - name: products-list");
    let change = entity(&document, "route", "products-list");
    assert_eq!(change["operation"], "changed");
    assert_eq!(change["renamedFrom"], "list-products");
    assert_class(change, "safe");
    assert_eq!(document["summary"]["removed"], 0);
}

#[test]
fn api_key_revoked_is_breaking() {
    let base = read_fixture("base.yaml");
    let new = base.replace(
        "      apiKeys:\n        - hash: sha256:4c2a904bafba06591225113ad17b5cec1fa1f8ac6e8d1efa3e0a0f1b6b4b2f6e\n          label: ci-2026-11\n",
        "      apiKeys: []\n",
    );
    let (_, document) = diff_json(&base, &new, &[]);
    assert_class(field(&document, "consumer", "acme", "credentials.apiKeys[sha256:4c2a904bafba…]"), "breaking");
}
