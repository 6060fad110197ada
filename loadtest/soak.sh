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
# any 5xx, or if RSS (by more than MAX_RSS_GROWTH_MIB, default 64),
# descriptors or threads keep growing. The test command runs 60 seconds of
# it against the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
OUT=loadtest/out
mkdir -p "$OUT"
cargo build --release --bins --quiet
# shellcheck source=tests/tansu.sh
source tests/tansu.sh
start_tansu
topic="soak-$(date +%s)"
target/release/loadtest-tool create-topic --bootstrap "$TANSU_BOOTSTRAP" --topic "$topic" --partitions 3
port=$(free_port)
KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" \
    target/release/kafka-gateway --listen "127.0.0.1:$port" 2>"$OUT/gateway-soak.log" &
gw=$!
trap 'kill "$gw" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done
target/release/loadtest-tool soak --url "http://127.0.0.1:$port" --topic "$topic" \
    --seconds "$seconds" --clients "${CLIENTS:-16}" --pid "$gw" \
    --max-rss-growth-mib "${MAX_RSS_GROWTH_MIB:-64}" --samples "$OUT/soak.csv" | tee "$OUT/soak.json"
