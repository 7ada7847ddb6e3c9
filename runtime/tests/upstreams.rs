//! Upstream selection: balancing algorithms, canary splits, health checks and 503.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{ADMIN_TOKEN, Gateway, Upstream, client};

fn pool_spec(targets: &[(&Upstream, u32)], balancing: &str, health: &str) -> String {
    let mut list = String::new();
    for (upstream, weight) in targets {
        list.push_str(&format!("      - {{host: 127.0.0.1, port: {}, weight: {weight}}}\n", upstream.port()));
    }
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: pool\n    targets:\n{list}    loadBalancing: {balancing}\n{health}routes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: pool\n"
    )
}

/// Sends `count` requests and counts responses per upstream server name.
async fn spread(gateway: &Gateway, path: &str, count: usize, header: Option<(&str, String)>) -> HashMap<String, usize> {
    let http = client();
    let mut servers = HashMap::new();
    for _ in 0..count {
        let mut request = http.get(gateway.url(path));
        if let Some((name, value)) = &header {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let echo: serde_json::Value = response.json().await.unwrap();
        *servers.entry(echo["server"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    servers
}

#[tokio::test]
async fn round_robin_alternates_targets() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gateway = Gateway::start(&pool_spec(&[(&a, 100), (&b, 100)], "{algorithm: round-robin}", "")).await;

    let servers = spread(&gateway, "/", 10, None).await;

    assert_eq!(servers["a"], 5);
    assert_eq!(servers["b"], 5);
}

#[tokio::test]
async fn weighted_follows_target_weights() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gateway = Gateway::start(&pool_spec(&[(&a, 300), (&b, 100)], "{algorithm: weighted}", "")).await;

    let servers = spread(&gateway, "/", 40, None).await;

    // Smooth weighted round robin gives exact shares over each cycle of 4 picks.
    assert_eq!(servers["a"], 30);
    assert_eq!(servers["b"], 10);
}

#[tokio::test]
async fn consistent_hash_keeps_key_on_target() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let c = Upstream::start("c").await;
    let balancing = "{algorithm: consistent-hash, hashOn: {header: X-Tenant}}";
    let gateway = Gateway::start(&pool_spec(&[(&a, 100), (&b, 100), (&c, 100)], balancing, "")).await;

    let mut used = HashMap::new();
    for tenant in 0..30 {
        let servers = spread(&gateway, "/", 4, Some(("x-tenant", format!("tenant-{tenant}")))).await;
        assert_eq!(servers.len(), 1, "tenant-{tenant} went to several targets: {servers:?}");
        *used.entry(servers.into_keys().next().unwrap()).or_insert(0) += 1;
    }
    assert!(used.len() >= 2, "30 keys all hashed to one of three targets: {used:?}");
}

#[tokio::test]
async fn canary_split_follows_weights() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: stable\n    targets: [{{host: 127.0.0.1, port: {}}}]\n  - name: canary\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: orders\n    match: {{path: {{prefix: /}}}}\n    split:\n      backends:\n        - {{upstream: stable, weight: 95}}\n        - {{upstream: canary, weight: 5}}\n",
        stable.port(),
        canary.port()
    );
    let gateway = Gateway::start(&spec).await;

    let servers = spread(&gateway, "/", 200, None).await;

    // The split is deterministic (smooth weighted round robin), so 200 requests give 190 and
    // 10; the tolerance of 2 only allows for a future randomised split.
    assert!(servers["canary"].abs_diff(10) <= 2, "{servers:?}");
    assert!(servers["stable"].abs_diff(190) <= 2, "{servers:?}");
}

#[tokio::test]
async fn sticky_split_keeps_client_on_one_backend() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: stable\n    targets: [{{host: 127.0.0.1, port: {}}}]\n  - name: canary\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: orders\n    match: {{path: {{prefix: /}}}}\n    split:\n      backends:\n        - {{upstream: stable, weight: 50}}\n        - {{upstream: canary, weight: 50}}\n      sticky: true\n",
        stable.port(),
        canary.port()
    );
    let gateway = Gateway::start(&spec).await;

    let servers = spread(&gateway, "/", 20, None).await;

    // Until authentication supplies a consumer, the sticky key is the client address.
    assert_eq!(servers.len(), 1, "one client address must stay on one backend: {servers:?}");
}

