#!/usr/bin/env bash
# Per-thread CPU: loadtest/threads.sh GATEWAY_BIN... (release builds)
#
# For each gateway binary in turn, on one tansu (memory storage): start it,
# warm up 2 s with wrk, then read every thread's CPU from /proc/PID/task
# before and after DURATION (default 10) seconds of wrk, and print the CPU
# per request by thread name (HTTP workers, librdkafka's broker and polling
# threads, the lane thread): where a request's microseconds go, and how
# two builds compare, without perf. SCEN (a) and CONNS (256) pick the body
# and the connections, e.g. SCEN=b CONNS=64. Interleave builds
# (A B A B) and compare the rounds: this machine moves by up to 30%.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { sed -n '2,12p' "$0"; exit 2; }
TOOL=${TOOL_BIN:-target/release/loadtest-tool}
# shellcheck source=tests/tansu.sh
source tests/tansu.sh
start_tansu
gw=""
trap '[ -z "$gw" ] || kill "$gw" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait' EXIT
OUT=loadtest/out
mkdir -p "$OUT"
"$TOOL" body "${SCEN:-a}" >"$OUT/threads-body.json"
content_type=$("$TOOL" body "${SCEN:-a}" --content-type)
snap() { # snap PID FILE: "name|ticks" per thread
    for t in /proc/"$1"/task/*; do
        echo "$(cat "$t/comm")|$(awk '{ print $14 + $15 }' "$t/stat")"
    done >"$2"
}
for bin in "$@"; do
    topic="threads-$(date +%s%N)"
    "$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --partitions 3
    port=$(free_port)
    KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" "$bin" --listen "127.0.0.1:$port" \
        2>"$OUT/threads-gateway.log" &
    gw=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
        sleep 0.1
    done
    load() { # load SECONDS
        BODY_FILE="$OUT/threads-body.json" CONTENT_TYPE="$content_type" TOPIC="$topic" \
            wrk -t1 -c"${CONNS:-256}" -d"$1s" -s loadtest/wrk/produce.lua "http://127.0.0.1:$port"
    }
    load 2 >/dev/null
    snap "$gw" "$OUT/threads-before.txt"
    result=$(load "${DURATION:-10}" | sed -n 's/^WRK_RESULT //p')
    snap "$gw" "$OUT/threads-after.txt"
    python3 - "$bin" "$result" "$(getconf CLK_TCK)" "$OUT" <<'PY'
import collections, json, re, sys
bin_, result, tck, out = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def load(path):
    ticks = collections.Counter()
    for line in open(path):
        name, t = line.rstrip("\n").rsplit("|", 1)
        ticks[re.sub(r"\d+$", "#", name)] += int(t)
    return ticks
before, after = load(f"{out}/threads-before.txt"), load(f"{out}/threads-after.txt")
requests = result["requests"]
us = lambda ticks: ticks / tck * 1e6 / requests
total = sum(after.values()) - sum(before.values())
print(f"{bin_}: {requests / result['seconds']:,.0f} requests/s, {us(total):.1f} µs of CPU per request, p50 {result['p50_ms']:.1f} ms")
for name in sorted(after, key=lambda n: before[n] - after[n]):
    if after[name] - before[name]:
        print(f"  {name:24s} {us(after[name] - before[name]):7.2f} µs per request")
PY
    kill "$gw"
    wait "$gw" 2>/dev/null || true
    gw=""
done
