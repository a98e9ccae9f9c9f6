#!/usr/bin/env bash
# Installs the real WebSocket peers that `crates/wsio/tests/interop.rs` runs against: Python's
# `websockets` (with `h2` and `hypercorn`, for HTTP/2) into the venv `.venv` (shared with the
# Autobahn run) and Node's `ws` into
# `tests/peers/node_modules`, both at pinned versions; and `playwright-core` beside `ws`, which
# drives Chromium in the browser test (`scripts/setup-browser.sh` installs Chromium). Safe to run again: it installs only what
# is missing or at another version.
set -euo pipefail
cd "$(dirname "$0")/.."

websockets_version=17.4
# `h2` drives the HTTP/2 client that checks wsio's server (RFC 8441); `hypercorn` serves
# WebSockets over HTTP/2.
h2_version=4.4.1
hypercorn_version=0.18.0

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "
import sys, websockets, h2, importlib.metadata as m
sys.exit(websockets.__version__ != '$websockets_version' or h2.__version__ != '$h2_version'
         or m.version('hypercorn') != '$hypercorn_version')" 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check "websockets==$websockets_version" \
        "h2==$h2_version" "hypercorn==$hypercorn_version"
fi

cd tests/peers
# The versions of `ws` and `playwright-core` are pinned in package.json and package-lock.json.
missing=$(node -e "
const wanted = require('./package.json').dependencies;
for (const [name, version] of Object.entries(wanted)) {
  let installed = '';
  try { installed = require('./node_modules/' + name + '/package.json').version; } catch {}
  if (installed !== version) console.log(name);
}")
wanted=$(node -p "require('./package.json').dependencies.ws")
if [ -n "$missing" ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi
echo "peers ready: websockets $websockets_version, h2 $h2_version, hypercorn $hypercorn_version (.venv), ws $wanted and playwright-core (tests/peers/node_modules)"
