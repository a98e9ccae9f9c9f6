#!/usr/bin/env bash
# Installs what the browser test (`tests/peers/browser_chat.js`, run by
# `crates/wsio-cli/tests/browser.rs`) needs: Debian's `chromium`, through apt-get, if it is
# missing, and `playwright-core` (pinned in tests/peers/package.json, which
# scripts/setup-peers.sh installs). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup-browser: /usr/bin/chromium is missing and installing it needs root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "browser ready: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
