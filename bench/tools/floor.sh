#!/usr/bin/env bash
# floor.sh: the floor of a user-space TCP proxy on this machine, in the bench's closed-loop
# shape (50 keep-alive connections, depth 1, 128 B request / 128 B response; xload on cpu0,
# proxy + xresp on cpu1). Measures, in one session, direct, the minimal forwarder xfwd
# (epoll and io_uring), HAProxy (mode tcp, nbthread 1) and xmesh (tcp_proxy, one worker),
# and reports each proxy's CPU time per request over xload's measured window.
#
# Usage: bench/tools/floor.sh [--runs N] [--duration S] [--warmup S]
#                             [--paths direct,xfwd-epoll,xfwd-uring,haproxy,xmesh]
#                             [--variant NAME=XFWD_ARGS]...   (extra xfwd paths)
#                             [--keep]                         (keep the work dir)
#   e.g. --variant 'epoll-qa0=--mode epoll --quickack 0 --quickack-each'
# Run it under the bench lock on a shared box:
#   flock -o /tmp/xmesh-bench.lock bench/tools/floor.sh --runs 3
# Needs: make -C bench/loadgen (xfwd's uring mode needs liburing-dev), haproxy for that path,
# npm run build for the xmesh path. Loopback only; every process it starts is tracked by PID
# and stopped by PID on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$ROOT/bench/build

