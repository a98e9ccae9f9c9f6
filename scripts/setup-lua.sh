#!/usr/bin/env bash
# Installs the Lua interpreters and the spec runner the Lua module's tests use: lua5.4,
# luajit and busted (lua-busted); luv (lua-luv), the event loop a spec runs the module's
# tasks from; and openssl, which makes the TLS spec's certificate; from Debian's packages.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh /usr/bin/lua5.4:lua5.4 /usr/bin/luajit:luajit /usr/bin/busted:lua-busted \
    /usr/bin/openssl:openssl lua-luv
echo "Lua ready: $(lua5.4 -v), $(luajit -v | cut -d' ' -f1-2), busted $(busted --version)"
