#!/usr/bin/env bash
# Soak: loadtest/soak.sh [SECONDS] (default 600)
#
# A long mixed load against tansu (memory storage) and a release build of
# the gateway: v2 produce (single and 50-record requests), v3 records,
# consumer instances created, subscribed, read, committed and deleted in a
# loop, Schema Registry registrations and lookups, and a share of bad
# requests (malformed JSON, unknown topic, unknown field, wrong content
# type, an Accept nothing satisfies). Samples the gateway's RSS, open
# descriptors and threads every second into loadtest/out/soak.csv and
# prints their start, end, maximum and slope over the second half; fails on
# any 5xx, or if RSS (by more than MAX_RSS_GROWTH_MIB, default 64, from
# peak to peak, or faster than MAX_RSS_SLOPE MiB/min, default 1, in the
# trend of its second half), descriptors or threads keep growing. The test command runs 60 seconds of
# it (90 s, 1 MiB read-ahead, at most 30 MiB/min) against the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
OUT=loadtest/out
mkdir -p "$OUT"
# NO_BUILD=1 measures the binaries as they are (GATEWAY_BIN, TOOL_BIN).
[ -n "${NO_BUILD:-}" ] || cargo build --release --bins --quiet
TOOL=${TOOL_BIN:-target/release/loadtest-tool}
GATEWAY=${GATEWAY_BIN:-target/release/kafka-gateway}
# shellcheck source=tests/tansu.sh
source tests/tansu.sh
start_tansu
topic="soak-$(date +%s)"
"$TOOL" create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --partitions 3
port=$(free_port)
KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" \
    "$GATEWAY" --listen "127.0.0.1:$port" 2>"$OUT/gateway-soak.log" &
gw=$!
trap 'kill "$gw" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done
"$TOOL" soak --url "http://127.0.0.1:$port" --topic "$topic" \
    --seconds "$seconds" --clients "${CLIENTS:-16}" --pid "$gw" \
    --max-rss-growth-mib "${MAX_RSS_GROWTH_MIB:-64}" \
    --max-rss-slope-mib-per-minute "${MAX_RSS_SLOPE:-1}" --samples "$OUT/soak.csv" | tee "$OUT/soak.json"
