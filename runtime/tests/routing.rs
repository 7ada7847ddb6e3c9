//! Routing: hosts, path precedence, normalisation, methods, headers, versions and deprecation.

mod support;

use support::{Gateway, Upstream, client, http2_sender, json_body_of, raw_exchange, status_of};

fn upstreams_yaml(upstreams: &[&Upstream]) -> String {
    let mut yaml = String::from("upstreams:\n");
    for upstream in upstreams {
        yaml.push_str(&format!("  - name: {}\n    targets: [{{host: 127.0.0.1, port: {}}}]\n", upstream.name, upstream.port()));
    }
    yaml
}

async fn get(gateway: &Gateway, path: &str) -> (u16, serde_json::Value) {
    let response = client().get(gateway.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[tokio::test]
async fn host_matches_without_port_and_case() {
    let api = Upstream::start("api").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: api\n    match: {{hosts: [api.example.test], path: {{prefix: /}}}}\n    upstream: api\n",
        upstreams_yaml(&[&api])
    );
    let gateway = Gateway::start(&spec).await;

    for host in ["api.example.test", "api.example.test:80", "API.Example.Test", "api.example.test:443"] {
        let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&response), 200, "Host: {host}");
        let echo = json_body_of(&response);
        assert_eq!(echo["headers"]["host"][0], host, "the upstream must see the client's Host unchanged");
    }

    let other = raw_exchange(gateway.address, b"GET /x HTTP/1.1\r\nHost: other.example.test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&other), 404);
    assert!(other.contains("application/problem+json"), "{other}");
}

#[tokio::test]
async fn absolute_form_target_host_wins() {
    let api = Upstream::start("api").await;
    let other = Upstream::start("other").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: api\n    match: {{hosts: [api.example.test], path: {{prefix: /}}}}\n    upstream: api\n  - name: other\n    match: {{hosts: [other.example.test], path: {{prefix: /}}}}\n    upstream: other\n",
        upstreams_yaml(&[&api, &other])
    );
    let gateway = Gateway::start(&spec).await;

    let request = b"GET http://other.example.test/abs HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n";
    let response = raw_exchange(gateway.address, request).await;

    assert_eq!(status_of(&response), 200, "{response}");
    let echo = json_body_of(&response);
    assert_eq!(echo["server"], "other", "the target's host decides, not the Host header");
    assert_eq!(echo["uri"], "/abs");
    assert_eq!(echo["headers"]["host"][0], "other.example.test", "the upstream sees the host that was routed");
    assert_eq!(api.request_count(), 0);
}

#[tokio::test]
async fn missing_host_on_http11_is_400() {
    let api = Upstream::start("api").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: api\n",
        upstreams_yaml(&[&api])
    );
    let gateway = Gateway::start(&spec).await;

    let response = raw_exchange(gateway.address, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;

    assert_eq!(status_of(&response), 400);
    assert_eq!(api.request_count(), 0);
}

/// A Host value that is not `host[:port]` could name another host to the upstream than the
/// one routed, so it gets 400 instead of falling through to a route for any host.
#[tokio::test]
async fn malformed_host_is_400() {
    let internal = Upstream::start("internal").await;
    let public = Upstream::start("public").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: internal\n    match: {{hosts: [internal.test], path: {{prefix: /}}}}\n    upstream: internal\n  - name: public\n    match: {{path: {{prefix: /}}}}\n    upstream: public\n",
        upstreams_yaml(&[&internal, &public])
    );
    let gateway = Gateway::start(&spec).await;

    for host in ["internal.test:80:80", "internal.test?x", "internal.test#x", "internal.test..", "[internal.test]", "internal.test,x"] {
        let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&response), 400, "Host: {host}");
        assert!(json_body_of(&response)["detail"].as_str().unwrap().contains("host[:port]"), "Host: {host}: {response}");
    }
    let absolute =
        raw_exchange(gateway.address, b"GET http://[internal.test]/x HTTP/1.1\r\nHost: internal.test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&absolute), 400, "{absolute}");
    assert!(json_body_of(&absolute)["detail"].as_str().unwrap().contains("authority is not valid; send"), "{absolute}");
    assert_eq!(public.request_count(), 0);

    // One trailing dot names the same host.
    let response = raw_exchange(gateway.address, b"GET /x HTTP/1.1\r\nHost: internal.test.\r\nConnection: close\r\n\r\n").await;
    assert_eq!(json_body_of(&response)["server"], "internal", "{response}");
}

