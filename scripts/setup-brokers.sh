#!/usr/bin/env bash
# Installs the message brokers that the hub's backplane tests start on 127.0.0.1
# (`crates/wsio-hub/tests/backplanes.rs`): redis-server and nats-server, from Debian's
# packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh /usr/bin/redis-server:redis-server /usr/sbin/nats-server:nats-server
echo "brokers ready: $(redis-server --version | cut -d' ' -f1-3), nats-server $(nats-server --version)"
