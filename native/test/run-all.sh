#!/usr/bin/env bash
# Runs each native test binary, sums their "N passed, N failed" lines, fails if any failed.
set -u
dir=$1; shift
pass=0; fail=0; rc=0
for t in "$@"; do
  out=$("$dir/$t" 2>&1); code=$?
  echo "$out" | grep -v '^ok - ' 
  line=$(echo "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
  if [ -z "$line" ]; then echo "$t: crashed or printed no result (exit $code)"; fail=$((fail+1)); rc=1; continue; fi
  p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  pass=$((pass+p)); fail=$((fail+f))
  [ "$code" -ne 0 ] && rc=1
done
echo "native (${XMESH_IO_BACKEND:-epoll}${XMESH_URING_NO_INCREMENTAL:+, no incremental buffers}): $pass passed, $fail failed"
exit $rc