#[tokio::test]
async fn passive_ejection_moves_traffic() {
    let good = Upstream::start("good").await;
    let closed = support::closed_port().await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: pool\n    targets:\n      - {{host: 127.0.0.1, port: {}}}\n      - {{host: 127.0.0.1, port: {closed}}}\n    healthChecks:\n      passive: {{consecutiveFailures: 2, ejectionTime: 1h}}\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: pool\n",
        good.port()
    );
    let gateway = Gateway::start(&spec).await;

    let http = client();
    let mut statuses = HashMap::new();
    for _ in 0..12 {
        let response = http.get(gateway.url("/")).send().await.unwrap();
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }

    // Round robin sends every second request to the dead target until its second failure
    // ejects it; after that the healthy target takes everything.
    assert_eq!(statuses.get(&502), Some(&2), "{statuses:?}");
    assert_eq!(statuses.get(&200), Some(&10), "{statuses:?}");
}

#[tokio::test]
async fn all_targets_ejected_is_503() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let health = "    healthChecks:\n      passive: {consecutiveFailures: 2, ejectionTime: 1h}\n";
    let gateway = Gateway::start(&pool_spec(&[(&a, 100), (&b, 100)], "{algorithm: round-robin}", health)).await;

    let http = client();
    // A 501 means the target does not implement what the client asked for, not that it fails.
    for _ in 0..4 {
        assert_eq!(http.get(gateway.url("/status/501")).send().await.unwrap().status().as_u16(), 501);
    }
    let mut answers = HashMap::new();
    for _ in 0..8 {
        let response = http.get(gateway.url("/status/500")).send().await.unwrap();
        *answers.entry(response.status().as_u16()).or_insert(0) += 1;
    }

    // Both targets respond 500 on this path, and each is ejected after its second failure.
    assert_eq!(answers.get(&500), Some(&4), "{answers:?}");
    assert_eq!(answers.get(&503), Some(&4), "{answers:?}");
    let after = http.get(gateway.url("/")).send().await.unwrap();
    assert_eq!(after.status().as_u16(), 503);
    assert_eq!(after.headers()["content-type"], "application/problem+json");
}

async fn target_healthy(gateway: &Gateway, port: u16) -> bool {
    let status: serde_json::Value =
        client().get(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let targets = status["upstreams"][0]["targets"].as_array().unwrap();
    let target = targets.iter().find(|target| target["address"] == format!("127.0.0.1:{port}")).unwrap();
    target["healthy"].as_bool().unwrap()
}

/// Polls until the target's health equals `expected`, for at most ten seconds.
async fn wait_for_health(gateway: &Gateway, port: u16, expected: bool) {
    for _ in 0..200 {
        if target_healthy(gateway, port).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("target 127.0.0.1:{port} did not become healthy = {expected}");
}

#[tokio::test]
async fn active_health_checks_remove_and_restore_target() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let health = "    healthChecks:\n      active: {path: /healthz, interval: 50ms, healthyThreshold: 1, unhealthyThreshold: 1}\n";
    let gateway = Gateway::start(&pool_spec(&[(&a, 100), (&b, 100)], "{algorithm: round-robin}", health)).await;

    b.set_healthy(false);
    wait_for_health(&gateway, b.port(), false).await;
    let servers = spread(&gateway, "/", 6, None).await;
    assert_eq!(servers.get("b"), None, "{servers:?}");
    assert_eq!(servers["a"], 6);

    a.set_healthy(false);
    wait_for_health(&gateway, a.port(), false).await;
    let response = client().get(gateway.url("/")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);

    b.set_healthy(true);
    wait_for_health(&gateway, b.port(), true).await;
    let servers = spread(&gateway, "/", 4, None).await;
    assert_eq!(servers["b"], 4);
}

#[tokio::test]
async fn target_health_is_exported_as_metric() {
    let a = Upstream::start("a").await;
    let gateway = Gateway::start(&pool_spec(&[(&a, 100)], "{algorithm: least-requests}", "")).await;

    let spread = spread(&gateway, "/", 3, None).await;
    assert_eq!(spread["a"], 3);

    let metrics = client().get(gateway.admin_url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    let expected = format!("gatectl_upstream_target_healthy{{upstream=\"pool\",target=\"127.0.0.1:{}\"}} 1", a.port());
    assert!(metrics.contains(&expected), "{metrics}");
}
