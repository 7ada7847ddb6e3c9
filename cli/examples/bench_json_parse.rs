//! Baseline for the import benchmark: reads a JSON file and parses it with
//! `serde_json::from_slice::<serde_json::Value>`, the way a bare JSON reader would.
//!
//! Usage: `cargo run --release -p gatectl --example bench_json_parse -- FILE [ITERATIONS]`.
//! Prints the time of each iteration (read, parse and drop) and their median, in milliseconds.
//! `bench/import-github.sh` runs it beside `gatectl import` on the same file.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: bench_json_parse FILE [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: usize = match args.next().map(|text| text.parse()) {
        None => 1,
        Some(Ok(count)) if count > 0 => count,
        Some(_) => {
            eprintln!("ITERATIONS must be a positive integer");
            std::process::exit(2);
        }
    };

    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("cannot read {path}: {error}");
                std::process::exit(1);
            }
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(error) => {
                eprintln!("{path} is not valid JSON: {error}");
                std::process::exit(1);
            }
        };
        drop(value);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }

    let printed: Vec<String> = times.iter().map(|time| format!("{time:.1}")).collect();
    times.sort_by(f64::total_cmp);
    println!("serde_json::from_slice runs (ms): {}", printed.join(" "));
    println!("serde_json::from_slice median (ms): {:.1}", times[times.len() / 2]);
}
