//! Times the bare YAML parse of files (saphyr-parser events, nothing kept), the baseline that
//! control-plane benchmarks compare against.
//!
//! Usage: `cargo run --release -p gatectl-spec --example bench_yaml_parse -- ITERATIONS FILE...`
//! Prints the median wall time, over ITERATIONS runs, of reading and parsing all the files.

use std::time::{Duration, Instant};

fn main() {
    let mut arguments = std::env::args().skip(1);
    let iterations: usize = arguments.next().and_then(|text| text.parse().ok()).unwrap_or(0);
    let files: Vec<String> = arguments.collect();
    if iterations == 0 || files.is_empty() {
        eprintln!("usage: bench_yaml_parse ITERATIONS FILE...");
        std::process::exit(2);
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            for file in &files {
                let text = std::fs::read_to_string(file).unwrap_or_else(|error| panic!("cannot read {file}: {error}"));
                let events = saphyr_parser::Parser::new_from_str(&text).filter(Result::is_ok).count();
                std::hint::black_box(events);
            }
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    println!("bare YAML parse of {} file(s), median of {iterations}: {:.1} ms", files.len(), median.as_secs_f64() * 1e3);
}
