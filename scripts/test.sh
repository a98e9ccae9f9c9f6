#!/usr/bin/env bash
# The project's whole test run: formatting, lints, tests, documentation, the Autobahn
# conformance suite, and a short run of every fuzz target. `.ci/run` calls this; so can you.
# Needs only Rust, Python 3 and Node.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

step "cargo clippy, every feature (warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

# The library alone: with --all-targets the dev-dependencies' features would hide a missing one.
step "cargo clippy, wsio's library with default features, without TLS, with native roots, HTTP/2 without TLS; wsio-hub without a backplane"
cargo clippy -p wsio --locked -- -D warnings
cargo clippy -p wsio --no-default-features --locked -- -D warnings
cargo clippy -p wsio --no-default-features --features http2 --locked -- -D warnings
cargo clippy -p wsio --features native-roots --locked -- -D warnings
cargo clippy -p wsio-hub --locked -- -D warnings

step "interop peers (Python websockets, Node ws and playwright-core)"
bash scripts/setup-peers.sh

step "Chromium, for the browser test of the chat page"
bash scripts/setup-browser.sh

step "proxies and load balancers for the proxy tests (tinyproxy, microsocks, dante, haproxy, nginx)"
bash scripts/setup-proxies.sh

step "the brokers for the hub's backplane and cluster tests (redis-server, nats-server)"
bash scripts/setup-brokers.sh

step "Lua 5.4, LuaJIT and busted, for the Lua module"
bash scripts/setup-lua.sh

# The benchmark (bench/) is only linted: it has no tests, and its peers are built when it runs.
step "cargo test, every feature"
cargo test --workspace --exclude wsio-bench --all-features --locked

# Each feature set as users build it: the core without permessage-deflate, wsio without its
# default features (no TLS, no deflate). The interop, load and browser tests need the
# defaults, so this runs the library's own tests and the plain-TCP integration tests.
step "cargo test, wsio-proto without deflate, wsio without default features"
cargo test -p wsio-proto --no-default-features --locked
cargo test -p wsio --no-default-features --locked --lib --test abrupt_close \
    --test blocking_regressions --test regressions --test vocabulary

step "fault tests over a lossy network path (root and network namespaces only)"
bash scripts/netns-faults.sh

step "the Lua module (crates/wsio-lua): lints, then its specs on Lua 5.4 and LuaJIT"
bash scripts/lua-tests.sh

step "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude wsio-bench --no-deps --all-features --locked

step "Autobahn TestSuite"
bash scripts/autobahn.sh

step "fuzz targets, 30 s each (cargo fuzz)"
bash scripts/fuzz.sh
