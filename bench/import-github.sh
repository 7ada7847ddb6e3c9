#!/usr/bin/env bash
# Benchmarks `gatectl import` on the GitHub REST API description against a bare
# `serde_json::from_slice::<serde_json::Value>` of the same file, then validates the output.
#
# The files are not in the repository: fetch them first with
#   (cd "$(mktemp -d)" && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz)
# and pass the folder `package/generated` (or set GITHUB_OPENAPI_DIR). Without it, the script
# skips. It needs release builds:
#   cargo build --release -p gatectl --bin gatectl --example bench_json_parse
#
# It reads api.github.com.json (13 MB) and api.github.com.deref.json (73 MB, every `$ref`
# inlined), each ITERATIONS times (default 7). For the bare parse it prints the median wall time
# of read, parse and drop in one process. For `gatectl import` it prints the median wall time,
# the median user+system CPU time and the peak RSS of whole processes, and the ratio of medians.
set -euo pipefail

directory="${1:-${GITHUB_OPENAPI_DIR:-}}"
iterations="${ITERATIONS:-7}"
if [[ -z "$directory" || ! -f "$directory/api.github.com.json" ]]; then
    echo "skipped: pass the folder that contains api.github.com.json (or set GITHUB_OPENAPI_DIR)"
    exit 0
fi
binary="${GATECTL:-target/release/gatectl}"
baseline="${BASELINE:-target/release/examples/bench_json_parse}"
for tool in "$binary" "$baseline" /usr/bin/time; do
    if [[ ! -x "$tool" ]]; then
        echo "missing $tool: build it with the cargo command at the top of this script" >&2
        exit 1
    fi
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() {
    sort -g | awk '{ values[NR] = $1 } END { print values[int((NR + 1) / 2)] }'
}

for name in api.github.com.json api.github.com.deref.json; do
    input="$directory/$name"
    [[ -f "$input" ]] || { echo "$name: not found, skipped"; continue; }
    echo "== $name ($(stat -c %s "$input") bytes), $iterations iterations"

    "$baseline" "$input" "$iterations" | tee "$work/baseline"
    baseline_ms="$(awk '/median/ { print $NF }' "$work/baseline")"
    /usr/bin/time -f "%M" -o "$work/baseline-rss" "$baseline" "$input" 1 > /dev/null
    echo "serde_json::from_slice peak RSS (KB): $(cat "$work/baseline-rss")"

    : > "$work/runs"
    for _ in $(seq "$iterations"); do
        /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$binary" import "$input" --output "$work/spec.yaml" 2> "$work/stderr"
        cat "$work/time" >> "$work/runs"
    done
    echo "gatectl import runs (wall s, user s, system s, peak RSS KB):"
    sed 's/^/  /' "$work/runs"
    wall_ms="$(awk '{ print $1 * 1000 }' "$work/runs" | median)"
    cpu_ms="$(awk '{ print ($2 + $3) * 1000 }' "$work/runs" | median)"
    rss="$(awk '{ print $4 }' "$work/runs" | sort -g | tail -1)"
    echo "gatectl import median wall (ms): $wall_ms, median user+system (ms): $cpu_ms, peak RSS (KB): $rss"
    echo "ratio of medians, import wall / bare parse: $(awk -v a="$wall_ms" -v b="$baseline_ms" 'BEGIN { printf "%.2f", a / b }') (goal: at most 2)"
    grep -E "^imported" "$work/stderr" || true
    grep -c "warning\[" "$work/stderr" | sed 's/^/warnings: /' || true

    if "$binary" validate "$work/spec.yaml" > "$work/validate" 2>&1; then
        echo "gatectl validate: exit 0"
    else
        echo "gatectl validate: failed" >&2
        tail -20 "$work/validate" >&2
        exit 1
    fi
done
