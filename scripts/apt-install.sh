#!/usr/bin/env bash
# Installs Debian packages for programs the tests start, when missing: each argument is
# PROGRAM:PACKAGE (`/usr/bin/redis-server:redis-server`). Needs root (apt-get) only when
# something is missing. The packages' services are kept from starting at install time: the
# tests start each program with a configuration of their own.
set -euo pipefail

missing=()
for program_and_package in "$@"; do
    program=${program_and_package%%:*}
    package=${program_and_package#*:}
    [ -x "$program" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "apt-install: ${missing[*]} missing, and installing them needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
