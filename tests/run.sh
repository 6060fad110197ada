#!/usr/bin/env bash
# The project's test command (README "Test", and .ci/run):
#   1. formatting and lints;
#   2. unit and integration tests, against the embedded broker and
#      librdkafka's mock cluster (fault injection);
#   3. end-to-end tests against a real Kafka-compatible broker, tansu,
#      installed here on first use (cached) and started on a free port.
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
