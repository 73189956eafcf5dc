#!/usr/bin/env bash
# Builds everything: generated code, eBPF objects + skeletons, the native addon, TypeScript.
# Incremental unless --clean: the addon is rebuilt only when native/, bpf/ or proto/ changed.
set -euo pipefail
cd "$(dirname "$0")/.."
clean=0; [ "${1:-}" = "--clean" ] && clean=1
bash scripts/gen-proto.sh >/dev/null
make -s -C bpf
addon=build/Release/xmesh_native.node
newest=$(find native/src bpf proto binding.gyp -newer "$addon" -type f 2>/dev/null | head -1 || true)
if [ "$clean" = 1 ] || [ ! -f "$addon" ] || [ -n "$newest" ]; then
  npx --no-install node-gyp rebuild --jobs=max >/tmp/xmesh-node-gyp.log 2>&1 || { cat /tmp/xmesh-node-gyp.log; exit 1; }
  echo "build: native addon rebuilt"
fi
npx --no-install tsc -p tsconfig.json
echo "build: ok"
