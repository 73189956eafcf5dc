#!/usr/bin/env bash
# Where does a proxy's time go at a fixed offered rate? Runs one path of the `tcp` scenario's
# fixed-rate case (128 B request / response, 10 connections, open loop) and prints, next to
# xload's latency line, every thread's CPU time and context switches over the run
# (/proc/PID/task/*/schedstat and status), and for xmesh its workers' loop turn durations
# (dataplane.worker.<N>.loop_duration_ms from /stats).
#
#   bench/tools/rate-probe.sh [--path xmesh|xmesh-epoll|xmesh-native|xmesh-native-epoll|
#                             haproxy|direct] [--rate R] [--duration S] [--xmesh-bin PATH]
#                             [--perf] [--no-pin] [--bulk] [--rounds N]
#
# --rate 0 runs the closed-loop case instead (50 connections, ping-pong, as fast as they go);
# --bulk the bulk case (4 connections, the responder streams, xload only reads).
# --perf samples the proxy's busiest thread with `perf record -e cpu-clock -g` over the middle
# of the run (software clock: this VM has no hardware counters) and prints its CPU split by
# binary (kernel, the addon, libc, ...) and the top symbols. Needs perf (Debian linux-perf).
# --rounds N repeats the measured run N times against the same proxy and responder (not with
# --perf), one latency line per round, then counts the rounds whose slowest request took over
# 20 ms: how often a stall of the whole host lands in a run, for any path (direct included).
#
# xmesh-native[-epoll] is the same data plane and snapshot without Node: the config is
# translated and encoded by the control core (`npm run build` first), then served by
# bench/tools/native-run.c, built here against native/ (io_uring or epoll).
#
# Same pinning as the bench (xload cpu0, proxy + responder cpu1; --no-pin: none), loopback
# only, every process started here is stopped by PID. Wrap in `flock -o /tmp/xmesh-bench.lock`
# on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
path=xmesh rate=5000 duration=10 xbin=$ROOT/bin/xmesh.js perf= nopin= bulk= rounds=1
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --path) path=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --xmesh-bin) xbin=$2; shift 2 ;;
    --perf) perf=1; shift ;;
    --no-pin) nopin=1; shift ;;
    --bulk) bulk=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) usage ;;
  esac
