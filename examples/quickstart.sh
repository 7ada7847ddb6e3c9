#!/usr/bin/env bash
# The quickstart: imports a real OpenAPI description, adds auth and rate limits through an
# overlay, validates, starts a local upstream and a gateway runtime, plans and applies a signed
# bundle, then sends traffic and shows what happened. Everything runs on 127.0.0.1 and stops on
# exit or Ctrl-C. Needs the Rust toolchain, curl and openssl (installed through apt-get when
# missing). Ports: 18700 (upstream), 18780 (gateway), 18790 (admin); set QUICKSTART_UPSTREAM_PORT,
# QUICKSTART_PROXY_PORT or QUICKSTART_ADMIN_PORT to use others.
set -euo pipefail
cd "$(dirname "$0")/.."

work=.gatectl-quickstart
upstream_port=${QUICKSTART_UPSTREAM_PORT:-18700}
proxy_port=${QUICKSTART_PROXY_PORT:-18780}
admin_port=${QUICKSTART_ADMIN_PORT:-18790}
proxy="http://127.0.0.1:$proxy_port"
admin="http://127.0.0.1:$admin_port"
pids=()

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "quickstart: interrupted, stopping everything it started"; exit 130' INT TERM

missing=()
for tool in curl openssl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing ${missing[*]} through apt-get"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null; fi
fi
for port in $upstream_port $proxy_port $admin_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port on 127.0.0.1 is in use; stop what listens there, or choose other ports with QUICKSTART_UPSTREAM_PORT, QUICKSTART_PROXY_PORT and QUICKSTART_ADMIN_PORT"
  fi
done

step "Building gatectl, gatectl-runtime and the echo upstream"
echo "The first build compiles every dependency and takes several minutes on a small machine (about 8 on 2 cores); later runs take seconds."
cargo build --locked -q -p gatectl -p gatectl-runtime -p gatectl-e2e --bins
binaries="${CARGO_TARGET_DIR:-target}/debug"
gatectl="$binaries/gatectl"
runtime="$binaries/gatectl-runtime"
echo_upstream="$binaries/echo-upstream"

rm -rf "$work"
mkdir -p "$work"

step "Importing examples/openapi/blockfrost.yaml (Blockfrost's API description, MIT)"
"$gatectl" import examples/openapi/blockfrost.yaml -o "$work/generated.yaml"

step "Creating a JWT signing key, an API key for consumer acme, and the bundle signing key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/jwt-private.pem" 2>/dev/null
openssl pkey -in "$work/jwt-private.pem" -pubout -out "$work/jwt-public.pem"
api_key=$("$gatectl" keys create --consumer acme --label quickstart 2>"$work/api-key-entry.yaml")
api_key_hash=$(sed -n 's/^- hash: //p' "$work/api-key-entry.yaml")
cat > "$work/consumers.yaml" <<YAML
apiVersion: gatectl.dev/v1
kind: Gateway
consumers:
  - id: acme
    credentials:
      apiKeys:
        - hash: $api_key_hash
          label: quickstart
      jwt:
        - { provider: bearer, subject: acme-service }
YAML
"$gatectl" keygen --out "$work/keys" --id quickstart
overlays=(--overlay examples/quickstart/overlay.yaml --overlay "$work/consumers.yaml")
if [ "$upstream_port" != 18700 ]; then
  # The bundled overlay names port 18700; a third overlay moves both upstreams.
  cat > "$work/upstream-port.yaml" <<YAML
apiVersion: gatectl.dev/v1
kind: Gateway
upstreams:
  - { name: cardano-mainnet.blockfrost.io-api-v0, targets: [{ host: 127.0.0.1, port: $upstream_port }] }
  - { name: ipfs.blockfrost.io-api-v0, targets: [{ host: 127.0.0.1, port: $upstream_port }] }
YAML
  overlays+=(--overlay "$work/upstream-port.yaml")
