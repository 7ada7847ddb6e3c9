//! Times building and verifying a bundle of a generated spec with 10,000 routes, beside the bare
//! JSON parse of the same bytes.
//!
//! Run with `cargo run -p gatectl-spec --example bench_bundle [ROUTES] [ROUNDS]`. Each step runs
//! ROUNDS times (default 5) and the median is printed. The numbers depend on the build profile
//! and the machine, so give both when you report them.

use std::time::{Duration, Instant};

use gatectl_spec::Spec;
use gatectl_spec::bundle::{self, BundleMetadata, CompiledBundle, SignerKey, TrustedKeys};
use gatectl_spec::document::LocationIndex;
use gatectl_spec::rules::RuleConfig;

fn generated_spec(routes: usize) -> Spec {
    let upstreams: Vec<serde_json::Value> = (0..100)
        .map(|index| serde_json::json!({"name": format!("service-{index}"), "targets": [{"host": "127.0.0.1", "port": 9000 + index}]}))
        .collect();
    let routes: Vec<serde_json::Value> = (0..routes)
        .map(|index| {
            serde_json::json!({
                "name": format!("route-{index:05}"),
                "match": {"path": {"template": format!("/api/v1/resource-{index}/{{id}}")}, "methods": ["GET", "POST"]},
                "upstream": format!("service-{}", index % 100),
                "tags": ["generated"],
            })
        })
        .collect();
    let document = serde_json::json!({
        "apiVersion": "gatectl.dev/v1",
        "kind": "Gateway",
        "upstreams": upstreams,
        "routes": routes,
    });
    serde_json::from_value(document).expect("the generated spec matches the model")
}

/// Runs `step` `rounds` times and returns the median duration and the last result.
fn time<T>(rounds: usize, mut step: impl FnMut() -> T) -> (Duration, T) {
    let mut durations = Vec::with_capacity(rounds);
    let mut result = None;
    for _ in 0..rounds {
        let started = Instant::now();
        result = Some(step());
        durations.push(started.elapsed());
    }
    durations.sort();
    (durations[durations.len() / 2], result.expect("at least one round runs"))
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let route_count: usize = arguments.next().map_or(10_000, |text| text.parse().expect("ROUTES is a whole number"));
    let rounds: usize = arguments.next().map_or(5, |text| text.parse().expect("ROUNDS is a whole number")).max(1);

    let spec = generated_spec(route_count);
    let signer = SignerKey::generate(Some("bench".to_owned())).expect("the key id is valid");
    let mut trusted = TrustedKeys::new();
    trusted.insert("bench".to_owned(), signer.verifying_key(), "bench".into()).expect("one key");
    let metadata = BundleMetadata { version: 1, parent: None, created_at: "2026-01-01T00:00:00Z".to_owned(), source_commit: None };

    let (build_time, bytes) =
        time(rounds, || CompiledBundle::new(&spec, metadata.clone()).expect("the spec builds").sign(&signer).to_bytes());
    let (parse_time, _) = time(rounds, || serde_json::from_slice::<serde_json::Value>(&bytes).expect("the bundle is JSON"));
    let (open_time, _) = time(rounds, || bundle::open(&bytes).expect("the bundle opens"));
    let (verify_time, verified) = time(rounds, || bundle::verify(&bytes, &trusted).expect("the bundle verifies"));

    // The parts of verification, each on its own.
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).expect("the bundle is JSON");
    let payload = &envelope["payload"];
    let (hash_time, _) = time(rounds, || CompiledBundle::from_value(payload.clone()).expect("the payload is canonical"));
    let index = LocationIndex::default();
    let (schema_time, _) = time(rounds, || gatectl_spec::schema::check_value(&payload["spec"]));
    let (decode_time, _) = time(rounds, || serde_json::from_value::<Spec>(payload["spec"].clone()).expect("the spec decodes"));
    let (rules_time, _) = time(rounds, || gatectl_spec::rules::check(&verified.spec, &index, &RuleConfig::default()));

    println!("routes:                 {}", verified.spec.routes.len());
    println!("bundle size:            {} bytes", bytes.len());
    println!("rounds (median shown):  {rounds}");
    println!("build + sign + write:   {build_time:?}");
    println!("bare JSON parse:        {parse_time:?}");
    println!("open (no signature):    {open_time:?}");
    println!("verify (all checks):    {verify_time:?}");
    println!("  canonical form + hash: {hash_time:?}");
    println!("  JSON Schema check:     {schema_time:?}");
    println!("  typed decode:          {decode_time:?}");
    println!("  semantic rules:        {rules_time:?}");
}
