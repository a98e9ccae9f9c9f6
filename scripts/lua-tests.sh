#!/usr/bin/env bash
# The Lua module's checks: formatting and lints for both runtimes, then the busted specs in
# crates/wsio-lua/spec, run by Lua 5.4 and by LuaJIT against the module built for each. The
# specs start `wsio serve` (built here), their own servers, and the Python and Node echo
# servers of tests/peers (scripts/setup-peers.sh), on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

manifest=crates/wsio-lua/Cargo.toml
cargo fmt --manifest-path "$manifest" --check
for feature in lua54 luajit; do
    cargo clippy --manifest-path "$manifest" --locked --no-default-features --features "$feature" \
        --target-dir "target/lua-$feature" -- -D warnings
done

cargo build --locked -p wsio-cli
export WSIO_BIN="$PWD/target/debug/wsio"
for runtime in 5.4 jit; do
    out="target/lua-modules/$runtime"
    bash scripts/lua-module.sh "$runtime" "$out" --debug
    interpreter=lua5.4
    if [ "$runtime" = jit ]; then interpreter=luajit; fi
    echo "==> busted on $interpreter"
    WSIO_LUA_CPATH="$PWD/$out/?.so" "$interpreter" /usr/bin/busted --verbose crates/wsio-lua/spec
done