runs=3 duration=5 warmup=1 keep=0
paths=direct,xfwd-epoll,xfwd-uring,haproxy,xmesh
declare -A VARIANT=([xfwd-epoll]="--mode epoll" [xfwd-uring]="--mode uring")
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --paths) paths=$2; shift 2 ;;
    --variant)
      name=${2%%=*}; [ "$name" != "$2" ] || { echo "floor: --variant NAME=ARGS" >&2; exit 2; }
      VARIANT[xfwd-$name]=${2#*=}; paths+=",xfwd-$name"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "floor: unknown option $1" >&2; usage 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "floor: --runs 1..99" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]?$ && $warmup =~ ^[0-9]$ ]] || { echo "floor: --duration 1..99, --warmup 0..9 (seconds)" >&2; exit 2; }
IFS=, read -r -a PATHS <<<"$paths"

make -s -C bench/loadgen >/dev/null
WORK=$(mktemp -d /tmp/xmesh-floor.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$keep" = 1 ]; then echo "floor: work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop one process we started: TERM, up to 3 s, then KILL; reap it and forget its PID (so
# the exit trap never signals a recycled PID).
stop_pid() {
  local p=$1 i keep=()
  if kill -TERM "$p" 2>/dev/null; then
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
  for i in "${PIDS[@]}"; do [ "$i" = "$p" ] || keep+=("$i"); done
  PIDS=("${keep[@]}")
}

CLK=$(getconf CLK_TCK)
# CPU ticks (utime + stime, all threads) of pid and its direct children -> $TICKS (no fork)
cpu_ticks() {
  local pid=$1 s f c p t=0 kids=""
  for f in /proc/"$pid"/task/*/children; do [ -r "$f" ] && read -r -a c <"$f" && kids+=" ${c[*]}"; done
  for p in "$pid" $kids; do
    read -r s 2>/dev/null <"/proc/$p/stat" || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    t=$((t + f[11] + f[12]))
  done
  TICKS=$t
}

# Context switches (voluntary + involuntary, all threads) of pid -> $CSW
ctx_switches() {
  local f k v t=0
  for f in /proc/"$1"/task/*/status; do
    while read -r k v _; do
      case "$k" in voluntary_ctxt_switches:|nonvoluntary_ctxt_switches:) t=$((t + v)) ;; esac
    done 2>/dev/null <"$f" || true
  done
  CSW=$t
}

# shellcheck source=bench/tools/lib.sh
. "$ROOT/bench/tools/lib.sh"

# Wait (bounded) for a JSON {"port":N} line in file $1 -> $PORT
wait_port_line() {
  local f=$1 pid=$2
  PORT=""
  for _ in $(seq 1 100); do
    PORT=$(grep -o '"port":[0-9]*' "$f" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [ -n "$PORT" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "floor: no port from $f" >&2; return 1
}

# Wait (bounded by $2 s) until 127.0.0.1:$1 accepts a TCP connection
wait_tcp() {
  local port=$1
  for _ in $(seq 1 $(( $2 * 20 ))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "floor: 127.0.0.1:$port not accepting" >&2; return 1
}

BOUND=$(( (duration + warmup) * ${#PATHS[@]} * runs + 300 ))
echo "floor: work dir $WORK" >&2
taskset -c 1 "$B/xresp" --listen 127.0.0.1:0 --req-size 128 --resp-size 128 --max-seconds "$BOUND" \
  >"$WORK/xresp.out" 2>"$WORK/xresp.err" &
RPID=$!; PIDS+=("$RPID")
wait_port_line "$WORK/xresp.out" "$RPID"; UP=$PORT

# Start path $1 (pinned on cpu1) -> $PPID_ (empty for direct) and $TARGET (port)
start_path() {
  local name=$1
  PPID_="" TARGET=""
  case "$name" in
    direct) TARGET=$UP ;;
    xfwd-*)
      # shellcheck disable=SC2086
      taskset -c 1 "$B/xfwd" --listen 127.0.0.1:0 --upstream "127.0.0.1:$UP" ${VARIANT[$name]} --max-seconds "$BOUND" \
        >"$WORK/$name.out" 2>>"$WORK/$name.err" &
      PPID_=$!; PIDS+=("$PPID_")
      wait_port_line "$WORK/$name.out" "$PPID_"; TARGET=$PORT ;;
    haproxy)
      TARGET=$(freeport)
      cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 5096
  tune.maxaccept 64
defaults
  mode tcp
  maxconn 5096
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend fe_rr
  bind 127.0.0.1:$TARGET
  default_backend be_rr
backend be_rr
  server up 127.0.0.1:$UP
EOF
      taskset -c 1 haproxy -db -f "$WORK/haproxy.cfg" >>"$WORK/haproxy.log" 2>&1 &
      PPID_=$!; PIDS+=("$PPID_")
      wait_tcp "$TARGET" 10 ;;
    xmesh)
      [ -f "$ROOT/dist/src/cli/main.js" ] || { echo "floor: npm run build first" >&2; return 1; }
      TARGET=$(freeport); local admin; admin=$(freeport)
      xmesh_tcp_proxy_yaml "$admin" "$TARGET" "$UP" \
        'circuit_breakers: { thresholds: [ { max_connections: 5096, max_pending_requests: 5096, max_requests: 5096 } ] }' >"$WORK/xmesh.yaml"
      taskset -c 1 node --no-memory-reducer --enable-experimental-regexp-engine "$ROOT/bin/xmesh.js" run --config "$WORK/xmesh.yaml" \
        --concurrency 1 --log-level warn >>"$WORK/xmesh.log" 2>&1 &
      PPID_=$!; PIDS+=("$PPID_")
      local ok=0
      for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$admin/ready" || true)" = 200 ]; then ok=1; break; fi
        kill -0 "$PPID_" 2>/dev/null || break
        sleep 0.1
      done
      [ "$ok" = 1 ] || { echo "floor: xmesh not ready (see $WORK/xmesh.log)" >&2; return 1; }
      wait_tcp "$TARGET" 10 ;;
    *) echo "floor: unknown path $name" >&2; return 1 ;;
  esac
}

# One xload run against $TARGET; samples proxy and responder CPU at xload's measure_start
# line and at its result line -> RESULT (JSON), PT/RT (ticks in the window), PCS (proxy
# context switches in the window)
measure() {
  local log=$1 fifo="$WORK/xload.fifo" line p0=0 r0=0 c0=0 fd
  rm -f "$fifo"; mkfifo "$fifo"
  "$B/xload" --connect "127.0.0.1:$TARGET" --conns 50 --duration "$duration" --warmup "$warmup" \
    --req-size 128 --resp-size 128 --cpu 0 >"$fifo" 2>>"$log.err" &
  local xp=$!; PIDS+=("$xp")
  exec {fd}<"$fifo"
  RESULT="" PT=0 RT=0 PCS=0
  local deadline=$((SECONDS + duration + warmup + 40))
  while [ $SECONDS -lt $deadline ] && IFS= read -r -t $((duration + warmup + 30)) -u "$fd" line; do
    echo "$line" >>"$log"
    case "$line" in
      *'"measure_start"'*)
        if [ -n "$PPID_" ]; then cpu_ticks "$PPID_"; p0=$TICKS; ctx_switches "$PPID_"; c0=$CSW; fi
        cpu_ticks "$RPID"; r0=$TICKS ;;
      *'"event":"result"'*)
        if [ -n "$PPID_" ]; then cpu_ticks "$PPID_"; PT=$((TICKS - p0)); ctx_switches "$PPID_"; PCS=$((CSW - c0)); fi
        cpu_ticks "$RPID"; RT=$((TICKS - r0))
        RESULT=$line; break ;;
      *'"error"'*) break ;;
    esac
  done
  exec {fd}<&-
  stop_pid "$xp"
  [ -n "$RESULT" ] || { echo "floor: xload gave no result:" >&2; cat "$log" "$log.err" >&2; return 1; }
}