/// HTTP/2 carries the host in `:authority` or `Host`. A request with neither gets 400, as an
/// HTTP/1.1 request without `Host` does.
#[tokio::test]
async fn http2_request_without_authority_is_400() {
    let api = Upstream::start("api").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: api\n",
        upstreams_yaml(&[&api])
    );
    let gateway = Gateway::start(&spec).await;
    let mut sender = http2_sender(gateway.address).await;

    let without = http::Request::get("/x").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let with_host = http::Request::get("/x").header("host", "api.example.test").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();

    assert_eq!(sender.send_request(without).await.unwrap().status().as_u16(), 400);
    assert_eq!(sender.send_request(with_host).await.unwrap().status().as_u16(), 200);
    assert_eq!(api.request_count(), 1);
}

#[tokio::test]
async fn two_host_headers_are_400() {
    let api = Upstream::start("api").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: api\n",
        upstreams_yaml(&[&api])
    );
    let gateway = Gateway::start(&spec).await;

    let request = b"GET / HTTP/1.1\r\nHost: a.example.test\r\nHost: api.example.test\r\nConnection: close\r\n\r\n";
    let response = raw_exchange(gateway.address, request).await;

    assert_eq!(status_of(&response), 400);
    assert_eq!(api.request_count(), 0);
}

fn literal_and_parameter_spec(a: &Upstream, b: &Upstream, literal_first: bool) -> String {
    let parameter = "  - name: user-by-id\n    match: {path: {template: \"/user/{id}\"}, methods: [GET]}\n    upstream: a\n";
    let literal = "  - name: user-new\n    match: {path: {exact: /user/new}, methods: [GET]}\n    upstream: b\n";
    let (first, second) = if literal_first { (literal, parameter) } else { (parameter, literal) };
    let rest = "  - name: items\n    match: {path: {template: \"/items/{id}/details\"}}\n    upstream: a\n  - name: pet\n    match: {path: {template: \"/pets/{id}\"}}\n    upstream: a\n  - name: pet-name\n    match: {path: {template: \"/pets/{id}/name/{name}\"}}\n    upstream: b\n  - name: camel\n    match: {path: {exact: /fooBar}}\n    upstream: a\n";
    format!("apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n{first}{second}{rest}", upstreams_yaml(&[a, b]))
}

#[tokio::test]
async fn literal_beats_parameter_in_both_orders() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    for literal_first in [false, true] {
        let gateway = Gateway::start(&literal_and_parameter_spec(&a, &b, literal_first)).await;

        let (status, echo) = get(&gateway, "/user/new").await;
        assert_eq!(status, 200);
        assert_eq!(echo["server"], "b", "literal_first = {literal_first}");

        let (status, echo) = get(&gateway, "/user/123").await;
        assert_eq!(status, 200);
        assert_eq!(echo["server"], "a", "literal_first = {literal_first}");

        let (status, _) = get(&gateway, "/user/123/status").await;
        assert_eq!(status, 404, "a deeper path must not match the shorter route");
    }
}

#[tokio::test]
async fn empty_segment_and_trailing_slash_are_404() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gateway = Gateway::start(&literal_and_parameter_spec(&a, &b, false)).await;

    let (status, body) = get(&gateway, "/items//details").await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    assert!(body["requestId"].is_string());

    let (status, _) = get(&gateway, "/user/123/").await;
    assert_eq!(status, 404, "a trailing slash is an empty segment, which a parameter never matches");

    let (status, _) = get(&gateway, "/items/7/details").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn longer_template_and_case_sensitive_paths() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gateway = Gateway::start(&literal_and_parameter_spec(&a, &b, false)).await;

    let (_, echo) = get(&gateway, "/pets/7/name/rex").await;
    assert_eq!(echo["server"], "b");
    let (_, echo) = get(&gateway, "/pets/7").await;
    assert_eq!(echo["server"], "a");

    let (status, _) = get(&gateway, "/fooBar").await;
    assert_eq!(status, 200);
    let (status, _) = get(&gateway, "/foobar").await;
    assert_eq!(status, 404);
}

/// Routes `/info/` to `info` and `/private` to `private`, for paths that try to cross from one
/// to the other.
fn info_and_private_spec(info: &Upstream, private: &Upstream) -> String {
    format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: info\n    match: {{path: {{prefix: /info/}}}}\n    upstream: info\n  - name: private\n    match: {{path: {{prefix: /private}}}}\n    upstream: private\n",
        upstreams_yaml(&[info, private])
    )
}