fi

step "Validating the generated spec with the overlays"
"$gatectl" validate "$work/generated.yaml" "${overlays[@]}"

step "Starting the echo upstream and the gateway runtime"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/admin-token"
"$echo_upstream" --listen "127.0.0.1:$upstream_port" > "$work/upstream.log" 2>&1 &
pids+=($!)
"$runtime" --listen "127.0.0.1:$proxy_port" --admin-listen "127.0.0.1:$admin_port" \
  --admin-token-file "$work/admin-token" --trusted-keys "$work/keys" --state-dir "$work/state" \
  --access-log "$work/access.log" > "$work/runtime.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$admin/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$admin/healthz" || fail "the runtime did not start; see $work/runtime.log"
echo "gateway on $proxy, admin on $admin, upstream on 127.0.0.1:$upstream_port"

step "Planning the rollout"
"$gatectl" plan "$work/generated.yaml" "${overlays[@]}" --target "$admin" \
  --signing-key "$work/keys/quickstart.key.pem" --admin-token-file "$work/admin-token" -o "$work/plan.json"

step "Applying the signed bundle"
"$gatectl" apply "$work/plan.json" --yes --observation-window 1s --min-requests 0 \
  --admin-token-file "$work/admin-token"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"quickstart"}' | b64url)
payload=$(printf '{"iss":"https://quickstart.gatectl.invalid/","aud":"blockfrost-demo","sub":"acme-service","iat":%d,"exp":%d}' "$now" "$((now + 600))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$work/jwt-private.pem" | b64url)
token="$header.$payload.$signature"

show() { # label, then curl arguments
  local label=$1; shift
  local status
  status=$(curl -sS -o "$work/last-body" -D "$work/last-headers" -w '%{http_code}' "$@")
  printf '%-44s -> %s\n' "$label" "$status" >&2
  echo "$status"
}

step "Sending traffic"
results=()
status=$(show "GET /blocks/latest without credentials" "$proxy/blocks/latest")
results+=("no credentials: $status (expected 401)")
grep -i '^www-authenticate' "$work/last-headers" || true

# Prints the consumer and request ID headers the echo upstream reported for the last request.
upstream_view() {
  echo "the upstream saw:"
  grep -o '"x-consumer-id":\[[^]]*\]\|"x-request-id":\[[^]]*\]' "$work/last-body" | sed 's/^/  /'
}

status=$(show "GET /blocks/latest with a valid JWT" -H "Authorization: Bearer $token" "$proxy/blocks/latest")
results+=("valid JWT: $status (expected 200)")
upstream_view

status=$(show "GET /blocks/latest with the API key" -H "project_id: $api_key" "$proxy/blocks/latest")
results+=("API key: $status (expected 200)")
upstream_view
request_id=$(grep -i '^x-request-id' "$work/last-headers" | tr -d '\r' | awk '{print $2}')

for attempt in $(seq 1 10); do
  status=$(show "GET /blocks/latest with the API key ($attempt)" -H "project_id: $api_key" "$proxy/blocks/latest")
  [ "$status" = 429 ] && break
done
results+=("over the limit: $status (expected 429)")
echo "rate-limit headers of the last response:"
grep -i '^x-ratelimit\|^ratelimit\|^retry-after' "$work/last-headers" | sed 's/^/  /'

step "The access-log line of request $request_id"
sleep 0.5
grep -F "$request_id" "$work/access.log" || echo "(not found in $work/access.log)"

step "Metrics (requests by route and status class)"
curl -fsS -H "Authorization: Bearer $(cat "$work/admin-token")" "$admin/metrics" | grep -E '^gatectl_requests' | grep -F 'get-blocks-latest' || true

step "Summary"
printf '  %s\n' "${results[@]}"
echo "  files: $work/ (generated spec, plan, bundle keys, access log, runtime log)"
echo "quickstart: done; stopping the runtime and the upstream"
