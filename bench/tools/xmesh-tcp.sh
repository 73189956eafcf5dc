#!/usr/bin/env bash
# Runs xmesh in the foreground as a one-listener tcp_proxy, on 1 worker like the bench's
# xmesh row, for harnesses that start a proxy from a command line and stop it by PID (for
# example a peer-proxy benchmark's SELF_TCP_CMD).
#   bench/tools/xmesh-tcp.sh LISTEN_PORT UPSTREAM_PORT [XMESH_RUN_OPTION...]
# Listens on 127.0.0.1:LISTEN_PORT, forwards to 127.0.0.1:UPSTREAM_PORT; admin on a free port
# (printed on stderr); the config is /tmp/xmesh-tcp-LISTEN_PORT.yaml, rewritten each start.
# The process that stays is node itself (exec through bin/xmesh.js's shebang, with its flags),
# so its /proc/PID/stat counts every thread.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in --help | -h) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
LISTEN=$1 UP=$2
shift 2
cd "$(dirname "$0")/../.."
# shellcheck source=bench/tools/lib.sh
. bench/tools/lib.sh
CONF=/tmp/xmesh-tcp-$LISTEN.yaml
AP=$(freeport)
xmesh_tcp_proxy_yaml "$AP" "$LISTEN" "$UP" >"$CONF"
echo "xmesh-tcp: 127.0.0.1:$LISTEN -> 127.0.0.1:$UP, admin 127.0.0.1:$AP, config $CONF" >&2
# Through the launcher's shebang, so node gets the same flags as every xmesh launcher
# (--no-memory-reducer: no full GC ~8 s after start, see docs/operations.md).
exec bin/xmesh.js run --config "$CONF" --concurrency 1 --log-level error "$@"