#[tokio::test]
async fn dot_segments_resolve_before_routing() {
    let info = Upstream::start("info").await;
    let private = Upstream::start("private").await;
    let gateway = Gateway::start(&info_and_private_spec(&info, &private)).await;

    let cases = [
        ("/info/../private", "/private"),
        ("/info/%2e%2e/private", "/private"),
        ("/info/.%2e/private", "/private"),
        ("/info/%2E%2E/private/x", "/private/x"),
        // Merged slashes: an upstream that merges them serves `//private` as `/private` too.
        ("//private/x", "/private/x"),
        ("/info/..//private", "/private"),
        ("/private//x///y", "/private/x/y"),
    ];
    for (raw, normalised) in cases {
        let request = format!("GET {raw} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&response), 200, "{raw}");
        let echo = json_body_of(&response);
        assert_eq!(echo["server"], "private", "{raw} must be judged as {normalised}");
        assert_eq!(echo["uri"], normalised, "{raw}: the forwarded path is the normalised one");
    }
    assert_eq!(info.request_count(), 0);
}

#[tokio::test]
async fn non_ascii_route_paths_match_encoded_requests() {
    let info = Upstream::start("info").await;
    let private = Upstream::start("private").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: info\n  - name: cafe\n    match: {{path: {{prefix: \"/café\"}}}}\n    upstream: private\n  - name: files\n    match: {{path: {{exact: \"/my files/a|b\"}}}}\n    upstream: private\n  - name: search\n    match: {{path: {{prefix: \"/v9/items:search\"}}}}\n    upstream: private\n",
        upstreams_yaml(&[&info, &private])
    );
    let gateway = Gateway::start(&spec).await;

    let cases = [
        ("/caf%C3%A9/menu", "/caf%C3%A9/menu"),
        ("/caf%c3%a9/menu", "/caf%C3%A9/menu"),
        ("/café/menu", "/caf%C3%A9/menu"),
        ("/my%20files/a%7Cb", "/my%20files/a%7Cb"),
        ("/my%20files/a|b", "/my%20files/a%7Cb"),
        // Escaped `:`, `@` and the like are their characters: an upstream decodes them too.
        ("/v9/items%3Asearch", "/v9/items:search"),
        ("/v9/items%3asearch/x", "/v9/items:search/x"),
    ];
    for (raw, normalised) in cases {
        let request = [b"GET ", raw.as_bytes(), b" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n"].concat();
        let response = raw_exchange(gateway.address, &request).await;
        assert_eq!(status_of(&response), 200, "{raw}: {response}");
        let echo = json_body_of(&response);
        assert_eq!(echo["server"], "private", "{raw} must take its route");
        assert_eq!(echo["uri"], normalised, "{raw}: the forwarded path is the normalised one");
    }
    assert_eq!(info.request_count(), 0);
}

#[tokio::test]
async fn encoded_slash_and_dot_parameters_rejected() {
    let info = Upstream::start("info").await;
    let private = Upstream::start("private").await;
    let gateway = Gateway::start(&info_and_private_spec(&info, &private)).await;

    // `..;` is `..` to a servlet container, so it would reach `/private` past the `/info/` route.
    for raw in [
        "/info/..%2fprivate",
        "/info/..%2Fprivate",
        "/private%2Fx",
        "/info/..;/private",
        "/info/%2e%2e;x/private",
        "/;/private",
        "//;x//private",
    ] {
        let request = format!("GET {raw} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(status_of(&response), 400, "{raw}");
        assert!(response.contains("application/problem+json"), "{response}");
    }
    assert_eq!(info.request_count() + private.request_count(), 0);
}

#[tokio::test]
async fn method_mismatch_is_405_with_allow() {
    let a = Upstream::start("a").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: read\n    match: {{path: {{exact: /orders}}, methods: [GET]}}\n    upstream: a\n  - name: write\n    match: {{path: {{exact: /orders}}, methods: [POST, PUT]}}\n    upstream: a\n",
        upstreams_yaml(&[&a])
    );
    let gateway = Gateway::start(&spec).await;

    let response = client().delete(gateway.url("/orders")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, POST, PUT");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(a.request_count(), 0);
}

/// A route that accepts GET also serves HEAD, unless another route for the path lists HEAD.
#[tokio::test]
async fn head_served_by_get_route() {
    let reader = Upstream::start("reader").await;
    let header = Upstream::start("header").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: read\n    match: {{path: {{prefix: /}}, methods: [GET]}}\n    upstream: reader\n  - name: read-head\n    match: {{path: {{exact: /heads}}, methods: [GET]}}\n    upstream: reader\n  - name: head\n    match: {{path: {{exact: /heads}}, methods: [HEAD]}}\n    upstream: header\n  - name: new-user\n    match: {{path: {{exact: /user/new}}, methods: [GET]}}\n    upstream: reader\n  - name: any-user\n    match: {{path: {{template: \"/user/{{id}}\"}}}}\n    upstream: header\n",
        upstreams_yaml(&[&reader, &header])
    );
    let gateway = Gateway::start(&spec).await;

    let response = client().head(gateway.url("/orders")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(reader.request_count(), 1);

    let response = client().head(gateway.url("/heads")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header.request_count(), 1, "the route that lists HEAD serves it");
    assert_eq!(reader.request_count(), 1);

    // A less specific route that lists no methods does not take HEAD from the GET route.
    let response = client().head(gateway.url("/user/new")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(reader.request_count(), 2);
    assert_eq!(header.request_count(), 1);
}

#[tokio::test]
async fn header_conditions_and_invert() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: beta\n    match: {{path: {{prefix: /}}, headers: [{{name: X-Channel, value: beta}}]}}\n    upstream: b\n  - name: not-beta\n    match: {{path: {{prefix: /}}, headers: [{{name: X-Channel, value: beta, invert: true}}]}}\n    upstream: a\n",
        upstreams_yaml(&[&a, &b])
    );
    let gateway = Gateway::start(&spec).await;

    let beta: serde_json::Value = client().get(gateway.url("/")).header("x-channel", "beta").send().await.unwrap().json().await.unwrap();
    assert_eq!(beta["server"], "b");
    let other: serde_json::Value = client().get(gateway.url("/")).header("x-channel", "stable").send().await.unwrap().json().await.unwrap();
    assert_eq!(other["server"], "a");
    let none: serde_json::Value = client().get(gateway.url("/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(none["server"], "a");
}

#[tokio::test]
async fn version_by_prefix_header_and_alias() {
    let v1 = Upstream::start("v1").await;
    let v2 = Upstream::start("v2").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  versioning: {{aliases: {{latest: v2}}}}\n{}routes:\n  - name: products-v1\n    match: {{path: {{exact: /products}}, version: v1}}\n    upstream: v1\n  - name: products-v2\n    match: {{path: {{exact: /products}}, version: v2}}\n    upstream: v2\n",
        upstreams_yaml(&[&v1, &v2])
    );
    let gateway = Gateway::start(&spec).await;

    let (_, echo) = get(&gateway, "/v1/products").await;
    assert_eq!(echo["server"], "v1");
    assert_eq!(echo["uri"], "/v1/products", "the version segment is kept in the forwarded path");
    let (_, echo) = get(&gateway, "/latest/products").await;
    assert_eq!(echo["server"], "v2");
    let by_header: serde_json::Value =
        client().get(gateway.url("/products")).header("accept-version", "v2").send().await.unwrap().json().await.unwrap();
    assert_eq!(by_header["server"], "v2");
    let (status, _) = get(&gateway, "/products").await;
    assert_eq!(status, 404, "no version and no default version matches no versioned route");
}

#[tokio::test]
async fn host_and_prefix_precedence() {
    let exact = Upstream::start("exact").await;
    let wildcard = Upstream::start("wildcard").await;
    let short = Upstream::start("short").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\n{}routes:\n  - name: wild\n    match: {{hosts: [\"*.example.test\"], path: {{prefix: /}}}}\n    upstream: wildcard\n  - name: exact\n    match: {{hosts: [api.example.test], path: {{prefix: /}}}}\n    upstream: exact\n  - name: short\n    match: {{path: {{prefix: /a}}}}\n    upstream: short\n  - name: long\n    match: {{path: {{prefix: /a/b}}}}\n    upstream: exact\n",
        upstreams_yaml(&[&exact, &wildcard, &short])
    );
    let gateway = Gateway::start(&spec).await;

    let cases = [
        ("api.example.test", "/", "exact"),
        ("www.example.test", "/", "wildcard"),
        ("x.test", "/a/c", "short"),
        ("x.test", "/a/b/c", "exact"),
    ];
    for (host, path, expected) in cases {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = raw_exchange(gateway.address, request.as_bytes()).await;
        assert_eq!(json_body_of(&response)["server"], expected, "{host}{path}");
    }
    let response = raw_exchange(gateway.address, b"GET /ab HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&response), 404, "a prefix matches at segment boundaries only");
}

#[tokio::test]
async fn strip_prefix_base_path_and_deprecation() {
    let legacy = Upstream::start("legacy").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: legacy\n    basePath: /internal\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: legacy\n    match: {{path: {{prefix: /legacy/orders}}}}\n    upstream: legacy\n    stripPrefix: true\n    deprecation:\n      since: 2026-06-01T00:00:00Z\n      sunset: 2030-01-01T00:00:00Z\n      link: https://docs.example.test/deprecations/legacy\n",
        legacy.port()
    );
    let gateway = Gateway::start(&spec).await;

    let response = client().get(gateway.url("/legacy/orders/42?full=1")).send().await.unwrap();

    assert_eq!(response.headers()["deprecation"], "@1780272000");
    assert_eq!(response.headers()["sunset"], "Tue, 01 Jan 2030 00:00:00 GMT");
    assert_eq!(response.headers()["link"], "<https://docs.example.test/deprecations/legacy>; rel=\"deprecation\"; type=\"text/html\"");
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["uri"], "/internal/42?full=1");
}

#[tokio::test]
async fn upstream_host_follows_preserve_and_rewrite() {
    let app = Upstream::start("app").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    preserveHost: false\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: plain\n    match: {{path: {{prefix: /plain}}}}\n    upstream: app\n  - name: rewritten\n    match: {{path: {{prefix: /rewritten}}}}\n    upstream: app\n    hostRewrite: internal.example.test\n",
        app.port()
    );
    let gateway = Gateway::start(&spec).await;

    let (_, plain) = get(&gateway, "/plain").await;
    assert_eq!(plain["headers"]["host"][0], format!("127.0.0.1:{}", app.port()));
    let (_, rewritten) = get(&gateway, "/rewritten").await;
    assert_eq!(rewritten["headers"]["host"][0], "internal.example.test");
}

#[tokio::test]
async fn path_parameters_reach_headers_and_access_log() {
    let upstream = Upstream::start("app").await;
    let long_name = "p".repeat(254);
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: item\n    match: {{path: {{template: \"/items/{{item-id}}\"}}}}\n    upstream: app\n    requestHeaders:\n      set: {{X-Item-Id: \"${{path.item-id}}\"}}\n      add: {{X-Trail: \"item=${{path.item-id}};\"}}\n  - name: file\n    match: {{path: {{template: \"/files/{{file.name}}/cities/{{città}}\"}}}}\n    upstream: app\n    requestHeaders:\n      set: {{X-File: \"${{path.file.name}} in ${{path.città}}\"}}\n  - name: long\n    match: {{path: {{template: \"/long/{{{long_name}}}\"}}}}\n    upstream: app\n    requestHeaders:\n      set: {{X-Long: \"${{path.{long_name}}}\"}}\n",
        port = upstream.port()
    );
    let gateway = Gateway::start(&spec).await;

    let item: serde_json::Value = client().get(gateway.url("/items/42")).send().await.unwrap().json().await.unwrap();
    assert_eq!(item["headers"]["x-item-id"][0], "42");
    assert_eq!(item["headers"]["x-trail"][0], "item=42;");

    let file: serde_json::Value = client().get(gateway.url("/files/a.txt/cities/roma")).send().await.unwrap().json().await.unwrap();
    assert_eq!(file["headers"]["x-file"][0], "a.txt in roma");

    let long: serde_json::Value = client().get(gateway.url("/long/7")).send().await.unwrap().json().await.unwrap();
    assert_eq!(long["headers"]["x-long"][0], "7");

    let lines = gateway.access_log_lines(3).await;
    assert_eq!(lines[0]["pathParameters"], serde_json::json!({"item-id": "42"}));
    assert_eq!(lines[1]["pathParameters"], serde_json::json!({"file.name": "a.txt", "città": "roma"}));
    assert_eq!(lines[2]["pathParameters"][long_name.as_str()], "7");
}

#[tokio::test]
async fn prefix_route_logs_no_path_parameters() {
    let upstream = Upstream::start("app").await;
    let spec = format!(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: app\n",
        upstream.port()
    );
    let gateway = Gateway::start(&spec).await;

    let response = client().get(gateway.url("/items/42")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let lines = gateway.access_log_lines(1).await;
    assert!(lines[0].get("pathParameters").is_none(), "{}", lines[0]);
}
