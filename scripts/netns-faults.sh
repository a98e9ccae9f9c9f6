#!/usr/bin/env bash
# The fault tests that need a network path of their own (`crates/wsio/tests/faults.rs`,
# module `lossy`): each makes a fresh network namespace with only its loopback interface,
# runs a server and a client on its 127.0.0.1, and drops a share of the packets crossing that
# loopback with an nftables rule. They need Linux, root, iproute2 and nftables (installed here
# through apt-get if missing), and a kernel that allows network namespaces and nftables.
# Where any of that is missing this prints why and skips them; it fails only if they fail.
# The namespaces are removed by the tests, and again here should a test die before it could.
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

# Every namespace made here or by the tests starts with this prefix.
prefix="wsio-faults-$$"
export WSIO_NETNS_PREFIX="$prefix"
remove_namespaces() {
    local ns
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case "$ns" in
        "$prefix"-*) ip netns del "$ns" 2>/dev/null || true ;;
        esac
    done
}
trap remove_namespaces EXIT
trap 'exit 130' INT TERM

probe="$prefix-probe"
err=$(ip netns add "$probe" 2>&1) || skip "ip netns add: $err"
err=$(ip -n "$probe" link set lo mtu 1500 gso_max_segs 1 up 2>&1) || skip "loopback: $err"
err=$(ip netns exec "$probe" nft -f - 2>&1 <<'RULES'
table inet probe {
    chain input {
        type filter hook input priority 0; policy accept;
        numgen random mod 100 < 20 counter drop
    }
}
RULES
) || skip "nftables: $err"
ip netns del "$probe"

cargo test -p wsio --all-features --locked --test faults -- --ignored path_
