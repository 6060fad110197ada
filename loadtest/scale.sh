#!/usr/bin/env bash
# Scale-out load test: two gateways in a cluster behind nginx (the shipped
# deploy/nginx/nginx.conf with its third server left out), on tansu.
#
#   produce  scenario (a) (one ~250-byte JSON record a request) with wrk at
#            CONNECTIONS (256), DURATION seconds, straight to gateway 1 and
#            then through nginx to both gateways. CPU per request counts
#            every gateway's CPU (and nginx's apart).
#   consume  RECORDS (300,000) JSON records of ~150 bytes preloaded natively
#            into 3 partitions; one instance made on gateway 1 reads them all
#            (loadtest-tool consume), straight from gateway 1, and then
#            through gateway 2, which forwards every GET to gateway 1. CPU
#            per record counts both gateways.
#
# Each pair runs PAIRS (2) times, interleaved, on one fresh tansu. Rows go to
# loadtest/out/scale.jsonl and a table is printed; the run fails if a
# forwarded read costs more than MAX_FORWARD_CPU_RATIO (1.3) times a direct
# one, or any request fails.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RECORDS=${RECORDS:-300000}
CONNECTIONS=${CONNECTIONS:-256}
PAIRS=${PAIRS:-2}
MAX_FORWARD_CPU_RATIO=${MAX_FORWARD_CPU_RATIO:-1.3}
OUT=loadtest/out/scale
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }

cargo build --release --bins --quiet
TOOL=target/release/loadtest-tool
GATEWAY=${GATEWAY_BIN:-target/release/kafka-gateway}

# shellcheck source=tests/tansu.sh
source tests/tansu.sh
start_tansu
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait' EXIT

cpu_seconds() { # user+system CPU seconds of processes
    local total=0 p
    for p in "$@"; do
        total=$(awk -v t="$(getconf CLK_TCK)" -v s="$total" '{ print s + ($14 + $15) / t }' "/proc/$p/stat")
    done
    echo "$total"
}

openssl rand -hex 32 >"$OUT/secret"
members="_kafka-gateway-members-$(date +%s)"
ports=()
for i in 1 2; do
    port=$(free_port)
    KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" \
        KAFKA_GATEWAY_CLUSTER_ADVERTISED_URL="http://127.0.0.1:$port" \
        KAFKA_GATEWAY_CLUSTER_SECRET_FILE="$OUT/secret" \
        KAFKA_GATEWAY_CLUSTER_TOPIC="$members" \
        KAFKA_GATEWAY_HTTP_TRUSTED_PROXIES='["127.0.0.1"]' \
        "$GATEWAY" --listen "127.0.0.1:$port" 2>"$OUT/gateway-$i.log" &
    pids+=($!)
    ports+=("$port")
