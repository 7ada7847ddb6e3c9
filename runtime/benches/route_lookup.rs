//! Route lookup cost at 10 and at 10,000 routes.
//!
//! Each configuration is compiled through `gatectl_runtime::config::compile`, the path an
//! activation takes, from a generated spec whose routes cycle through exact, template and
//! prefix paths, with every fifth route bound to its own host. The benchmarks time
//! `Router::lookup` alone: path normalisation and `split_path` run once before measuring.
//!
//! ```sh
//! CARGO_TARGET_DIR=target/bench cargo bench -p gatectl-runtime --bench route_lookup -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatectl_enforce::EnforcerOptions;
use gatectl_runtime::config::{CompiledConfig, compile};
use gatectl_runtime::error::ProxyError;
use gatectl_runtime::routing::{RouteQuery, split_path};
use gatectl_spec::Spec;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

const SIZES: [usize; 2] = [10, 10_000];
/// Host of every request except the host-specific one; no route names it.
const GENERIC_HOST: &str = "www.example.test";

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Exact,
    Template,
    Prefix,
}

fn kind_of(route: usize) -> PathKind {
    match route % 3 {
        0 => PathKind::Exact,
        1 => PathKind::Template,
        _ => PathKind::Prefix,
    }
}

fn has_own_host(route: usize) -> bool {
    route % 5 == 4
}

fn route_json(route: usize) -> Value {
    let (path, methods) = match kind_of(route) {
        PathKind::Exact => (json!({"exact": format!("/catalog/items-{route}")}), json!(["GET"])),
        PathKind::Template => (json!({"template": format!("/orders-{route}/items/{{id}}")}), json!(["GET", "PUT"])),
        PathKind::Prefix => (json!({"prefix": format!("/files-{route}")}), json!([])),
    };
    let hosts = if has_own_host(route) { json!([format!("tenant-{route}.example.test")]) } else { json!([]) };
    json!({
        "name": format!("route-{route}"),
        "match": {"hosts": hosts, "path": path, "methods": methods},
        "upstream": "catalog",
    })
}

/// Builds a spec of `routes` routes that all send to one upstream. No route has health
/// checks, authentication or limits, so compiling it opens no connection.
fn spec_with(routes: usize) -> Spec {
    let document = json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "upstreams": [{"name": "catalog", "targets": [{"host": "127.0.0.1", "port": 9}]}],
        "routes": (0..routes).map(route_json).collect::<Vec<_>>(),
    });
    serde_json::from_value(document).expect("the generated spec must deserialize")
}

fn compile_config(routes: usize) -> CompiledConfig {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime must start");
    runtime
        .block_on(compile(&spec_with(routes), 1, &EnforcerOptions::default()))
        .unwrap_or_else(|error| panic!("the generated spec of {routes} routes must compile: {error}"))
}

/// Returns the highest route index below `routes` that satisfies `accept`, so both sizes look
/// up a route of the same shape and path depth.
fn last_route(routes: usize, accept: impl Fn(usize) -> bool) -> usize {
    (0..routes).rev().find(|route| accept(*route)).expect("the generated spec has a route of every shape")
}

/// One request to look up and the route index it must match, or `None` for 404.
struct Case {
    name: &'static str,
    host: String,
    path: String,
    expected: Option<usize>,
}

fn cases(routes: usize) -> Vec<Case> {
    let exact = last_route(routes, |route| kind_of(route) == PathKind::Exact && !has_own_host(route));
    let template = last_route(routes, |route| kind_of(route) == PathKind::Template && !has_own_host(route));
    let prefix = last_route(routes, |route| kind_of(route) == PathKind::Prefix && !has_own_host(route));
    let hosted = last_route(routes, |route| kind_of(route) == PathKind::Exact && has_own_host(route));
    let generic = || GENERIC_HOST.to_owned();
    vec![
        Case { name: "exact_hit", host: generic(), path: format!("/catalog/items-{exact}"), expected: Some(exact) },
        Case { name: "template_hit", host: generic(), path: format!("/orders-{template}/items/12345"), expected: Some(template) },
        Case { name: "prefix_hit", host: generic(), path: format!("/files-{prefix}/2026/report.pdf"), expected: Some(prefix) },
        Case {
            name: "host_exact_hit",
            host: format!("tenant-{hosted}.example.test"),
            path: format!("/catalog/items-{hosted}"),
            expected: Some(hosted),
        },
        Case { name: "miss", host: generic(), path: "/catalog/unknown-item".to_owned(), expected: None },
    ]
}

fn route_lookup(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("route_lookup");
    let headers = HeaderMap::new();
    let method = Method::GET;
    for routes in SIZES {
        let config = compile_config(routes);
        for case in cases(routes) {
            let segments: Vec<&str> = split_path(&case.path).collect();
            let query = RouteQuery { host: Some(&case.host), segments: &segments, method: &method, headers: &headers, version: None };

            // A benchmark that silently measured a 404 instead of a hit would be worthless.
            match (config.router.lookup(&query), case.expected) {
                (Ok(found), Some(expected)) => assert_eq!(found.route, expected, "{} at {routes} routes", case.name),
                (Err(ProxyError::NoRoute), None) => {}
                (other, expected) => panic!("{} at {routes} routes: expected route {expected:?}, got {other:?}", case.name),
            }

            group.bench_with_input(BenchmarkId::new(case.name, routes), &query, |bencher, query| {
                bencher.iter(|| config.router.lookup(black_box(query)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, route_lookup);
criterion_main!(benches);
