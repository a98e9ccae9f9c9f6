#!/usr/bin/env bash
# Installs the real WebSocket peers that `crates/wsio/tests/interop.rs` runs against: Python's
# `websockets` into the venv `.venv` (shared with the Autobahn run) and Node's `ws` into
# `tests/peers/node_modules`, both at pinned versions. Safe to run again: it installs only what
# is missing or at another version.
set -euo pipefail
cd "$(dirname "$0")/.."

websockets_version=17.4

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import sys, websockets; sys.exit(websockets.__version__ != '$websockets_version')" 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check "websockets==$websockets_version"
fi

cd tests/peers
# The version of `ws` is pinned in package.json and package-lock.json.
wanted=$(node -p "require('./package.json').dependencies.ws")
installed=$(node -p "try { require('./node_modules/ws/package.json').version } catch { '' }")
if [ "$installed" != "$wanted" ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi
echo "peers ready: websockets $websockets_version (.venv), ws $wanted (tests/peers/node_modules)"
