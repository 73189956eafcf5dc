#!/usr/bin/env bash
# Build every codec fuzz target and run each for SECONDS (default 20) from its seed corpus;
# exits non-zero if any target crashes, leaks or trips an invariant (crash-* files are kept
# under build/artifacts/). New inputs go to build/work/, never into the committed seeds.
set -u
secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
make -s all || { echo "fuzz: build failed"; exit 2; }
rc=0
for t in fuzz_bolt fuzz_dubbo fuzz_desc; do
  seeds=corpus/${t#fuzz_}
  work=build/work/$t
  art=build/artifacts/$t/
  mkdir -p "$work" "$art"
  log=build/$t.log
  ./build/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art" "$work" "$seeds" >"$log" 2>&1
  code=$?
  stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed 's/stat:://' | tr '\n' ' ')
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  if [ "$code" -ne 0 ]; then
    echo "$t: FAILED (exit $code) $stats $cov — see native/fuzz/$log and $art"
    grep -E 'ERROR|invariant|SUMMARY' "$log" | head -5
    rc=1
  else
    echo "$t: ok ${secs}s $stats $cov"
  fi
done
# The HTTP/1 codec's target has its own Makefile (its seeds include the smuggling table's rows).
log=build/fuzz_http1.log
mkdir -p build
if make -s -C http1 run SECONDS="$secs" >"$log" 2>&1; then
  stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed 's/stat:://' | tr '\n' ' ')
  echo "fuzz_http1: ok ${secs}s $stats"
else
  echo "fuzz_http1: FAILED — see native/fuzz/$log and native/fuzz/http1/build/artifacts/"
  grep -E 'ERROR|invariant|SUMMARY' "$log" | head -5
  rc=1
fi
exit $rc
