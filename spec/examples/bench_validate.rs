//! Times `validate` on a generated spec of 10,000 routes against the bare YAML parse of the same
//! text. Run in release mode:
//!
//! ```sh
//! cargo run --release -p gatectl-spec --example bench_validate
//! ```
//!
//! It prints the median of several runs for each stage; `BENCHMARKS.md` records the results.

use std::time::{Duration, Instant};

use gatectl_spec::load::load_str;
use gatectl_spec::rules::{self, RuleConfig};
use gatectl_spec::source::{SourceFile, SourceId};
use gatectl_spec::yaml::{self, ReadLimits};

const ROUTES: usize = 10_000;
const UPSTREAMS: usize = 100;
const ITERATIONS: usize = 7;

/// Builds a spec whose routes are all distinct, valid and use every upstream, so validate does
/// its full work and reports nothing.
fn generate() -> String {
    let mut text = String::from("apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n");
    for upstream in 0..UPSTREAMS {
        text.push_str(&format!(
            "  - name: service-{upstream}\n    targets:\n      - {{ host: 10.0.{}.{}, port: 8080 }}\n    timeouts: {{ connect: 2s, response: 10s, total: 30s }}\n",
            upstream / 250,
            upstream % 250 + 1
        ));
    }
    text.push_str("rateLimitPolicies:\n  - name: default\n    limits: [{ requests: 100, window: 1s }]\n");
    text.push_str("authProviders:\n  - name: key\n    apiKey: { in: header, name: X-API-Key }\n");
    text.push_str("routes:\n");
    for route in 0..ROUTES {
        let upstream = route % UPSTREAMS;
        let path = match route % 3 {
            0 => format!("{{ template: \"/service-{upstream}/items-{route}/{{id}}\" }}"),
            1 => format!("{{ exact: /service-{upstream}/items-{route} }}"),
            _ => format!("{{ prefix: /service-{upstream}/files-{route} }}"),
        };
        text.push_str(&format!(
            "  - name: route-{route}\n    match:\n      path: {path}\n      methods: [GET, POST]\n    upstream: service-{upstream}\n    rateLimits: [default]\n    security:\n      - key: []\n    requestHeaders:\n      set:\n        X-Route: route-{route}\n    tags: [bench]\n"
        ));
    }
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(mut work: impl FnMut() -> T) -> Duration {
    let samples = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let text = generate();
    let loaded = load_str("bench.yaml", &text);
    assert!(loaded.diagnostics.is_empty(), "the generated spec must load: {:?}", loaded.diagnostics.first());
    let findings = rules::check(loaded.spec.as_ref().expect("loaded"), &loaded.index, &RuleConfig::default());
    assert!(findings.is_empty(), "the generated spec must be valid: {:?}", findings.first());

    let bare = time(|| saphyr_parser::Parser::new_from_str(&text).filter(Result::is_ok).count());
    let file = SourceFile::new("bench.yaml", text.as_str());
    let tree = time(|| yaml::read(&file, SourceId(0), ReadLimits::default()).is_ok());
    let load = time(|| load_str("bench.yaml", &text).spec.is_some());
    let config = RuleConfig::default();
    let spec = loaded.spec.as_ref().expect("loaded");
    let rules_only = time(|| rules::check(spec, &loaded.index, &config).len());
    let validate = time(|| {
        let loaded = load_str("bench.yaml", &text);
        loaded.spec.as_ref().map(|spec| rules::check(spec, &loaded.index, &config).len())
    });

    println!("spec: {ROUTES} routes, {UPSTREAMS} upstreams, {} bytes; median of {ITERATIONS} runs", text.len());
    println!("bare YAML parse (saphyr-parser events): {:>8.1} ms", bare.as_secs_f64() * 1e3);
    println!("YAML tree with spans (yaml::read):      {:>8.1} ms", tree.as_secs_f64() * 1e3);
    println!("load (tree, merge, schema, decode):     {:>8.1} ms", load.as_secs_f64() * 1e3);
    println!("semantic rules only:                    {:>8.1} ms", rules_only.as_secs_f64() * 1e3);
    println!("validate (load + rules):                {:>8.1} ms", validate.as_secs_f64() * 1e3);
    println!("ratio validate / bare parse:            {:>8.2}x", validate.as_secs_f64() / bare.as_secs_f64());
}
