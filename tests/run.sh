#!/usr/bin/env bash
# The project's test command (README "Test", and .ci/run):
#   1. formatting and lints;
#   2. unit and integration tests, against the embedded broker and
#      librdkafka's mock cluster (fault injection);
#   3. end-to-end tests against a real Kafka-compatible broker, tansu,
#      installed here on first use (cached) and started on a free port;
#   4. Confluent's own Python client (confluent-kafka, its Schema Registry
#      client and Avro serializers) against the gateway and that broker;
#      curl, that client and headless Chromium (Debian's, installed here on
#      first use) against a gateway with HTTPS, Basic auth, ACLs and CORS.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

# shellcheck source=tests/tansu.sh
source tests/tansu.sh
start_tansu
KAFKA_GATEWAY_TEST_BOOTSTRAP="$TANSU_BOOTSTRAP" \
    cargo test --test real_broker -- --ignored

venv="${KAFKA_GATEWAY_CACHE:-$HOME/.cache/kafka-gateway}/py-venv"
if ! "$venv/bin/python" -c "import confluent_kafka, fastavro, jsonschema, grpc_tools, pytest" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.0" "grpcio-tools==1.*" "pytest==8.*"
fi
if ! command -v chromium >/dev/null; then
    echo "installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
cargo build --quiet --bin kafka-gateway
port=$(free_port)
KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS="$TANSU_BOOTSTRAP" \
    target/debug/kafka-gateway --listen "127.0.0.1:$port" 2>"${TMPDIR:-/tmp}/kafka-gateway-pytest.log" &
gateway=$!
trap 'kill "$gateway" 2>/dev/null; kill "$TANSU_PID" 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done
GATEWAY_URL="http://127.0.0.1:$port" KAFKA_BOOTSTRAP="$TANSU_BOOTSTRAP" \
    GATEWAY_BIN="$PWD/target/debug/kafka-gateway" TANSU_BIN="$TANSU_BIN" \
    "$venv/bin/pytest" -q tests/python
