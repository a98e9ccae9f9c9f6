#!/usr/bin/env bash
# Runs the Autobahn TestSuite, through the PyPI package kosoku, against wsio's server examples,
# and fails unless every case ends OK or INFORMATIONAL.
#
# The permessage-deflate cases (12.* and 13.*) take minutes per target, so by default they run
# against one server (tokio) and one client (blocking), each with compression on (`--deflate`)
# and the whole suite; the other targets run every other case without compression.
# WSIO_AUTOBAHN_DEFLATE=all runs the whole suite with compression on against every target but
# the bare-core std server.
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

# Which cases to run: `plain` skips the permessage-deflate cases, `all` runs every case.
cases() {
    case $1 in
        plain) echo "-x 12.* -x 13.*" ;;
        all) echo "" ;;
        *) echo "unknown case selection $1" >&2; exit 2 ;;
    esac
}

# fuzzingclient drives a server: run_server NAME PORT CASES COMMAND [ARGS AFTER THE ADDRESS...]
run_server() {
    local name=$1 port=$2 which=$3 selection
    selection=$(cases "$3")
    local command=$4
    shift 4
    echo "autobahn: server $name on 127.0.0.1:$port ($which cases)"
    timeout 1200 "$command" "127.0.0.1:$port" "$@" 2>"reports/$name.server.log" &
    pids+=($!)
    wait_for_port "$port"
    rm -rf "reports/$name"
    # kosoku exits non-zero when a case fails; the check below decides and explains.
    # shellcheck disable=SC2086 # the selection is meant to split; set -f keeps globs intact
    timeout 1200 "$venv/bin/kosoku" -m fuzzingclient -p 2 -o "reports/$name" \
        $selection "127.0.0.1:$port" >"reports/$name.log" 2>&1 || true
    tail -n 3 "reports/$name.log"
    python3 scripts/autobahn_check.py "reports/$name"
}

# fuzzingserver is driven by a client: run_client NAME PORT CASES COMMAND [ARGS AFTER THE URL...]
run_client() {
    local name=$1 port=$2 which=$3 selection
    selection=$(cases "$3")
    local command=$4
    shift 4
    echo "autobahn: client $name against 127.0.0.1:$port ($which cases)"
    rm -rf "reports/$name"
    # shellcheck disable=SC2086
    timeout 1200 "$venv/bin/kosoku" -m fuzzingserver -o "reports/$name" \
        $selection "127.0.0.1:$port" >"reports/$name.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_for_port "$port"
    timeout 1200 "$command" "ws://127.0.0.1:$port" "$@" >"reports/$name.client.log" 2>&1
    # The fuzzing server writes its reports and exits once the client asked for them.
    wait "$server" || true
    tail -n 3 "reports/$name.log"
    python3 scripts/autobahn_check.py "reports/$name"
}

set -f
examples=target/release/examples
mkdir -p reports
cargo build --release --locked -p wsio-proto --example std_echo_server
cargo build --release --locked -p wsio --example echo_server --example autobahn_client \
    --example blocking_echo_server --example blocking_autobahn_client
run_server proto-std-echo-server 9101 plain $examples/std_echo_server
run_server wsio-echo-server 9102 all $examples/echo_server --deflate
run_client wsio-blocking-client 9105 all $examples/blocking_autobahn_client --deflate
if [ "${WSIO_AUTOBAHN_DEFLATE:-}" = all ]; then
    run_client wsio-client 9103 all $examples/autobahn_client --deflate
    run_server wsio-blocking-echo-server 9104 all $examples/blocking_echo_server --deflate
else
    run_client wsio-client 9103 plain $examples/autobahn_client
    run_server wsio-blocking-echo-server 9104 plain $examples/blocking_echo_server
fi