done
case $path in xmesh|xmesh-epoll|xmesh-native|xmesh-native-epoll|haproxy|direct) ;; *) usage ;; esac
on0="taskset -c 0" on1="taskset -c 1"
[ -n "$nopin" ] && on0= on1=
case $rounds in ''|*[!0-9]*|0) echo "--rounds: a positive whole number" >&2; exit 2 ;; esac
if [ -n "$perf" ] && [ "$rounds" -gt 1 ]; then echo "--perf samples one run: not with --rounds" >&2; exit 2; fi
if [ -n "$perf" ] && ! command -v perf >/dev/null; then echo "--perf: perf not found (apt-get install linux-perf)" >&2; exit 2; fi
if [ -n "$perf" ] && [ "$path" = direct ]; then echo "--perf: no proxy to profile on the direct path" >&2; exit 2; fi
make -s -C bench/loadgen
W=$(mktemp -d /tmp/xmesh-rate-probe-XXXXXX)
pids=()
xl=
cleanup() { [ -n "$xl" ] && kill "$xl" 2>/dev/null; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
trap "exit 130" INT TERM
# shellcheck source=bench/tools/lib.sh
. bench/tools/lib.sh

rsp=(--req-size 128 --resp-size 128); [ -n "$bulk" ] && rsp=(--bulk source)
$on1 bench/build/xresp --listen 127.0.0.1:0 "${rsp[@]}" --max-seconds $((rounds * (duration + 3) + 60)) >"$W/resp" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q '"port"' "$W/resp" && break; sleep 0.1; done
up=$(grep -o '"port":[0-9]*' "$W/resp" | cut -d: -f2)
port=$up proxy=
case $path in
  xmesh|xmesh-epoll|xmesh-native|xmesh-native-epoll)
    port=$(freeport) admin=$(freeport)
    xmesh_tcp_proxy_yaml "$admin" "$port" "$up" >"$W/x.yaml"
    if [ "${path#xmesh-native}" != "$path" ]; then
      node -e '
        const D = process.argv[1] + "/dist/src/", fs = require("fs");
        const { loadConfigText } = require(D + "config/load.js");
        const { translate } = require(D + "config/translate.js");
        const { encodeSnapshot } = require(D + "dataplane/snapshot.js");
        const t = translate(loadConfigText(fs.readFileSync(process.argv[2], "utf8"), "x.yaml").config, new Map(), 1);
        fs.writeFileSync(process.argv[3], encodeSnapshot(t.snapshot));' "$ROOT" "$W/x.yaml" "$W/x.bin"
      cc -std=gnu11 -O2 -D_GNU_SOURCE -Inative/src -Inative/gen -Ibpf -o "$W/native-run" bench/tools/native-run.c \
        $(find native/src -name '*.c' -not -path '*/napi/*') native/gen/xmesh/dataplane/v1/*.c -lprotobuf-c -lbpf -lpcre2-8 -luring -lpthread -lm
      be=io_uring; [ "$path" = xmesh-native-epoll ] && be=epoll
      XMESH_IO_BACKEND=$be $on1 "$W/native-run" "$W/x.bin" >"$W/proxy.log" 2>&1 &
      proxy=$! admin=
      for _ in $(seq 100); do grep -q '"ready"' "$W/proxy.log" && break; sleep 0.1; done
      cat "$W/proxy.log"
    else
      be=auto; [ "$path" = xmesh-epoll ] && be=epoll
      $on1 node --no-memory-reducer --enable-experimental-regexp-engine "$xbin" run --config "$W/x.yaml" --concurrency 1 --log-level warn --io-backend $be >"$W/proxy.log" 2>&1 &
      proxy=$!
      for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/ready" >/dev/null && break; sleep 0.1; done
    fi ;;
  haproxy)
    port=$(freeport)
    printf 'global\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nfrontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  server s1 127.0.0.1:%s\n' "$port" "$up" >"$W/h.cfg"
    $on1 haproxy -db -f "$W/h.cfg" >"$W/proxy.log" 2>&1 &
    proxy=$!
    sleep 0.5 ;;
esac
[ -n "$proxy" ] && pids+=("$proxy")
# tid name cpu_ns voluntary involuntary, one line per thread of the proxy
threads() {
  for t in /proc/"$proxy"/task/*; do
    printf '%s %s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
      "$(awk '/^voluntary_ctxt/{print $2}' "$t/status")" "$(awk '/^nonvoluntary_ctxt/{print $2}' "$t/status")"
  done | sort
}
[ -n "$proxy" ] && threads >"$W/t0"
shape=(--conns 10 --rate "$rate" --depth 1 --req-size 128 --resp-size 128)
[ "$rate" = 0 ] && shape=(--conns 50 --depth 1 --req-size 128 --resp-size 128)
[ -n "$bulk" ] && shape=(--conns 4 --bulk recv)
stalled=0
for r in $(seq "$rounds"); do
  $on0 bench/build/xload --connect "127.0.0.1:$port" "${shape[@]}" --duration "$duration" --warmup 1 >"$W/xload" &
  xl=$!
  if [ -n "$perf" ]; then
    # the thread with the most CPU so far (after the warm-up): xmesh's worker, haproxy itself
    sleep 1.5
    busiest=$(for t in /proc/"$proxy"/task/*; do echo "$(cut -d' ' -f1 "$t/schedstat") ${t##*/}"; done | sort -n | tail -1 | cut -d' ' -f2)
    span=$(awk -v d="$duration" 'BEGIN { s = d / 2; if (s < 1) s = 1; print s }')
    perf record -q -e cpu-clock -F 4999 -g -t "$busiest" -o "$W/perf.data" -- sleep "$span" 2>/dev/null
  fi
  wait "$xl"
  xl=
  if [ "$rounds" -eq 1 ]; then
    grep '"result"' "$W/xload"
  else
    line=$(grep '"result"' "$W/xload")
    field() { printf '%s' "$line" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
    max=$(field max_us)
    printf 'round %d: p50 %s us, p99 %s us, p99.9 %s us, max %s us\n' "$r" "$(field p50_us)" "$(field p99_us)" "$(field p999_us)" "$max"
    awk -v m="$max" 'BEGIN { exit !(m > 20000) }' && stalled=$((stalled + 1))
  fi
done
[ "$rounds" -gt 1 ] && echo "rounds whose slowest request took over 20 ms: $stalled of $rounds"
if [ -n "$proxy" ]; then
  threads >"$W/t1"
  echo "threads of $path (pid $proxy) over the measured run(s): cpu ms, voluntary / involuntary switches"
  join "$W/t0" "$W/t1" | awk '{ printf "  %-8s %-16s %8.1f ms %7d / %d\n", $1, $2, ($7-$3)/1e6, $8-$4, $9-$5 }'
  if [ -n "${admin:-}" ]; then
    echo "worker loop turns (ms, since start):"
    curl -s "http://127.0.0.1:$admin/stats?filter=loop_duration" | sed 's/^/  /'
  fi
fi
if [ -n "$perf" ]; then
  echo "perf, thread $busiest ($(tr -d '\n' </proc/"$proxy"/task/"$busiest"/comm 2>/dev/null || echo gone)): CPU by binary"
  perf report -i "$W/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head -8 | sed 's/^ */  /'
  echo "top symbols:"
  perf report -i "$W/perf.data" --no-children --sort dso,sym -g none 2>/dev/null | grep '%' | head -25 | sed 's/^ */  /'
fi