jnum() { grep -o "\"$1\":[0-9.]*" <<<"$2" | head -1 | cut -d: -f2; }

TSV="$WORK/runs.tsv"
printf 'run\tpath\treqs\twindow_s\trps\tproxy_us_req\tresp_us_req\tproxy_cpu_pct\tproxy_cs_req\n' >"$TSV"
echo "floor: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, kernel $(uname -r); paths ${PATHS[*]}; $runs runs x ${duration}s (+${warmup}s warm-up)"
for run in $(seq 1 "$runs"); do
  for name in "${PATHS[@]}"; do
    start_path "$name"
    measure "$WORK/xload-$name-$run.log"
    [ -n "$PPID_" ] && stop_pid "$PPID_"
    reqs=$(jnum requests "$RESULT"); secs=$(jnum duration_s "$RESULT"); errs=$(jnum errors "$RESULT")
    [ "${errs:-0}" = 0 ] || echo "floor: $name run $run: $errs errors" >&2
    line=$(awk -v r="$run" -v n="$name" -v q="$reqs" -v s="$secs" -v pt="$PT" -v rt="$RT" -v clk="$CLK" -v dp="${PPID_:+1}" -v cs="$PCS" 'BEGIN {
      pu = dp ? pt * 1e6 / clk / q : 0; ru = rt * 1e6 / clk / q
      printf "%d\t%s\t%d\t%.3f\t%.0f\t%s\t%.2f\t%s\t%s\n", r, n, q, s, q / s, dp ? sprintf("%.2f", pu) : "-", ru,
        dp ? sprintf("%.1f", 100 * pt / clk / s) : "-", dp ? sprintf("%.3f", cs / q) : "-" }')
    printf '%s\n' "$line" >>"$TSV"
    printf 'run %s  %-20s %8s req/s  proxy %6s us/req  resp %5s us/req  proxy %5s cs/req\n' "$run" "$name" \
      "$(cut -f5 <<<"$line")" "$(cut -f6 <<<"$line")" "$(cut -f7 <<<"$line")" "$(cut -f9 <<<"$line")"
  done
done

echo
echo "Medians of $runs runs (proxy us/req = proxy utime+stime over xload's measured window / requests):"
printf '| %-20s | %8s | %13s | %12s | %10s | %12s |\n' path 'req/s' 'proxy us/req' 'resp us/req' 'proxy CPU%' 'proxy cs/req'
printf '|%s|%s:|%s:|%s:|%s:|%s:|\n' "----------------------" "---------" "--------------" "-------------" "-----------" "-------------"
for name in "${PATHS[@]}"; do
  awk -F'\t' -v n="$name" '
    function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    $2 == n { k++; rps[k] = $5; pu[k] = $6; ru[k] = $7; pc[k] = $8; cs[k] = $9 }
    END { printf "| %-20s | %8.0f | %13s | %12.2f | %10s | %12s |\n", n, med(rps, k),
      pu[1] == "-" ? "-" : sprintf("%.2f", med(pu, k)), med(ru, k), pc[1] == "-" ? "-" : sprintf("%.1f", med(pc, k)),
      cs[1] == "-" ? "-" : sprintf("%.3f", med(cs, k)) }' "$TSV"
done
echo
echo "Per-run figures ($TSV):"
column -t -s $'\t' "$TSV"
