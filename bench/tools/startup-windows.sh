#!/usr/bin/env bash
# The latency tail in the first seconds after `xmesh run` starts: xresp (128 B / 128 B) behind
# an xmesh tcp_proxy listener, then five consecutive 3 s windows at 5,000 req/s over 10
# connections (the `tcp` scenario's fixed-rate load). Prints each window's p99 and the CPU
# ticks each xmesh thread used in it, so a V8 GC (Node threads waking up) shows by itself.
#   bench/tools/startup-windows.sh [NODE_FLAG...]    e.g. --no-memory-reducer, or nothing
# Loopback only, pinned like the bench (xload cpu0, xmesh + xresp cpu1), stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
make -s -C bench/loadgen
W=$(mktemp -d /tmp/xmesh-windows-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
# shellcheck source=bench/tools/lib.sh
. bench/tools/lib.sh
waitfor() { for _ in $(seq 200); do eval "$1" && return 0; sleep 0.05; done; echo "timeout: $1" >&2; return 1; }

taskset -c 1 bench/build/xresp --listen 127.0.0.1:0 --max-seconds 120 --req-size 128 --resp-size 128 >"$W/xresp.out" 2>&1 &
pids+=($!)
waitfor "grep -q port $W/xresp.out"
UP=$(grep -o '"port":[0-9]*' "$W/xresp.out" | cut -d: -f2)
LP=$(freeport)
AP=$(freeport)
xmesh_tcp_proxy_yaml "$AP" "$LP" "$UP" >"$W/xmesh.yaml"
taskset -c 1 node "$@" "$ROOT/bin/xmesh.js" run --config "$W/xmesh.yaml" --concurrency 1 --log-level error >"$W/xmesh.out" 2>&1 &
XP=$!
pids+=("$XP")
waitfor "curl -sf http://127.0.0.1:$AP/ready >/dev/null"
snap() { for t in /proc/$XP/task/*; do echo "$(basename "$t") $(tr ' ' _ <"$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done | sort; }
line="node flags [$*]"
snap >"$W/s0"
for w in 1 2 3 4 5; do
  bench/build/xload --connect "127.0.0.1:$LP" --conns 10 --rate 5000 --duration 3 --req-size 128 --resp-size 128 --cpu 0 >"$W/w$w.out"
  snap >"$W/s$w"
  p99=$(grep -o '"p99_us":[0-9.]*' "$W/w$w.out" | cut -d: -f2)
  busy=$(join "$W/s$((w - 1))" "$W/s$w" | awk '{d = $5 - $3; if (d > 0) printf " %s:%d", $2, d}')
  line="$line | $((3 * w - 3))-$((3 * w)) s: p99 ${p99%.*} us [ticks${busy}]"
done
echo "$line"
