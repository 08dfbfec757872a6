#!/usr/bin/env bash
# CPU per request and per delivery of the gateway behind a keyless plan, an api-key plan and JWT
# plans (docs/benchmarks.md, "Plans"). Starts one release gateway per plan with the same API
# (`/load`: HTTP POST publishes, SSE and WebSocket subscribe, in-memory topic, `shards: 1`) and
# runs each workload on them in alternating rounds (keyless, api-key, ..., keyless, ...), the
# credential on every request: a key made by `tidegate apikey generate` in `X-Gravitee-Api-Key`,
# or a bearer token (HS256: a secret of this script; RS256: tests/fixtures/jwt/rsa-*.pem,
# signed with openssl) in `Authorization`. Prints one markdown row per run and the means;
# JSON reports and the configs stay in the output dir.
#   loadtest/plans.sh [--bin target/release] [--out /tmp/tidegate-plans] [--rounds 3]
#                     [--plans "keyless api-key jwt-hs256 jwt-rs256"]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release
out=/tmp/tidegate-plans
rounds=3
plans="keyless api-key jwt-hs256 jwt-rs256"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --plans) plans=$2; shift 2 ;;
    *) echo "usage: $0 [--bin DIR] [--out DIR] [--rounds N] [--plans LIST]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
rm -f "$out"/*.json

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

generated=$("$bin/tidegate" apikey generate)
key=$(printf '%s\n' "$generated" | sed -n 's/^key: //p')
hash=$(printf '%s\n' "$generated" | sed -n 's/^hash: //p')

# A bearer token for the JWT plans: ALG (HS256 | RS256), signed with `secret` or the RSA key.
secret="tidegate-load plans bench secret, 32+ bytes"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
token() {
  local head body input
  head=$(printf '{"alg":"%s","typ":"JWT"}' "$1" | b64url)
  body=$(printf '{"iss":"https://idp.bench/","aud":"load","azp":"bench","sub":"bench","exp":%s}' \
    "$(($(date +%s) + 3600))" | b64url)
  input="$head.$body"
  if [ "$1" = HS256 ]; then
    printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)"
  else
    printf '%s.%s' "$input" \
      "$(printf '%s' "$input" | openssl dgst -sha256 -sign tests/fixtures/jwt/rsa-private.pem -binary | b64url)"
  fi
}

# config PLAN PORT: the same API for both plans; only `plans` (and the subscription) differ.
config() {
  cat <<YAML
gateway:
  listen: "127.0.0.1:$2"
  adminListen: off
  shards: 1
  pinShards: false
apis:
  - id: load
    name: Load
    contextPaths: [/load]
    entrypoints:
      - type: http-post
      - type: sse
      - type: websocket
    endpoint:
      type: in-memory
      configuration:
        topic: load
        maxRetainedMessages: 100000
        maxRetainedBytes: 67108864
    plans:
YAML
  if [ "$1" = keyless ]; then
    printf '      - name: Keyless\n        security: keyless\n'
  elif [ "${1#jwt-}" != "$1" ]; then
    if [ "$1" = jwt-hs256 ]; then
      key_lines="          secret: \"$secret\"
          algorithms: [HS256]"
    else
      key_lines="          publicKeyFile: $PWD/tests/fixtures/jwt/rsa-public.pem
          algorithms: [RS256]"
    fi
    cat <<YAML
      - id: gold
        name: Gold
        security: jwt
        configuration:
$key_lines
          issuer: https://idp.bench/
          audience: load
applications:
  - id: bench
    name: Bench
    clientId: bench
subscriptions:
  - id: bench-gold
    api: load
    plan: gold
    application: bench
    status: accepted
YAML
  else
    cat <<YAML
      - id: gold
        name: Gold
        security: api-key
applications:
  - id: bench
    name: Bench
subscriptions:
  - id: bench-gold
    api: load
    plan: gold
    application: bench
    status: accepted
    apiKeys:
      - hash: "$hash"
YAML
  fi
}

declare -A port pid
for plan in $plans; do
  port[$plan]=$(free_port)
  config "$plan" "${port[$plan]}" >"$out/$plan.yaml"
  "$bin/tidegate" run -c "$out/$plan.yaml" >"$out/$plan.log" 2>&1 &
  pid[$plan]=$!
done
trap 'for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
sleep 1

# name|tidegate-load options
# (per request: one subscriber, so deliveries = requests; 5 s, since /proc counts CPU in 10 ms
# ticks and 3 s of requests are only ~30 of them; 10 s is better where time allows)
workloads=(
  "per-request-20|--sub sse --subscribers 1 --pub post --publishers 20 --max-in-flight 1 --rate 2000 --duration-ms 5000"
  "per-request-pipelined|--sub sse --subscribers 1 --pub post --publishers 1 --max-in-flight 1000 --rate 4000 --duration-ms 5000"
  "per-delivery-sse|--sub sse --subscribers 1000 --pub post --publishers 1 --rate 100 --duration-ms 3000"
  "per-delivery-ws|--sub ws --subscribers 1000 --pub post --publishers 1 --rate 100 --duration-ms 3000"
)
for entry in "${workloads[@]}"; do
  name=${entry%%|*}
  opts=${entry#*|}
  for round in $(seq 1 "$rounds"); do
    for plan in $plans; do
      case $plan in
        keyless) header=() ;;
        api-key) header=(--header "X-Gravitee-Api-Key: $key") ;;
        jwt-hs256) header=(--header "Authorization: Bearer $(token HS256)") ;;
        jwt-rs256) header=(--header "Authorization: Bearer $(token RS256)") ;;
      esac
      echo "== $name, $plan, round $round" >&2
      # shellcheck disable=SC2086
      "$bin/tidegate-load" run --target "127.0.0.1:${port[$plan]}" --sub-path /load --pub-path /load \
        $opts --size 100 --warmup-ms 1000 --server-pid "${pid[$plan]}" \
        "${header[@]}" --json "$out/$name.$plan.$round.json" >/dev/null
    done
  done
done

python3 - "$out" "$plans" "${workloads[@]%%|*}" <<'PY'
import json, pathlib, statistics, sys
out, plans, order = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
runs = {}
for f in out.glob("*.json"):
    name, plan, rnd, _ = f.name.split(".")
    runs[(name, plan, int(rnd))] = json.loads(f.read_text())
print("| workload | plan | round | delivered msg/s | lost | p50 | p99 | CPU s per 1M | RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name in order:
    for rnd in sorted({k[2] for k in runs if k[0] == name}):
        for plan in plans:
            r = runs[(name, plan, rnd)]
            u, l, c = r["server_usage"], r["latency"], r["counts"]
            print(f"| {name} | {plan} | {rnd} | {r['delivered_per_s']:.0f} | {c['lost']} | "
                  f"{l['p50_us']/1000:.3f} ms | {l['p99_us']/1000:.3f} ms | "
                  f"{u['cpu_s_per_million']:.2f} | {u['rss_mib']:.1f} |")
print()
print("| workload | " + " | ".join(f"{p}: CPU s per 1M, mean (min–max)" for p in plans)
      + " | " + " | ".join(f"{p} ÷ {plans[0]}" for p in plans[1:]) + " |")
print("|---|" + "---:|" * (2 * len(plans) - 1))
for name in order:
    cell, mean = {}, {}
    for plan in plans:
        xs = [r["server_usage"]["cpu_s_per_million"] for k, r in runs.items() if k[:2] == (name, plan)]
        mean[plan] = statistics.mean(xs)
        cell[plan] = f"{mean[plan]:.2f} ({min(xs):.2f}–{max(xs):.2f})"
    print(f"| {name} | " + " | ".join(cell[p] for p in plans) + " | "
          + " | ".join(f"{mean[p] / mean[plans[0]]:.2f}" for p in plans[1:]) + " |")
PY
