#!/usr/bin/env bash
# Installs Debian packages for programs the tests start, when missing: each argument is
# PROGRAM:PACKAGE (`/usr/bin/redis-server:redis-server`), or a PACKAGE alone for a library,
# installed when dpkg does not have it. Needs root (apt-get) only when
# something is missing. The packages' services are kept from starting at install time: the
# tests start each program with a configuration of their own.
set -euo pipefail

missing=()
for argument in "$@"; do
    package=${argument#*:}
    if [ "$argument" = "$package" ]; then
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$package")
    else
        [ -x "${argument%%:*}" ] || missing+=("$package")
    fi
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
