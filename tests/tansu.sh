#!/usr/bin/env bash
# Installs (once, cached) and starts tansu, a Kafka-compatible broker from
# crates.io, with in-memory storage on a free loopback port. Sourced by
# tests/run.sh and loadtest/run.sh; sets TANSU_BOOTSTRAP and stops the
# broker when the calling shell exits.

TANSU_VERSION=0.6.0
TANSU_ROOT="${KAFKA_GATEWAY_CACHE:-$HOME/.cache/kafka-gateway}/tansu-$TANSU_VERSION"
TANSU_BIN="$TANSU_ROOT/bin/tansu"

install_tansu() {
    if [ -x "$TANSU_BIN" ]; then
        return
    fi
    echo "installing tansu $TANSU_VERSION into $TANSU_ROOT (about 15 minutes, once)"
    # Without dynostore and libsql it has no storage engine that works here.
    cargo install --locked "tansu@$TANSU_VERSION" --features dynostore,libsql \
        --root "$TANSU_ROOT" --quiet
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_tansu() {
    install_tansu
    local port log
    port=$(free_port)
    log="${TMPDIR:-/tmp}/kafka-gateway-tansu-$port.log"
    "$TANSU_BIN" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://tansu/" >"$log" 2>&1 &
    TANSU_PID=$!
    trap 'kill "$TANSU_PID" 2>/dev/null; wait "$TANSU_PID" 2>/dev/null' EXIT
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            TANSU_BOOTSTRAP="127.0.0.1:$port"
            echo "tansu $TANSU_VERSION is listening on $TANSU_BOOTSTRAP (log: $log)"
            return
        fi
        if ! kill -0 "$TANSU_PID" 2>/dev/null; then
            echo "tansu exited:"; cat "$log"; return 1
        fi
        sleep 0.2
    done
    echo "tansu did not start listening in 20 s:"; cat "$log"; return 1
}
