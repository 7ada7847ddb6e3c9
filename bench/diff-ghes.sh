#!/usr/bin/env bash
# Benchmarks `gatectl diff` on two releases of a real product API: GitHub Enterprise Server 3.17
# and 3.18 from npm `@octokit/openapi` (`generated/ghes-3.17.json` and `ghes-3.18.json`), imported
# into gateway specs, against the bare YAML parse of the same two spec files.
#
# Fetch the descriptions first, outside the repository:
#   (cd "$(mktemp -d)" && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz)
# and pass the folder `package/generated` (or set GITHUB_OPENAPI_DIR); without it the script skips.
# It needs release builds:
#   cargo build --release -p gatectl && cargo build --release -p gatectl-spec --example bench_yaml_parse
set -euo pipefail

directory="${1:-${GITHUB_OPENAPI_DIR:-}}"
iterations="${ITERATIONS:-7}"
if [[ -z "$directory" || ! -f "$directory/ghes-3.17.json" || ! -f "$directory/ghes-3.18.json" ]]; then
    echo "skipped: pass the folder that contains ghes-3.17.json and ghes-3.18.json (or set GITHUB_OPENAPI_DIR)"
    exit 0
fi
target="${CARGO_TARGET_DIR:-target}/release"
binary="$target/gatectl"
baseline="$target/examples/bench_yaml_parse"
for tool in "$binary" "$baseline"; do
    [[ -x "$tool" ]] || { echo "missing $tool: build it with the cargo commands at the top of this script" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Both imports name the same source file, so the diff shows API changes, not the file name.
cp "$directory/ghes-3.17.json" "$work/ghes.json"
"$binary" import "$work/ghes.json" -o "$work/ghes-3.17.yaml" 2> /dev/null
cp "$directory/ghes-3.18.json" "$work/ghes.json"
"$binary" import "$work/ghes.json" -o "$work/ghes-3.18.yaml" 2> /dev/null
echo "spec sizes: $(stat -c %s "$work/ghes-3.17.yaml") and $(stat -c %s "$work/ghes-3.18.yaml") bytes"

set +e
"$binary" diff "$work/ghes-3.17.yaml" "$work/ghes-3.18.yaml" --format json > "$work/diff.json"
status=$?
set -e
echo "diff exit status: $status (1 means changes found)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("summary:", d.get("summary"))' "$work/diff.json" 2>/dev/null || true

"$baseline" "$iterations" "$work/ghes-3.17.yaml" "$work/ghes-3.18.yaml"
: > "$work/runs"
for _ in $(seq "$iterations"); do
    start=$(date +%s%N)
    "$binary" diff "$work/ghes-3.17.yaml" "$work/ghes-3.18.yaml" > /dev/null || true
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) >> "$work/runs"
done
echo "gatectl diff, median of $iterations: $(sort -n "$work/runs" | awk '{ values[NR] = $1 } END { print values[int((NR + 1) / 2)] }') ms (whole process)"
