#!/usr/bin/env bash
# Builds the Lua module (crates/wsio-lua) for one Lua runtime and puts it in OUT_DIR as
# wsio.so, where `require "wsio"` finds it once OUT_DIR is on package.cpath.
#
#   scripts/lua-module.sh 5.4 OUT_DIR            # Lua 5.4
#   scripts/lua-module.sh jit OUT_DIR            # LuaJIT (the Lua 5.1 API)
#   scripts/lua-module.sh 5.4 OUT_DIR --debug    # a debug build, quicker to make
#
# Needs only Rust: the module takes the Lua API from the interpreter that loads it.
set -euo pipefail

usage() { echo "usage: $0 5.4|jit OUT_DIR [--debug]" >&2; exit 2; }
[ $# -ge 2 ] || usage
case "$1" in
    5.4) feature=lua54 ;;
    jit) feature=luajit ;;
    *) usage ;;
esac
out=$2
profile=release
if [ "${3:-}" = "--debug" ]; then profile=debug; elif [ $# -gt 2 ]; then usage; fi

root=$(cd "$(dirname "$0")/.." && pwd)
# One target directory per runtime, so that building one does not undo the other.
target="$root/target/lua-$feature"
flags=(--manifest-path "$root/crates/wsio-lua/Cargo.toml" --locked
       --no-default-features --features "$feature" --target-dir "$target")
if [ "$profile" = release ]; then flags+=(--release); fi
cargo build "${flags[@]}"

case "$(uname -s)" in
    Darwin) built="$target/$profile/libwsio_lua.dylib" ;;
    *) built="$target/$profile/libwsio_lua.so" ;;
esac
mkdir -p "$out"
cp "$built" "$out/wsio.so"
echo "built $out/wsio.so for Lua $1"
