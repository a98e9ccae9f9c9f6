#!/usr/bin/env bash
# The fault tests that need a network path of their own (`crates/wsio/tests/faults.rs`,
# module `lossy`): two network namespaces joined by a veth pair, with nftables dropping
# packets. They need Linux, root, iproute2 and nftables (installed here through apt-get if
# missing), and a kernel that allows network namespaces, veth and nftables' netdev family.
# Where any of that is missing this prints why and skips them; it fails only if they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "netns fault tests skipped: $*"
    exit 0
}

[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" = 0 ] || skip "not root"
if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
    command -v apt-get >/dev/null || skip "ip or nft is missing, and there is no apt-get"
    { apt-get update -qq && apt-get install -y -qq iproute2 nftables >/dev/null; } ||
        skip "could not install iproute2 and nftables"
fi

probe="wsio-probe-$$"
err=$(ip netns add "$probe" 2>&1) || skip "ip netns add: $err"
trap 'ip netns del "$probe" 2>/dev/null || true' EXIT
err=$(ip -n "$probe" link add wsio0 type veth peer name wsio1 2>&1) || skip "veth: $err"
err=$(ip netns exec "$probe" nft -f - 2>&1 <<'RULES'
table netdev probe {
    chain ingress {
        type filter hook ingress device "wsio0" priority 0; policy accept;
        numgen random mod 100 < 20 counter drop
    }
}
RULES
) || skip "nftables: $err"

cargo test -p wsio --all-features --locked --test faults -- --ignored path_
