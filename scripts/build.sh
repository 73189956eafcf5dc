#!/usr/bin/env bash
# Builds everything: generated code, eBPF objects + skeletons, the native addon, TypeScript.
# Incremental unless --clean: the addon is rebuilt only when native/, bpf/ or proto/ changed.
# Usage: scripts/build.sh [--clean]
set -euo pipefail
cd "$(dirname "$0")/.."
clean=0
case "${1:-}" in
  '') ;;
  --clean) clean=1 ;;
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build.sh: unknown argument $1 (usage: scripts/build.sh [--clean])" >&2; exit 2 ;;
esac
bash scripts/gen-proto.sh >/dev/null
make -s -C bpf
addon=build/Release/xmesh_native.node
newest=$(find native/src bpf proto binding.gyp -newer "$addon" -type f 2>/dev/null | head -1 || true)
if [ "$clean" = 1 ] || [ ! -f "$addon" ] || [ -n "$newest" ]; then
  # node-gyp's output is shown only when it fails; a log file per build, so that two checkouts
  # building at once do not write into each other's
  log=$(mktemp /tmp/xmesh-node-gyp.XXXXXX)
  npx --no-install node-gyp rebuild --jobs=max >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 1; }
  rm -f "$log"
  echo "build: native addon rebuilt"
fi
npx --no-install tsc -p tsconfig.json
echo "build: ok"
