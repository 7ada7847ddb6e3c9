#!/usr/bin/env bash
# Data-plane benchmark: gatectl-runtime beside nginx, HAProxy, a bare forwarder and a direct
# connection, all on 127.0.0.1, each proxy with one worker, measured with wrk in alternating
# rounds. Besides requests per second, it records each proxy's CPU time per request.
#
# Usage: bench/run.sh [--duration SECONDS] [--rounds N] [--connections N]
# Installs nginx, haproxy and wrk through apt-get when missing. Everything it starts is stopped
# on exit. Results go to bench/results/ (ignored by git) and a summary to standard output.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
rounds=3
connections=50
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    *) echo "bench/run.sh: unknown option $1 (expected --duration, --rounds or --connections)" >&2; exit 2 ;;
  esac
done

missing=()
for tool in nginx haproxy wrk redis-server curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} through apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

echo "bench: building release binaries"
cargo build --release --locked -q -p gatectl-runtime -p gatectl -p gatectl-bare-forwarder

work=$(mktemp -d)
results=bench/results
mkdir -p "$results"
pids=()
cleanup() {
  # Runtimes started inside $(...) record their process IDs in a file, because the subshell's
  # changes to `pids` are lost.
  if [ -f "$work/runtime-pids" ]; then
    while read -r pid; do pids+=("$pid"); done < "$work/runtime-pids"
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

UPSTREAM_PORT=18080
NGINX_PORT=18081
HAPROXY_PORT=18082
RUNTIME_PORT=18083
FORWARDER_PORT=18089
ADMIN_PORT=18093

# The upstream: nginx returning a short JSON body itself (one worker, no logging).
cat > "$work/upstream.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
CONF
nginx -c "$work/upstream.conf" -p "$work" &
pids+=($!)

# nginx as a reverse proxy with upstream keep-alive.
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
nginx_master_pid=$!

# HAProxy with one thread and server-side keep-alive.
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend web
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend app
backend app
  server s1 127.0.0.1:$UPSTREAM_PORT
CONF
haproxy -f "$work/haproxy.cfg" -db &
pids+=($!)
haproxy_pid=$!

# The bare forwarder: what any proxy could at most serve on this machine (see its crate docs).
"${CARGO_TARGET_DIR:-target}/release/gatectl-bare-forwarder" "127.0.0.1:$FORWARDER_PORT" \
  "127.0.0.1:$UPSTREAM_PORT" &
pids+=($!)
forwarder_pid=$!

# gatectl-runtime configurations. Every profile routes `/` to the upstream; `auth` adds an RS256
# JWT requirement, `limit` a rate limit too high to reject anything (so only its cost shows), and
# `log` the access log written to a file.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/jwt-private.pem" 2>/dev/null
openssl pkey -in "$work/jwt-private.pem" -pubout -out "$work/jwt-public.pem"
write_spec() { # name routes auth(yes|no) limit(yes|no) log(true|false)
  local file="$work/$1.yaml" routes="$2" auth="$3" limit="$4" log="$5"
  {
    echo "apiVersion: gatectl.dev/v1"
    echo "kind: Gateway"
    echo "settings:"
    echo "  accessLog: { enabled: $log }"
    echo "upstreams:"
    echo "  - name: app"
    echo "    targets: [{ host: 127.0.0.1, port: $UPSTREAM_PORT }]"
    if [ "$auth" = yes ]; then
      echo "authProviders:"
      echo "  - name: bearer"
      echo "    jwt:"
      echo "      issuer: https://bench.gatectl.invalid/"
      echo "      audiences: [bench]"
      echo "      algorithms: [RS256]"
      echo "      keys: [{ kid: bench, algorithm: RS256, publicKey: \"file:$work/jwt-public.pem\" }]"
      echo "consumers:"
      echo "  - id: bench"
      echo "    credentials: { jwt: [{ provider: bearer, subject: bench-client }] }"
    fi
    if [ "$limit" = yes ]; then
      echo "rateLimitPolicies:"
      echo "  - name: high"
      echo "    scope: consumer"
      echo "    limits: [{ requests: 1000000000, window: 1s }]"
    fi
    echo "routes:"
    echo "  - name: bench"
    echo "    match: { path: { prefix: / } }"
    echo "    upstream: app"
    [ "$auth" = yes ] && echo "    security: [{ bearer: [] }]"
    [ "$limit" = yes ] && echo "    rateLimits: [high]"
    local index=1
    while [ "$index" -lt "$routes" ]; do
      echo "  - name: filler-$index"
      echo "    match: { path: { template: \"/filler/$index/{id}\" }, methods: [GET] }"
      echo "    upstream: app"
      index=$((index + 1))
    done
  } > "$file"
  echo "$file"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
jwt_header=$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)
jwt_payload=$(printf '{"iss":"https://bench.gatectl.invalid/","aud":"bench","sub":"bench-client","iat":%d,"exp":%d}' "$now" "$((now + 7200))" | b64url)
jwt_signature=$(printf '%s.%s' "$jwt_header" "$jwt_payload" | openssl dgst -sha256 -sign "$work/jwt-private.pem" | b64url)
token="$jwt_header.$jwt_payload.$jwt_signature"

REDIS_PORT=18099
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no > "$work/redis.log" 2>&1 &
pids+=($!)

echo "bench-admin-token" > "$work/admin-token"
start_runtime() { # spec-file port admin-port [extra flags...]
  local spec=$1 port=$2 admin_port=$3
  shift 3
  "${CARGO_TARGET_DIR:-target}/release/gatectl-runtime" --config "$spec" --listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$admin_port" --admin-token-file "$work/admin-token" --workers 1 \
    --access-log "$work/access-$port.log" "$@" > "$work/runtime-$port.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  echo "$pid" >> "$work/runtime-pids"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/healthz" 2>/dev/null; then echo "$pid"; return 0; fi
    sleep 0.1
  done
  echo "bench: gatectl-runtime did not start; its log:" >&2
  cat "$work/runtime-$port.log" >&2
  return 1
}

peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# User and system CPU time of a process so far, in clock ticks (fields 14 and 15 of its stat).
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

sleep 0.5
declare -A targets=([direct]=$UPSTREAM_PORT [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT
  [bare-forwarder]=$FORWARDER_PORT)
declare -A headers=()
# The process whose CPU time a target's run is charged with: nginx's one worker, not its master.
nginx_worker_pid=$(pgrep -P "$nginx_master_pid" | head -1)
declare -A processes=([nginx]=$nginx_worker_pid [haproxy]=$haproxy_pid [bare-forwarder]=$forwarder_pid)

plain_pid=$(start_runtime "$(write_spec plain 10 no no false)" $RUNTIME_PORT $ADMIN_PORT)
targets[gatectl]=$RUNTIME_PORT
processes[gatectl]=$plain_pid
idle_rss=$(peak_rss_kib "$plain_pid")
processes[gatectl-jwt-limit-log]=$(start_runtime "$(write_spec full 10 yes yes true)" $((RUNTIME_PORT + 1)) $((ADMIN_PORT + 1)))
targets[gatectl-jwt-limit-log]=$((RUNTIME_PORT + 1))
headers[gatectl-jwt-limit-log]="Authorization: Bearer $token"
processes[gatectl-limit-memory]=$(start_runtime "$(write_spec limit-memory 10 no yes false)" $((RUNTIME_PORT + 2)) $((ADMIN_PORT + 2)))
targets[gatectl-limit-memory]=$((RUNTIME_PORT + 2))
processes[gatectl-limit-redis]=$(start_runtime "$(write_spec limit-redis 10 no yes false)" $((RUNTIME_PORT + 3)) $((ADMIN_PORT + 3)) \
  --redis-url "redis://127.0.0.1:$REDIS_PORT/0")
targets[gatectl-limit-redis]=$((RUNTIME_PORT + 3))
many_pid=$(start_runtime "$(write_spec routes-10000 10000 no no false)" $((RUNTIME_PORT + 4)) $((ADMIN_PORT + 4)))
targets[gatectl-10k-routes]=$((RUNTIME_PORT + 4))
processes[gatectl-10k-routes]=$many_pid
many_rss=$(peak_rss_kib "$many_pid")

for name in "${!targets[@]}"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' ${headers[$name]:+-H "${headers[$name]}"} "http://127.0.0.1:${targets[$name]}/")
  [ "$status" = 200 ] || { echo "bench: $name returned status $status instead of 200; the runtime logs follow" >&2; cat "$work"/runtime-*.log >&2; exit 1; }
done

raw="$results/wrk-$(date -u +%Y%m%dT%H%M%SZ).txt"
: > "$raw"
for round in $(seq 1 "$rounds"); do
  # The 10-route and 10,000-route runtimes, whose ratio is a goal, run next to each other and
  # swap places every round, so that a drift of the machine over a round favours neither.
  if [ $((round % 2)) = 1 ]; then pair=(gatectl gatectl-10k-routes); else pair=(gatectl-10k-routes gatectl); fi
  order=(direct nginx haproxy bare-forwarder "${pair[@]}" gatectl-jwt-limit-log gatectl-limit-memory
    gatectl-limit-redis)
  for name in "${order[@]}"; do
    port=${targets[$name]}
    process=${processes[$name]:-}
    echo "bench: round $round/$rounds $name"
    {
      echo "=== round=$round target=$name"
      [ -n "$process" ] && read -r user_before system_before < <(cpu_ticks "$process")
      if [ -n "${headers[$name]:-}" ]; then
        wrk -t1 -c"$connections" -d"${duration}s" --latency -H "${headers[$name]}" "http://127.0.0.1:$port/"
      else
        wrk -t1 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port/"
      fi
      if [ -n "$process" ]; then
        read -r user_after system_after < <(cpu_ticks "$process")
        echo "cpu ticks: user $((user_after - user_before)) system $((system_after - system_before)) per second $(getconf CLK_TCK)"
      fi
    } >> "$raw"
  done
  # Added latency: one connection, closed loop (wrk2-style constant rate is not packaged here).
  for name in direct nginx haproxy bare-forwarder gatectl; do
    port=${targets[$name]}
    {
      echo "=== round=$round target=$name-latency"
      wrk -t1 -c1 -d"$((duration / 2 + 1))s" --latency "http://127.0.0.1:$port/"
    } >> "$raw"
  done
done

echo "bench: peak RSS of gatectl-runtime: 10 routes ${idle_rss} KiB at start, $(peak_rss_kib "$plain_pid") KiB after load; 10,000 routes ${many_rss} KiB at start, $(peak_rss_kib "$many_pid") KiB after load"
python3 bench/summarize.py "$raw"
echo "bench: raw wrk output in $raw"
