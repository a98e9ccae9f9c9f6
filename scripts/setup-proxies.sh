#!/usr/bin/env bash
# Installs the real proxies and load balancers that the proxy tests start on 127.0.0.1
# (`crates/wsio/tests/proxies.rs`, `crates/wsio-cli/tests/proxies.rs`): tinyproxy (HTTP
# CONNECT), microsocks (SOCKS5), dante-server (SOCKS4 and SOCKS4a), haproxy (TLS in front of
# a proxy, and the PROXY protocol) and nginx (a reverse proxy), from Debian's packages through
# apt-get, which needs root. Installs only what is missing; safe to run again. The packages'
# own services are not started: the tests start each program with a configuration of their own.
set -euo pipefail

missing=()
for program_and_package in /usr/bin/tinyproxy:tinyproxy /usr/bin/microsocks:microsocks \
    /usr/sbin/danted:dante-server /usr/sbin/haproxy:haproxy /usr/sbin/nginx:nginx-light; do
    program=${program_and_package%%:*}
    package=${program_and_package#*:}
    [ -x "$program" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup-proxies: ${missing[*]} missing, and installing them needs root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' services from starting at install time (no init system here, or one
    # whose services the tests do not want).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "proxies ready: $(tinyproxy -v 2>&1 | head -1), microsocks, $(danted -v 2>&1 | head -1), \
$(haproxy -v 2>&1 | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1)"