done
gw_pids=("${pids[@]}")
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do
        [ "$(curl -sf "http://127.0.0.1:$port/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("gateways"))' 2>/dev/null)" = 2 ] && break
        sleep 0.2
    done
done

lb=$(free_port)
sed -e "s/gateway-1:8082/127.0.0.1:${ports[0]}/" -e "s/gateway-2:8082/127.0.0.1:${ports[1]}/" \
    -e "/gateway-3:8082/d" -e "s/listen 8080;/listen 127.0.0.1:$lb;/" \
    deploy/nginx/nginx.conf >"$OUT/nginx.conf"
/usr/sbin/nginx -p "$PWD/$OUT" -c "$PWD/$OUT/nginx.conf" -e "$PWD/$OUT/nginx-error.log" \
    -g "daemon off; pid $PWD/$OUT/nginx.pid;" &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$lb/readyz" >/dev/null && break; sleep 0.1; done
nginx_all() { echo "$nginx_pid" $(pgrep -P "$nginx_pid"); }

body="$OUT/body-a.json"
"$TOOL" body a >"$body"
content_type=$("$TOOL" body a --content-type)
rows="$OUT/../scale.jsonl"
touch "$rows"
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
commit=$(git rev-parse --short HEAD)

produce() { # produce LABEL URL
    local label=$1 url=$2 topic
    topic="lt-scale-$label-$(date +%s%N)"
    "$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --partitions 3
    BODY_FILE="$body" CONTENT_TYPE="$content_type" TOPIC="$topic" \
        wrk -t1 -c"$CONNECTIONS" -d2s -s loadtest/wrk/produce.lua "$url" >/dev/null
    local gw0 ng0 load gw1 ng1
    gw0=$(cpu_seconds "${gw_pids[@]}")
    # shellcheck disable=SC2046
    ng0=$(cpu_seconds $(nginx_all))
    load=$(BODY_FILE="$body" CONTENT_TYPE="$content_type" TOPIC="$topic" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s loadtest/wrk/produce.lua "$url" |
        sed -n 's/^WRK_RESULT //p')
    gw1=$(cpu_seconds "${gw_pids[@]}")
    # shellcheck disable=SC2046
    ng1=$(cpu_seconds $(nginx_all))
    python3 - "$rows" <<PY
import json, sys
load = json.loads('''$load''')
requests = max(load["requests"], 1)
row = {"kind": "produce", "path": "$label", "commit": "$commit", "time": "$stamp",
       "connections": $CONNECTIONS, "requests_per_second": requests / load["seconds"],
       "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "errors": load["errors"],
       "gateway_cpu_us_per_request": ($gw1 - $gw0) / requests * 1e6,
       "nginx_cpu_us_per_request": ($ng1 - $ng0) / requests * 1e6}
open(sys.argv[1], "a").write(json.dumps(row) + "\n")
PY
}

consume() { # consume LABEL READ_URL
    local label=$1 read_url=$2 topic
    topic="lt-scale-read-$label-$(date +%s%N)"
    "$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --partitions 3
    "$TOOL" preload --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --records "$RECORDS" \
        --size 150 --partitions 3 >/dev/null
    local gw0 load gw1
    gw0=$(cpu_seconds "${gw_pids[@]}")
    load=$("$TOOL" consume --url "http://127.0.0.1:${ports[0]}" --read-url "$read_url" \
        --group "lt-scale-$label-$(date +%s%N)" --topic "$topic" --partitions 3 --format json \
        --records "$RECORDS" --connections 1)
    gw1=$(cpu_seconds "${gw_pids[@]}")
    python3 - "$rows" <<PY
import json, sys
load = json.loads('''$load''')
records = max(load["records"], 1)
row = {"kind": "consume", "path": "$label", "commit": "$commit", "time": "$stamp",
       "records": load["records"], "records_per_second": records / load["seconds"],
       "p99_ms": load["p99_ms"], "errors": load["errors"],
       "gateway_cpu_us_per_record": ($gw1 - $gw0) / records * 1e6}
open(sys.argv[1], "a").write(json.dumps(row) + "\n")
PY
}

start_line=$(wc -l <"$rows" 2>/dev/null || echo 0)
for _ in $(seq 1 "$PAIRS"); do
    produce direct "http://127.0.0.1:${ports[0]}"
    produce balanced "http://127.0.0.1:$lb"
done
for _ in $(seq 1 "$PAIRS"); do
    consume direct "http://127.0.0.1:${ports[0]}"
    consume forwarded "http://127.0.0.1:${ports[1]}"
done

python3 - "$rows" "$start_line" "$MAX_FORWARD_CPU_RATIO" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
print("| kind | path | requests or records /s | p99 ms | gateway CPU us per request or record | nginx CPU us per request | errors |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    rate = r.get("requests_per_second", r.get("records_per_second"))
    cpu = r.get("gateway_cpu_us_per_request", r.get("gateway_cpu_us_per_record"))
    nginx = r.get("nginx_cpu_us_per_request")
    print(f'| {r["kind"]} | {r["path"]} | {rate:,.0f} | {r["p99_ms"]:.1f} | {cpu:.2f} | '
          f'{"" if nginx is None else f"{nginx:.1f}"} | {r["errors"]} |')
def mean(kind, path, key):
    values = [r[key] for r in rows if r["kind"] == kind and r["path"] == path]
    return sum(values) / len(values)
read_ratio = (mean("consume", "forwarded", "gateway_cpu_us_per_record")
              / mean("consume", "direct", "gateway_cpu_us_per_record"))
produce_ratio = (mean("produce", "balanced", "requests_per_second")
                 / mean("produce", "direct", "requests_per_second"))
produce_cpu = (mean("produce", "balanced", "gateway_cpu_us_per_request")
               / mean("produce", "direct", "gateway_cpu_us_per_request"))
print(f"forwarded read: {read_ratio:.2f}x the CPU per record of a direct one "
      f"(goal <= {float(sys.argv[3])})")
print(f"produce through nginx: {produce_ratio:.2f}x the requests/s of direct, "
      f"{produce_cpu:.2f}x the gateway CPU per request")
failed = [f"{r['kind']} {r['path']}: {r['errors']} errors" for r in rows if r["errors"]]
if read_ratio > float(sys.argv[3]):
    failed.append(f"a forwarded read costs {read_ratio:.2f}x a direct one")
if failed:
    print("THRESHOLDS FAILED:", "; ".join(failed))
    sys.exit(1)
PY
