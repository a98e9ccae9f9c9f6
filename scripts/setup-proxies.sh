#!/usr/bin/env bash
# Installs the real proxies and load balancers that the proxy tests start on 127.0.0.1
# (`crates/wsio/tests/proxies.rs`, `crates/wsio/tests/load_balancers.rs`,
# `crates/wsio-cli/tests/proxies.rs`): tinyproxy (HTTP CONNECT), microsocks (SOCKS5),
# dante-server (SOCKS4), haproxy (TLS in front of a proxy, and the PROXY protocol) and nginx
# (a reverse proxy), from Debian's packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh /usr/bin/tinyproxy:tinyproxy /usr/bin/microsocks:microsocks \
    /usr/sbin/danted:dante-server /usr/sbin/haproxy:haproxy /usr/sbin/nginx:nginx-light
echo "proxies ready: $(tinyproxy -v 2>&1 | head -1), microsocks, $(danted -v 2>&1 | head -1), \
$(haproxy -v 2>&1 | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1)"
