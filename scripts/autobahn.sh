#!/usr/bin/env bash
# Runs the Autobahn TestSuite, through the PyPI package kosoku, against wsio's server examples,
# and fails unless every case ends OK or INFORMATIONAL.
#
# Every server listens on 127.0.0.1 only, runs under a time limit and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${WSIO_VENV:-.venv}
if [ ! -x "$venv/bin/kosoku" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kosoku==0.1.0"
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits until something listens on 127.0.0.1:$1, for at most 30 s.
wait_for_port() {
    python3 - "$1" <<'PY'
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("nothing listens on port " + sys.argv[1])
PY
}

# fuzzingclient drives a server: run_server NAME PORT COMMAND...
run_server() {
    local name=$1 port=$2
    shift 2
    echo "autobahn: server $name on 127.0.0.1:$port"
    timeout 1200 "$@" "127.0.0.1:$port" 2>"reports/$name.server.log" &
    pids+=($!)
    wait_for_port "$port"
    rm -rf "reports/$name"
    # kosoku exits non-zero when a case fails; the check below decides and explains.
    timeout 1200 "$venv/bin/kosoku" -m fuzzingclient -p 2 -o "reports/$name" \
        -x '12.*' -x '13.*' "127.0.0.1:$port" >"reports/$name.log" 2>&1 || true
    tail -n 3 "reports/$name.log"
    python3 scripts/autobahn_check.py "reports/$name"
}

# fuzzingserver is driven by a client: run_client NAME PORT COMMAND...
run_client() {
    local name=$1 port=$2
    shift 2
    echo "autobahn: client $name against 127.0.0.1:$port"
    rm -rf "reports/$name"
    timeout 1200 "$venv/bin/kosoku" -m fuzzingserver -o "reports/$name" \
        -x '12.*' -x '13.*' "127.0.0.1:$port" >"reports/$name.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_for_port "$port"
    timeout 1200 "$@" "ws://127.0.0.1:$port" >"reports/$name.client.log" 2>&1
    # The fuzzing server writes its reports and exits once the client asked for them.
    wait "$server" || true
    tail -n 3 "reports/$name.log"
    python3 scripts/autobahn_check.py "reports/$name"
}

mkdir -p reports
cargo build --release --locked -p wsio-proto --example std_echo_server
cargo build --release --locked -p wsio --example echo_server --example autobahn_client \
    --example blocking_echo_server --example blocking_autobahn_client
run_server proto-std-echo-server 9101 target/release/examples/std_echo_server
run_server wsio-echo-server 9102 target/release/examples/echo_server
run_client wsio-client 9103 target/release/examples/autobahn_client
run_server wsio-blocking-echo-server 9104 target/release/examples/blocking_echo_server
run_client wsio-blocking-client 9105 target/release/examples/blocking_autobahn_client
