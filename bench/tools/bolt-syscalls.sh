#!/usr/bin/env bash
# Syscalls, context switches and CPU per request of a Bolt proxy (xmesh x_proxy, and HAProxy
# mode tcp for reference), in the `bolt` scenario's two shapes. Counts come from the kernel's
# syscall tracepoints (`perf stat -e syscalls:sys_enter_*`) on the proxy process over a 4 s
# window in the middle of an 8 s xload run; requests in the window = xload's req/s x 4.
#
#   bench/tools/bolt-syscalls.sh [--paths xmesh,haproxy] [--xmesh-bin PATH]
#
# Same pinning as the bench (xload cpu0, proxy + upstream cpu1), loopback only, every process
# started here is stopped by PID. Needs perf with tracepoint access (root). Wrap in
# `flock -o /tmp/xmesh-bench.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
paths=xmesh,haproxy
xbin=$ROOT/bin/xmesh.js
while [ $# -gt 0 ]; do
  case $1 in
    --paths) paths=$2; shift 2 ;;
    --xmesh-bin) xbin=$2; shift 2 ;;
    *) echo "usage: $0 [--paths xmesh,haproxy] [--xmesh-bin PATH]" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "perf not installed (apt-get install linux-perf)" >&2; exit 1; }
make -s -C bench/loadgen
W=$(mktemp -d /tmp/xmesh-syscalls-XXXXXX)
REQ=$ROOT/bench/fixtures/bolt-req-1k.bin
RESP=$ROOT/bench/fixtures/bolt-resp-1k.bin
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
waitfor() { for _ in $(seq 100); do eval "$1" && return 0; sleep 0.1; done; echo "timeout: $1" >&2; return 1; }

taskset -c 1 bench/build/xresp --listen 127.0.0.1:0 --max-seconds 300 --req-size "$(stat -c %s "$REQ")" \
  --reply-file "$RESP" --echo-id 5:4 >"$W/xresp.out" 2>&1 &
pids+=($!)
waitfor "grep -q port $W/xresp.out"
UP=$(grep -o '"port":[0-9]*' "$W/xresp.out" | cut -d: -f2)

measure() { # name pid port conns depth
  local name=$1 pid=$2 port=$3 conns=$4 depth=$5
  bench/build/xload --connect "127.0.0.1:$port" --conns "$conns" --depth "$depth" --duration 8 --warmup 1 \
    --req-file "$REQ" --resp-size "$(stat -c %s "$RESP")" --cpu 0 >"$W/xload.out" &
  local xl=$!
  sleep 3
  local t0 t1
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  perf stat -x, -p "$pid" -o "$W/perf.out" -e \
    'syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_recvfrom,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,context-switches' \
    -- sleep 4
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  wait "$xl"
  local rps
  rps=$(grep -o '"rps":[0-9.]*' "$W/xload.out" | cut -d: -f2)
  awk -F, -v name="$name" -v shape="${conns}x${depth}" -v rps="$rps" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    /^[0-9]/ { n = rps * 4; ev = $3; sub(/^syscalls:sys_enter_/, "", ev); if ($1 > 0) { s = s sprintf(" %s %.3f", ev, $1 / n); if (ev != "context-switches") tot += $1 / n } }
    END { printf "%-8s %-5s %8.0f req/s  cpu %.2f us/req  syscalls/req %.3f:%s\n", name, shape, rps, ticks * 1e6 / hz / (rps * 4), tot, s }' "$W/perf.out"
}

IFS=, read -ra want <<<"$paths"
for p in "${want[@]}"; do
  LP=$(freeport)
  if [ "$p" = xmesh ]; then
    AP=$(freeport)
    cat >"$W/xmesh.yaml" <<EOF
admin: { address: { socket_address: { address: 127.0.0.1, port_value: $AP } } }
static_resources:
  listeners:
  - name: bolt
    address: { socket_address: { address: 127.0.0.1, port_value: $LP } }
    filter_chains:
    - filters:
      - name: xmesh.x_proxy
        typed_config:
          "@type": type.googleapis.com/xmesh.filters.network.x_proxy.v1.XProxy
          stat_prefix: bolt
          protocol: bolt
          route_config: { virtual_hosts: [ { name: all, domains: ["*"], routes: [ { route: { cluster: up } } ] } ] }
  clusters:
  - name: up
    type: STATIC
    connect_timeout: 1s
    circuit_breakers: { thresholds: [ { max_connections: 5096, max_pending_requests: 5096, max_requests: 5096 } ] }
    load_assignment:
      cluster_name: up
      endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } } ] } ]
EOF
    taskset -c 1 node --no-memory-reducer --enable-experimental-regexp-engine "$xbin" run --config "$W/xmesh.yaml" --concurrency 1 --log-level warn >"$W/xmesh.out" 2>&1 &
    pid=$!
    waitfor "curl -sf http://127.0.0.1:$AP/ready >/dev/null"
  else
    cat >"$W/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 5096
defaults
  mode tcp
  maxconn 5096
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend fe
  bind 127.0.0.1:$LP
  default_backend be
backend be
  server up 127.0.0.1:$UP
EOF
    taskset -c 1 haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.out" 2>&1 &
    pid=$!
    waitfor "(exec 9<>/dev/tcp/127.0.0.1/$LP) 2>/dev/null"
  fi
  pids+=("$pid")
  measure "$p" "$pid" "$LP" 50 1
  measure "$p" "$pid" "$LP" 20 8
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
