#!/usr/bin/env bash
# Native snapshot apply time, without Node or traffic: encodes the `swap` scenario's
# 10,000-cluster / 100,000-endpoint snapshot (apply-snapshot.js, needs `npm run build`), builds
# apply-snapshot.c against the data-plane sources of a checkout (default: this one) and applies
# it three times to a fresh data plane.
#   bench/tools/apply-snapshot.sh [--src CHECKOUT] [--stats-file]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --src) src=$(cd "$2" && pwd); shift 2 ;;
    --stats-file) extra+=(--stats-file); shift ;;
    *) echo "usage: $0 [--src CHECKOUT] [--stats-file]" >&2; exit 2 ;;
  esac
done
W=$(mktemp -d /tmp/xmesh-apply-XXXXXX)
trap 'rm -rf "$W"' EXIT
node bench/tools/apply-snapshot.js "$W/big.bin"
cc -std=gnu11 -O2 -D_GNU_SOURCE -I"$src/native/src" -I"$src/native/gen" -I"$src/bpf" -o "$W/apply" bench/tools/apply-snapshot.c \
  $(find "$src"/native/src -name '*.c' -not -path '*/napi/*') "$src"/native/gen/xmesh/dataplane/v1/*.c -lprotobuf-c -lbpf -lpcre2-8 -luring -lpthread -lm
echo "sources: $src ($(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
"$W/apply" "$W/big.bin" "${extra[@]}"
